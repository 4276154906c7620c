"""How `score` + `select` grow with the number of samples (a script, not a test).

Synthetic embeddings: 512-d, 100 classes (overlapping clusters in a 32-d subspace, see
tests/workdirgen.make_clustered), 2 prompts per class, 20 % symmetric label noise. For
every size a fresh subprocess fabricates the workdir (float16 embeddings, as `embed`
stores them), then another subprocess runs `run_score` and `run_select` with default
configs and reports wall time per estimator and peak RSS (ru_maxrss). Sizes run smallest
first; run the largest last and expect it to take long on 2 cores.

    .venv/bin/python benchmarks/score_scale.py                 # 10k, 100k, 1M
    .venv/bin/python benchmarks/score_scale.py --sizes 10000 100000
    .venv/bin/python benchmarks/score_scale.py --knn-compare   # exact vs IVF kNN, recall and time
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

DIM, CLASSES, RATE = 512, 100, 0.2


def make(path: Path, n: int, seed: int = 0) -> dict:
    import numpy as np
    import pyarrow as pa
    from workdirgen import make_clustered, make_workdir

    from labelclean.evaluation.noise import symmetric_noise

    d = make_clustered(n, dim=DIM, n_classes=CLASSES, seed=seed)
    noisy = symmetric_noise(d.labels, n_classes=CLASSES, rate=RATE, seed=seed).labels
    make_workdir(path, d.X, noisy, d.class_names, T=d.T, prompt_class_ids=d.prompt_class_ids,
                 extras={"clean_label": [d.class_names[i] for i in d.labels]}, embedding_dtype=pa.float16())
    return {"n": n, "noisy": int((noisy != d.labels).sum()), "labels_sha": int(np.sum(noisy))}


def run(path: Path) -> dict:
    from labelclean.stages.evaluate import EvaluateConfig, run_evaluate
    from labelclean.stages.score import ScoreConfig, run_score
    from labelclean.stages.select import SelectConfig, run_select
    from labelclean.store.workdir import Workdir

    wd = Workdir(path)
    t0 = time.perf_counter()
    score = run_score(wd, ScoreConfig())
    t1 = time.perf_counter()
    select = run_select(wd, SelectConfig())
    t2 = time.perf_counter()
    metrics = run_evaluate(wd, EvaluateConfig("clean_label")).summary
    info = score.summary["estimator_info"]
    return {
        "score_s": round(t1 - t0, 1),
        "select_s": round(t2 - t1, 1),
        "per_estimator_s": {e: info[e]["seconds"] for e in info},
        "knn_search": info.get("knn", {}).get("search"),
        "logreg_l2": info.get("logreg", {}).get("l2"),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "auroc": round(metrics["auroc"], 4),
        "flagged_f1": round(metrics["flagged_f1"], 4),
    }


def knn_compare(sizes: list[int]) -> list[dict]:
    import numpy as np
    from workdirgen import make_clustered

    from labelclean.scoring.neighbors import self_search

    rows = []
    for n in sizes:
        X = make_clustered(n, dim=DIM, n_classes=CLASSES, seed=0).X
        t = time.perf_counter()
        exact = self_search(X, k=11, backend="faiss", exact_max=2**62)
        te = time.perf_counter() - t
        t = time.perf_counter()
        ivf = self_search(X, k=11, backend="faiss", exact_max=0)
        ti = time.perf_counter() - t
        recall = float(np.mean([len(set(a) & set(b)) / 11 for a, b in zip(exact.idx, ivf.idx)]))
        rows.append({"n": n, "exact_s": round(te, 2), "ivf_s": round(ti, 2), "ivf": ivf.method, "recall@10": round(recall, 4)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env={**os.environ})
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--knn-compare", action="store_true")
    p.add_argument("--phase", choices=["make", "run"], help=argparse.SUPPRESS)
    p.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.phase == "make":
        print(json.dumps(make(a.path, a.sizes[0])))
        return
    if a.phase == "run":
        print(json.dumps(run(a.path)))
        return
    if a.knn_compare:
        knn_compare([10_000, 20_000, 50_000])
        return
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}, cpus: {os.cpu_count()}", flush=True)
    print("| samples | score s | logreg s | knn s | zeroshot s | select s | peak RSS GB | kNN search | AUROC | F1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in a.sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"lc-scale-{n}-"))
        try:
            _child(["--phase", "make", "--sizes", str(n), "--path", str(tmp / "w")])
            r = _child(["--phase", "run", "--path", str(tmp / "w")])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        e = r["per_estimator_s"]
        print(f"| {n:,} | {r['score_s']} | {e.get('logreg')} | {e.get('knn')} | {e.get('zeroshot')} | {r['select_s']} | "
              f"{r['peak_rss_gb']} | {r['knn_search']} | {r['auroc']} | {r['flagged_f1']} |", flush=True)
    with open("/proc/loadavg") as f:
        print(f"load average at end: {f.read().split()[:3]}")


if __name__ == "__main__":
    main()
