"""Content hashes cached in the work directory, so unchanged files are never read again.

``W/hashes/hashes-{index:05d}-of-{count:05d}.parquet`` holds one row per file a run (or
shard) hashed: ``sample_id``, the file's ``size``, ``mtime_ns`` and ``inode`` when it was
hashed, and the digest (``sha256``, ``bytes``, ``reason``, ``detail``). A later run stats the file
(no read) and reuses the digest when all three still match; anything else is hashed again.

Each shard writes only its own file (atomically, under its shard lock), so shards of one
workdir never write the same cache file; readers take the union of all of them. A full run
(which holds the exclusive workdir lock) writes one file for every sample and removes the
others. An ``unreadable`` entry is reused only while the file is still not readable
(``os.access``; a chmod does not change mtime). Members of a tar or Parquet file are
cached per member, checked against their container's stat. A file that cannot be stat'ed needs
no read to be classified: it is ``missing`` (or ``unreadable``), and a zero-byte file is
``empty`` from its size alone.

Columnar: the cache files are one Arrow table, looked up for all samples at once by a hash
join on sample_id (`pyarrow.compute.index_in`); each sample costs one ``stat`` in Python
and its result goes into `embed.digests.Digests` arrays, so no Python object per file is
kept (about 100 bytes per file in all, where a dict of entries took about 500).
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labelclean.core.reasons import Reason
from labelclean.embed.digests import CODE, REASONS, UNKNOWN, DigestBuilder, Digests, one_array, sha_arrays
from labelclean.ingest.decode import FileDigest, file_digest
from labelclean.ingest.types import Candidate
from labelclean.ingest.members import member_digests
from labelclean.store.parquet_io import read_meta, write_table

SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("inode", pa.int64()),
        ("sha256", pa.string()),
        ("bytes", pa.int64()),  # the content's size (a member's, not its container's)
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


BATCH = 16_384  # samples stat'ed per batch of Python values
_UNREADABLE = CODE[Reason.unreadable]


class HashCache:
    """Stat-validated content hashes of one workdir; counts what it had to read."""

    def __init__(self, directory: Path | None, hasher: Callable[[Path], FileDigest] = file_digest):
        """``directory`` None: a cache that starts empty and cannot be saved."""
        self.directory = Path(directory) if directory is not None else None
        self.hasher = hasher
        self.hashed = 0  # files whose content was read
        self.hits = 0
        self._fresh: list[tuple[Digests, np.ndarray, np.ndarray]] = []  # (digests, stats, rows) of this run's entries
        self._cache_files: pa.Table | None = None  # read on first use

    @property
    def _loaded(self) -> pa.Table:
        """Every entry of the workdir's cache files (read once, on first use; a later file's
        entry wins a lookup)."""
        if self._cache_files is None:
            found = self.directory is not None and self.directory.is_dir()
            files = sorted(self.directory.glob("hashes-*.parquet")) if found else []
            loaded = [t for t in map(self._load, files) if t is not None]
            self._cache_files = pa.concat_tables(loaded[::-1]) if loaded else SCHEMA.empty_table()
        return self._cache_files

    def _load(self, path: Path) -> pa.Table | None:
        try:
            if read_meta(path).get("table") != "hashes":
                return None
            return pq.read_table(path, schema=SCHEMA).replace_schema_metadata(None)
        except Exception:  # a damaged cache is only a cache: it is rebuilt by hashing
            return None

    def digests(self, items: Iterable[Candidate], *, read: bool = True,
                advance: Callable[[int], None] = lambda n: None) -> Digests:
        """The digest of each item, in order, as `Digests`: from the cache when the file's
        (or container's) size, mtime_ns and inode match, else hashed (``read``) or unknown
        (``read=False``: the caller must not read anything). Members of one container are
        hashed in one pass. ``items``: a `CandidateTable` (read column-wise) or Candidates."""
        ids, paths, members = _item_columns(items)
        n = len(ids)
        out = DigestBuilder(ids)
        if n == 0:
            return out.out
        members = one_array(members)
        stats = np.full((n, 3), -1, dtype=np.int64)  # size, mtime_ns, inode of the file or container
        keep = np.zeros(n, dtype=bool)  # rows that become fresh entries
        old = _Lookup(self._table(), ids)
        is_member = np.asarray(pc.is_valid(members), dtype=bool) if n else np.zeros(0, bool)
        for k0 in range(0, n, BATCH):
            chunk = slice(k0, min(n, k0 + BATCH))
            rows = np.flatnonzero(~is_member[chunk]) + k0
            if not len(rows):
                continue
            for k, path in zip(rows, paths.texts(rows)):
                self._file(k, path, read, out, stats, keep, old)
            advance(len(rows))
        member_rows = np.flatnonzero(is_member)
        if len(member_rows):
            for path, rows in _runs(paths.arrow(member_rows), member_rows):
                self._container(path, rows, members, read, out, stats, keep, old)
                advance(len(rows))
        if keep.any():
            self._fresh.append((out.out, stats, np.flatnonzero(keep)))
        return out.out

    def _table(self) -> pa.Table:
        """Every entry, this run's first (they win a lookup)."""
        if not self._fresh:
            return self._loaded
        return pa.concat_tables([*(_entries(*f) for f in self._fresh[::-1]), self._loaded])

    def _file(self, k: int, path: str, read: bool, out: DigestBuilder, stats, keep, old: "_Lookup") -> None:
        """Row ``k``, a file: stat, then the cached digest, or a read (``read``), or unknown."""
        st = _stat(path)
        if isinstance(st, FileDigest):
            out.set(k, st)
            return
        stats[k] = st
        if st[0] == 0:
            out.set(k, FileDigest(EMPTY_SHA256, 0, Reason.empty, "the file is empty (0 bytes)"))
            keep[k] = True
            return
        if old.valid(k, st, path):
            old.copy(k, out)
            self.hits += 1
            keep[k] = True
            return
        if not read:
            return
        d = self.hasher(Path(path))
        self.hashed += 1
        out.set(k, d)
        if d.reason in (Reason.ok, Reason.unreadable):
            keep[k] = _unchanged(path, st)

    def _container(self, path: str, rows: np.ndarray, members: pa.Array, read: bool, out: DigestBuilder,
                   stats, keep, old: "_Lookup") -> None:
        """The members (``rows``, their locators in ``members``) of one container: one stat,
        then `BATCH` members at a time (cached ones copied, the others read in file order)."""
        st = _stat(path)
        if isinstance(st, FileDigest):
            for k in rows:
                out.set(k, st)
            return
        stats[rows] = st
        unchanged = None
        for b in range(0, len(rows), BATCH):
            block = rows[b:b + BATCH]
            missing = []
            for k, m in zip(block, members.take(pa.array(block)).to_pylist()):
                if old.valid(k, st, path):
                    old.copy(k, out)
                    self.hits += 1
                    keep[k] = True
                else:
                    missing.append((k, m))
            if not missing or not read:
                continue
            self.hashed += len(missing)
            for i, d in member_digests(Path(path), [m for _, m in missing]):
                k = missing[i][0]
                out.set(k, d)
                if d.reason in (Reason.ok, Reason.empty):
                    unchanged = _unchanged(path, st) if unchanged is None else unchanged
                    keep[k] = unchanged

    def save(self, shard: Any = None) -> Path | None:
        """Write this run's entries to its own cache file (``shard``: an `embed.plan.Shard`, or
        None for a full run, whose file holds every entry and replaces the others)."""
        if not self._fresh or self.directory is None:
            return None
        index, count = (shard.index, shard.count) if shard else (0, 1)
        final = self.directory / f"hashes-{index:05d}-of-{count:05d}.parquet"
        table = pa.concat_tables([_entries(*f) for f in self._fresh])
        order = pc.sort_indices(table, sort_keys=[("sample_id", "ascending")]).to_numpy()
        table = table.take(pa.array(order))
        ids = table["sample_id"]
        if table.num_rows > 1:  # a sample looked up twice: its last entry
            later_same = pc.equal(ids.slice(0, len(ids) - 1), ids.slice(1)).to_numpy(zero_copy_only=False)
            if later_same.any():
                last = np.concatenate([~later_same, [True]])
                # among equal ids the stable sort kept input order, so the last of a run is the newest
                table = table.filter(pa.array(last))
        write_table(final, table, "hashes", None, shard=f"{index}/{count}")
        if shard is None:
            for other in self.directory.glob("hashes-*.parquet"):
                if other != final:
                    other.unlink(missing_ok=True)
        return final


class _Lookup:
    """The cache entry (if any) of each of N samples, found by one hash join on sample_id."""

    def __init__(self, table: pa.Table, ids: pa.Array):
        pos = np.full(len(ids), -1, dtype=np.int64)
        if len(ids) and table.num_rows:
            found = pc.index_in(ids, value_set=one_array(table["sample_id"]))
            pos = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        used, self.row = np.unique(pos, return_inverse=True)  # only the entries some sample may use
        if len(used) and used[0] == -1:
            used, self.row = used[1:], self.row - 1  # -1: no entry
        small = table.take(pa.array(used, pa.int64()))
        self.stat = np.stack([small[c].to_numpy() for c in ("size", "mtime_ns", "inode")], axis=1) \
            if small.num_rows else np.zeros((0, 3), np.int64)
        self.sha, self.has_sha = sha_arrays(small["sha256"])
        self.bytes = pc.fill_null(small["bytes"], -1).to_numpy()
        codes = pc.index_in(small["reason"], value_set=pa.array([r.value for r in REASONS], pa.string()))
        self.reason = pc.fill_null(codes, UNKNOWN).to_numpy().astype(np.int8)
        encoded = one_array(pc.dictionary_encode(pc.fill_null(small["detail"], "")))
        self.detail = encoded.indices.to_numpy()
        self.detail_texts = encoded.dictionary.to_pylist()

    def valid(self, k: int, st: tuple[int, int, int], path: str) -> bool:
        """Sample ``k`` has an entry made for this very (size, mtime_ns, inode), and is not an
        ``unreadable`` entry for a file that is readable now."""
        r = self.row[k]
        if r < 0 or self.reason[r] == UNKNOWN or tuple(self.stat[r]) != st:
            return False
        return not (self.reason[r] == _UNREADABLE and os.access(path, os.R_OK))

    def copy(self, k: int, out: DigestBuilder) -> None:
        r = self.row[k]
        o = out.out
        o.sha[k], o.has_sha[k], o.size[k], o.reason[k] = self.sha[r], self.has_sha[r], self.bytes[r], self.reason[r]
        o.detail[k] = out.code(self.detail_texts[self.detail[r]])


class _Paths:
    """The absolute paths of some rows of the items, as text: a `CandidateTable` stores a path
    only where it is not ``root/sample_id``."""

    def __init__(self, ids: pa.Array, stored: pa.Array, prefix: str):
        self.ids, self.stored, self.prefix = ids, stored, prefix

    def arrow(self, rows: np.ndarray) -> pa.Array:
        picked = pa.array(rows, pa.int64())
        joined = pc.binary_join_element_wise(pa.scalar(self.prefix), self.ids.take(picked), "")
        return pc.coalesce(self.stored.take(picked), joined)

    def texts(self, rows: np.ndarray) -> list[str]:
        return self.arrow(rows).to_pylist()


def _item_columns(items) -> tuple[pa.Array, _Paths, pa.Array]:
    """(sample ids, their absolute paths, member locators or null) of the items; a
    `CandidateTable` is read column-wise."""
    if hasattr(items, "paths") and hasattr(items, "table"):
        ids = one_array(items.table["sample_id"])
        return ids, _Paths(ids, one_array(items.table["path"]), items.prefix), one_array(items.table["member"])
    cs = list(items)
    ids = pa.array([c.sample_id for c in cs], pa.string())
    return ids, _Paths(ids, pa.array([str(c.path) for c in cs], pa.string()), ""), \
        pa.array([c.member for c in cs], pa.string())


def _runs(paths: pa.Array, rows: np.ndarray):
    """(path, rows) for each distinct path among ``rows``, the rows in their input order."""
    sub = paths.take(pa.array(rows))
    order = pc.sort_indices(sub).to_numpy()  # stable: rows of one container keep their order
    ordered = sub.take(pa.array(order))
    starts = [0]
    if len(ordered) > 1:
        change = pc.not_equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1)).to_numpy(zero_copy_only=False)
        starts += list(np.flatnonzero(change) + 1)
    ends = starts[1:] + [len(ordered)]
    for a, b in zip(starts, ends):
        yield ordered[a].as_py(), rows[order[a:b]]


def _stat(path: str) -> tuple[int, int, int] | FileDigest:
    """(size, mtime_ns, inode) of a path, or the digest of a file that cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError as e:
        reason = Reason.missing if e.errno in (errno.ENOENT, errno.ENOTDIR) else Reason.unreadable
        return FileDigest(None, None, reason, f"cannot stat the file: {e.strerror or e}")
    ino = st.st_ino if st.st_ino < 2**63 else st.st_ino - 2**64  # stored as int64
    return st.st_size, st.st_mtime_ns, ino


def _unchanged(path: str, st: tuple[int, int, int]) -> bool:
    """The file still has the size and mtime it had before it was read."""
    after = _stat(path)
    return not isinstance(after, FileDigest) and after[:2] == st[:2]


def _entries(d: Digests, stats: np.ndarray, rows: np.ndarray) -> pa.Table:
    """Cache rows (SCHEMA) for the given rows of ``d``."""
    sub = d.take(rows) if len(rows) < len(d) else d
    size = sub.size
    return pa.Table.from_arrays([
        sub.ids.cast(pa.string()), pa.array(stats[rows, 0]), pa.array(stats[rows, 1]), pa.array(stats[rows, 2]),
        sub.sha_hex(), pa.array(size, pa.int64(), mask=size < 0), sub.reason_array(),
        sub.detail_array(),
    ], schema=SCHEMA)
