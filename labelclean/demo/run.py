"""`demo`: generate a noisy synthetic dataset, run the whole pipeline on it with the bundled
tiny CLIP, and evaluate the selection against the known truth.

Layout under the demo's work directory W:

- ``W/demo-data/images/<given label>/<id>.png`` — the generated ImageFolder (labels noisy);
- ``W/demo-data/truth.csv`` — path, given label, clean label; ``true_labels.csv`` — path, label
  (the true one), the file `evaluate --truth` reads;
- everything `run` writes (manifest, embeddings, scores, selection, export/, report.html).

The data is regenerated only when size, noise, seed or image size change (``demo.json``), so a
second `labelclean demo` reuses the embeddings and skips unchanged stages.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from typing import Any

from labelclean.stages.configs import DemoConfig
from labelclean.core.report import StageReport, Timer
from labelclean.store.workdir import Workdir, atomic_write_text


def demo_data(wd: Workdir, cfg: DemoConfig):
    """Generate (or reuse) the demo dataset; returns (images_dir, true_labels_csv, n_flipped)."""
    from labelclean.demo.dataset import make_demo_dataset

    out = wd.root / "demo-data"
    stamp = out / "demo.json"
    params = {k: v for k, v in asdict(cfg).items() if k != "descriptions"}
    truth = out / "true_labels.csv"
    meta = json.loads(stamp.read_text()) if stamp.exists() else {}
    if truth.exists() and meta.get("params") == params:
        return out / "images", truth, meta["n_flipped"]
    ds = make_demo_dataset(out, size=cfg.size, noise=cfg.noise, seed=cfg.seed, image_size=cfg.image_size,
                           overwrite=True)
    with open(ds.truth_csv, newline="", encoding="utf-8") as f:
        rows = [(r["path"], r["clean_label"]) for r in csv.DictReader(f)]
    lines = ["path,label"] + [f"{p},{c}" for p, c in rows]
    atomic_write_text(truth, "\n".join(lines) + "\n")
    atomic_write_text(stamp, json.dumps({"params": params, "n_flipped": ds.n_flipped}, indent=2))
    return ds.images_dir, truth, ds.n_flipped


@dataclass(kw_only=True)
class DemoReport(StageReport):
    stage: str = "demo"
    metrics: dict[str, Any]  # `evaluate`'s summary against the known truth
    n_samples: int
    n_flipped: int
    data: str  # the generated image folder
    truth: str  # its true labels (path,label)
    report: str  # the HTML report
    stages: list[dict[str, Any]]  # every pipeline stage's report


def run_demo(wd: Workdir, cfg: DemoConfig, on_stage=None) -> DemoReport:
    """Generate data, run embed -> score -> select -> export -> report, then evaluate."""
    from labelclean.demo import model_spec
    from labelclean.stages.evaluate import EvaluateConfig, run_evaluate
    from labelclean.stages.pipeline import build_configs, run_pipeline

    cfg.validate()

    with Timer() as t:
        wd.ensure()
        images, truth, n_flipped = demo_data(wd, cfg)
        values = {"model": model_spec(), "seed": cfg.seed, "descriptions": "demo" if cfg.descriptions else None}
        result = run_pipeline(wd, build_configs(images, values), on_stage=on_stage)
        metrics = run_evaluate(wd, EvaluateConfig(truth=str(truth))).summary
    return DemoReport(counts={"samples": cfg.size, "flipped": n_flipped}, outputs=[images], seconds=t.seconds,
                      metrics=metrics, n_samples=cfg.size, n_flipped=n_flipped, data=str(images), truth=str(truth),
                      report=str(wd.root / "report.html"), stages=[r.report.to_json() for r in result.results])
