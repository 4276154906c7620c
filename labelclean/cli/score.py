"""`labelclean score`: per-sample class probabilities from several estimators."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import DEFAULT_WD, DeviceOpt, JsonOpt, SeedOpt, WorkdirOpt
from labelclean.store.workdir import Workdir

EstimatorsOpt = Annotated[Optional[str], typer.Option("--estimators", help="Comma-separated: zeroshot, logreg, "
                                                      "knn (default: all the workdir allows; zeroshot needs prompt "
                                                      "embeddings).")]
TemperatureOpt = Annotated[float, typer.Option("--temperature", help="Zero-shot temperature tau in exp(cos/tau).")]
AggregationOpt = Annotated[str, typer.Option("--prompt-aggregation", help="Zero-shot prompts per class: mean "
                                             "(no bonus for classes with more prompts), sum (paper-exact) or "
                                             "mean-embedding (classic CLIP ensemble).")]
FoldsOpt = Annotated[int, typer.Option("--folds", help="Logreg out-of-fold folds (>= 2).")]
InSampleOpt = Annotated[bool, typer.Option("--in-sample", help="Logreg scores the samples it was fitted on "
                                           "(official CLIPCleaner; memorises noisy labels).")]
L2Opt = Annotated[Optional[float], typer.Option("--l2", help="Logreg L2 penalty (default: chosen by held-out "
                                                "log-loss among 3e-3, 1e-3, 3e-4, 1e-4).")]
KOpt = Annotated[int, typer.Option("--k", help="kNN neighbours (self and identical files excluded).")]
IndexOpt = Annotated[str, typer.Option("--knn-index", help="auto (exact up to 20,000 samples, IVF above), "
                                       "exact or ivf (exact anyway below 1,000 samples).")]
NprobeOpt = Annotated[Optional[int], typer.Option("--knn-nprobe", help="IVF lists searched per query (default "
                                                  "about 0.75*sqrt(lists), top-10 recall >= 0.95; lower is faster).")]
BackendOpt = Annotated[str, typer.Option("--knn-backend", help="auto (faiss if installed), faiss, torch or numpy.")]


@app.command()
@command_boundary
def score(
    workdir: WorkdirOpt = DEFAULT_WD,
    estimators: EstimatorsOpt = None,
    temperature: TemperatureOpt = 0.07,
    prompt_aggregation: AggregationOpt = "mean",
    folds: FoldsOpt = 5,
    in_sample: InSampleOpt = False,
    l2: L2Opt = None,
    k: KOpt = 10,
    knn_index: IndexOpt = "auto",
    knn_backend: BackendOpt = "auto",
    knn_nprobe: NprobeOpt = None,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Estimate p(class | image) for every sample with several estimators.

    zeroshot: CLIP image vs prompt embeddings (CLIPCleaner eq. 4). logreg: class-balanced
    logistic regression on the embeddings against the given labels, out-of-fold. knn:
    distance-weighted vote of the nearest other images. Writes W/probs/<estimator>.parquet
    (full probability matrices, so `select` re-runs instantly) and W/scores.parquet (per
    estimator and for their mean, "ensemble": p of the given label, consistency, normalised
    log p, prediction, top-3, margin; higher = label more likely right). Deterministic for a
    given --seed.

    Example:

    \b
      labelclean score -w work
      labelclean score -w work --estimators logreg,knn --k 20
      labelclean score -w work --prompt-aggregation sum --in-sample   # paper-exact
    """
    from labelclean.stages.score import ScoreConfig, run_score

    cfg = ScoreConfig(
        estimators=estimators, temperature=temperature, prompt_aggregation=prompt_aggregation, folds=folds,
        in_sample=in_sample, l2=l2, k=k, knn_index=knn_index, knn_backend=knn_backend, knn_nprobe=knn_nprobe,
        device=device, seed=seed,
    )
    report = run_score(Workdir(workdir), cfg)
    s = report.summary
    rows = [(e, s["agreement"][e], s["estimator_info"][e]["seconds"], _detail(s["estimator_info"][e]))
            for e in s["estimators"]]
    console.table(f"Scored {s['samples']} samples, {s['classes']} classes", ["estimator", "argmax = given",
                                                                             "seconds", "detail"], rows)
    if json_out:
        console.emit_json(report.to_json())
    else:
        console.out(f"wrote {report.outputs[0]}")


def _detail(info: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("seconds", "held_out_loss"))
