"""How discovery and manifest parsing grow with the number of files (a script, not a test).

For every size N it builds, in a temp folder, a class-folder tree of N empty files (100
classes, 100 files per sub-folder; discovery never opens a file) and a CSV and a JSONL
manifest of N rows, then times, each in a fresh subprocess, `discover()` on the tree and on
both manifests, and reports wall seconds and peak RSS (ru_maxrss).

    .venv/bin/python benchmarks/ingest_scale.py                  # 100k, 1M
    .venv/bin/python benchmarks/ingest_scale.py --sizes 10000 100000
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


def build(base: Path, n: int) -> None:
    tree = base / "tree"
    rows, made = [], set()
    for i in range(n):
        c, sub = i % CLASSES, (i // CLASSES) // PER_DIR
        folder = f"c{c:03d}/d{sub:05d}"
        if folder not in made:
            (tree / folder).mkdir(parents=True)
            made.add(folder)
        rel = f"{folder}/f{i:08d}.jpg"
        rows.append((rel, f"c{c:03d}"))
        open(tree / rel, "wb").close()
    with open(base / "m.csv", "w") as f:
        f.write("path,label,note\n")
        f.writelines(f"tree/{r},{lab},x\n" for r, lab in rows)
    with open(base / "m.jsonl", "w") as f:
        f.writelines(json.dumps({"path": f"tree/{r}", "label": lab, "note": "x"}) + "\n" for r, lab in rows)


def measure(target: str) -> dict:
    from labelclean.ingest.discover import discover

    t = time.perf_counter()
    found = discover(Path(target))
    seconds = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"files": len(found.candidates), "seconds": round(seconds, 2), "peak_rss_gb": round(rss, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print(f"{'samples':>9} {'input':>6} {'seconds':>8} {'peak RSS GB':>12}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="ingest-scale-") as tmp:
            build(Path(tmp), n)
            for name, target in (("tree", "tree"), ("csv", "m.csv"), ("jsonl", "m.jsonl")):
                out = subprocess.run([sys.executable, __file__, "--measure", str(Path(tmp) / target)], env=env,
                                     check=True, capture_output=True, text=True).stdout
                r = json.loads(out)
                assert r["files"] == n, r
                print(f"{n:>9} {name:>6} {r['seconds']:>8.2f} {r['peak_rss_gb']:>12.3f}", flush=True)


if __name__ == "__main__":
    main()
