"""`predict`: run a model trained by `train` on new images and write a predictions CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from labelclean.core.errors import InputError
from labelclean.stages.configs import PredictConfig
from labelclean.core.report import StageReport, Timer
from labelclean.store.workdir import Workdir, atomic_write_text

COLUMNS = ("path", "label", "predicted", "confidence", "top2", "top2_confidence", "top3", "top3_confidence", "status")


@dataclass
class _Item:
    path: str
    label: Optional[str]
    status: str  # "ok" or a reason code found before decoding


@dataclass(kw_only=True)
class PredictReport(StageReport):
    stage: str = "predict"
    method: str
    model: str  # the trained model's folder
    out: str  # the predictions CSV
    predicted: int
    labelled: int  # images that carry a label of the model's classes
    unknown_label: int  # images whose label is not one of them
    accuracy: Optional[float]  # on the labelled images; None without any


def run_predict(wd: Workdir, cfg: PredictConfig) -> PredictReport:
    """Predict every image of ``cfg.data``; accuracy is reported when it carries labels."""
    from labelclean.train.common.loop import make_runtime
    from labelclean.train.common.predict import load_trained, method_folder, predict_paths, top_k

    if cfg.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {cfg.batch_size}")
    with Timer() as timer:
        folder = method_folder(wd.train_dir, cfg.method)
        items = list_inputs(Path(cfg.data))
        rt = make_runtime(cfg.device)
        trained = load_trained(folder, rt)
        usable = [i for i, it in enumerate(items) if it.status == "ok"]
        preds = predict_paths(trained, [items[i].path for i in usable], rt, batch_size=cfg.batch_size,
                              workers=cfg.workers)
        ids, probs = top_k(preds.probs, 3)
        names = [c.name for c in trained.classes]
        for j, i in enumerate(usable):
            if not preds.ok[j]:
                items[i].status = "unreadable"
        rows, stats = _rows(items, usable, preds.ok, ids, probs, names)
        out = Path(cfg.out) if cfg.out is not None else folder / "predictions.csv"
        _write_csv(out, rows)
    counts = {"images": len(items), "predicted": stats["predicted"], "failed": len(items) - stats["predicted"]}
    return PredictReport(counts=counts, outputs=[out], seconds=timer.seconds, method=trained.card["method"],
                         model=str(folder), out=str(out), **stats)


def _rows(items, usable, ok, ids, probs, names):
    pos = {i: j for j, i in enumerate(usable)}
    rows, labelled, correct, unknown = [], 0, 0, 0
    for i, it in enumerate(items):
        row = {"path": it.path, "label": it.label or "", "status": it.status}
        j = pos.get(i)
        if j is not None and ok[j]:
            top = [(names[c], float(p)) for c, p in zip(ids[j], probs[j])]
            row.update(predicted=top[0][0], confidence=f"{top[0][1]:.6f}")
            for r, (name, p) in enumerate(top[1:], start=2):
                row[f"top{r}"], row[f"top{r}_confidence"] = name, f"{p:.6f}"
            if it.label is not None and it.label in names:
                labelled += 1
                correct += int(top[0][0] == it.label)
            elif it.label is not None:
                unknown += 1
        rows.append(row)
    predicted = sum(1 for r in rows if r.get("predicted"))
    stats = {"predicted": predicted, "labelled": labelled, "unknown_label": unknown,
             "accuracy": correct / labelled if labelled else None}
    return rows, stats


def _write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def list_inputs(data: Path) -> list[_Item]:
    """Images to predict: a class-folder tree or manifest (via `discover`), or a plain folder of images."""
    from labelclean.ingest.discover import discover, is_ignored

    data = Path(data).expanduser()
    if data.is_dir() and not any(p.is_dir() and not is_ignored(p.name) for p in data.iterdir()):
        files = sorted(p for p in data.iterdir() if p.is_file() and not is_ignored(p.name))
        if not files:
            raise InputError(f"{data} holds no files", "pass a folder of images or a manifest")
        return [_Item(str(p.resolve()), None, "ok") for p in files]
    found = discover(data)
    items = []
    for c in found.candidates:
        status = "ok" if c.status is None or str(c.status) == "unlabeled" else str(c.status)
        items.append(_Item(str(c.path), c.label, status))
    return items
