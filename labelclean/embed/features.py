"""Bring your own features: import precomputed embeddings instead of running open_clip.

Accepted files:

- ``.npy``: a 2-D array with one row per discovered file, in ``sample_id`` order (the
  POSIX path relative to the data root, sorted as Python sorts strings), which is also the
  row order of ``manifest.parquet``. Every file DATA yields has a row, including files
  later marked bad; a row that is all zeros or not finite means "no features".
- ``.parquet``: an ``embedding`` list column keyed by ``sample_id`` or, failing that, by
  ``path`` (absolute, or relative to the data root). Samples without a row get status
  ``no_features``; rows matching no sample are counted and ignored.
- a folder in the layout of clip-retrieval's ``inference`` and of the LAION embedding
  releases: ``img_emb/img_emb_<n>.npy`` with, row for row, ``metadata/metadata_<n>.parquet``
  holding ``image_path`` (or ``path`` or ``sample_id``); matched as the Parquet file is.

Vectors are L2-normalised. Exact duplicate files (same content) share the vector of the
one embed keeps (normally the smallest sample_id), as with a model. The model identity is ``features:<first 12 hex of the file's
sha256>`` (a folder: of its files' digests); there is no text encoder unless ``embed`` gets
prompt embeddings too (``--text-features`` or ``--model``), so `score` skips zero-shot
estimators otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.ingest.types import Candidate
from labelclean.core.errors import InputError, ModelError
from labelclean.store.parquet_io import to_numpy_2d
from labelclean.core.reasons import Reason
from labelclean.embed.parts import Rows

HINT = (
    "give a .npy array with one row per file in sample_id order, or a .parquet file with "
    "an `embedding` list column and a `sample_id` or `path` column"
)


@dataclass
class Features:
    path: Path
    sha256: str
    vectors: dict[str, np.ndarray]  # sample_id -> unit float32 vector
    dim: int
    unmatched: int  # rows of the file that match no discovered sample
    text_encoder: Any = None  # --model: a text-only Encoder that embeds the class prompts
    imported_text: Any = None  # --text-features: prompt embeddings (embed.text_features.TextFeatures)
    no_text: ClassVar[str] = "features have no text encoder"
    decodes_files: ClassVar[bool] = False  # a file missing on disk is fine: its vector is in the features file

    @property
    def has_text(self) -> bool:
        """Whether class prompts can be embedded (`encode_texts`); imported prompts are written as they are."""
        return self.text_encoder is not None

    @property
    def logit_scale(self) -> float | None:
        return self.text_encoder.identity.get("logit_scale") if self.text_encoder is not None else None

    @property
    def text_model_id(self) -> str | None:
        return self.text_encoder.model_id if self.text_encoder is not None else None

    def summary(self) -> dict[str, Any]:
        return {"features_file": str(self.path), "unmatched_feature_rows": self.unmatched, **self.text_identity()}

    def text_identity(self) -> dict[str, Any]:
        """Where the prompt embeddings come from (run.json's model record, the embed summary)."""
        if self.imported_text is not None:
            return {**self.imported_text.identity, "unmatched_text_rows": self.imported_text.unmatched}
        if self.text_encoder is not None:
            return {"text_model": self.text_encoder.model_id,
                    "text_weights_sha256": self.text_encoder.identity["weights_sha256"]}
        return {}

    def rows(self, items: list[Candidate], sha256: dict[str, str | None]) -> Iterator[Rows]:
        return feature_rows(self, items, sha256)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if self.text_encoder is None:
            raise ModelError(f"{self.path} holds image features only: {self.no_text}",
                             "add --model M (the model that made them) or --text-features for zero-shot scoring")
        return self.text_encoder.encode_texts(texts)

    @property
    def model_id(self) -> str:
        return f"features:{self.sha256[:12]}"

    @property
    def identity(self) -> dict:
        return {"model": "features", "pretrained": None, "weights_file": str(self.path),
                "weights_sha256": self.sha256, "embed_dim": self.dim, "image_size": None, **self.text_identity()}


def load_features(path: Path, candidates: list[Candidate], data_root: Path) -> Features:
    """Read a features file and match its rows to discovered samples."""
    from labelclean.model.encoder import sha256_file

    path = Path(path).expanduser()
    if path.is_dir():
        matrix, ids, unmatched, sha = _from_folder(path, candidates, data_root)
        return _features(path, sha, matrix, ids, unmatched)
    if not path.is_file():
        raise InputError(f"features file {path} does not exist", HINT)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        matrix, ids, unmatched = _from_npy(path, candidates)
    elif suffix in (".parquet", ".pq"):
        matrix, ids, unmatched = _from_parquet(path, candidates, data_root)
    else:
        raise InputError(f"features file {path} has unknown extension {path.suffix!r}", HINT)
    return _features(path, sha256_file(path), matrix, ids, unmatched)


def _features(path: Path, sha: str, matrix: np.ndarray, ids: list[str], unmatched: int) -> Features:
    norms = np.linalg.norm(matrix, axis=1)
    usable = np.isfinite(norms) & (norms > 0)
    unit = matrix / np.where(usable, norms, 1.0)[:, None]
    vectors = {s: unit[i] for i, s in enumerate(ids) if usable[i]}
    return Features(path.resolve(), sha, vectors, int(matrix.shape[1]), unmatched)


def read_npy_matrix(path: Path, hint: str = HINT) -> np.ndarray:
    """A 2-D numeric ``.npy`` array as float32; InputError (with ``hint``) otherwise."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read {path} as a numpy array: {e}", hint) from e
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path} holds a {arr.dtype} array of shape {arr.shape}, expected 2-D numbers", hint)
    return arr.astype(np.float32)


def _from_npy(path: Path, candidates: list[Candidate]) -> tuple[np.ndarray, list[str], int]:
    arr = read_npy_matrix(path)
    if arr.shape[0] != len(candidates):
        raise InputError(
            f"{path} has {arr.shape[0]} rows but DATA has {len(candidates)} files",
            "the .npy needs one row per file in sample_id order (the order of manifest.parquet)",
        )
    return arr, _ids(candidates), 0


def _ids(candidates: Sequence[Candidate]) -> list[str]:
    """Every sample_id (a `CandidateTable`'s column, no Candidate objects)."""
    return candidates.ids() if hasattr(candidates, "ids") else [c.sample_id for c in candidates]


def _from_parquet(path: Path, candidates: list[Candidate], root: Path) -> tuple[np.ndarray, list[str], int]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"cannot read {path} as Parquet: {e}", HINT) from e
    key = next((k for k in ("sample_id", "path") if k in table.column_names), None)
    if key is None or "embedding" not in table.column_names:
        raise InputError(f"{path} has columns {table.column_names}; it needs `embedding` and `sample_id` or `path`", HINT)
    matrix = embedding_matrix(table["embedding"], path)
    return _match(matrix, table[key].to_pylist(), key != "sample_id", candidates, root, path)


def _match(matrix: np.ndarray, keys: list, by_path: bool, candidates: list[Candidate], root: Path,
           path: Path) -> tuple[np.ndarray, list[str], int]:
    """Keep the rows whose key (sample_id, or a path) names a discovered sample."""
    lookup = _key_lookup(candidates, root, by_path=by_path)
    ids, rows = [], []
    for i, k in enumerate(keys):
        sid = lookup.get(_norm_key(k, root) if by_path else k)
        if sid is not None:
            ids.append(sid)
            rows.append(i)
    if len(set(ids)) != len(ids):
        dup = next(s for s in ids if ids.count(s) > 1)
        raise InputError(f"{path} has more than one row for {dup}", "keep one embedding per file")
    return matrix[rows], ids, len(keys) - len(rows)


FOLDER_HINT = ("a features folder holds img_emb/img_emb_<n>.npy and, row for row, metadata/metadata_<n>.parquet "
               "with an image_path column (clip-retrieval inference output)")
FOLDER_KEYS = ("sample_id", "image_path", "path")


def _from_folder(path: Path, candidates: list[Candidate], root: Path) -> tuple[np.ndarray, list[str], int, str]:
    """clip-retrieval / LAION layout: img_emb/img_emb_<n>.npy + metadata/metadata_<n>.parquet."""
    import hashlib

    from labelclean.model.encoder import sha256_file

    shards = sorted((path / "img_emb").glob("img_emb_*.npy"), key=_shard_number)
    if not shards:
        raise InputError(f"features folder {path} has no img_emb/img_emb_<n>.npy files", FOLDER_HINT)
    matrices, keys, digest, key = [], [], hashlib.sha256(), None
    for npy in shards:
        meta = path / "metadata" / f"metadata_{_shard_number(npy)}.parquet"
        if not meta.is_file():
            raise InputError(f"{npy} has no metadata file {meta}", FOLDER_HINT)
        matrix, table = read_npy_matrix(npy, FOLDER_HINT), pq.read_table(meta)
        names = [k for k in FOLDER_KEYS if k in table.column_names]
        if not names or (key is not None and names[0] != key):
            raise InputError(f"{meta} has columns {table.column_names}; every metadata file needs the same one of "
                             f"{', '.join(FOLDER_KEYS)}", FOLDER_HINT)
        key = names[0]
        if table.num_rows != matrix.shape[0]:
            raise InputError(f"{meta} has {table.num_rows} rows but {npy} has {matrix.shape[0]}",
                             "each metadata file lists the images of its embeddings file, in order")
        if matrices and matrix.shape[1] != matrices[0].shape[1]:
            raise InputError(f"{npy} has {matrix.shape[1]} columns but {shards[0]} has {matrices[0].shape[1]}",
                             "all shards must come from one model")
        matrices.append(matrix)
        keys += table[key].to_pylist()
        for f in (npy, meta):
            digest.update(sha256_file(f).encode())
    matched = _match(np.concatenate(matrices), keys, key != "sample_id", candidates, root, path)
    return (*matched, digest.hexdigest())


def _shard_number(npy: Path) -> int:
    tail = npy.stem.rsplit("_", 1)[-1]
    if not tail.isdigit():
        raise InputError(f"{npy} is not named img_emb_<n>.npy", FOLDER_HINT)
    return int(tail)


def embedding_matrix(column: pa.ChunkedArray, path: Path, hint: str = HINT) -> np.ndarray:
    """An ``embedding`` list column as an (N, D) float32 matrix; InputError when ragged or not numbers."""
    col = column.combine_chunks()
    if pa.types.is_fixed_size_list(col.type):
        if col.null_count:
            col = col.fill_null(pa.scalar([float("nan")] * col.type.list_size, type=col.type))
        return to_numpy_2d(col)
    if not pa.types.is_list(col.type) and not pa.types.is_large_list(col.type):
        raise InputError(f"{path}: the embedding column is {col.type}, expected a list of numbers", hint)
    lengths = set(col.value_lengths().drop_null().to_pylist())
    if len(lengths) != 1 or col.null_count:
        raise InputError(f"{path}: embeddings have different lengths {sorted(lengths)[:5]} or are null", hint)
    width = lengths.pop()
    return col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, width)


def _key_lookup(candidates: list[Candidate], root: Path, *, by_path: bool) -> dict[str, str]:
    if not by_path:
        return {s: s for s in _ids(candidates)}
    lookup = {}
    for c in candidates:
        lookup[_norm_key(str(c.path), root)] = c.sample_id
        lookup[_norm_key(c.sample_id, root)] = c.sample_id
    return lookup


def _norm_key(value: str | None, root: Path) -> str | None:
    if value is None:
        return None
    p = Path(value)
    return os.path.normpath(p if p.is_absolute() else root / p)


def feature_rows(features: Features, items: list[Candidate], sha256: dict[str, str | None],
                 batch_size: int = 1024) -> Iterator[Rows]:
    """Yield `Rows` for ``items``: ok with the imported vector, or ``no_features``."""
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        ids = [c.sample_id for c in batch]
        vectors = np.zeros((len(batch), features.dim), dtype=np.float32)
        status = []
        for k, s in enumerate(ids):
            vec = features.vectors.get(s)
            status.append(Reason.ok.value if vec is not None else Reason.no_features.value)
            if vec is not None:
                vectors[k] = vec
        detail = ["" if st == "ok" else f"no usable vector in {features.path.name}" for st in status]
        none = [None] * len(batch)
        yield Rows(ids, [sha256[s] for s in ids], status, detail, none, none, vectors)
