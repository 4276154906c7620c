"""What every stage (and `noise`, `demo`) returns: a typed report, from which `--json`, run.json and the terminal output are made."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_BASE_FIELDS = ("stage", "counts", "outputs", "seconds", "skipped")


def summary_field(key: str | None = None, *, flatten: bool = False, **kw: Any) -> Any:
    """A report field shown under another summary key (``key``), or whose dict is merged into the summary."""
    return field(metadata={"key": key, "flatten": flatten}, **kw)


@dataclass(kw_only=True)
class StageReport:
    """Base of the per-stage reports (``EmbedReport``, ``SelectReport``, ...).

    A subclass sets ``stage`` and declares its figures as typed fields; `summary` is those
    fields as a JSON-able dict (a field's ``summary_field(key=...)`` renames it, ``flatten``
    merges a dict field in), used by `to_json` (``--json``) and `run_record` (run.json).
    """

    stage: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # e.g. {"ok": 980, "corrupt": 3}
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False  # True when `run` found nothing to do

    @property
    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in _BASE_FIELDS:
                continue
            value = _jsonable(getattr(self, f.name))
            if f.metadata.get("flatten"):
                out.update(value or {})
            else:
                out[f.metadata.get("key") or f.name] = value
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "counts": self.counts,
            "summary": self.summary,
            "outputs": [str(p) for p in self.outputs],
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
        }

    def run_record(self, cfg: Any) -> dict[str, Any]:
        """The stage's run.json record: its config, counts, summary and time."""
        return {"config": config_dict(cfg), "counts": self.counts, "summary": self.summary,
                "seconds": round(self.seconds, 3)}


@dataclass(kw_only=True)
class SkippedReport(StageReport):
    """What `run` reports for a stage it did not need to redo."""

    skipped: bool = True
    reason: str = "unchanged"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: vars(v) if dataclasses.is_dataclass(v) else str(v)))


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
    """Stable hash of configs and input fingerprints (the one fingerprint `run` records and compares)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
