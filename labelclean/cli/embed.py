"""`labelclean embed`: images -> CLIP embeddings, manifest and prompt embeddings."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("embed"), "json_out")
def embed(o: Given) -> None:
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
    from labelclean.stages.embed import run_embed

    report = run_embed(Workdir(o["workdir"]), o.config("embed"))
    _render(report)
    if o["json_out"]:
        console.emit_json(report.to_json())


def _render(report) -> None:
    s = report
    if not s.files:
        console.warn("DATA holds no files: nothing to embed")
    title = "Files by status" if s.finished else f"Shard {s.shard}: files by status"
    console.table(title, ["status", "files"], list(report.counts.items()))
    rate = f" at {s.images_per_s:.1f} img/s" if s.images_per_s else ""
    console.info(f"embedded {s.embedded_now} now{rate}, reused {s.reused}; {s.duplicates} exact duplicates")
    if s.duplicate_label_conflicts:
        first = "; ".join(", ".join(f"{i} ({lab})" for i, lab in zip(c["sample_ids"], c["labels"]))
                          for c in s.conflict_examples[:3])
        console.warn(f"{s.duplicate_label_conflicts} sets of identical files have different labels: {first}")
    text = s.text or {}
    if text.get("fallback_classes"):
        console.warn(f"no description for {len(text['fallback_classes'])} classes, using templates: "
                     + ", ".join(text["fallback_classes"][:10]))
    if not s.finished:
        console.info("other shards are still missing or running; the last one to finish writes the manifest "
                     "(or run `labelclean embed` without --shard afterwards)")
