"""The config of `labelclean noise` (evaluation/noisy_manifest.py); plain dataclass, imported by the CLI for its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass
class NoiseConfig:
    data: Path = Path(".")
    out: Path = Path("noisy.csv")
    rate: float = 0.2
    mode: str = "sym"  # sym | asym | pairflip | instance
    seed: int = 0
    mapping: Optional[Path] = None  # asym: YAML/JSON {source: target}; default: templates/noise/cifar10_asym.yaml
    workdir: Optional[Path] = None  # instance: a workdir embedded from the same (clean) data
    classes_file: Optional[Path] = None
    sharpness: float = 2.0  # instance: how strongly flips concentrate near class boundaries
    overwrite: bool = False
