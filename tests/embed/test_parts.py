"""PartWriter: parts are finished by row count and by time, so kill -9 loses little."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.embed.parts import PartWriter, Rows
from labelclean.embed.plan import Shard
from labelclean.store.parquet_io import part_files


def _rows(start: int, n: int, dim: int = 4) -> Rows:
    ids = [f"s{i:03d}" for i in range(start, start + n)]
    return Rows(ids, ["h"] * n, ["ok"] * n, [""] * n, [1] * n, [1] * n, np.ones((n, dim), np.float32))


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_a_part_is_finished_after_flush_seconds_even_when_small(tmp_path):
    clock = Clock()
    w = PartWriter(tmp_path, Shard(0, 1), 4, pa.float16(), "m@1", chunk_size=1000, flush_seconds=30, clock=clock)
    w.write(_rows(0, 3))
    clock.t = 29.0
    w.write(_rows(3, 3))
    assert part_files(tmp_path) == []  # neither 1000 rows nor 30 s yet: still a temp file
    clock.t = 30.5
    w.write(_rows(6, 2))
    assert [p.name for p in part_files(tmp_path)] == ["part-00000-00000.parquet"]
    assert pq.read_table(part_files(tmp_path)[0]).num_rows == 8
    clock.t = 40.0
    w.write(_rows(8, 1))
    w.abort()  # a kill now loses only the row written since the last part
    assert len(part_files(tmp_path)) == 1 and not list(tmp_path.glob(".*.tmp"))


def test_parts_rotate_by_rows(tmp_path):
    with PartWriter(tmp_path, Shard(1, 2), 4, pa.float16(), "m@1", chunk_size=4, flush_seconds=1e9) as w:
        w.write(_rows(0, 10))
    names = [p.name for p in part_files(tmp_path)]
    assert names == ["part-00001-00000.parquet", "part-00001-00001.parquet", "part-00001-00002.parquet"]
    assert [pq.read_table(p).num_rows for p in part_files(tmp_path)] == [4, 4, 2]
