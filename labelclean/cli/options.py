"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typing import Annotated

from labelclean.store.workdir import DEFAULT_WORKDIR

WorkdirOpt = Annotated[
    Path,
    typer.Option("--workdir", "-w", help="Work directory holding every stage's output.", show_default=True),
]
DEFAULT_WD = Path(DEFAULT_WORKDIR)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON summary on stdout.")]

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="open_clip model name (e.g. ViT-B-32, ViT-L-14), local-dir:PATH or hf-hub:ORG/REPO.",
    ),
]
PretrainedOpt = Annotated[
    Optional[str],
    typer.Option(
        "--pretrained",
        help="Pretrained tag (e.g. laion2b_s34b_b79k; default: the usual one for the model) "
        "or a local weights file (.pt/.bin/.safetensors).",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
PrecisionOpt = Annotated[
    str,
    typer.Option("--precision", help="auto (fp16 on CUDA, bf16 on a CPU that supports it), fp32, fp16 or bf16."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (recorded in run.json).")]
