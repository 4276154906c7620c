"""What discovery yields (`Candidate`, `Discovered`, `ClassInfo`) and the rules both discoverers
(folders in ingest/discover.py, manifests in ingest/manifest.py) share: NFC sample ids, sorted
and unique. `Discovered.candidates` is a `labelclean.ingest.table.CandidateTable`: Arrow
columns read as a sequence of `Candidate` objects made one batch at a time."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

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


@dataclass(slots=True)  # made per row while iterating a CandidateTable (never 10M at once)
class Candidate:
    sample_id: str  # path relative to the data root, POSIX '/', NFC-normalised unicode
    path: Path  # absolute path
    label: str | None  # given class name as in the data
    extras: dict[str, Any]  # extra manifest columns (e.g. clean_label), carried through
    status: Reason | None = None  # only problems found at discovery (missing, outside_root, unlabeled, ...)
    detail: str = ""
    member: str | None = None  # locator inside a container file (tar/Parquet); see ingest.members


@dataclass
class Discovered:
    root: Path  # data root (folder, or the manifest's folder)
    source: Path  # the DATA argument as resolved
    kind: str  # "folder" | "csv" | "jsonl" | "parquet"
    classes: list[ClassInfo]  # ids are positions
    candidates: Sequence[Candidate]  # a CandidateTable: sorted by sample_id, unique sample_ids
    extra_columns: list[str]
    ignored: list[str] = field(default_factory=list)  # skipped hidden/system files (relative paths)
    excluded: list[str] = field(default_factory=list)  # "rel/ (why)": workdir / export folders not scanned
    empty_folders: list[str] = field(default_factory=list)  # class folders holding no file (not classes)

    def empty_classes(self) -> list[ClassInfo]:
        """Classes no candidate is labelled with (the caller warns about them)."""
        labels = getattr(self.candidates, "labels", None)
        used = labels() if labels is not None else {c.label for c in self.candidates}
        return [c for c in self.classes if c.name not in used]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
