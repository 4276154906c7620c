"""`labelclean noise`: write a copy of a dataset's manifest with synthetic label noise.

The output manifest (``--out``: .csv, .tsv, .jsonl or .parquet) has ``path`` (relative to
the manifest's folder, which must contain every image, so that `labelclean embed OUT`
loads it back with the same sample ids), ``label`` (noisy), ``clean_label`` (the original
label) and the input's other extra columns. The realised rates go to stdout and to a
sidecar file ``OUT.noise.json`` (mode, requested and realised rate, per-class rates,
most frequent flips, seed). Only samples with a known label are written; the others are
counted by reason. Source data is never modified.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.evaluation import noise as noise_lib
from labelclean.core.errors import InputError, UsageError
from labelclean.evaluation.config import NoiseConfig
from labelclean.core.report import StageReport, Timer, config_dict, summary_field
from labelclean.store.workdir import atomic_path, atomic_write_text

OUT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
RESERVED = ("path", "label", "clean_label")


def sidecar_path(out: Path) -> Path:
    return Path(str(out) + ".noise.json")


@dataclass(kw_only=True)
class NoiseReport(StageReport):
    """The summary is the sidecar OUT.noise.json: config, out, mode, rate_requested, realised_rate,
    samples, flipped, per_class, top_flips, skipped, seed."""

    stage: str = "noise"
    realised: dict[str, Any] = summary_field(flatten=True)


def run_noise(cfg: NoiseConfig) -> NoiseReport:
    """Synthesise noisy labels for DATA and write the noisy manifest plus its sidecar."""
    from labelclean.ingest.discover import discover

    _check(cfg)
    with Timer() as t:
        found = discover(cfg.data, classes_file=cfg.classes_file)
        names = [c.name for c in found.classes]
        usable = [c for c in found.candidates if c.status is None and c.label in names]
        skipped = _skipped(found.candidates, usable)
        if not usable:
            raise InputError(f"{cfg.data} has no labelled image to add noise to", "check the folder or manifest")
        out = cfg.out.expanduser().resolve()
        rel = _relative_paths(usable, out.parent)
        labels = np.asarray([names.index(c.label) for c in usable], dtype=np.int64)
        result = _apply(cfg, labels, names, [c.sample_id for c in usable])
        _write_manifest(out, rel, [names[i] for i in result.labels], [c.label for c in usable],
                        [c.extras for c in usable], found.extra_columns)
        summary = _summary(cfg, result, names, skipped, out)
        atomic_write_text(sidecar_path(out), json.dumps(summary, indent=2, sort_keys=True))
    counts = {"written": len(usable), "flipped": int(result.flipped.sum()), **{f"skipped_{k}": v for k, v in skipped.items()}}
    return NoiseReport(counts=counts, outputs=[out, sidecar_path(out)], seconds=t.seconds, realised=summary)


def _check(cfg: NoiseConfig) -> None:
    if cfg.mode not in noise_lib.MODES:
        raise UsageError(f"--mode must be one of {', '.join(noise_lib.MODES)}, got {cfg.mode!r}")
    if not 0.0 <= cfg.rate <= 1.0:
        raise UsageError(f"--rate must be in [0, 1], got {cfg.rate}")
    if cfg.out.suffix.lower() not in OUT_SUFFIXES:
        raise UsageError(f"--out must end in {', '.join(OUT_SUFFIXES)}, got {cfg.out.name}")
    if cfg.out.exists() and not cfg.overwrite:
        raise UsageError(f"{cfg.out} already exists", "pass --overwrite to replace it, or choose another --out")
    if cfg.mode == "instance" and cfg.workdir is None:
        raise UsageError("--mode instance needs -w/--workdir: a workdir embedded from the same clean data",
                         "run `labelclean embed DATA -w W` first, then pass -w W")


def _skipped(candidates, usable) -> dict[str, int]:
    ok = {id(c) for c in usable}
    out: dict[str, int] = {}
    for c in candidates:
        if id(c) not in ok:
            key = str(c.status) if c.status is not None else "label_not_a_class"
            out[key] = out.get(key, 0) + 1
    return out


def _relative_paths(usable, folder: Path) -> list[str]:
    rel = [os.path.relpath(c.path, folder) for c in usable]
    outside = [r for r in rel if r == ".." or r.startswith(".." + os.sep)]
    if outside:
        root = Path(os.path.commonpath([str(c.path) for c in usable]))
        raise UsageError(
            f"--out must be in a folder that contains every image ({len(outside)} are outside {folder})",
            f"write it inside {root if root.is_dir() else root.parent}, e.g. --out {root if root.is_dir() else root.parent}/noisy.csv",
        )
    return [Path(r).as_posix() for r in rel]


def _apply(cfg: NoiseConfig, labels: np.ndarray, names: list[str], ids: list[str]) -> noise_lib.NoiseResult:
    k = len(names)
    if cfg.mode == "sym":
        return noise_lib.symmetric_noise(labels, n_classes=k, rate=cfg.rate, seed=cfg.seed)
    if cfg.mode == "pairflip":
        return noise_lib.pairflip_noise(labels, n_classes=k, rate=cfg.rate, seed=cfg.seed)
    if cfg.mode == "asym":
        return noise_lib.asymmetric_noise(labels, _mapping(cfg, names), n_classes=k, rate=cfg.rate, seed=cfg.seed)
    return _instance(cfg, labels, ids, k)


def _mapping(cfg: NoiseConfig, names: list[str]) -> dict[int, int]:
    import yaml

    from labelclean.core.templates import template_path

    path = cfg.mapping or template_path("noise", "cifar10_asym.yaml")
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"cannot read the noise mapping {path}: {e}", "pass a YAML/JSON file of source: target") from e
    raw = raw.get("mapping", raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{path} holds no source: target mapping", "write lines like `truck: automobile`")
    try:
        return noise_lib.mapping_from_names({str(a): str(b) for a, b in raw.items()}, names)
    except ValueError as e:
        hint = "pass --mapping FILE for this dataset" if cfg.mapping is None else "fix the class names in the mapping"
        raise InputError(f"{path}: {e}", hint) from e


def _instance(cfg: NoiseConfig, labels: np.ndarray, ids: list[str], k: int) -> noise_lib.NoiseResult:
    from labelclean.store.tables import load_embeddings
    from labelclean.store.workdir import Workdir

    emb = load_embeddings(Workdir(cfg.workdir))
    row = {s: i for i, s in enumerate(emb.sample_ids.tolist())}
    have = np.asarray([s in row for s in ids])
    if have.sum() < 2:
        raise InputError(f"the workdir {cfg.workdir} holds no embedding for these samples",
                         f"embed the same data first: labelclean embed {cfg.data} -w {cfg.workdir}")
    idx = np.flatnonzero(have)
    X = emb.X[[row[ids[i]] for i in idx]]
    sub = noise_lib.instance_noise(labels[idx], X, n_classes=k, rate=cfg.rate, seed=cfg.seed, sharpness=cfg.sharpness)
    noisy = labels.copy()
    noisy[idx] = sub.labels
    return noise_lib.noise_result(labels, noisy, k)


def _write_manifest(out: Path, paths, noisy, clean, extras, extra_columns) -> None:
    cols = [c for c in extra_columns if c not in RESERVED]
    rows = [{"path": p, "label": n, "clean_label": c, **{k: e.get(k) for k in cols}}
            for p, n, c, e in zip(paths, noisy, clean, extras)]
    suffix = out.suffix.lower()
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), tmp)
        elif suffix == ".jsonl":
            tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
        else:
            _write_csv(tmp, rows, ["path", "label", "clean_label", *cols], "\t" if suffix == ".tsv" else ",")


def _write_csv(path: Path, rows, fields, delimiter: str) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)


def _summary(cfg: NoiseConfig, result: noise_lib.NoiseResult, names, skipped, out: Path) -> dict:
    return {
        "config": config_dict(cfg),
        "out": str(out),
        "mode": cfg.mode,
        "rate_requested": cfg.rate,
        "realised_rate": result.realised_rate,
        "samples": int(result.labels.size),
        "flipped": int(result.flipped.sum()),
        "per_class": [{**r, "class": names[r["class_id"]]} for r in result.per_class],
        "top_flips": [{"from": names[a], "to": names[b], "count": n} for a, b, n in result.pairs(10)],
        "skipped": skipped,
        "seed": cfg.seed,
    }
