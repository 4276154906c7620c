"""`labelclean noise`: synthesise noisy labels for evaluating a cleaner."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import JsonOpt, SeedOpt

DataArg = Annotated[Path, typer.Argument(help="Clean dataset: image folder (root/<class>/<image>) or a "
                                         "manifest with path and label columns.", show_default=False)]
RateOpt = Annotated[float, typer.Option("--rate", help="Fraction of samples to flip (of the mapped classes "
                                        "for asym and pairflip), in [0, 1].")]
ModeOpt = Annotated[str, typer.Option("--mode", help="sym (to a random other class), asym (by --mapping), "
                                      "pairflip (class c -> c+1) or instance (towards the most similar class, "
                                      "near-boundary samples first; needs -w).")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Noisy manifest to write (.csv, .tsv, .jsonl or "
                                      ".parquet), in a folder containing every image.", show_default=False)]
MappingOpt = Annotated[Optional[Path], typer.Option("--mapping", help="asym: YAML/JSON of source: target class "
                                                    "names (default: the bundled CIFAR-10 one).")]
WorkdirOpt = Annotated[Optional[Path], typer.Option("--workdir", "-w", help="instance: a workdir embedded from "
                                                    "the same clean data.")]
ClassesOpt = Annotated[Optional[Path], typer.Option("--classes", help="Class list fixing order and names.")]
SharpOpt = Annotated[float, typer.Option("--sharpness", help="instance: how strongly flips concentrate on "
                                         "ambiguous samples (0 = uniform).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")]


@app.command()
@command_boundary
def noise(
    data: DataArg,
    out: OutOpt,
    rate: RateOpt = 0.2,
    mode: ModeOpt = "sym",
    seed: SeedOpt = 0,
    mapping: MappingOpt = None,
    workdir: WorkdirOpt = None,
    classes: ClassesOpt = None,
    sharpness: SharpOpt = 2.0,
    overwrite: OverwriteOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a manifest of DATA with synthetic label noise, keeping the true label.

    The manifest has path, label (noisy) and clean_label (true) columns; load it with
    `labelclean embed OUT` and score the cleaner with `labelclean evaluate --truth
    clean_label`. Every flip goes to a different class; exactly round(rate x n) samples
    are flipped. The realised rates (overall, per class, top flips) are printed and saved
    next to the manifest as OUT.noise.json. DATA itself is never modified.

    Example:

    \b
      labelclean noise cifar10/ --rate 0.4 --mode asym --out cifar10/noisy-asym40.csv
      labelclean noise photos/ --rate 0.2 --mode sym --seed 1 --out photos/noisy.parquet
      labelclean noise photos/ --rate 0.3 --mode instance -w work --out photos/noisy-idn.csv
    """
    from labelclean.stages.noise import NoiseConfig, run_noise

    cfg = NoiseConfig(data=data, out=out, rate=rate, mode=mode, seed=seed, mapping=mapping, workdir=workdir,
                      classes_file=classes, sharpness=sharpness, overwrite=overwrite)
    report = run_noise(cfg)
    s = report.summary
    console.table(f"{s['mode']} noise: {s['flipped']} of {s['samples']} labels flipped "
                  f"(realised rate {s['realised_rate']:.4f}, requested {s['rate_requested']})",
                  ["class", "samples", "flipped", "rate"],
                  [(r["class"], r["n"], r["flipped"], r["rate"]) for r in s["per_class"]])
    for reason, n in s["skipped"].items():
        console.warn(f"{n} samples skipped ({reason})")
    if json_out:
        console.emit_json(report.to_json())
    else:
        console.out(f"wrote {report.outputs[0]} (rates in {report.outputs[1]})")
