"""Embedding part files: the chunked writer, resume bookkeeping (the locks are Workdir's).

A part file ``embeddings/part-{shard:05d}-{seq:05d}.parquet`` holds up to ``chunk_size``
rows in row groups; it is written as ``.part-....parquet.<random>.tmp`` and renamed when
complete, so a killed run loses at most the chunk in progress and never leaves a partial
part behind. Each part records the model identity (run.json's ``model``) too. A part is also finished once ``flush_seconds`` (default 30 s) have passed
since the previous one, so on a slow machine ``kill -9`` loses at most that much work. Each part records the model identity and the shard count in its metadata.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.core.errors import WorkdirError
from labelclean.store.parquet_io import (COMPRESSION, check_meta, dictionary_columns, fixed_list, fsync_dir, part_files,
                                        read_meta, with_meta)
from labelclean.store.schemas import embeddings_schema
from labelclean.embed.plan import Shard
from labelclean.store.workdir import Workdir

PART_RE = re.compile(r"^part-(\d{5})-(\d{5})\.parquet$")
DONE_COLUMNS = ["sample_id", "sha256", "status", "detail", "width", "height"]


@dataclass
class Rows:
    """One batch of embedding rows; ``vectors`` rows whose status is not ok are ignored."""

    sample_ids: list[str]
    sha256: list[str | None]
    status: list[str]
    detail: list[str]
    width: list[int | None]
    height: list[int | None]
    vectors: np.ndarray  # (n, D) float32


class PartWriter:
    """Buffer rows into row groups and rotate part files every ``chunk_size`` rows."""

    def __init__(self, directory: Path, shard: Shard, dim: int, dtype: pa.DataType, model_id: str,
                 chunk_size: int = 1024, row_group: int = 256, flush_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, identity: dict | None = None):
        self.directory, self.shard, self.dim, self.dtype = directory, shard, dim, dtype
        self.flush_seconds, self.clock = flush_seconds, clock
        self._since = clock()
        self.chunk_size, self.row_group = chunk_size, min(row_group, chunk_size)
        schema = embeddings_schema(dim, dtype)
        self.schema = with_meta(schema.empty_table(), "embeddings", model_id, num_shards=shard.count,
                                identity=identity).schema
        self.seq = next_seq(directory, shard.index)
        self.finished: list[Path] = []
        self._buffer: list[pa.Table] = []
        self._buffered = self._file_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> "PartWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, rows: Rows) -> None:
        table = self._to_arrow(rows)
        while table.num_rows:
            room = self.chunk_size - self._file_rows
            head, table = table.slice(0, room), table.slice(room)
            self._buffer.append(head)
            self._buffered += head.num_rows
            self._file_rows += head.num_rows
            due = self.clock() - self._since >= self.flush_seconds
            if self._buffered >= self.row_group or self._file_rows >= self.chunk_size or due:
                self._flush()
            if self._file_rows >= self.chunk_size or due:
                self._finish_file()

    def close(self) -> None:
        if self._file_rows:
            self._finish_file()

    def abort(self) -> None:
        """Drop the chunk in progress (its rows are embedded again on the next run)."""
        if self._writer is not None:
            self._writer.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._writer = self._tmp = None

    def _to_arrow(self, rows: Rows) -> pa.Table:
        ok = np.asarray([s == "ok" for s in rows.status], dtype=bool)
        vectors = np.where(ok[:, None], rows.vectors, 0.0) if len(ok) else rows.vectors.reshape(0, self.dim)
        emb = fixed_list(vectors, self.dtype)
        emb = pa.FixedSizeListArray.from_arrays(emb.values, self.dim, mask=pa.array(~ok))
        columns = [rows.sample_ids, rows.sha256, rows.status, rows.detail, rows.width, rows.height]
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, self.schema)] + [emb]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._writer is None:
            name = f"part-{self.shard.index:05d}-{self.seq:05d}.parquet"
            self._tmp = self.directory / f".{name}.{secrets.token_hex(4)}.tmp"
            self.directory.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._tmp, self.schema, compression=COMPRESSION,
                                            use_dictionary=dictionary_columns(self.schema))
        self._writer.write_table(pa.concat_tables(self._buffer), row_group_size=self.row_group)
        self._buffer, self._buffered = [], 0

    def _finish_file(self) -> None:
        self._flush()
        self._writer.close()
        final = self.directory / f"part-{self.shard.index:05d}-{self.seq:05d}.parquet"
        os.replace(self._tmp, final)
        fsync_dir(self.directory)
        self.finished.append(final)
        self._writer = self._tmp = None
        self._file_rows = 0
        self.seq += 1
        self._since = self.clock()


def next_seq(directory: Path, shard_index: int) -> int:
    seqs = [int(m[2]) for p in part_files(directory) if (m := PART_RE.match(p.name)) and int(m[1]) == shard_index]
    return max(seqs) + 1 if seqs else 0


def remove_stale_temps(directory: Path, shard: Shard | None) -> int:
    """Delete temp parts left by a killed run: all of them, or only this shard's."""
    if not directory.is_dir():
        return 0
    prefix = ".part-" if shard is None else f".part-{shard.index:05d}-"
    stale = [p for p in directory.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def read_done(wd: Workdir, model_id: str, shard: Shard | None) -> pa.Table:
    """Rows of every finished part (without vectors), after checking model and shard count."""
    tables = []
    for path in part_files(wd.embeddings_dir):
        meta = read_meta(path)
        check_model(wd, path, meta, model_id)
        other = meta.get("num_shards", 1)
        if shard is not None and other not in (1, shard.count):
            raise WorkdirError(
                f"{path.name} in {wd.embeddings_dir} was made by a run with {other} shards, not {shard.count}",
                f"use --shard I/{other} for this workdir, or run `labelclean embed` without --shard to finish it",
            )
        tables.append(pq.read_table(path, columns=DONE_COLUMNS).replace_schema_metadata(None))
    if not tables:
        return pa.schema([f for f in embeddings_schema(1) if f.name in DONE_COLUMNS]).empty_table()
    return pa.concat_tables(tables)


def recorded_identity(directory: Path, model_id: str) -> dict | None:
    """The model identity a finished part of ``model_id`` recorded (None if none did), so a
    run with nothing to embed can report the model without building it."""
    for path in reversed(part_files(directory)):
        meta = read_meta(path)
        if meta.get("model_id") == model_id and isinstance(meta.get("identity"), dict):
            return {**meta["identity"], "model_id": model_id}
    return None


def check_model(wd: Workdir, path: Path, meta: dict, model_id: str) -> None:
    other = meta.get("model_id")
    if other is not None and other != model_id:
        raise WorkdirError(
            f"work directory {wd.root} already holds embeddings made with model '{other}', not '{model_id}'",
            f"use another --workdir for this model, or delete {wd.embeddings_dir} to embed again with it",
        )
    check_meta(path, meta, "embeddings", model_id)

