"""How fast `labelclean review --serve` opens on a big workdir, and how much memory it holds
(a script, not a test).

Fabricates a workdir of N samples (default 1,000,000; 100 classes) of which S (default 50,000)
are suspects, with what the app reads: manifest.parquet (paths point at 200 real PNGs reused
over and over, so thumbnails work), scores.parquet (one estimator's top-3), selection.parquet,
1,000 stored decisions and a neighbour cache (W/review/neighbours.parquet, 8 random neighbours
per suspect, written with the fingerprint the app checks, as a previous start would have left
it). No embeddings: the neighbour search itself is not timed here.

Then it starts the real command in a subprocess and reports:

- ``url_s``: process start -> the URL line on stdout (includes Python + labelclean imports);
- ``open_s``: process start -> the page, /api/summary and the first /api/items page answered
  (what a reviewer waits for before the first suspect shows), and ``open_cpu_s``, the server's
  CPU seconds until then (wall time on a busy machine is longer);
- ``first_thumb_s``: process start -> the first thumbnail (the manifest's paths load on first need);
- RSS (VmRSS, VmHWM from /proc) after opening, after 50 pages with filters, after 200 thumbnails
  and after 100 decisions, plus the median time of one decision POST.

    .venv/bin/python benchmarks/review_open.py                     # 1M samples, 50k suspects
    .venv/bin/python benchmarks/review_open.py --samples 100000 --suspects 5000
    .venv/bin/python benchmarks/review_open.py --neighbours --samples 100000 --suspects 5000

``--neighbours`` instead times the first start's neighbour search (what the app does in the
background when W/review/neighbours.parquet is missing): 512-d clustered float16 embeddings
(tests/workdirgen.py), exact cosine search for the suspects, and its peak RSS (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLASSES, IMAGES, DECIDED, K = 100, 200, 1000, 8


def fabricate(root: Path, n: int, suspects: int, seed: int = 0) -> Path:
    import numpy as np
    import pyarrow as pa
    from PIL import Image

    from labelclean.review.server.neighbours import CACHE_VERSION, SCHEMA, TABLE, cache_path, fingerprint
    from labelclean.review.server.data import _worst_first
    from labelclean.store import parquet_io, schemas
    from labelclean.store.workdir import Workdir

    rng = np.random.default_rng(seed)
    wd = Workdir(root / "work").ensure()
    names = [f"class{c:03d}" for c in range(CLASSES)]
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for i in range(IMAGES):
        arr = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
        Image.fromarray(arr).save(img_dir / f"{i:04d}.png")
    labels = rng.integers(0, CLASSES, n).astype(np.int32)
    ids = pa.array([f"{names[y]}/img{i:07d}.jpg" for i, y in enumerate(labels)], pa.string())
    order = np.argsort(np.asarray(ids.to_pylist(), dtype=object), kind="stable")
    ids, labels = ids.take(pa.array(order)), labels[order]
    paths = pa.array([str(img_dir / f"{i % IMAGES:04d}.png") for i in range(n)], pa.string())
    manifest = pa.table({
        "sample_id": ids, "path": paths, "label": pa.array([names[y] for y in labels], pa.string()),
        "label_id": pa.array(labels, pa.int32()), "sha256": pa.array([None] * n, pa.string()),
        "size_bytes": pa.array(np.full(n, 1000), pa.int64()), "width": pa.array(np.full(n, 96), pa.int32()),
        "height": pa.array(np.full(n, 96), pa.int32()), "status": pa.array(["ok"] * n, pa.string()),
        "detail": pa.array([None] * n, pa.string()), "duplicate_of": pa.array([None] * n, pa.string()),
    }, schema=schemas.MANIFEST)
    classes = [{"id": i, "name": c, "prompt_name": c} for i, c in enumerate(names)]
    parquet_io.write_table(wd.manifest, manifest, "manifest", classes=classes, data_root=str(img_dir))
    flagged = np.zeros(n, bool)
    flagged[rng.choice(n, suspects, replace=False)] = True
    score = np.where(flagged, rng.uniform(0, 0.5, n), rng.uniform(0.5, 1, n)).astype(np.float32)
    sugg = np.where(flagged & (rng.random(n) < 0.7), (labels + rng.integers(1, CLASSES, n)) % CLASSES, -1)
    top = np.stack([np.where(sugg >= 0, sugg, (labels + 1) % CLASSES), labels, (labels + 2) % CLASSES], 1)
    probs = np.sort(rng.dirichlet(np.ones(3), n).astype(np.float32), 1)[:, ::-1].copy()
    sel = pa.table({
        "sample_id": ids, "label_id": pa.array(labels, pa.int32()), "clean": pa.array(~flagged),
        "clean_score": pa.array(score, pa.float32()),
        "failed": pa.array(np.where(flagged, "knn_consistency,knn_gmm", ""), pa.string()),
        "suggested_label_id": pa.array(np.where(sugg >= 0, sugg, 0), pa.int32(), mask=sugg < 0),
        "suggested_confidence": pa.array(rng.uniform(0.5, 1, n).astype(np.float32), pa.float32(), mask=sugg < 0),
        "outlier": pa.array(np.zeros(n, bool)),
        "decision": pa.array(np.where(flagged, "flag", "keep"), pa.string()),
    }, schema=schemas.SELECTION)
    parquet_io.write_table(wd.selection, sel, "selection", "bench-model", estimators=["knn"])
    cols = {"sample_id": ids, "label_id": pa.array(labels, pa.int32())}
    for f, t in schemas.SCORE_FIELDS.items():
        if f == "top3_ids":
            cols[f"knn_{f}"] = parquet_io.fixed_list(top.astype(np.int32), pa.int32())
        elif f == "top3_probs":
            cols[f"knn_{f}"] = parquet_io.fixed_list(probs, pa.float32())
        else:
            cols[f"knn_{f}"] = pa.array(rng.random(n).astype(np.float32) if t == pa.float32() else labels, t)
    parquet_io.write_table(wd.scores, pa.table(cols, schema=schemas.scores_schema(["knn"])), "scores", "bench-model")
    wd.update_run("embed", {"fabricated": True}, model={"model_id": "bench-model"})
    rows = _worst_first(score, flagged)
    sus = ids.take(pa.array(rows))
    nb = rng.integers(0, n, (len(rows), K))
    id_list = ids.to_pylist()
    table = pa.table({"sample_id": sus, "neighbours": [[id_list[j] for j in r] for r in nb],
                      "labels": [[names[labels[j]] for j in r] for r in nb],
                      "sims": [sorted(rng.uniform(0.5, 1, K).round(4).tolist(), reverse=True) for _ in rows]},
                     schema=SCHEMA)
    parquet_io.write_table(cache_path(wd), table, TABLE, model_id="bench-model", fingerprint=fingerprint(wd, sus),
                           cache_version=CACHE_VERSION)
    dec = rng.choice(rows, DECIDED, replace=False)
    parquet_io.write_table(wd.decisions, pa.table({
        "sample_id": ids.take(pa.array(np.sort(dec))), "decision": ["reject"] * DECIDED,
        "label": pa.array([None] * DECIDED, pa.string()), "source": ["bench"] * DECIDED,
    }, schema=schemas.DECISIONS), "decisions")
    return wd.root


def rss(pid: int) -> dict:
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+)", text).group(1)) // 1024 for k in ("VmRSS", "VmHWM")}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (less sensitive to a busy machine than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def measure(workdir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "labelclean", "review", "-w", str(workdir), "--serve",
                             "--no-browser", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit(f"no URL: {url!r} {proc.stderr.read()[-2000:]}")
        t_url = time.perf_counter() - t0
        base, token = url.split("/?token=")
        q = lambda **p: urllib.parse.urlencode({"token": token, **p})  # noqa: E731
        get(url)
        summary = json.loads(get(f"{base}/api/summary?{q()}"))
        first = json.loads(get(f"{base}/api/items?{q(limit=48)}"))
        t_open = time.perf_counter() - t0
        cpu_open = cpu_s(proc.pid)
        get(f"{base}/img?{q(id=first['items'][0]['id'], size='thumb')}")
        t_thumb = time.perf_counter() - t0
        out = {"url_s": round(t_url, 3), "open_s": round(t_open, 3), "open_cpu_s": cpu_open,
               "first_thumb_s": round(t_thumb, 3), "suspects": summary["suspects"],
               "samples": summary["samples"], "reviewed": summary["reviewed"],
               "neighbours": summary["neighbours"]["status"], "first_page_items": len(first["items"]),
               "rss_open_mb": rss(proc.pid)}
        t = time.perf_counter()
        for i in range(50):
            params = {"limit": 48, "offset": 48 * i}
            if i % 5 == 1:
                params["given"] = i % CLASSES
            if i % 5 == 2:
                params["state"] = "todo"
            if i % 5 == 3:
                params["view"] = "kept"
            get(f"{base}/api/items?{q(**params)}")
        out["page_ms"] = round((time.perf_counter() - t) / 50 * 1000, 1)
        out["rss_pages_mb"] = rss(proc.pid)
        t = time.perf_counter()
        items = json.loads(get(f"{base}/api/items?{q(limit=200, offset=48)}"))["items"]
        for it in items:
            get(f"{base}/img?{q(id=it['id'], size='thumb')}")
        out["thumb_ms"] = round((time.perf_counter() - t) / len(items) * 1000, 1)
        out["rss_thumbs_mb"] = rss(proc.pid)
        times = []
        for it in items[:100]:
            body = json.dumps({"id": it["id"], "decision": "drop"}).encode()
            req = urllib.request.Request(f"{base}/api/decide", data=body, method="POST",
                                         headers={"Content-Type": "application/json", "X-Labelclean-Token": token})
            s = time.perf_counter()
            urllib.request.urlopen(req, timeout=60).read()
            times.append(time.perf_counter() - s)
        out["decision_ms_median"] = round(statistics.median(times) * 1000, 1)
        out["rss_decisions_mb"] = rss(proc.pid)
        return out
    finally:
        proc.terminate()
        proc.wait(10)


def neighbours(n: int, suspects: int, seed: int = 0) -> dict:
    """Fabricate embeddings + suspects, then time Neighbours.start() in a fresh process."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(REPO / "tests"))
    from workdirgen import make_clustered, make_workdir

    root = Path(tempfile.mkdtemp(prefix="review-nb-"))
    try:
        d = make_clustered(n, dim=512, n_classes=CLASSES, seed=seed)
        wd = make_workdir(root / "w", d.X, d.labels, d.class_names, embedding_dtype=pa.float16())
        del d
        ids = pq.read_table(wd.manifest, columns=["sample_id"])["sample_id"].to_pylist()
        rng = np.random.default_rng(seed)
        (root / "suspects.json").write_text(json.dumps([ids[i] for i in np.sort(rng.choice(n, suspects, replace=False))]))
        code = (
            "import json, resource, sys, time\n"
            "import pyarrow as pa\n"
            "from labelclean.review.server.neighbours import Neighbours\n"
            "from labelclean.store.workdir import Workdir\n"
            "sus = pa.array(json.load(open(sys.argv[2])), pa.string())\n"
            "t = time.perf_counter(); nb = Neighbours(Workdir(sys.argv[1]), sus); nb.start(background=False)\n"
            "print(json.dumps({'neighbours_s': round(time.perf_counter() - t, 1), 'status': nb.status,\n"
            "                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))\n"
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        r = subprocess.run([sys.executable, "-c", code, str(wd.root), str(root / "suspects.json")], env=env,
                           capture_output=True, text=True, check=True)
        return {"samples": n, "suspects": suspects, **json.loads(r.stdout.strip().splitlines()[-1])}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--suspects", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3, help="server starts to time (the workdir is made once)")
    ap.add_argument("--keep", type=Path, help="fabricate into (or reuse) this folder instead of a temp one")
    ap.add_argument("--neighbours", action="store_true", help="time the first start's neighbour search instead")
    args = ap.parse_args()
    if args.neighbours:
        sys.path.insert(0, str(REPO))
        print(json.dumps(neighbours(args.samples, args.suspects)))
        print(json.dumps({"uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}))
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="review-open-"))
    try:
        t = time.perf_counter()
        wd = root / "work"
        if not (wd / "selection.parquet").exists():
            sys.path.insert(0, str(REPO))
            fabricate(root, args.samples, args.suspects)
        print(json.dumps({"fabricate_s": round(time.perf_counter() - t, 1), "samples": args.samples,
                          "suspects": args.suspects}), flush=True)
        for _ in range(args.repeat):
            shutil.rmtree(wd / "thumbs", ignore_errors=True)
            print(json.dumps(measure(wd)), flush=True)
        print(json.dumps({"uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
