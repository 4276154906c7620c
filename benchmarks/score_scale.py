"""How `score` + `select` grow with the number of samples (a script, not a test).

Synthetic embeddings: 512-d, 100 classes (``--classes``; overlapping clusters in a 32-d
subspace, see tests/workdirgen.write_clustered_workdir), 2 prompts per class, 20 % symmetric
label noise. For every size a fresh subprocess fabricates the workdir block by block (float16
embeddings, as `embed` stores them; memory is one block, so 10M fits), then another
subprocess runs `run_score` and `run_select` with default
configs and reports wall time per estimator and peak RSS (ru_maxrss, after score + select).
Then, in the same process, the knn estimator alone with the index `score` picks for that N:
its time, its top-10 recall against exact search on 1,000 sampled queries, and its detection
AUROC. Sizes run smallest first.

    .venv/bin/python benchmarks/score_scale.py                 # 100k, 1M
    .venv/bin/python benchmarks/score_scale.py --10m           # 100k, 1M, 10M (needs ~16 GB)
    .venv/bin/python benchmarks/score_scale.py --sizes 10000 100000 --json
    .venv/bin/python benchmarks/score_scale.py --knn-compare --sizes 100000   # every index vs exact
    .venv/bin/python benchmarks/score_scale.py --sizes 100000 --classes 10000 --knn-up-to 0
    .venv/bin/python benchmarks/score_scale.py --sizes 10000000 --knn-up-to 0 --workdir-root /big/disk
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

DIM, RATE = 512, 0.2
CLASSES = int(os.environ.get("SCORE_SCALE_CLASSES", "100"))  # --classes, passed on to the child processes


def make(path: Path, n: int, seed: int = 0) -> dict:
    from workdirgen import write_clustered_workdir

    t = time.perf_counter()
    counts = write_clustered_workdir(path, n, dim=DIM, n_classes=CLASSES, noise_rate=RATE, seed=seed,
                                     workers=min(8, os.cpu_count() or 1))
    return {**counts, "make_s": round(time.perf_counter() - t, 1), "make_peak_rss_gb": _rss_gb()}


def _rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def run(path: Path, device: str = "auto", knn: bool = True) -> dict:
    from labelclean.stages.evaluate import EvaluateConfig, run_evaluate
    from labelclean.stages.score import ScoreConfig, run_score
    from labelclean.stages.select import SelectConfig, run_select
    from labelclean.store.workdir import Workdir

    wd = Workdir(path)
    t0 = time.perf_counter()
    score = run_score(wd, ScoreConfig(device=device))
    t1 = time.perf_counter()
    select = run_select(wd, SelectConfig())
    t2 = time.perf_counter()
    rss = _rss_gb()
    metrics = run_evaluate(wd, EvaluateConfig("clean_label")).summary
    info = score.summary["estimator_info"]
    return {
        "score_s": round(t1 - t0, 1),
        "select_s": round(t2 - t1, 1),
        "per_estimator_s": {e: info[e]["seconds"] for e in info},
        "robust_l2": info.get("robust", {}).get("l2"),
        "peak_rss_gb": rss,
        "auroc": round(metrics["auroc"], 4),
        "flagged_f1": round(metrics["flagged_f1"], 4),
        "device": score.summary.get("device"),
        **(knn_phase(wd) if knn else {"knn_s": None, "knn_search": "not run", "knn_recall@10": None,
                                      "knn_auroc": None}),
    }


def knn_phase(wd, queries: int = 1000) -> dict:
    """The knn estimator alone, as `score` would run it: seconds, index, recall@10 on sampled queries, AUROC."""
    import numpy as np

    from labelclean.evaluation.metrics import roc_auc
    from labelclean.scoring.knn import knn_probs
    from labelclean.scoring.neighbors import self_search
    from labelclean.store.tables import load_embeddings, load_manifest

    emb = load_embeddings(wd, dtype=np.float16)
    t = time.perf_counter()
    res = knn_probs(emb.X, emb.labels, n_classes=CLASSES, groups=emb.canonical)
    knn_s = time.perf_counter() - t
    manifest, _ = load_manifest(wd, ["sample_id", "label", "clean_label"])
    truth = dict(zip(manifest["sample_id"].to_pylist(), (a == b for a, b in zip(manifest["label"].to_pylist(),
                                                                               manifest["clean_label"].to_pylist()))))
    clean = np.fromiter((truth[s] for s in emb.sample_ids), dtype=bool, count=len(emb.sample_ids))
    auroc = roc_auc(clean, res.probs[np.arange(len(clean)), emb.labels])
    del res
    recall = _sampled_recall(emb.X, queries, self_search)
    return {"knn_s": round(knn_s, 1), "knn_search": _last_method[0], "knn_recall@10": recall,
            "knn_auroc": round(auroc, 4), "knn_peak_rss_gb": _rss_gb()}


_last_method = [None]


def _sampled_recall(X, queries: int, self_search, k: int = 11) -> float:
    """Top-10 recall of the index score picks (self included, k=11) against exact search, on sampled rows."""
    import numpy as np

    from labelclean.scoring import neighbors

    got = self_search(X, k=k, seed=0)
    _last_method[0] = got.method
    rows = np.sort(np.random.default_rng(1).choice(X.shape[0], size=min(queries, X.shape[0]), replace=False))
    hits = 0
    for start in range(0, rows.size, 250):
        q = X[rows[start : start + 250]].astype(np.float32)
        sims = np.concatenate([q @ X[b : b + 262144].astype(np.float32).T for b in range(0, X.shape[0], 262144)], axis=1)
        exact = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        hits += sum(len(set(a) & set(b)) for a, b in zip(exact, got.idx[rows[start : start + 250]]))
    del neighbors
    return round(hits / (rows.size * k), 4)


def knn_compare(sizes: list[int]) -> list[dict]:
    """Every index against exact search: time, top-10 recall, and the kNN estimator's detection AUROC."""
    import numpy as np
    from workdirgen import make_clustered

    from labelclean.evaluation.metrics import roc_auc
    from labelclean.evaluation.noise import symmetric_noise
    from labelclean.scoring import knn
    from labelclean.scoring.neighbors import self_search

    rows = []
    for n in sizes:
        d = make_clustered(n, dim=DIM, n_classes=CLASSES, seed=0)
        noisy = symmetric_noise(d.labels, n_classes=CLASSES, rate=RATE, seed=0).labels
        X, clean = d.X.astype(np.float16), noisy == d.labels
        found = {}
        for kind in ("exact", "ivf", "ivfsq", "hnsw"):
            t = time.perf_counter()
            nb = self_search(X, k=11, backend="faiss", exact_max=2**62 if kind == "exact" else 0,
                             approx=None if kind == "exact" else kind)
            seconds = time.perf_counter() - t
            real, knn.self_search = knn.self_search, (lambda *a, **kw: nb)  # the vote on these very neighbours
            try:
                p = knn.knn_probs(X, noisy, n_classes=CLASSES).probs
            finally:
                knn.self_search = real
            found[kind] = (nb, seconds, roc_auc(clean, p[np.arange(n), noisy]))
        ex = found["exact"]
        for kind, (nb, seconds, auroc) in found.items():
            recall = float(np.mean([len(set(a) & set(b)) / 11 for a, b in zip(ex[0].idx, nb.idx)]))
            rows.append({"n": n, "index": nb.method, "search_s": round(seconds, 1), "recall@10": round(recall, 4),
                         "knn_auroc": round(auroc, 4), "auroc_delta": round(auroc - ex[2], 4)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env={**os.environ})
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> list[str]:
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def main() -> None:
    global CLASSES
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--10m", dest="ten_m", action="store_true", help="also run 10M samples (about 16 GB RSS)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--device", default="auto", help="score's --device (auto, cpu, cuda); recorded per row")
    p.add_argument("--knn-compare", action="store_true")
    p.add_argument("--knn-up-to", type=int, default=10**12, help="run the knn phase only up to this many samples")
    p.add_argument("--classes", type=int, default=CLASSES, help="number of classes K (default 100)")
    p.add_argument("--workdir-root", type=Path, default=None,
                   help="where the temporary workdirs go (10M x 512 needs about 25 GB of disk)")
    p.add_argument("--phase", choices=["make", "run"], help=argparse.SUPPRESS)
    p.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    os.environ["SCORE_SCALE_CLASSES"] = str(a.classes)
    CLASSES = a.classes
    if a.phase == "make":
        print(json.dumps(make(a.path, a.sizes[0])))
        return
    if a.phase == "run":
        print(json.dumps(run(a.path, a.device, knn=a.sizes[0] <= a.knn_up_to)))
        return
    if a.knn_compare:
        knn_compare(a.sizes if "--sizes" in sys.argv else [100_000])
        return
    sizes = a.sizes + ([10_000_000] if a.ten_m and 10_000_000 not in a.sizes else [])
    doc = {"load_start": _load(), "cpus": os.cpu_count(), "classes": CLASSES, "rows": []}
    say = (lambda *x, **k: None) if a.json else print
    say(f"load average at start: {doc['load_start']}, cpus: {doc['cpus']}, classes: {CLASSES}", flush=True)
    say("| samples | score s | robust s | zeroshot s | select s | peak RSS GB | AUROC | F1 | knn s | kNN search | "
        "recall@10 | kNN AUROC |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"lc-scale-{n}-", dir=a.workdir_root))
        try:
            made = _child(["--phase", "make", "--sizes", str(n), "--path", str(tmp / "w")])
            say(f"(workdir made in {made['make_s']} s, {made['make_peak_rss_gb']} GB peak; load {_load()})", flush=True)
            r = _child(["--phase", "run", "--path", str(tmp / "w"), "--device", a.device, "--sizes", str(n),
                        "--knn-up-to", str(a.knn_up_to)])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        r = {"samples": n, "load": _load(), "make_s": made["make_s"], **r}
        doc["rows"].append(r)
        e = r["per_estimator_s"]
        say(f"| {n:,} | {r['score_s']} | {e.get('robust')} | {e.get('zeroshot')} | {r['select_s']} | "
            f"{r['peak_rss_gb']} | {r['auroc']} | {r['flagged_f1']} | {r['knn_s']} | {r['knn_search']} | "
            f"{r['knn_recall@10']} | {r['knn_auroc']} |", flush=True)
    doc["load_end"] = _load()
    say(f"load average at end: {doc['load_end']}")
    if a.json:
        print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
