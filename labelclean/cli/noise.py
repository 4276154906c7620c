"""`labelclean noise`: synthesise noisy labels for evaluating a cleaner."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses


@app.command()
@command_boundary
@uses(*stage_options("noise"), "json_out")
def noise(o: Given) -> None:
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
    from labelclean.evaluation.noisy_manifest import run_noise

    report = run_noise(o.config("noise"))
    s = report.summary
    console.table(f"{s['mode']} noise: {s['flipped']} of {s['samples']} labels flipped "
                  f"(realised rate {s['realised_rate']:.4f}, requested {s['rate_requested']})",
                  ["class", "samples", "flipped", "rate"],
                  [(r["class"], r["n"], r["flipped"], r["rate"]) for r in s["per_class"]])
    for reason, n in s["skipped"].items():
        console.warn(f"{n} samples skipped ({reason})")
    if o["json_out"]:
        console.emit_json(report.to_json())
    else:
        console.out(f"wrote {report.outputs[0]} (rates in {report.outputs[1]})")
