"""`labelclean select`: clean / flag / relabel decisions from the stored scores."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import DEFAULT_WD, JsonOpt, SeedOpt, WorkdirOpt
from labelclean.store.workdir import Workdir

EstimatorsOpt = Annotated[Optional[str], typer.Option("--estimators", help="Comma-separated scored estimators "
                                                      "to use, plus deft when W/deft.parquet exists (default: all).")]
MethodOpt = Annotated[str, typer.Option("--method", help="ensemble (default: 2-D GMM + confident-learning "
                                        "pruning on the estimators' mean), criteria (CLIPCleaner: consistency "
                                        "and per-class loss GMM per estimator) or css (2-D GMM on logreg loss "
                                        "and zero-shot p).")]
CriteriaOpt = Annotated[str, typer.Option("--criteria", help="--method criteria: consistency, gmm or both.")]
CombineOpt = Annotated[str, typer.Option("--combine", help="--method criteria: all (clean only if every "
                                         "estimator passes all criteria; the paper's), any, or vote:K.")]
ThetaConsOpt = Annotated[float, typer.Option("--theta-cons", help="Consistency threshold p(y)/max p.")]
ThetaGmmOpt = Annotated[float, typer.Option("--theta-gmm", help="Clean posterior needed by the loss GMM.")]
ThetaRelabelOpt = Annotated[float, typer.Option("--theta-relabel", help="Mean probability the estimators must "
                                                "agree on to suggest another label.")]
ThetaOutlierOpt = Annotated[Optional[float], typer.Option("--theta-outlier", help="Outlier when no estimator "
                                                          "gives any class this much (default: min(2/K, half "
                                                          "the median best probability)).")]
EpsOpt = Annotated[float, typer.Option("--css-eps", help="Clean posterior needed by the 2-D GMM "
                                       "(methods ensemble and css).")]
PerClassOpt = Annotated[bool, typer.Option("--css-per-class", help="Fit the 2-D GMM per class, not globally.")]
FallbackOpt = Annotated[bool, typer.Option("--fallback/--no-fallback", help="Keep the best-scored samples of "
                                           "a class that would lose all of them.")]


@app.command()
@command_boundary
def select(
    workdir: WorkdirOpt = DEFAULT_WD,
    estimators: EstimatorsOpt = None,
    method: MethodOpt = "ensemble",
    criteria: CriteriaOpt = "consistency,gmm",
    combine: CombineOpt = "all",
    theta_cons: ThetaConsOpt = 0.8,
    theta_gmm: ThetaGmmOpt = 0.5,
    theta_relabel: ThetaRelabelOpt = 0.5,
    theta_outlier: ThetaOutlierOpt = None,
    css_eps: EpsOpt = 0.5,
    css_per_class: PerClassOpt = False,
    fallback: FallbackOpt = True,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Decide which samples keep their label, which are flagged and which get a suggested label.

    Reads W/probs and W/scores.parquet (re-run with other thresholds without re-scoring)
    and writes W/selection.parquet: clean, clean_score (higher = label more likely right;
    a ranking score for review), the criteria failed, suggested label and confidence,
    outlier ("none of these classes") and decision keep | flag | relabel. Samples of
    identical files with different labels fail duplicate_conflict. A class that would
    lose every sample keeps its best-scored ones (reported).

    Example:

    \b
      labelclean select -w work
      labelclean select -w work --method criteria --combine all   # CLIPCleaner
      labelclean select -w work --method criteria --combine vote:2 --theta-cons 1.0
      labelclean select -w work --method css --json
    """
    from labelclean.stages.select import SelectConfig, run_select

    cfg = SelectConfig(
        estimators=estimators, method=method, criteria=criteria, combine=combine, theta_cons=theta_cons,
        theta_gmm=theta_gmm, theta_relabel=theta_relabel, theta_outlier=theta_outlier, css_eps=css_eps,
        css_per_class=css_per_class, fallback=fallback, seed=seed,
    )
    report = run_select(Workdir(workdir), cfg)
    _render(report.summary)
    if json_out:
        console.emit_json(report.to_json())
    else:
        console.out(f"wrote {report.outputs[0]}")


def _render(s: dict) -> None:
    console.table(f"Selection ({s['method']}: {', '.join(s['estimators'])})", ["", "samples"],
                  [("kept", s["kept"]), ("flagged", s["flagged"]), ("  relabel suggested", s["relabel"]),
                   ("outliers", s["outliers"])])
    noisy = sorted(s["per_class"], key=lambda r: -r["rate"])[:10]
    console.table("Estimated noise rate by class (share flagged)", ["class", "samples", "flagged", "rate"],
                  [(r["class"], r["samples"], r["flagged"], r["rate"]) for r in noisy])
    if s["confused_pairs"]:
        console.table("Top confused pairs (given -> suggested)", ["given", "suggested", "samples"],
                      [(p["given"], p["suggested"], p["count"]) for p in s["confused_pairs"]])
    for f in s["fallback"]:
        console.warn(f"class {f['class']!r} lost all {f['samples']} samples; kept its {f['kept_by_fallback']} "
                     "best-scored ones (fallback)")
    for note in s["notes"]:
        console.warn(note)
