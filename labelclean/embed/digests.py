"""Content digests of many files as columns, and the (sample_id, sha256) pairs already embedded.

`Digests` holds what hashing found for each of N samples in N-long arrays instead of one
`FileDigest` per file: the sample ids (an Arrow string array), the sha256 digests (an
(N, 32) uint8 array and a validity mask), the content sizes, the reasons (int8 codes) and
the details (int32 codes into a short list of distinct texts). About 80 bytes per file,
against about 400 for a dict of `FileDigest` objects. It still reads as a
``Mapping[str, FileDigest | None]`` (``None``: not known without reading the file), which
looks a sample up by binary search when the ids are sorted (as discovery's are).

`Done` is the embedded (sample_id, sha256) pairs of the finished part files, with their
decode status, matched against samples by an Arrow hash join (no Python object per row).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labelclean.core.reasons import Reason
from labelclean.ingest.decode import FileDigest
from labelclean.store.joins import last_matching_rows

REASONS: list[Reason] = list(Reason)  # reason code -> Reason
CODE = {r: k for k, r in enumerate(REASONS)}
UNKNOWN = -1  # reason code of a digest that is not known (not cached, and reading was not allowed)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_NIBBLE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_NIBBLE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)


def one_array(values) -> pa.Array:
    """A ChunkedArray as one Array (an Array as it is)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def hex_array(sha: np.ndarray, valid: np.ndarray) -> pa.Array:
    """(N, 32) digests as an Arrow string array of lowercase hex, null where not ``valid``."""
    n = len(sha)
    chars = np.empty((n, 64), dtype=np.uint8)
    chars[:, 0::2] = _HEX[sha >> 4]
    chars[:, 1::2] = _HEX[sha & 15]
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * 64).tobytes())
    mask = None if valid.all() else pa.array(valid, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(pa.string(), n, [mask, offsets, pa.py_buffer(chars)])  # no copy of chars


def sha_arrays(hexes) -> tuple[np.ndarray, np.ndarray]:
    """Hex digests (an Arrow string array, nulls allowed) as an (N, 32) uint8 array and a
    validity mask; a value that is not 64 hex digits counts as null."""
    hexes = one_array(hexes).cast(pa.string())
    n = len(hexes)
    if n == 0:
        return np.zeros((0, 32), np.uint8), np.zeros(0, bool)
    valid_arr = pc.fill_null(pc.equal(pc.utf8_length(hexes), 64), False)
    valid = valid_arr.to_numpy(zero_copy_only=False).astype(bool)
    filled = pc.if_else(valid_arr, hexes, pa.scalar("0" * 64))
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)[filled.offset:filled.offset + n + 1]
    data = np.frombuffer(filled.buffers()[2], dtype=np.uint8)
    chars = data[offsets[0]:offsets[0] + 64 * n].reshape(n, 64)
    nib = _NIBBLE[chars]
    valid &= ~(nib == 255).any(axis=1)
    sha = ((nib[:, 0::2] << 4) | (nib[:, 1::2] & 15)).astype(np.uint8)
    sha[~valid] = 0
    return sha, valid


class Digests(Mapping):
    """What hashing found for N samples, as columns (see the module docstring).

    ``ids`` sample ids; ``sha`` (N, 32) uint8 with ``has_sha``; ``size`` content bytes (-1:
    none); ``reason`` codes into `REASONS` (`UNKNOWN`: not known); ``detail`` codes into
    ``details`` (code 0 is the empty text)."""

    def __init__(self, ids, sha: np.ndarray, has_sha: np.ndarray, size: np.ndarray, reason: np.ndarray,
                 detail: np.ndarray, details: Sequence[str]):
        self.ids = one_array(ids)
        self.sha, self.has_sha, self.size, self.reason, self.detail = sha, has_sha, size, reason, detail
        self.details = list(details)
        self._sorted: bool | None = None
        self._index: dict[str, int] | None = None

    @classmethod
    def empty(cls, n: int = 0, ids=None) -> "Digests":
        """N unknown digests (``ids`` default: none)."""
        return cls(ids if ids is not None else pa.array([], pa.string()), np.zeros((n, 32), np.uint8),
                   np.zeros(n, bool), np.full(n, -1, np.int64), np.full(n, UNKNOWN, np.int8),
                   np.zeros(n, np.int32), [""])

    # Mapping ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[str]:
        for k in range(0, len(self.ids), 65_536):
            yield from self.ids.slice(k, 65_536).to_pylist()

    def __getitem__(self, sample_id: str) -> FileDigest | None:
        return self.at(self.position(sample_id))

    def __contains__(self, sample_id) -> bool:
        try:
            self.position(sample_id)
        except KeyError:
            return False
        return True

    def position(self, sample_id: str) -> int:
        """The row of ``sample_id`` (KeyError when absent): binary search over sorted ids,
        else a dict built on first use."""
        if self._sorted is None:
            n = len(self.ids)
            self._sorted = n < 2 or bool(pc.all(pc.less(self.ids.slice(0, n - 1), self.ids.slice(1))).as_py())
        if self._sorted:
            ids = self.ids
            k = bisect.bisect_left(range(len(ids)), sample_id, key=lambda i: ids[i].as_py())
            if k < len(ids) and ids[k].as_py() == sample_id:
                return k
            raise KeyError(sample_id)
        if self._index is None:
            self._index = {s: k for k, s in enumerate(self)}
        return self._index[sample_id]

    def at(self, k: int) -> FileDigest | None:
        """Row ``k`` as a `FileDigest` (None when unknown)."""
        code = int(self.reason[k])
        if code == UNKNOWN:
            return None
        sha = bytes(self.sha[k]).hex() if self.has_sha[k] else None
        size = int(self.size[k]) if self.size[k] >= 0 else None
        return FileDigest(sha, size, REASONS[code], self.details[self.detail[k]])

    # columns ------------------------------------------------------------------------
    def sha_hex(self, rows: np.ndarray | None = None) -> pa.Array:
        """The digests (of ``rows``, -1 giving null) as hex text, null where there is none."""
        if rows is None or (len(rows) == len(self) and (rows == np.arange(len(rows))).all()):
            return hex_array(self.sha, self.has_sha)
        at = np.maximum(rows, 0)
        return hex_array(self.sha[at], self.has_sha[at] & (rows >= 0))

    def ok(self) -> np.ndarray:
        """Rows whose reason is ``ok``."""
        return self.reason == CODE[Reason.ok]

    def unknown(self) -> np.ndarray:
        return self.reason == UNKNOWN

    def detail_array(self, rows: np.ndarray | None = None) -> pa.Array:
        """The details (of ``rows``, -1 giving null) as an Arrow string array."""
        codes = self.detail if rows is None else self.detail[np.maximum(rows, 0)]
        mask = None if rows is None else rows < 0
        return pa.array(self.details, pa.string()).take(pa.array(codes, pa.int32(), mask=mask))

    def reason_array(self, rows: np.ndarray | None = None) -> pa.Array:
        """The reasons' values (of ``rows``, -1 giving null) as an Arrow string array, null
        where unknown."""
        codes = self.reason if rows is None else self.reason[np.maximum(rows, 0)]
        mask = codes == UNKNOWN if rows is None else (codes == UNKNOWN) | (rows < 0)
        return pa.array([r.value for r in REASONS], pa.string()).take(pa.array(codes.astype(np.int32), mask=mask))

    def take(self, rows: np.ndarray) -> "Digests":
        """The given rows, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return Digests(self.ids.take(pa.array(rows)), self.sha[rows], self.has_sha[rows], self.size[rows],
                       self.reason[rows], self.detail[rows], self.details)

    @staticmethod
    def concat(parts: Sequence["Digests"]) -> "Digests":
        """Rows of ``parts`` one after another (their detail texts merged)."""
        details: list[str] = [""]
        seen = {"": 0}
        codes = []
        for p in parts:
            remap = np.array([seen.setdefault(t, len(seen)) for t in p.details], dtype=np.int32)
            codes.append(remap[p.detail] if len(p.detail) else p.detail.astype(np.int32))
        details = list(seen)
        ids = pa.concat_arrays([p.ids.cast(pa.string()) for p in parts]) if parts else pa.array([], pa.string())
        return Digests(ids, np.concatenate([p.sha for p in parts]) if parts else np.zeros((0, 32), np.uint8),
                       np.concatenate([p.has_sha for p in parts]) if parts else np.zeros(0, bool),
                       np.concatenate([p.size for p in parts]) if parts else np.zeros(0, np.int64),
                       np.concatenate([p.reason for p in parts]) if parts else np.zeros(0, np.int8),
                       np.concatenate(codes) if parts else np.zeros(0, np.int32), details)

    def for_features(self) -> "Digests":
        """With imported features a file that cannot be read is simply not deduplicated:
        its digest becomes (no sha256, ``ok``, no detail); its size stays."""
        bad = (self.reason != CODE[Reason.ok]) & (self.reason != UNKNOWN)
        if not bad.any():
            return self
        out = Digests(self.ids, self.sha.copy(), self.has_sha & ~bad, self.size, self.reason.copy(),
                      self.detail.copy(), self.details)
        out.sha[bad] = 0
        out.reason[bad] = CODE[Reason.ok]
        out.detail[bad] = 0
        return out


class DigestBuilder:
    """Fills a `Digests` of N rows one row (or many rows) at a time."""

    def __init__(self, ids):
        ids = one_array(ids)
        n = len(ids)
        self.out = Digests.empty(n, ids)
        self._codes = {"": 0}

    def code(self, detail: str) -> int:
        """The detail text's code (a new one for a new text)."""
        k = self._codes.get(detail)
        if k is None:
            k = self._codes[detail] = len(self._codes)
            self.out.details.append(detail)
        return k

    def set(self, k: int, d: FileDigest) -> None:
        o = self.out
        if d.sha256 is not None:
            o.sha[k] = np.frombuffer(bytes.fromhex(d.sha256), np.uint8)
            o.has_sha[k] = True
        o.size[k] = -1 if d.size is None else d.size
        o.reason[k] = CODE[d.reason]
        o.detail[k] = self.code(d.detail or "")


class Done:
    """The (sample_id, sha256) pairs of finished embedding rows, with their decode status,
    detail, width and height (``done``: `embed.parts.read_done`'s table)."""

    def __init__(self, done: pa.Table):
        self.table = done
        sha, valid = sha_arrays(done["sha256"]) if done.num_rows else (np.zeros((0, 32), np.uint8), np.zeros(0, bool))
        self._keys = pa.table({"sample_id": one_array(done["sample_id"]).cast(pa.string()), "key": _keys(sha, valid)})

    @classmethod
    def of(cls, lookup) -> "Done":
        """A `Done` as it is, or one made of a dict (sample_id, sha256) -> (status, detail,
        width, height)."""
        if isinstance(lookup, Done):
            return lookup
        keys, values = list(lookup), list(lookup.values())
        cols = {"sample_id": pa.array([k[0] for k in keys], pa.string()),
                "sha256": pa.array([k[1] for k in keys], pa.string())}
        for k, (name, t) in enumerate((("status", pa.string()), ("detail", pa.string()),
                                       ("width", pa.int32()), ("height", pa.int32()))):
            cols[name] = pa.array([v[k] for v in values], t)
        return cls(pa.table(cols))

    def __len__(self) -> int:
        return self.table.num_rows

    def rows(self, ids, sha: np.ndarray, has_sha: np.ndarray) -> np.ndarray:
        """For each (ids[k], sha[k]) the row of the finished pair (the last such row when there are
        several), else -1; a missing sha256 (imported features) matches a null one."""
        probe = pa.table({"sample_id": one_array(ids).cast(pa.string()), "key": _keys(sha, has_sha)})
        return last_matching_rows(probe, self._keys)  # the last finished row wins, as in a dict

    def column(self, name: str, rows: np.ndarray) -> pa.Array:
        """Column ``name`` of the finished rows ``rows`` (null where -1)."""
        col = one_array(self.table[name]) if len(self) else pa.nulls(0, self.table.schema.field(name).type)
        return col.take(pa.array(rows, pa.int64(), mask=rows < 0))


def _keys(sha: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Join keys: the 32 digest bytes, or empty bytes where there is no digest."""
    n = len(sha)
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = np.cumsum(np.where(valid, 32, 0))
    data = sha[valid].tobytes()
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])


def done_mask(done, ids, digests: Digests) -> np.ndarray:
    """Rows whose (sample_id, sha256) is embedded already. ``done``: a `Done`, a mapping
    sha256 -> sample_ids, or a set of (sample_id, sha256) pairs (the last two are looked up
    row by row: for small inputs and tests)."""
    n = len(digests)
    if isinstance(done, Done):
        return done.rows(ids, digests.sha, digests.has_sha) >= 0
    if not done:
        return np.zeros(n, dtype=bool)
    id_list, hexes = one_array(ids).to_pylist(), digests.sha_hex().to_pylist()
    if isinstance(done, Mapping):
        return np.array([s in done.get(h, ()) for s, h in zip(id_list, hexes)], dtype=bool)
    return np.array([(s, h) in done for s, h in zip(id_list, hexes)], dtype=bool)
