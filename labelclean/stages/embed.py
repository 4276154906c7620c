"""embed: DATA -> manifest.parquet, embeddings/part-*.parquet, text.parquet, run.json.

Steps: discover the files; hash every usable one (exact duplicates are embedded once, see
`embed_plan`); embed the contents not yet in a finished part file, streaming them through a
DataLoader into part files of ``chunk_size`` rows (`embed_io`); then write
manifest.parquet (every file with its status: discovery, hashing and decoding reasons
combined, duplicates inheriting their original's) and text.parquet (class prompts).

Resume: a part file exists only when complete, so after Ctrl-C or ``kill -9`` the same
command embeds only what is missing; an unchanged folder embeds nothing; a workdir holding
embeddings of another model is refused.

Shards (``--shard I/N``): each shard embeds its slice into its own part files and holds the
workdir lock *shared* plus a per-shard lock, so the shards of one workdir can run at once
(e.g. on a shared filesystem). manifest.parquet and text.parquet are written by whichever
shard finds every slice finished when it ends, or by a later run without ``--shard``
(which then embeds nothing new). run.json gets one ``embed-shard-I-of-N`` record per shard.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa

from labelclean.core import console
from labelclean.ingest.discover import Discovered, discover
from labelclean.core.errors import WorkdirError
from labelclean.embed import parts as embed_io, outputs as embed_outputs
from labelclean.stages.configs import EmbedConfig
from labelclean.core.report import StageReport, Timer, summary_field
from labelclean.embed.plan import Scan, Shard, parse_shard, scan, todo, usable
from labelclean.embed.source import Source
from labelclean.store.workdir import Workdir

DTYPES = {"float16": pa.float16(), "float32": pa.float32()}  # configs.EMBED_DTYPES


@dataclass
class _Run:
    """What one run works with, shared by its steps."""

    wd: Workdir
    cfg: EmbedConfig
    found: Discovered
    shard: Shard | None
    source: Source | None = None  # a CLIP image model or imported features
    scan: Scan | None = None

    @property
    def features(self) -> bool:
        """Vectors that do not come from the files (a missing file is fine)."""
        return not self.source.decodes_files


@dataclass(kw_only=True)
class EmbedReport(StageReport):
    stage: str = "embed"
    model_id: str
    files: int  # files discovered
    duplicates: int  # exact duplicate files (embedded once)
    duplicate_label_conflicts: int  # sets of identical files with different labels
    conflict_examples: list[dict[str, Any]]
    embedded_now: int
    reused: int  # contents already embedded by an earlier run
    images_per_s: Optional[float]
    removed_temp_parts: int
    shard: Optional[str]  # "I/N" when this run embedded one shard
    finished: bool = False  # manifest.parquet and text.parquet written
    text: Optional[dict[str, Any]] = None  # prompt embeddings written (when finished)
    source: dict[str, Any] = summary_field(flatten=True)  # the model's device, precision, ... or the features file
    step_seconds: dict[str, float] = summary_field("seconds", default_factory=dict)


def run_embed(wd: Workdir, cfg: EmbedConfig) -> EmbedReport:
    """Embed DATA into the workdir (resumable, shardable); see the module docstring."""
    cfg.validate()
    shard = parse_shard(cfg.shard, cfg.num_shards)
    seconds: dict[str, float] = {}
    with Timer() as total:
        with Timer() as t:
            found = discover(cfg.data, classes_file=cfg.classes_file)
        seconds["discover"] = t.seconds
        run = _Run(wd, cfg, found, shard)
        with wd.lock(None if shard is None else shard.index):
            report, slice_counts = _embed_slice(run, seconds)
            if shard is None:
                finished = _finish(run, seconds)
                _complete(report, seconds, slice_counts, finished)
                _record(run, report)
        if shard is not None:
            finished = _finish_if_last(run, seconds)
            _complete(report, seconds, slice_counts, finished)
            _record(run, report)
    report.outputs, report.seconds = _outputs(wd, finished), total.seconds
    return report


def _complete(report: EmbedReport, seconds: dict, slice_counts: dict, finished: dict | None) -> None:
    report.counts = finished.pop("counts") if finished else slice_counts
    report.text = (finished or {}).get("text")
    report.finished = finished is not None
    report.step_seconds = {k: round(v, 3) for k, v in seconds.items()}


def _record(run: _Run, report: EmbedReport) -> None:
    """Merge the report into run.json (per shard, and as `embed` once the manifest is written)."""
    record = report.run_record(run.cfg)
    stages = ["embed"] if run.shard is None else [f"embed-shard-{run.shard.index}-of-{run.shard.count}"]
    if run.shard is not None and report.finished:
        stages.append("embed")
    model = {**run.source.identity, "model_id": run.source.model_id}
    for stage in stages:
        run.wd.update_run(stage, record, model=model)


def _embed_slice(run: _Run, seconds: dict[str, float]) -> tuple[EmbedReport, dict[str, int]]:
    """Load the model, hash, and embed this run's missing contents into part files."""
    with Timer() as t:
        run.source = _load_source(run)
    seconds["load_model"] = t.seconds
    done = embed_io.read_done(run.wd, run.source.model_id, run.shard)
    removed = embed_io.remove_stale_temps(run.wd.embeddings_dir, run.shard)
    by_hash: dict[str, set[str]] = {}
    for s, h in zip(done["sample_id"].to_pylist(), done["sha256"].to_pylist()):
        by_hash.setdefault(h, set()).add(s)
    with Timer() as t:
        run.scan = _hash_all(run, by_hash)
    seconds["hash"] = t.seconds
    done_keys = set(zip(done["sample_id"].to_pylist(), done["sha256"].to_pylist()))
    items = todo(run.found.candidates, run.scan, done_keys, run.shard)
    owned = len(todo(run.found.candidates, run.scan, set(), run.shard))
    with Timer() as t:
        slice_counts = _embed_items(run, items)
    seconds["embed"] = t.seconds
    report = EmbedReport(
        model_id=run.source.model_id,
        source=run.source.summary(),
        files=len(run.found.candidates),
        duplicates=run.scan.n_duplicates,
        duplicate_label_conflicts=len(run.scan.conflicts),
        conflict_examples=[vars(c) for c in run.scan.conflicts[:5]],
        embedded_now=len(items),
        reused=owned - len(items),
        images_per_s=round(len(items) / t.seconds, 2) if items and t.seconds > 0 else None,
        removed_temp_parts=removed,
        shard=str(run.shard) if run.shard else None,
    )
    return report, slice_counts


def _load_source(run: _Run) -> Source:
    cfg = run.cfg
    if cfg.from_features is not None:
        from labelclean.embed.features import load_features

        return load_features(cfg.from_features, run.found.candidates, run.found.root)
    from labelclean.embed.images import ImageSource
    from labelclean.model.encoder import load_encoder

    encoder = load_encoder(cfg.model, cfg.pretrained, device=cfg.device, precision=cfg.precision)
    return ImageSource(encoder, batch_size=cfg.batch_size, workers=cfg.workers, max_pixels=cfg.max_pixels)


def _hash_all(run: _Run, done_by_hash: dict[str, set[str]]) -> Scan:
    n = sum(1 for c in run.found.candidates if usable(c, features=run.features))
    with console.progress("Hashing", total=n, unit="files") as bar:
        return scan(run.found.candidates, done_by_hash, features=run.features, advance=bar.advance)


def _embed_items(run: _Run, items: list) -> dict[str, int]:
    counts: Counter[str] = Counter()
    if not items:
        return {}
    sha = {c.sample_id: run.scan.digests[c.sample_id].sha256 for c in items}
    src, cfg = run.source, run.cfg
    writer = embed_io.PartWriter(run.wd.embeddings_dir, run.shard or Shard(0, 1), src.dim, DTYPES[cfg.dtype],
                                 src.model_id, chunk_size=cfg.chunk_size)
    with console.progress("Embedding", total=len(items)) as bar, writer:
        for rows in src.rows(items, sha):
            writer.write(rows)
            counts.update(rows.status)
            bar.advance(len(rows.sample_ids))
    return dict(counts.most_common())


def _finish(run: _Run, seconds: dict[str, float]) -> dict[str, Any] | None:
    """Write manifest.parquet and text.parquet once every content has its embedding row."""
    with Timer() as t:
        lookup = embed_outputs.done_lookup(embed_io.read_done(run.wd, run.source.model_id, None))
        missing = embed_outputs.missing_canonical(run.scan, lookup)
        if missing:
            return None
        table = embed_outputs.build_manifest(run.found, run.scan, lookup, features=run.features)
        counts = embed_outputs.write_manifest(run.wd, run.found, table, run.source.model_id)
    seconds["manifest"] = t.seconds
    with Timer() as t:
        text = _text(run)
    seconds["text"] = t.seconds
    return {"counts": counts, "text": vars(text)}


def _text(run: _Run) -> embed_outputs.TextResult:
    if not run.source.has_text:
        embed_outputs.drop_stale_text(run.wd, run.source.model_id)
        return embed_outputs.TextResult(skipped=run.source.no_text)
    return embed_outputs.write_text(run.wd, run.source, run.found, templates=run.cfg.templates,
                                    descriptions=run.cfg.descriptions)


def _finish_if_last(run: _Run, seconds: dict[str, float]) -> dict[str, Any] | None:
    """After a shard: finish the workdir when every shard is done and no other one runs."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(run.wd.lock())
        except WorkdirError:
            return None
        return _finish(run, seconds)


def _outputs(wd: Workdir, finished: dict | None) -> list[Path]:
    outputs = [wd.embeddings_dir]
    if finished:
        outputs.append(wd.manifest)
        if wd.text.exists() and not finished["text"]["skipped"]:
            outputs.append(wd.text)
    return outputs
