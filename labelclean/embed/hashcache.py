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
cached per member, checked against their container's stat. A file that cannot be stat'ed needs no read to be classified: it is ``missing``
(or ``unreadable``), and a zero-byte file is ``empty`` from its size alone.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.core.reasons import Reason
from labelclean.ingest.decode import FileDigest, file_digest
from labelclean.ingest.types import Candidate
from labelclean.ingest.members import container_digests
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


@dataclass(frozen=True)
class Entry:
    size: int
    mtime_ns: int
    inode: int
    digest: FileDigest


class HashCache:
    """Stat-validated content hashes of one workdir; counts what it had to read."""

    def __init__(self, directory: Path | None, hasher: Callable[[Path], FileDigest] = file_digest):
        """``directory`` None: a cache that starts empty and cannot be saved."""
        self.directory = Path(directory) if directory is not None else None
        self.hasher = hasher
        self.entries: dict[str, Entry] = {}
        self.fresh: dict[str, Entry] = {}  # entries looked up or made by this run
        self.hashed = 0  # files whose content was read
        self.hits = 0
        found = directory is not None and self.directory.is_dir()
        for path in sorted(self.directory.glob("hashes-*.parquet")) if found else []:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            if read_meta(path).get("table") != "hashes":
                return
            t = pq.read_table(path, schema=SCHEMA).to_pydict()
        except Exception:  # a damaged cache is only a cache: it is rebuilt by hashing
            return
        for s, size, mt, ino, sha, n, reason, detail in zip(*(t[n] for n in SCHEMA.names)):
            self.entries[s] = Entry(size, mt, ino, FileDigest(sha, n, Reason(reason), detail or ""))

    def digests(self, items: Iterable[Candidate], *, read: bool = True,
                advance: Callable[[int], None] = lambda n: None) -> dict[str, FileDigest | None]:
        """sample_id -> digest of each item: from the cache when the file's (or container's)
        size, mtime_ns and inode match, else hashed (``read``) or None (``read=False``: the
        caller must not read anything). Members of one container are hashed in one pass."""
        out: dict[str, FileDigest | None] = {}
        containers: dict[Path, list[Candidate]] = {}
        for c in items:
            if c.member is not None:
                containers.setdefault(c.path, []).append(c)
            else:
                out[c.sample_id] = self._file(c.sample_id, c.path, read)
                advance(1)
        for path, members in containers.items():
            out.update(self._container(path, members, read))
            advance(len(members))
        return out

    def _stat(self, path: Path) -> os.stat_result | FileDigest:
        try:
            return os.stat(path)
        except OSError as e:
            reason = Reason.missing if e.errno in (errno.ENOENT, errno.ENOTDIR) else Reason.unreadable
            return FileDigest(None, None, reason, f"cannot stat the file: {e.strerror or e}")

    def _cached(self, sample_id: str, path: Path, st: os.stat_result) -> FileDigest | None:
        old = self.entries.get(sample_id)
        if old is None or (old.size, old.mtime_ns, old.inode) != (st.st_size, st.st_mtime_ns, st.st_ino):
            return None
        if old.digest.reason == Reason.unreadable and os.access(path, os.R_OK):
            return None
        self.hits += 1
        self.fresh[sample_id] = old
        return old.digest

    def _keep(self, sample_id: str, path: Path, st: os.stat_result, d: FileDigest) -> None:
        try:
            after = os.stat(path)
        except OSError:
            return
        if (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns):  # not changed while read
            self.fresh[sample_id] = self.entries[sample_id] = Entry(st.st_size, st.st_mtime_ns, st.st_ino, d)

    def _file(self, sample_id: str, path: Path, read: bool) -> FileDigest | None:
        st = self._stat(path)
        if isinstance(st, FileDigest):
            return st
        if st.st_size == 0:
            d = FileDigest(EMPTY_SHA256, 0, Reason.empty, "the file is empty (0 bytes)")
            self.fresh[sample_id] = Entry(0, st.st_mtime_ns, st.st_ino, d)
            return d
        hit = self._cached(sample_id, path, st)
        if hit is not None or not read:
            return hit
        d = self.hasher(path)
        self.hashed += 1
        if d.reason in (Reason.ok, Reason.unreadable):
            self._keep(sample_id, path, st, d)
        return d

    def _container(self, path: Path, members: list[Candidate], read: bool) -> dict[str, FileDigest | None]:
        st = self._stat(path)
        if isinstance(st, FileDigest):
            return {c.sample_id: st for c in members}
        out = {c.sample_id: self._cached(c.sample_id, path, st) for c in members}
        missing = [c for c in members if out[c.sample_id] is None]
        if missing and read:
            found = container_digests(path, [c.member for c in missing])
            self.hashed += len(missing)
            for c in missing:
                out[c.sample_id] = d = found[c.member]
                if d.reason in (Reason.ok, Reason.empty):
                    self._keep(c.sample_id, path, st, d)
        return out

    def save(self, shard: Any = None) -> Path | None:
        """Write this run's entries to its own cache file (``shard``: an `embed.plan.Shard`, or
        None for a full run, whose file holds every entry and replaces the others)."""
        if not self.fresh or self.directory is None:
            return None
        index, count = (shard.index, shard.count) if shard else (0, 1)
        final = self.directory / f"hashes-{index:05d}-of-{count:05d}.parquet"
        ids = sorted(self.fresh)
        cols = {n: [] for n in SCHEMA.names}
        for s in ids:
            e = self.fresh[s]
            for name, value in zip(SCHEMA.names, (s, e.size, e.mtime_ns, e.inode, e.digest.sha256, e.digest.size,
                                                  e.digest.reason.value, e.digest.detail)):
                cols[name].append(value)
        write_table(final, pa.Table.from_pydict(cols, schema=SCHEMA), "hashes", None, shard=f"{index}/{count}")
        if shard is None:
            for other in self.directory.glob("hashes-*.parquet"):
                if other != final:
                    other.unlink(missing_ok=True)
        return final
