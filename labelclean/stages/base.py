"""What every stage returns, and the fingerprint `run` uses to skip unchanged stages."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageReport:
    stage: str
    counts: dict[str, int] = field(default_factory=dict)  # e.g. {"ok": 980, "corrupt": 3}
    summary: dict[str, Any] = field(default_factory=dict)  # JSON-able figures for --json / run.json
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False  # True when `run` found nothing to do

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "counts": self.counts,
            "summary": self.summary,
            "outputs": [str(p) for p in self.outputs],
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
        }


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def config_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as JSON-able dict (paths as strings)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def fingerprint(*parts: Any) -> str:
    """Stable hash of configs and input fingerprints (for skipping unchanged stages)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
