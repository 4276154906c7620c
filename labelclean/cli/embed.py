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

    DATA may also be WebDataset .tar shards or Parquet files holding image bytes (see
    --label-field); their members are embedded like files.

    Skipped with a reason: folder symlinks into DATA itself (symlink_loop) and symlinks leading
    out of it (symlink_outside_root; --allow-outside-root follows them). The work directory,
    earlier exports and hidden files inside DATA are not scanned. A manifest's absolute paths
    are used as written, relative ones resolve against its folder or --root. Exit 1 when no
    file is usable.

    Resumable: after Ctrl-C or a crash, run the same command again; it embeds only what is
    missing. Over an unchanged folder it reads no image and loads no model (content hashes are
    cached in W/hashes/). Files added later are embedded alone.

    Sharding: --shard I/N embeds the files whose relative path hashes to slice I, reading only
    those, into its own part files; the shards of one workdir may run at the same time, and
    duplicates across shards are found from the stored hashes. The last shard to finish writes
    the manifest; otherwise run the command once more without --shard after all shards are done.
    --shard auto reads the index from Kubernetes, AWS Batch or Slurm (see examples/).

    Embeddings made elsewhere: --from-features IMG imports image embeddings (no image is
    decoded). For zero-shot scoring add the same model's prompt embeddings, either from a file
    (--text-features TXT.parquet with class, prompt, embedding; or TXT.npy with
    --text-prompts FILE) or computed here by that model's text tower alone (--model M
    [--pretrained P]). Dimensions must match, or embed stops naming both files.

    Example:

    \b
      labelclean embed photos/ -w work
      labelclean embed labels.csv -w work -m ViT-B-16 --precision fp32
      labelclean embed photos/ -w work --shard 0/4
      labelclean embed shards/ -w work --label-field json:label
      labelclean embed photos/ -w work --from-features feats.parquet
      labelclean embed photos/ -w work --from-features img.npy --text-features text.parquet
      labelclean embed photos/ -w work --from-features img.npy --model ViT-B-32
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
    src = s.source or {}
    if src.get("text_model") or src.get("text_features"):
        where = src.get("text_features") or f"the text tower of {src['text_model']}"
        console.info(f"prompt embeddings ({text.get('prompts', 0)}) from {where}")
    if src.get("unmatched_text_rows"):
        console.info(f"{src['unmatched_text_rows']} rows of the text features name classes not in DATA (ignored)")
    if text.get("fallback_classes"):
        console.warn(f"no description for {len(text['fallback_classes'])} classes, using templates: "
                     + ", ".join(text["fallback_classes"][:10]))
    if not s.finished:
        console.info("other shards are still missing or running; the last one to finish writes the manifest "
                     "(or run `labelclean embed` without --shard afterwards)")
