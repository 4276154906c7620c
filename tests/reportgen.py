"""Fabricate a scored and selected work directory with real image files, for export/report tests.

`make_selected_workdir` writes an ImageFolder dataset (``DATA/<class>/<file>.png``) in which a
known fraction of files sit in the wrong class folder (their colour is the true class's), plus
``manifest.parquet`` (with ``data_root`` and ``classes`` metadata, and a few broken files),
``scores.parquet`` (one estimator, ``zeroshot``), ``selection.parquet`` and ``run.json`` as the
real stages would, without a model. The answer is known: ``Fixture.true_label``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa

from labelclean.store import parquet_io, schemas
from labelclean.store.workdir import Workdir

EST = "zeroshot"


@dataclass
class Fixture:
    wd: Workdir
    data: Path
    classes: list[str]
    sample_ids: list[str]  # usable samples (in selection), sorted
    given: dict[str, str]
    true_label: dict[str, str]
    flagged: list[str] = field(default_factory=list)  # not clean in selection
    excluded: dict[str, str] = field(default_factory=dict)  # sample_id -> reason code


def _folder(name: str) -> str:
    """Class folder name (a class name may hold '/', which no folder can)."""
    return name.replace("/", "_")


def _write_png(path: Path, color: tuple[int, int, int], seed: int, size: int = 48, texture: float = 6.0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.asarray(color, np.float32)[None, None, :] * (0.7 + 0.3 * (xx + yy)[..., None] / (2 * size))
    img = np.clip(base + rng.normal(0, texture, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, "PNG")


def _color(k: int, n: int) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(k / max(n, 1), 0.75, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def make_selected_workdir(
    root: Path,
    *,
    classes: Sequence[str] = ("cat", "dog", "fox"),
    n_per_class: int = 12,
    noise: float = 0.25,
    seed: int = 0,
    distinct_files: int | None = None,
    broken: bool = True,
    texture: float = 6.0,
    image_px: int = 48,
) -> Fixture:
    """Build DATA and a workdir under ``root``; ``distinct_files`` caps real image files
    (sample i reuses file i % distinct_files: fast for 20k-sample workdirs); ``texture`` is
    the pixel noise std (80 gives near worst-case JPEG thumbnail sizes)."""
    rng = np.random.default_rng(seed)
    data, wd = root / "data", Workdir(root / "work").ensure()
    classes, k = list(classes), len(classes)
    ids, given, true, paths = [], {}, {}, {}
    for c, name in enumerate(classes):
        for j in range(n_per_class):
            t = c if rng.random() >= noise else int((c + 1 + rng.integers(0, k - 1)) % k)
            sid = f"{_folder(name)}/img{j:05d}.png"
            ids.append(sid)
            given[sid], true[sid] = name, classes[t]
    for i, sid in enumerate(ids):
        t = classes.index(true[sid])
        if distinct_files is None or i < distinct_files:
            paths[sid] = data / sid
            _write_png(data / sid, _color(t, k), seed * 100003 + i, image_px, texture)
        else:
            src = ids[i % distinct_files]
            paths[sid] = data / src
    fx = Fixture(wd, data, classes, sorted(ids), given, true)
    if broken:
        for sid, reason in ((f"{_folder(classes[0])}/broken.jpg", "corrupt"), (f"{_folder(classes[-1])}/empty.png", "empty")):
            (data / sid).parent.mkdir(parents=True, exist_ok=True)
            (data / sid).write_bytes(b"\xff\xd8\xff garbage" if reason == "corrupt" else b"")
            fx.excluded[sid] = reason
            paths[sid] = data / sid
    _write_manifest(fx, paths)
    _write_scores_and_selection(fx, rng)
    wd.update_run("embed", {"fabricated": True}, model={"model_id": "test-model"})
    return fx


def _write_manifest(fx: Fixture, paths: dict[str, Path]) -> None:
    all_ids = sorted(paths)
    by_folder = {_folder(c): c for c in fx.classes}
    label = [fx.given.get(s, by_folder[s.split("/")[0]]) for s in all_ids]
    status = [fx.excluded.get(s, "ok") for s in all_ids]
    n = len(all_ids)
    table = pa.table(
        {
            "sample_id": all_ids,
            "path": [str(paths[s]) for s in all_ids],
            "label": label,
            "label_id": pa.array([fx.classes.index(x) for x in label], pa.int32()),
            "sha256": [None] * n,
            "size_bytes": pa.array([0] * n, pa.int64()),
            "width": pa.array([48] * n, pa.int32()),
            "height": pa.array([48] * n, pa.int32()),
            "status": status,
            "detail": [None if s == "ok" else f"fabricated {s}" for s in status],
            "duplicate_of": [None] * n,
        },
        schema=schemas.MANIFEST,
    )
    classes = [{"id": i, "name": c, "prompt_name": c.replace("_", " ")} for i, c in enumerate(fx.classes)]
    parquet_io.write_table(
        fx.wd.manifest, table, "manifest", classes=classes, data_root=str(fx.data), source=str(fx.data)
    )


def _write_scores_and_selection(fx: Fixture, rng: np.random.Generator) -> None:
    k, ids = len(fx.classes), fx.sample_ids
    y = np.array([fx.classes.index(fx.given[s]) for s in ids], np.int32)
    t = np.array([fx.classes.index(fx.true_label[s]) for s in ids], np.int32)
    logits = rng.normal(0, 0.5, (len(ids), k)) + 3.0 * np.eye(k)[t]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    order = np.argsort(-probs, axis=1)[:, :3]
    p_given = probs[np.arange(len(ids)), y]
    clean = t == y
    score = np.where(clean, 0.55 + 0.45 * p_given, 0.45 * p_given).astype(np.float32)
    pred = order[:, 0].astype(np.int32)
    has_sugg = ~clean & (pred != y) & (probs.max(1) > 0.5)
    cols = {
        "sample_id": ids, "label_id": pa.array(y, pa.int32()),
        f"{EST}_p_given": pa.array(p_given, pa.float32()),
        f"{EST}_consistency": pa.array(p_given / probs.max(1), pa.float32()),
        f"{EST}_norm_logp": pa.array(p_given, pa.float32()),
        f"{EST}_pred": pa.array(pred, pa.int32()),
        f"{EST}_top3_ids": pa.array(order.astype(np.int32).tolist(), pa.list_(pa.int32(), 3)),
        f"{EST}_top3_probs": pa.array(np.take_along_axis(probs, order, 1).astype(np.float32).tolist(),
                                      pa.list_(pa.float32(), 3)),
        f"{EST}_margin": pa.array(p_given - np.where(pred == y, np.sort(probs, 1)[:, -2], probs.max(1)), pa.float32()),
    }
    parquet_io.write_table(fx.wd.scores, pa.table(cols, schema=schemas.scores_schema([EST])), "scores", "test-model")
    sel = {
        "sample_id": ids, "label_id": pa.array(y, pa.int32()), "clean": pa.array(clean),
        "clean_score": pa.array(score, pa.float32()),
        "failed": ["" if c else "p_given,consistency" for c in clean],
        "suggested_label_id": pa.array([int(p) if h else None for p, h in zip(pred, has_sugg)], pa.int32()),
        "suggested_confidence": pa.array([float(probs[i].max()) if h else None for i, h in enumerate(has_sugg)],
                                         pa.float32()),
        "outlier": pa.array(np.zeros(len(ids), bool)),
        "decision": ["keep" if c else ("relabel" if h else "flag") for c, h in zip(clean, has_sugg)],
    }
    parquet_io.write_table(fx.wd.selection, pa.table(sel, schema=schemas.SELECTION), "selection", "test-model",
                           estimators=[EST], clean_score_threshold=0.5)
    fx.flagged = [s for s, c in zip(ids, clean) if not c]
