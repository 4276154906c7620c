"""Images stored inside container files (WebDataset tars, Parquet with image bytes).

A member is a `Candidate` whose ``path`` is the container file and whose ``member`` is a
locator string: ``tar:OFFSET:SIZE`` (the byte range of the member's data in an uncompressed
tar) or ``pq:ROW_GROUP:ROW:COLUMN`` (one cell of a binary column). Its ``sample_id`` is the
container's path relative to the data root, ``/``, and the member's key.

- `read_member` returns a member's bytes: one seek + read for tars; for Parquet the row
  group's column is read once and kept (per process) while consecutive members use it, so a
  container is read sequentially when its members are read in sample_id order.
- `container_digests` (`member_digests`: one at a time) hashes every member of one
  container in one sequential pass.
- `shard_key`: all members of one container belong to the same shard, so a shard opens
  only its own containers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

from labelclean.core.reasons import Reason
from labelclean.ingest.decode import FileDigest


CONTAINER_SUFFIXES = (".tar", ".parquet", ".pq")


def shard_key(sample_id: str, member: str | None) -> str:
    """The key a shard is chosen by: the sample_id, or for a member its container's relative
    path (the shortest prefix of the sample_id ending in .tar/.parquet/.pq: keys may hold '/')."""
    if not member:
        return sample_id
    parts = sample_id.split("/")
    for n in range(1, len(parts)):
        if parts[n - 1].lower().endswith(CONTAINER_SUFFIXES):
            return "/".join(parts[:n])
    return sample_id.rsplit("/", 1)[0]


class _RowGroupCache:
    def __init__(self) -> None:
        self.key: tuple[str, int, str] | None = None
        self.values: list[Any] = []

    def get(self, path: Path, group: int, column: str) -> list[Any]:
        key = (str(path), group, column)
        if key != self.key:
            import pyarrow.parquet as pq

            self.values = pq.ParquetFile(path).read_row_group(group, columns=[column]).column(0).to_pylist()
            self.key = key
        return self.values


_GROUPS = _RowGroupCache()


def member_bytes(value: Any) -> bytes | None:
    """A Parquet image cell as bytes: binary, or a struct with a ``bytes`` field (HF datasets)."""
    if isinstance(value, dict):
        value = value.get("bytes")
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else None


def read_member(path: Path, member: str) -> bytes | None:
    """The member's bytes, or None when the cell holds none. Raises OSError on I/O errors."""
    kind, _, rest = member.partition(":")
    if kind == "tar":
        offset, size = (int(x) for x in rest.split(":"))
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(size)
        if len(data) != size:
            raise EOFError(f"the tar ends {size - len(data)} bytes before this member does")
        return data
    if kind == "pq":
        group, row, column = rest.split(":", 2)
        return member_bytes(_GROUPS.get(path, int(group), column)[int(row)])
    raise ValueError(f"unknown member locator {member!r}")


def digest_bytes(data: bytes | None) -> FileDigest:
    if data is None:
        return FileDigest(None, None, Reason.empty, "the image cell is null")
    if not data:
        return FileDigest(hashlib.sha256(b"").hexdigest(), 0, Reason.empty, "the member is empty (0 bytes)")
    return FileDigest(hashlib.sha256(data).hexdigest(), len(data), Reason.ok, "")


def container_digests(path: Path, members: list[str]) -> dict[str, FileDigest]:
    """Digest of every listed member of one container, reading it once in file order."""
    return {members[k]: d for k, d in member_digests(path, members)}


def member_digests(path: Path, members: list[str]) -> Iterator[tuple[int, FileDigest]]:
    """(index into ``members``, digest) for every listed member of one container, reading it
    once in file order; after a read error every member not yet done gets that error."""
    order = sorted(range(len(members)), key=lambda k: _position(members[k]))
    done = 0
    try:
        if order and members[order[0]].startswith("tar:"):
            with open(path, "rb") as f:
                for k in order:
                    offset, size = (int(x) for x in members[k].split(":")[1:3])
                    f.seek(offset)
                    data = f.read(size)
                    yield k, digest_bytes(data) if len(data) == size else FileDigest(
                        None, None, Reason.truncated, "the tar ends before this member does")
                    done += 1
        else:
            cache = _RowGroupCache()
            for k in order:
                _, group, row, column = members[k].split(":", 3)
                yield k, digest_bytes(member_bytes(cache.get(path, int(group), column)[int(row)]))
                done += 1
    except OSError as e:
        failed = FileDigest(None, None, Reason.unreadable, f"cannot read the container: {e.strerror or e}")
        yield from ((k, failed) for k in order[done:])
    except Exception as e:  # pyarrow raises its own types on a damaged Parquet file
        failed = FileDigest(None, None, Reason.corrupt, f"cannot read the container: {e}")
        yield from ((k, failed) for k in order[done:])


def _position(member: str) -> tuple[int, int]:
    parts = member.split(":")
    return int(parts[1]), int(parts[2])


def container_kind(source: Path) -> str | None:
    """``webdataset`` or ``parquet-images`` when DATA holds images inside containers."""
    from labelclean.ingest.parquet_images import is_parquet_images
    from labelclean.ingest.webdataset import is_webdataset

    if is_webdataset(source):
        return "webdataset"
    if is_parquet_images(source):
        return "parquet-images"
    return None


def discover_container(source: Path, kind: str, named: list[tuple[str, str]] | None, label_field: str):
    if kind == "webdataset":
        from labelclean.ingest.webdataset import discover_webdataset

        return discover_webdataset(source, named, label_field)
    from labelclean.ingest.parquet_images import discover_parquet_images

    return discover_parquet_images(source, named, label_field)
