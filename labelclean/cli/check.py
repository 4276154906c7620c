"""`labelclean check`: a CI gate on the estimated label-noise rate, like a linter."""

from __future__ import annotations

from typing import Annotated

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import DEFAULT_WD, DeviceOpt, JsonOpt, PrecisionOpt, PretrainedOpt, WorkdirOpt
from labelclean.cli.pipeline_opts import (
    BatchOpt,
    ClassesOpt,
    CombineOpt,
    DataArg,
    DescriptionsOpt,
    EstimatorsOpt,
    ForceOpt,
    MethodOpt,
    SeedOpt,
    TemplatesOpt,
    ThetaConsOpt,
    ThetaGmmOpt,
    ThetaRelabelOpt,
)
from labelclean.cli.run import ModelOpt, show_stage
from labelclean.store.workdir import Workdir

MaxNoiseOpt = Annotated[float, typer.Option("--max-noise", min=0.0, max=1.0, show_default=False,
                                            help="Highest acceptable estimated noise rate, in [0, 1].")]


@app.command()
@command_boundary
def check(
    data: DataArg,
    max_noise: MaxNoiseOpt,
    workdir: WorkdirOpt = DEFAULT_WD,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    batch_size: BatchOpt = None,
    classes: ClassesOpt = None,
    templates: TemplatesOpt = "simple",
    descriptions: DescriptionsOpt = None,
    estimators: EstimatorsOpt = None,
    seed: SeedOpt = None,
    combine: CombineOpt = None,
    method: MethodOpt = None,
    theta_cons: ThetaConsOpt = None,
    theta_gmm: ThetaGmmOpt = None,
    theta_relabel: ThetaRelabelOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Fail (exit 1) when the estimated label-noise rate of DATA is above --max-noise.

    Runs embed, score and select as needed (re-using the workdir: unchanged stages are
    skipped). Estimated noise rate = flagged / usable samples, where flagged means select did
    not find the sample clean, unless a reviewer decided otherwise (`labelclean review`:
    reject = the label is right; drop or a new label = noisy).

    Exit codes: 0 rate <= --max-noise, 1 rate above it (the worst offenders are listed on
    stderr) or an error, 2 usage error (e.g. --max-noise outside [0, 1]).

    Example:

    \b
      labelclean check photos/ --max-noise 0.05 -w .labelclean-cache
      labelclean check labels.csv --max-noise 0.1 --json
    """
    from labelclean.stages.pipeline import build_configs, estimate_noise, run_pipeline

    values = dict(
        model=model, pretrained=pretrained, device=device, precision=precision, batch_size=batch_size,
        classes_file=classes, templates=templates, descriptions=descriptions, estimators=estimators, seed=seed,
        combine=combine, method=method, theta_cons=theta_cons, theta_gmm=theta_gmm, theta_relabel=theta_relabel,
    )
    wd = Workdir(workdir)
    run_pipeline(wd, build_configs(data, values, ("embed", "score", "select")), force=force, on_stage=show_stage)
    est = estimate_noise(wd)
    passed = est.rate <= max_noise
    verdict = "passed" if passed else "FAILED"
    if not passed:
        _worst_offenders(est)
    if json_out:
        console.emit_json({"passed": passed, "noise_rate": round(est.rate, 6), "max_noise": max_noise,
                           "noisy": est.noisy, "usable": est.usable, "worst": est.worst})
    else:
        sign = "<=" if passed else ">"
        console.out(f"check {verdict}: estimated noise rate {est.rate:.2%} ({est.noisy} of {est.usable} samples) "
                    f"{sign} --max-noise {max_noise:.2%}")
    if not passed:
        raise typer.Exit(1)


def _worst_offenders(est) -> None:
    """One untruncated stderr line per offender (CI logs are narrow and grepped)."""
    console.warn(f"worst offenders (lowest clean_score, {len(est.worst)} of {est.noisy}):")
    for w in est.worst:
        score = "n/a" if w["clean_score"] is None else f"{w['clean_score']:.3f}"
        line = f"  {score}  {w['sample_id']}  given={w['given']} suggested={w['suggested'] or '-'} " \
               f"failed={w['failed'] or '-'}"
        console.err.print(line, soft_wrap=True, markup=False, highlight=False)
