"""`labelclean embed`: images -> CLIP embeddings, manifest and prompt embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import (
    DEFAULT_WD,
    DeviceOpt,
    JsonOpt,
    ModelOpt,
    PrecisionOpt,
    PretrainedOpt,
    WorkdirOpt,
)
from labelclean.store.workdir import Workdir

DataArg = Annotated[Path, typer.Argument(help="Image folder (root/<class>/<image>) or a .csv/.tsv/.jsonl/.parquet "
                                         "manifest with path and label columns.", show_default=False)]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", help="Images per forward pass "
                                                 "(default 64 on CPU, 256 on CUDA).")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="DataLoader processes (default: 0 on a "
                                                   "CPU with <= 2 cores, more with more cores or a GPU).")]
ClassesOpt = Annotated[Optional[Path], typer.Option("--classes", help="Class list fixing order and prompt names "
                                                    "(.txt one per line, or .json/.yaml name -> prompt name).")]
TemplatesOpt = Annotated[str, typer.Option("--templates", help="Prompt template set (simple, imagenet80) or a "
                                           ".txt file with one template per line containing {}.")]
DescriptionsOpt = Annotated[Optional[str], typer.Option("--descriptions", help="Class descriptions (bundled name "
                                                        "or .yaml file); uncovered classes use --templates.")]
ShardOpt = Annotated[Optional[str], typer.Option("--shard", help="Embed only slice I of N (I/N), or `auto`: "
                                                 "I from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX.")]
NumShardsOpt = Annotated[Optional[int], typer.Option("--num-shards", help="N for --shard auto (else the "
                                                     "LABELCLEAN_NUM_SHARDS environment variable).")]
FeaturesOpt = Annotated[Optional[Path], typer.Option("--from-features", help="Import precomputed embeddings "
                                                     "instead of running a model: .npy (one row per file, in "
                                                     "sample_id order) or .parquet (embedding + sample_id or path).")]
MaxPixelsOpt = Annotated[int, typer.Option("--max-pixels", help="Refuse images with more pixels (too_large).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Stored embedding type: float16 or float32.")]
DEFAULT_MAX_PIXELS = 89_478_485  # decode.DEFAULT_MAX_PIXELS, not imported so that --help stays light
ChunkOpt = Annotated[int, typer.Option("--chunk-size", hidden=True, help="Rows per part file.")]


@app.command()
@command_boundary
def embed(
    data: DataArg,
    workdir: WorkdirOpt = DEFAULT_WD,
    model: ModelOpt = "ViT-B-32",
    pretrained: PretrainedOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    batch_size: BatchOpt = None,
    workers: WorkersOpt = None,
    classes: ClassesOpt = None,
    templates: TemplatesOpt = "simple",
    descriptions: DescriptionsOpt = None,
    shard: ShardOpt = None,
    num_shards: NumShardsOpt = None,
    from_features: FeaturesOpt = None,
    max_pixels: MaxPixelsOpt = DEFAULT_MAX_PIXELS,
    dtype: DtypeOpt = "float16",
    chunk_size: ChunkOpt = 1024,
    json_out: JsonOpt = False,
) -> None:
    """Embed every image of DATA with a CLIP model into the work directory.

    Writes W/manifest.parquet (every file found, with a status: ok or the reason it is
    unusable), W/embeddings/part-*.parquet (L2-normalised vectors; exact duplicate files are
    embedded once), W/text.parquet (one row per class prompt) and W/run.json.

    Resumable: after Ctrl-C or a crash, run the same command again; it embeds only what is
    missing, and nothing at all for an unchanged folder. Files added later are embedded alone.

    Sharding: --shard I/N embeds a disjoint slice (by file content) into its own part files;
    the shards of one workdir may run at the same time. The last shard to finish writes the
    manifest; otherwise run the command once more without --shard after all shards are done.

    Example:

    \b
      labelclean embed photos/ -w work
      labelclean embed labels.csv -w work -m ViT-B-16 --precision fp32
      labelclean embed photos/ -w work --shard 0/4
      labelclean embed photos/ -w work --from-features feats.parquet
    """
    from labelclean.stages.embed import EmbedConfig, run_embed

    cfg = EmbedConfig(
        data=data, model=model, pretrained=pretrained, device=device, precision=precision, batch_size=batch_size,
        workers=workers, classes_file=classes, templates=templates, descriptions=descriptions, shard=shard,
        num_shards=num_shards, from_features=from_features, max_pixels=max_pixels, dtype=dtype,
        chunk_size=chunk_size,
    )
    report = run_embed(Workdir(workdir), cfg)
    _render(report)
    if json_out:
        console.emit_json(report.to_json())


def _render(report) -> None:
    s = report.summary
    if not s["files"]:
        console.warn("DATA holds no files: nothing to embed")
    title = "Files by status" if s["finished"] else f"Shard {s['shard']}: files by status"
    console.table(title, ["status", "files"], list(report.counts.items()))
    rate = f" at {s['images_per_s']:.1f} img/s" if s.get("images_per_s") else ""
    console.info(f"embedded {s['embedded_now']} now{rate}, reused {s['reused']}; {s['duplicates']} exact duplicates")
    if s["duplicate_label_conflicts"]:
        first = "; ".join(", ".join(f"{i} ({lab})" for i, lab in zip(c["sample_ids"], c["labels"]))
                          for c in s["conflict_examples"][:3])
        console.warn(f"{s['duplicate_label_conflicts']} sets of identical files have different labels: {first}")
    text = s.get("text") or {}
    if text.get("fallback_classes"):
        console.warn(f"no description for {len(text['fallback_classes'])} classes, using templates: "
                     + ", ".join(text["fallback_classes"][:10]))
    if not s["finished"]:
        console.info("other shards are still missing or running; the last one to finish writes the manifest "
                     "(or run `labelclean embed` without --shard afterwards)")
