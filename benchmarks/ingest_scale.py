"""How discovery and manifest parsing grow with the number of files (a script, not a test).

For every size N it builds, in a temp folder, a class-folder tree of N empty files (100
classes, 100 files per sub-folder; discovery never opens a file) and a CSV and a JSONL
manifest of N rows, then times, each in a fresh subprocess, `discover()` on the tree and on
both manifests, and reports wall seconds and peak RSS (ru_maxrss; ``B/file``: its
growth over the RSS after a warm-up run on a one-file input, divided by N). ``--plan`` adds a
``plan`` phase on the tree: discovery, then embed's hashing plan over every file (`scan`
with a throw-away hash cache: the files are empty, so each costs one ``stat``) and the
manifest table `build_manifest` makes from it, i.e. everything `embed` holds per file
before and after the model runs; its JSON also splits the peak: ``scan_bytes_per_file``
(the plan's growth over the RSS after discovery) and ``manifest_bytes_per_file`` (the
manifest table's growth over the RSS after the plan).

``--code DIR ...`` measures the labelclean of other checkouts on the same generated data
(e.g. ``--code /work/main .`` for before/after); ``--json`` prints one JSON object per
measurement instead of the table.

    .venv/bin/python benchmarks/ingest_scale.py                  # 100k, 1M
    .venv/bin/python benchmarks/ingest_scale.py --sizes 10000 100000 --plan --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLASSES, PER_DIR = 100, 100


def build(base: Path, n: int, files: bool = True) -> None:
    tree = base / "tree"
    rows, made = [], set()
    for i in range(n):
        c, sub = i % CLASSES, (i // CLASSES) // PER_DIR
        folder = f"c{c:03d}/d{sub:05d}"
        rel = f"{folder}/f{i:08d}.jpg"
        rows.append((rel, f"c{c:03d}"))
        if not files:
            continue
        if folder not in made:
            (tree / folder).mkdir(parents=True)
            made.add(folder)
        open(tree / rel, "wb").close()
    with open(base / "m.csv", "w") as f:
        f.write("path,label,note\n")
        f.writelines(f"tree/{r},{lab},x\n" for r, lab in rows)
    with open(base / "m.jsonl", "w") as f:
        f.writelines(json.dumps({"path": f"tree/{r}", "label": lab, "note": "x"}) + "\n" for r, lab in rows)
    tiny = base / "tiny"  # a warm-up input of each kind: imports and lazy setup are not a per-file cost
    (tiny / "c000").mkdir(parents=True)
    open(tiny / "c000" / "f.jpg", "wb").close()
    (base / "tiny.csv").write_text("path,label,note\ntiny/c000/f.jpg,c000,x\n")
    (base / "tiny.jsonl").write_text(json.dumps({"path": "tiny/c000/f.jpg", "label": "c000", "note": "x"}) + "\n")


def _rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def measure(target: str, plan: bool) -> dict:
    from labelclean.ingest.discover import discover

    steps: dict[str, float] = {}

    def peak_gb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    def run(path: Path):
        found = discover(path)
        if plan:
            from labelclean.embed.hashcache import HashCache
            from labelclean.embed.outputs import build_manifest
            from labelclean.embed.plan import scan

            steps["discovered"] = _rss_gb()
            sc = scan(found.candidates, {}, HashCache(None))
            steps["scan_peak"], steps["scanned"] = peak_gb(), _rss_gb()
            assert build_manifest(found, sc, {}, features=False).num_rows == len(found.candidates)
            steps["manifest_peak"] = peak_gb()
        return found

    path = Path(target)
    run(path.with_name("tiny" + path.suffix))  # warm-up: imports, lazy setup
    base = _rss_gb()
    t = time.perf_counter()
    out = {"files": len(run(path).candidates)}
    out["seconds"] = round(time.perf_counter() - t, 2)
    out["peak_rss_gb"] = round(peak := resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    out["bytes_per_file"] = round((peak - base) * 2**30 / out["files"])  # above the RSS after the warm-up
    if plan:
        per_file = 2**30 / out["files"]
        out["scan_bytes_per_file"] = round(max(0.0, steps["scan_peak"] - steps["discovered"]) * per_file)
        out["manifest_bytes_per_file"] = round(max(0.0, steps["manifest_peak"] - steps["scanned"]) * per_file)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--plan", action="store_true", help="also time embed's plan and manifest table on the tree")
    ap.add_argument("--code", nargs="+", default=[str(REPO)], help="checkouts whose labelclean is measured")
    ap.add_argument("--json", action="store_true", help="one JSON object per measurement")
    ap.add_argument("--no-files", action="store_true",
                    help="manifests only, listing files that are not created (every row is `missing`): "
                         "for sizes whose tree takes too long to create on a busy disk")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--phase", default="discover", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.phase == "plan")))
        return
    if not args.json:
        print(f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'samples':>9} {'input':>6} {'code':>12} {'seconds':>8} {'peak RSS GB':>12} {'B/file':>7}")
    phases = [("tree", "tree", "discover"), ("csv", "m.csv", "discover"), ("jsonl", "m.jsonl", "discover")]
    if args.no_files:
        phases = phases[1:]
    elif args.plan:
        phases.append(("plan", "tree", "plan"))
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="ingest-scale-") as tmp:
            build(Path(tmp), n, files=not args.no_files)
            for name, target, phase in phases:
                for code in args.code:
                    env = {**os.environ, "PYTHONPATH": str(Path(code).resolve())}
                    out = subprocess.run([sys.executable, __file__, "--measure", str(Path(tmp) / target),
                                          "--phase", phase], env=env, check=True, capture_output=True,
                                         text=True).stdout
                    r = json.loads(out)
                    assert r["files"] == n, r
                    r.update(samples=n, input=name, code=str(code), load=round(os.getloadavg()[0], 1))
                    if args.json:
                        print(json.dumps(r), flush=True)
                    else:
                        print(f"{n:>9} {name:>6} {Path(code).resolve().name[:12]:>12} {r['seconds']:>8.2f} "
                              f"{r['peak_rss_gb']:>12.3f} {r['bytes_per_file']:>7}", flush=True)


if __name__ == "__main__":
    main()
