"""embed: DATA -> manifest.parquet, embeddings/part-*.parquet, text.parquet, run.json.

Steps: discover the files; hash every usable one of this run's slice through the workdir's
hash cache (W/hashes/, `embed.hashcache`: unchanged files are not read again; exact
duplicates are embedded once, see `embed.plan`); embed the contents not yet in a finished
part file, streaming them through a DataLoader into part files of ``chunk_size`` rows or
30 s of work (`embed.parts`); then write manifest.parquet (every file with its status:
discovery, hashing and decoding reasons combined, duplicates across the whole dataset
inheriting their original's) and text.parquet (class prompts).

The model is built only when there is an image to embed or a prompt table to write
(`embed.lazy_model`): a re-run over an unchanged folder reads no image and loads no model.

Resume: a part file exists only when complete, so after Ctrl-C or ``kill -9`` the same
command embeds only what is missing; an unchanged folder embeds nothing; a workdir holding
embeddings of another model is refused.

Shards (``--shard I/N``): a shard owns the files whose sample_id hashes to it (members of a
tar or Parquet file: by the container) and reads only those. It embeds them into its own
part files and holds the workdir lock *shared* plus a per-shard lock, so the shards of one
workdir can run at once (e.g. on a shared filesystem). manifest.parquet and text.parquet are
written by whichever shard finds, from the stored hashes and part files alone, that every
shard is done, or by a later run without ``--shard`` (which then embeds nothing new).
run.json gets one ``embed-shard-I-of-N`` record per shard.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa

from labelclean.core import console
from labelclean.ingest.discover import Discovered, discover
from labelclean.core.errors import InputError, WorkdirError
from labelclean.embed import parts as embed_io, outputs as embed_outputs
from labelclean.stages.configs import DEFAULT_MODEL, EmbedConfig
from labelclean.core.report import StageReport, Timer, summary_field
from labelclean.embed.digests import Done
from labelclean.embed.hashcache import HashCache
from labelclean.embed.plan import Scan, Shard, global_scan, owned_usable, parse_shard, scan, todo
from labelclean.embed.source import Source
from labelclean.store.parquet_io import read_meta
from labelclean.store.tables import no_usable_message
from labelclean.store.workdir import Workdir

DTYPES = {"float16": pa.float16(), "float32": pa.float32()}  # configs.EMBED_DTYPES
HASHES_DIR = "hashes"  # W/hashes/: the content-hash cache


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
    duplicates: int  # exact duplicate files (embedded once per shard; in the whole dataset once finished)
    duplicate_label_conflicts: int  # sets of identical files with different labels
    conflict_examples: list[dict[str, Any]]
    embedded_now: int
    reused: int  # contents already embedded by an earlier run
    images_per_s: Optional[float]
    removed_temp_parts: int
    shard: Optional[str]  # "I/N" when this run embedded one shard
    hashed_now: int  # files (or container members) whose content was read to hash it
    hash_cache_hits: int  # files whose hash came from W/hashes/ (not read)
    ignored: int = 0  # hidden and system files and folders skipped
    excluded: list[str] = field(default_factory=list)  # "rel/ (why)": workdir, exports inside DATA
    empty_folders: list[str] = field(default_factory=list)  # empty class folders (no class)
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
            found = discover_data(wd, cfg)
        seconds["discover"] = t.seconds
        _discovery_notes(found)
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
    if report.finished and not report.counts.get("ok"):
        raise InputError(no_usable_message(cfg.data, report.counts, wd.manifest),
                         "fix or replace those files (the detail column says why each one is unusable), "
                         "or point DATA at the right folder or manifest")
    return report


def discover_data(wd: Workdir | None, cfg: EmbedConfig) -> Discovered:
    """What `embed` finds in DATA (the workdir itself is never scanned, see ingest.discover)."""
    return discover(cfg.data, classes_file=getattr(cfg, "classes_file", None), root=getattr(cfg, "root", None),
                    allow_outside_root=getattr(cfg, "allow_outside_root", False),
                    exclude=[wd.root] if wd is not None else [], label_field=getattr(cfg, "label_field", "auto"))


def _discovery_notes(found: Discovered) -> None:
    """One line each for what discovery left out on purpose."""
    if found.excluded:
        console.info(f"not scanned (inside the data folder): {', '.join(found.excluded)}")
    if found.ignored:
        shown = ", ".join(found.ignored[:3]) + (", ..." if len(found.ignored) > 3 else "")
        console.info(f"skipped {len(found.ignored)} hidden or system files and folders ({shown})")
    if found.empty_folders:
        console.warn(f"{len(found.empty_folders)} empty class folders are not classes: "
                     + ", ".join(found.empty_folders[:10]))


def _complete(report: EmbedReport, seconds: dict, slice_counts: dict, finished: dict | None) -> None:
    report.counts = finished.pop("counts") if finished else slice_counts
    if finished:  # duplicates across the whole dataset, not only this shard's
        whole = finished.pop("scan")
        report.duplicates, report.duplicate_label_conflicts = whole.n_duplicates, len(whole.conflicts)
        report.conflict_examples = [vars(c) for c in whole.conflicts[:5]]
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
    if "model_loaded" in report.source:  # identity may have built the model just now
        report.source["model_loaded"] = run.source.loaded
        record = report.run_record(run.cfg)
    for stage in stages:
        run.wd.update_run(stage, record, model=model)


def _embed_slice(run: _Run, seconds: dict[str, float]) -> tuple[EmbedReport, dict[str, int]]:
    """Hash this run's slice and embed its missing contents into part files (the model is
    built only when there is something to embed)."""
    with Timer() as t:
        run.source = _load_source(run)
    seconds["model_id"] = t.seconds
    done = embed_io.read_done(run.wd, run.source.model_id, run.shard)
    removed = embed_io.remove_stale_temps(run.wd.embeddings_dir, run.shard)
    cache = HashCache(run.wd.root / HASHES_DIR)
    finished = Done(done)
    with Timer() as t:
        run.scan = _hash_all(run, finished, cache)
        cache.save(run.shard)
    seconds["hash"] = t.seconds
    items = todo(run.found.candidates, run.scan, finished)
    n_owned = run.scan.n_canonical  # what todo() yields with nothing done
    if items and not getattr(run.source, "loaded", True):
        with Timer() as t:
            run.source.load()
        seconds["load_model"] = t.seconds
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
        reused=n_owned - len(items),
        images_per_s=round(len(items) / t.seconds, 2) if items and t.seconds > 0 else None,
        removed_temp_parts=removed,
        shard=str(run.shard) if run.shard else None,
        hashed_now=cache.hashed,
        hash_cache_hits=cache.hits,
        ignored=len(run.found.ignored),
        excluded=run.found.excluded,
        empty_folders=run.found.empty_folders,
    )
    return report, slice_counts


def _load_source(run: _Run) -> Source:
    cfg = run.cfg
    if cfg.from_features is not None:
        from labelclean.embed.features import load_features
        from labelclean.embed.text_features import attach_text_side

        features = load_features(cfg.from_features, run.found.candidates, run.found.root)
        attach_text_side(features, run.found.classes, text_features=cfg.text_features, text_prompts=cfg.text_prompts,
                         model=cfg.model, pretrained=cfg.pretrained, device=cfg.device, precision=cfg.precision)
        return features
    from labelclean.embed.images import ImageSource
    from labelclean.embed.lazy_model import LazyEncoder

    encoder = LazyEncoder(cfg.model or DEFAULT_MODEL, cfg.pretrained, cfg.device, cfg.precision,
                          lambda model_id: embed_io.recorded_identity(run.wd.embeddings_dir, model_id))
    return ImageSource(encoder, batch_size=cfg.batch_size, workers=cfg.workers, max_pixels=cfg.max_pixels)


def _hash_all(run: _Run, done: Done, cache: HashCache) -> Scan:
    mine = owned_usable(run.found.candidates, run.shard, features=run.features)
    with console.progress("Hashing", total=len(mine), unit="files") as bar:
        return scan(mine, done, cache, features=run.features, advance=bar.advance)


def _embed_items(run: _Run, items: list) -> dict[str, int]:
    counts: Counter[str] = Counter()
    if not items:
        return {}
    sha = run.scan.sha256_of(items)
    src, cfg = run.source, run.cfg
    writer = embed_io.PartWriter(run.wd.embeddings_dir, run.shard or Shard(0, 1), src.dim, DTYPES[cfg.dtype],
                                 src.model_id, chunk_size=cfg.chunk_size, identity=src.identity)
    with console.progress("Embedding", total=len(items)) as bar, writer:
        for rows in src.rows(items, sha):
            writer.write(rows)
            counts.update(rows.status)
            bar.advance(len(rows.sample_ids))
    return dict(counts.most_common())


def _finish(run: _Run, seconds: dict[str, float]) -> dict[str, Any] | None:
    """Write manifest.parquet and text.parquet once every shard has embedded its contents."""
    with Timer() as t:
        done = embed_io.read_done(run.wd, run.source.model_id, None)
        count = run.shard.count if run.shard else 1
        lookup = embed_outputs.done_lookup(done)
        whole = global_scan(run.found.candidates, lookup, HashCache(run.wd.root / HASHES_DIR), run.scan,
                            count=count, features=run.features)
        if whole is None:
            return None
        if embed_outputs.missing_canonical(whole, lookup):
            return None
        table = embed_outputs.build_manifest(run.found, whole, lookup, features=run.features)
        counts = embed_outputs.write_manifest(run.wd, run.found, table, run.source.model_id)
    seconds["manifest"] = t.seconds
    with Timer() as t:
        text = _text(run)
    seconds["text"] = t.seconds
    return {"counts": counts, "text": vars(text), "scan": whole}


def _text(run: _Run) -> embed_outputs.TextResult:
    src = run.source
    imported = getattr(src, "imported_text", None)  # --from-features with --text-features
    if imported is not None:
        return embed_outputs.write_imported_text(run.wd, imported, run.found, src.model_id)
    # a text.parquet of this very model proves it has a text tower: reuse it without building the model
    proven = not getattr(src, "loaded", True) and run.wd.text.exists() \
        and read_meta(run.wd.text).get("model_id") == src.model_id
    if not proven and not src.has_text:
        embed_outputs.drop_text(run.wd)
        return embed_outputs.TextResult(skipped=src.no_text)
    return embed_outputs.write_text(run.wd, src, run.found, templates=run.cfg.templates,
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
