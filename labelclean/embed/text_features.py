"""Bring your own prompt embeddings: the text side of ``embed --from-features``.

With image features imported from elsewhere (clip-retrieval, a LAION-style embedding folder,
any CLIP run outside labelclean) the zero-shot estimator needs the *same model's* prompt
embeddings. Two layouts are read:

- ``.parquet`` with a class column (``class``, ``class_name`` or ``label``), a prompt column
  (``prompt``, ``text`` or ``caption``; optional, default the class name) and an
  ``embedding`` list column: one row per (class, prompt);
- ``.npy`` (P, D) plus a prompts file (``--text-prompts``: ``.csv``/``.tsv``/``.jsonl``/
  ``.parquet`` with the same class and prompt columns), row i of one being row i of the other.

Class values match the data's classes by name or prompt name, ignoring case and reading
``_`` as a space. Every class of the data needs at least one prompt; rows of other
classes are counted and ignored. Vectors are L2-normalised; their dimension must equal the
image features'. The other way, ``--model M``, embeds the usual prompts with M's text tower
(see ``labelclean.model.encoder.load_encoder(text_only=True)``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.core.errors import InputError, UsageError
from labelclean.embed.features import embedding_matrix, read_npy_matrix
from labelclean.ingest.types import ClassInfo

CLASS_COLUMNS = ("class", "class_name", "label")
PROMPT_COLUMNS = ("prompt", "text", "caption")
PROMPT_FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")
HINT = (
    "give a .parquet file with `class`, `prompt` and `embedding` columns, or a .npy array "
    "with --text-prompts FILE (class,prompt per row, in the same order)"
)


@dataclass
class TextFeatures:
    """Imported prompt embeddings, matched to the data's classes."""

    path: Path
    sha256: str
    class_ids: np.ndarray  # (P,) int64 class id of each kept prompt
    prompts: list[str]  # (P,) prompt texts
    vectors: np.ndarray  # (P, D) float32, L2-normalised
    unmatched: int  # rows whose class is not one of the data's classes
    prompts_file: Path | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def source(self) -> str:
        """The value of text.parquet's ``source`` column."""
        return f"text-features:{self.path.name}"

    @property
    def identity(self) -> dict:
        return {"text_features": str(self.path), "text_features_sha256": self.sha256,
                "text_prompts_file": str(self.prompts_file) if self.prompts_file else None}


def check_dims(text_dim: int, image_dim: int, text_what: str, image_path: Path) -> None:
    """Refuse prompt embeddings whose dimension differs from the image features'."""
    if text_dim != image_dim:
        raise InputError(
            f"{text_what} has {text_dim}-dimensional embeddings but image features file {image_path} has {image_dim}",
            "use prompt embeddings from the model that made the image features",
        )


def load_text_features(path: Path, classes: list[ClassInfo], *, image_dim: int, image_path: Path,
                       prompts_file: Path | None = None) -> TextFeatures:
    """Read prompt embeddings (see the module docstring) and match them to ``classes``."""
    from labelclean.model.encoder import sha256_file

    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"text features file {path} does not exist", HINT)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if prompts_file is None:
            raise UsageError(f"--text-features {path} is a .npy array and needs --text-prompts FILE",
                             "give a CSV with class,prompt columns, one row per row of the array")
        matrix = read_npy_matrix(path, HINT)
        labels, texts = read_prompts_file(Path(prompts_file).expanduser())
        if len(labels) != matrix.shape[0]:
            raise InputError(f"{path} has {matrix.shape[0]} rows but {prompts_file} has {len(labels)} prompts",
                             "the prompts file needs one class,prompt row per row of the array, in order")
    elif suffix in (".parquet", ".pq"):
        if prompts_file is not None:
            raise UsageError("--text-prompts is only for a .npy --text-features file",
                             f"{path.name} already names its classes and prompts")
        matrix, labels, texts = _parquet(path)
    else:
        raise InputError(f"text features file {path} has unknown extension {path.suffix!r}", HINT)
    check_dims(int(matrix.shape[1]), image_dim, f"text features file {path}", image_path)
    lookup = _class_lookup(classes)
    ids = np.asarray([lookup.get(_loose(v), -1) if v is not None else -1 for v in labels], dtype=np.int64)
    missing = sorted(set(range(len(classes))) - set(ids[ids >= 0].tolist()))
    if missing:
        names = ", ".join(classes[i].name for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(f"text features {path} have no prompt for {len(missing)} of the data's classes: {names}",
                         "add a row (class, prompt, embedding) for every class of the data")
    norms = np.linalg.norm(matrix, axis=1)
    bad = np.flatnonzero((ids >= 0) & ~(np.isfinite(norms) & (norms > 0)))
    if bad.size:
        raise InputError(f"text features {path}: row {int(bad[0])} is all zeros or not finite",
                         "every prompt needs a usable embedding")
    keep = np.flatnonzero(ids >= 0)
    order = keep[np.argsort(ids[keep], kind="stable")]  # by class id, then file order (as build_prompts)
    unit = (matrix[order] / norms[order][:, None]).astype(np.float32)
    texts = [texts[i] if texts[i] is not None else classes[ids[i]].prompt_name for i in order]
    return TextFeatures(path.resolve(), sha256_file(path), ids[order], texts, unit, int((ids < 0).sum()),
                        Path(prompts_file).resolve() if prompts_file else None)


def read_prompts_file(path: Path) -> tuple[list[str | None], list[str | None]]:
    """(class values, prompt texts) from a CSV/TSV/JSONL/Parquet prompts file, in file order."""
    if not path.is_file():
        raise InputError(f"prompts file {path} does not exist", "give a CSV with class,prompt columns")
    suffix = path.suffix.lower()
    if suffix not in PROMPT_FILE_SUFFIXES:
        raise InputError(f"prompts file {path} has unknown extension {path.suffix!r}",
                         f"use one of {', '.join(PROMPT_FILE_SUFFIXES)}")
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
            columns, rows = table.column_names, table.to_pylist()
        else:
            with open(path, encoding="utf-8-sig", newline="") as f:
                if suffix in (".csv", ".tsv"):
                    reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                    rows = list(reader)
                    columns = list(reader.fieldnames or [])
                else:
                    rows = [json.loads(line) for line in f if line.strip()]
                    columns = list(dict.fromkeys(k for r in rows for k in r))
    except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError, pa.ArrowInvalid) as e:
        raise InputError(f"cannot read prompts file {path}: {e}", "give a UTF-8 CSV with class,prompt columns") from e
    ccol, pcol = _columns(columns, path)
    return [_text(r.get(ccol)) for r in rows], [_text(r.get(pcol)) if pcol else None for r in rows]


def _columns(columns: list[str], path: Path) -> tuple[str, str | None]:
    ccol = next((c for c in CLASS_COLUMNS if c in columns), None)
    if ccol is None:
        raise InputError(f"{path} has columns {columns}; it needs a class column ({', '.join(CLASS_COLUMNS)})", HINT)
    return ccol, next((c for c in PROMPT_COLUMNS if c in columns), None)


def _parquet(path: Path) -> tuple[np.ndarray, list[str | None], list[str | None]]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"cannot read {path} as Parquet: {e}", HINT) from e
    if "embedding" not in table.column_names:
        raise InputError(f"{path} has columns {table.column_names}; it needs `class`, `prompt` and `embedding`", HINT)
    ccol, pcol = _columns(table.column_names, path)
    matrix = embedding_matrix(table["embedding"], path, HINT)
    labels = [_text(v) for v in table[ccol].to_pylist()]
    texts = [_text(v) for v in table[pcol].to_pylist()] if pcol else [None] * table.num_rows
    return matrix, labels, texts


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _loose(value: str) -> str:
    return " ".join(str(value).replace("_", " ").lower().split())


def _class_lookup(classes: list[ClassInfo]) -> dict[str, int]:
    """Loose key -> class id; exact names win over prompt names (first come, first kept)."""
    out: dict[str, int] = {}
    for key in ("name", "prompt_name"):
        for c in classes:
            out.setdefault(_loose(getattr(c, key)), c.id)
    return out


def attach_text_side(features: Any, classes: list[ClassInfo], *, text_features: Path | None,
                     text_prompts: Path | None, model: str | None, pretrained: str | None, device: str,
                     precision: str) -> None:
    """Give imported image features (`embed.features.Features`) their prompt side, if any.

    ``text_features`` (+ ``text_prompts``) imports prompt embeddings; else ``model`` loads that
    model's text tower alone (with ``pretrained``). Either must match the features' dimension.
    """
    if text_features is not None:
        features.imported_text = load_text_features(text_features, classes, image_dim=features.dim,
                                                    image_path=features.path, prompts_file=text_prompts)
    elif model is not None:
        from labelclean.model.encoder import load_encoder

        encoder = load_encoder(model, pretrained, device=device, precision=precision, text_only=True)
        check_dims(encoder.dim, features.dim, f"the text tower of {encoder.model_id}", features.path)
        features.text_encoder = encoder
