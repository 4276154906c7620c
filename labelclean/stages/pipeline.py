"""`run` and `check`: chain embed -> score -> select -> export -> report, skipping unchanged stages.

Fingerprints (recorded in run.json as ``stages.<stage>.fingerprint``):

- embed: its config plus a stamp of the data: every discovered file's (sample_id, label,
  status, size, mtime) and the classes, and (size, mtime, or content for small files) of every
  file a config option names (classes/templates/descriptions files, weights, features);
- score, select: their config plus the upstream stage's fingerprint; score with ``--prompts
  learned:<method>`` adds a hash of W/prompts/<method>.parquet, select a hash of the trained
  estimators' tables (W/deft.parquet, W/css.parquet) that exist;
- export, report: their config plus select's fingerprint and a hash of decisions.parquet.

A stage is skipped ("unchanged") when its recorded fingerprint matches and its output
exists; once a stage runs, every later stage runs too. `run` replaces its own earlier export
(a folder holding export's marker file) without --overwrite. Running a stage by hand (e.g.
``labelclean score``) replaces its record without a fingerprint, so the next ``run`` redoes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from labelclean.core.report import SkippedReport, StageReport, config_dict, fingerprint
from labelclean.stages.configs import CONFIGS, PIPELINE as STAGES
from labelclean.store.workdir import Workdir

SMALL_FILE = 16 << 20  # files up to this size are fingerprinted by content, larger by size + mtime
_NOT_FINGERPRINTED = {"embed": {"workers", "batch_size", "chunk_size", "device"}, "score": {"device"}}
_NO_FILE_STAMP = {"data", "out", "root"}  # data, root: see data_stamp; out: the stage's own output


@dataclass
class StageResult:
    stage: str
    fingerprint: str
    report: StageReport


@dataclass
class PipelineResult:
    results: list[StageResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"stages": [{**r.report.to_json(), "fingerprint": r.fingerprint} for r in self.results]}


def make_config(cls: type, values: dict[str, Any]) -> Any:
    """Build a stage config from option values; None means "use the stage's default"."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
    return cls(**{k: v for k, v in values.items() if v is not None})


def _runner(stage: str) -> Callable[[Workdir, Any], StageReport]:
    if stage == "embed":
        from labelclean.stages.embed import run_embed

        return run_embed
    if stage == "score":
        from labelclean.stages.score import run_score

        return run_score
    if stage == "select":
        from labelclean.stages.select import run_select

        return run_select
    if stage == "export":
        from labelclean.stages.export import run_export

        return run_export
    from labelclean.stages.report import run_report

    return run_report


def _output(wd: Workdir, stage: str, cfg: Any) -> Path:
    if stage == "export":
        from labelclean.export.tree import MARKER
        from labelclean.stages.export import out_dir

        return out_dir(wd, cfg) / MARKER
    if stage == "report":
        from labelclean.stages.report import report_path

        return report_path(wd, cfg)
    return {"embed": wd.manifest, "score": wd.scores, "select": wd.selection}[stage]


def file_stamp(value: Any) -> Any:
    """Content hash (small files) or (size, mtime_ns) of a file a config option names; else None."""
    if not isinstance(value, (str, Path)) or not str(value) or len(str(value)) > 4096:
        return None
    path = Path(str(value).removeprefix("local-dir:"))
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    if path.is_dir():
        return [(p.name, file_stamp(p)) for p in sorted(path.iterdir()) if p.is_file()]
    if st.st_size <= SMALL_FILE:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return [st.st_size, st.st_mtime_ns]


def data_stamp(cfg: Any, wd: Workdir | None = None) -> str:
    """Fingerprint of what `embed` would find: files, labels, sizes, mtimes and classes."""
    from labelclean.stages.embed import discover_data

    found = discover_data(wd, cfg)
    h = hashlib.sha256()
    h.update(repr([(c.id, c.name, c.prompt_name) for c in found.classes]).encode())
    for c in found.candidates:
        try:
            st = os.stat(c.path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size = mtime = None
        h.update(repr((c.sample_id, c.label, str(c.status), size, mtime, sorted(c.extras.items()))).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def decisions_stamp(wd: Workdir) -> str | None:
    return hashlib.sha256(wd.decisions.read_bytes()).hexdigest()[:16] if wd.decisions.exists() else None


def stage_fingerprint(wd: Workdir, stage: str, cfg: Any, upstream: str | None) -> str:
    conf = {k: v for k, v in config_dict(cfg).items() if k not in _NOT_FINGERPRINTED.get(stage, set())}
    stamps = {k: file_stamp(v) for k, v in sorted(conf.items()) if k not in _NO_FILE_STAMP}
    files = {k: v for k, v in stamps.items() if v is not None}
    extra: Any = None
    if stage == "embed":
        extra = data_stamp(cfg, wd)
    elif stage in ("export", "report"):
        extra = decisions_stamp(wd)
    elif stage == "score" and getattr(cfg, "prompts", None):
        extra = file_stamp(wd.learned_prompts(str(cfg.prompts).strip().lower().removeprefix("learned:")))
    elif stage == "select":
        trained = [file_stamp(p) for p in (wd.deft, wd.css)]
        extra = trained if any(trained) else None
    return fingerprint(stage, conf, files, upstream, extra)


def run_pipeline(
    wd: Workdir, configs: dict[str, Any], *, force: bool = False, on_stage: Callable[[StageResult], None] | None = None
) -> PipelineResult:
    """Run the stages in ``configs`` (in pipeline order), skipping those whose fingerprint matches.

    ``on_stage`` is called after each stage (for progress output by the caller).
    """
    result = PipelineResult()
    upstream: dict[str, str] = {}
    ran_before = force
    for stage in (s for s in STAGES if s in configs):
        cfg = configs[stage]
        parent = {"score": "embed", "select": "score", "export": "select", "report": "select"}.get(stage)
        fp = stage_fingerprint(wd, stage, cfg, upstream.get(parent))
        upstream[stage] = fp
        unchanged = wd.stage_record(stage).get("fingerprint") == fp and _output(wd, stage, cfg).exists()
        if unchanged and not ran_before:
            report = SkippedReport(stage=stage)
        else:
            report = _runner(stage)(wd, _own_outputs_replaceable(wd, stage, cfg))
            _record_fingerprint(wd, stage, fp)
            ran_before = True
        item = StageResult(stage, fp, report)
        result.results.append(item)
        if on_stage is not None:
            on_stage(item)
    return result


def _own_outputs_replaceable(wd: Workdir, stage: str, cfg: Any) -> Any:
    """`run` replaces an export made earlier by labelclean in the same folder (its marker file
    is there); any other existing output still needs --overwrite."""
    if stage == "export" and not cfg.overwrite and _output(wd, stage, cfg).exists():
        return dataclasses.replace(cfg, overwrite=True)
    return cfg


def _record_fingerprint(wd: Workdir, stage: str, fp: str) -> None:
    with wd.lock():
        record = {k: v for k, v in wd.stage_record(stage).items() if k != "finished"}
        wd.update_run(stage, {**record, "fingerprint": fp})


@dataclass
class NoiseEstimate:
    usable: int
    noisy: int
    rate: float
    worst: list[dict[str, Any]]


def estimate_noise(wd: Workdir, *, top: int = 10) -> NoiseEstimate:
    """Estimated label-noise rate = noisy / usable samples (those in selection.parquet).

    A sample is noisy when select did not find it clean, unless a reviewer decided otherwise:
    a reviewed sample is noisy when the decision drops it or changes its label (``reject``
    marks the given label right). ``worst``: the ``top`` noisy samples with the lowest clean_score.
    """
    from labelclean.review.decisions import effective_selection
    from labelclean.store.tables import load_classes

    eff = effective_selection(wd)
    names = {c.id: c.name for c in load_classes(wd)}
    col = {c: eff[c].to_numpy(zero_copy_only=False) for c in ("clean", "reviewed", "keep", "final_label_id",
                                                                 "label_id")}
    reviewed_noisy = ~col["keep"].astype(bool) | (col["final_label_id"] != col["label_id"])
    noisy = np.where(col["reviewed"].astype(bool), reviewed_noisy, ~col["clean"].astype(bool))
    n = len(noisy)
    return NoiseEstimate(n, int(noisy.sum()), float(noisy.mean()) if n else 0.0, _worst(eff, noisy, names, top))


def _worst(eff: pa.Table, noisy: np.ndarray, names: dict[int, str], top: int) -> list[dict[str, Any]]:
    idx = np.flatnonzero(noisy)
    score = eff["clean_score"].fill_null(np.nan).to_numpy(zero_copy_only=False)[idx]
    sid = np.asarray(eff["sample_id"].to_pylist(), dtype=object)[idx]
    order = idx[np.lexsort((sid.astype(str), score))][:top]
    rows = eff.take(pa.array(order, pa.int64())).to_pylist() if len(order) else []
    return [
        {
            "sample_id": r["sample_id"],
            "given": names.get(r["label_id"]),
            "suggested": names.get(r["suggested_label_id"]) if r["suggested_label_id"] is not None else None,
            "clean_score": None if r["clean_score"] is None else round(float(r["clean_score"]), 4),
            "failed": r["failed"],
        }
        for r in rows
    ]


def build_configs(data: Path, values: dict[str, Any], stages: tuple[str, ...] = STAGES) -> dict[str, Any]:
    """One config per stage from a flat dict of option values: each stage takes the fields it
    has (an option may feed several stages, e.g. ``seed``); None keeps the stage's default."""
    classes = CONFIGS
    used: set[str] = set()
    configs = {}
    for stage in stages:
        names = {f.name for f in dataclasses.fields(classes[stage])}
        picked = {k: v for k, v in values.items() if k in names}
        used |= picked.keys()
        if stage == "embed":
            picked["data"] = data
        configs[stage] = make_config(classes[stage], picked)
    unused = sorted(set(values) - used)
    if unused:
        raise TypeError(f"options {unused} match no field of the {', '.join(stages)} configs")
    return configs
