"""Options `run` and `check` pass through to the embed, score and select stages (declared once)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from labelclean.cli.embed import BatchOpt, ClassesOpt, DataArg, DescriptionsOpt, TemplatesOpt  # noqa: F401

EstimatorsOpt = Annotated[Optional[str], typer.Option("--estimators", help="Comma-separated estimators for score "
                                                      "and select (zeroshot,logreg,knn; default: all the workdir allows).")]
CombineOpt = Annotated[Optional[str], typer.Option("--combine", help="How select combines criteria (method criteria): all, any or vote:K.")]
MethodOpt = Annotated[Optional[str], typer.Option("--method", help="Selection method: ensemble (default), "
                                                  "criteria or css (see `labelclean select --help`).")]
ThetaConsOpt = Annotated[Optional[float], typer.Option("--theta-cons", help="Consistency threshold p(y)/max p.")]
ThetaGmmOpt = Annotated[Optional[float], typer.Option("--theta-gmm", help="Clean-posterior threshold of the loss GMM.")]
ThetaRelabelOpt = Annotated[Optional[float], typer.Option("--theta-relabel", help="Confidence needed to suggest "
                                                          "another label.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed for score and select (recorded).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo every stage even when nothing changed.")]
