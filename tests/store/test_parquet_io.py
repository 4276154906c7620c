import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelclean.core.errors import WorkdirError
from labelclean.store.parquet_io import fixed_list, read_parts, read_table, to_numpy_2d, write_table
from labelclean.store.schemas import META_KEY, SCHEMA_VERSION


def _table():
    return pa.table({"sample_id": ["a", "b"], "x": [1, 2]})


def test_roundtrip_with_meta(tmp_path):
    write_table(tmp_path / "t.parquet", _table(), "scores", model_id="m1", extra_key=3)
    table, meta = read_table(tmp_path / "t.parquet", "scores", model_id="m1")
    assert table["sample_id"].to_pylist() == ["a", "b"]
    assert meta["schema_version"] == SCHEMA_VERSION and meta["extra_key"] == 3


def test_refuses_other_model(tmp_path):
    write_table(tmp_path / "t.parquet", _table(), "scores", model_id="m1")
    with pytest.raises(WorkdirError, match="made with model 'm1', not 'm2'"):
        read_table(tmp_path / "t.parquet", "scores", model_id="m2")


def test_refuses_other_schema_version(tmp_path):
    path = tmp_path / "t.parquet"
    meta = {"table": "scores", "schema_version": SCHEMA_VERSION + 1, "model_id": None}
    pq.write_table(_table().replace_schema_metadata({META_KEY: json.dumps(meta).encode()}), path)
    with pytest.raises(WorkdirError, match=f"schema version {SCHEMA_VERSION + 1}"):
        read_table(path, "scores")


def test_refuses_foreign_and_wrong_tables(tmp_path):
    pq.write_table(_table(), tmp_path / "foreign.parquet")
    with pytest.raises(WorkdirError, match="not written by labelclean"):
        read_table(tmp_path / "foreign.parquet", "scores")
    write_table(tmp_path / "t.parquet", _table(), "selection")
    with pytest.raises(WorkdirError, match="holds a 'selection' table, expected 'scores'"):
        read_table(tmp_path / "t.parquet", "scores")
    (tmp_path / "garbage.parquet").write_bytes(b"nope")
    with pytest.raises(WorkdirError, match="not a readable Parquet file"):
        read_table(tmp_path / "garbage.parquet", "scores")


def test_parts_skip_temp_files(tmp_path):
    d = tmp_path / "parts"
    write_table(d / "part-00000-00000.parquet", _table(), "embeddings", model_id="m")
    write_table(d / "part-00001-00000.parquet", pa.table({"sample_id": ["c"], "x": [3]}), "embeddings", model_id="m")
    (d / ".part-00000-00001.parquet.abc.tmp").write_bytes(b"partial")
    table, _ = read_parts(d, "embeddings", "m")
    assert sorted(table["sample_id"].to_pylist()) == ["a", "b", "c"]
    assert read_parts(tmp_path / "none", "embeddings")[0] is None


@pytest.mark.parametrize("dtype", [pa.float16(), pa.float32()])
def test_fixed_list_roundtrip(dtype):
    arr = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    back = to_numpy_2d(fixed_list(arr, dtype))
    assert back.shape == (7, 5)
    np.testing.assert_allclose(back, arr, atol=1e-3 if dtype == pa.float16() else 0)
