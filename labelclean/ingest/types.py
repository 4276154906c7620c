"""What discovery yields (`Candidate`, `Discovered`, `ClassInfo`) and the rules both discoverers
(folders in ingest/discover.py, manifests in ingest/manifest.py) share: NFC sample ids, sorted
and unique."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason

DATA_HINT = (
    "pass an image folder laid out as root/<class>/<image>, "
    "or a .csv/.tsv/.jsonl/.parquet manifest with path and label columns"
)


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str  # as given (folder name or manifest label)
    prompt_name: str  # how prompts say it ("maple tree" for maple_tree)


@dataclass
class Candidate:
    sample_id: str  # path relative to the data root, POSIX '/', NFC-normalised unicode
    path: Path  # absolute path
    label: str | None  # given class name as in the data
    extras: dict[str, Any]  # extra manifest columns (e.g. clean_label), carried through
    status: Reason | None = None  # only problems found at discovery (missing, outside_root, unlabeled, ...)
    detail: str = ""


@dataclass
class Discovered:
    root: Path  # data root (folder, or the manifest's folder)
    source: Path  # the DATA argument as resolved
    kind: str  # "folder" | "csv" | "jsonl" | "parquet"
    classes: list[ClassInfo]  # ids are positions
    candidates: list[Candidate]  # sorted by sample_id, unique sample_ids
    extra_columns: list[str]
    ignored: list[str] = field(default_factory=list)  # skipped hidden/system files (relative paths)

    def empty_classes(self) -> list[ClassInfo]:
        """Classes no candidate is labelled with (the caller warns about them)."""
        used = {c.label for c in self.candidates}
        return [c for c in self.classes if c.name not in used]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def sort_unique(candidates: list[Candidate], root: Path) -> list[Candidate]:
    """Sort by sample_id; two files with the same NFC-normalised id are an InputError."""
    candidates = sorted(candidates, key=lambda c: c.sample_id)
    for a, b in zip(candidates, candidates[1:]):
        if a.sample_id == b.sample_id:
            raise InputError(
                f"two files in {root} have the same name after unicode normalisation: {a.path} and {b.path}",
                "rename one of them",
            )
    return candidates
