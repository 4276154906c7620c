"""`labelclean score`: per-sample class probabilities from several estimators."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("score"), "json_out")
def score(o: Given) -> None:
    """Estimate p(class | image) for every sample with several estimators.

    zeroshot: CLIP image vs prompt embeddings (CLIPCleaner eq. 4), at the model's own
    temperature (1 / its logit scale) unless --temperature is given. logreg: class-balanced
    logistic regression on the embeddings against the given labels, out-of-fold. robust:
    logreg refitted (--robust-rounds times) on the samples the previous pass trusts, each
    sample still scored by a model that never saw its label. knn: distance-weighted vote of
    the nearest other images. multimodal: LEMoN-style score from the image's distance to its
    label's text, its --k nearest images' labels and its nearest same-label samples (image
    neighbours only, 0/1 label disagreement, without prompt embeddings). Writes W/probs/<estimator>.parquet
    (probability matrices in float16, or the top 32 classes above 256, so `select` re-runs
    without scoring again) and W/scores.parquet (per
    estimator and for their mean, "ensemble": p of the given label, consistency, normalised
    log p, prediction, top-3, margin; higher = label more likely right). Deterministic for a
    given --seed.

    Example:

    \b
      labelclean score -w work
      labelclean score -w work --estimators logreg,knn --k 20
      labelclean score -w work --estimators zeroshot,robust,knn,multimodal
      labelclean score -w work --prompt-aggregation sum --in-sample --temperature 0.07   # paper-exact
    """
    from labelclean.stages.score import run_score

    report = run_score(Workdir(o["workdir"]), o.config("score"))
    s = report
    rows = [(e, s.agreement[e], s.estimator_info[e]["seconds"], _detail(s.estimator_info[e]))
            for e in s.estimators]
    console.table(f"Scored {s.samples} samples, {s.classes} classes", ["estimator", "argmax = given",
                                                                             "seconds", "detail"], rows)
    if o["json_out"]:
        console.emit_json(report.to_json())
    else:
        console.out(f"wrote {report.outputs[0]}")


def _detail(info: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("seconds", "held_out_loss"))
