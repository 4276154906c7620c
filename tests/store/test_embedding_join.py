"""load_embeddings' join of manifest rows to part-file rows on (canonical sample, sha256)."""

import numpy as np
import pyarrow as pa
import pytest
from workdirgen import make_workdir

from labelclean.core.errors import WorkdirError
from labelclean.store import parquet_io, schemas
from labelclean.store.tables import load_embeddings


def _unit(a):
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def _part(wd, name, ids, sha, X, status=None):
    n = len(ids)
    table = pa.table({"sample_id": pa.array(ids), "sha256": pa.array(sha), "status": pa.array(status or ["ok"] * n),
                      "detail": pa.array([None] * n, pa.string()), "width": pa.array([32] * n, pa.int32()),
                      "height": pa.array([32] * n, pa.int32()),
                      "embedding": parquet_io.fixed_list(X, pa.float32())}, schema=schemas.embeddings_schema(4, pa.float32()))
    parquet_io.write_table(wd.embeddings_dir / name, table, "embeddings", model_id="test-model")


def test_duplicates_share_their_canonical_row_and_a_later_row_of_a_key_wins(tmp_path):
    X = _unit(np.random.default_rng(0).standard_normal((4, 4)))
    ids = ["a.png", "b.png", "c.png", "d.png"]
    wd = make_workdir(tmp_path / "w", X, [0, 1, 0, 1], ["x", "y"], sample_ids=ids,
                      duplicate_of=[None, None, "a.png", None])
    manifest = parquet_io.read_table(wd.manifest, "manifest")[0]
    sha = dict(zip(manifest["sample_id"].to_pylist(), manifest["sha256"].to_pylist()))
    newer = _unit(np.ones((1, 4), np.float32))
    _part(wd, "part-00001-00000.parquet", ["b.png", "d.png"], [sha["b.png"], "stale"], np.vstack([newer, newer]),
          status=["ok", "ok"])
    emb = load_embeddings(wd)
    assert emb.sample_ids.tolist() == ids and emb.canonical.tolist() == ["a.png", "b.png", "a.png", "d.png"]
    np.testing.assert_allclose(emb.X[[0, 2, 3]], X[[0, 0, 3]], atol=1e-6)  # d's stale-hash row is not used
    np.testing.assert_allclose(emb.X[1], newer[0], atol=1e-6)  # b's later row wins
    assert emb.canonical[1] is emb.sample_ids[1]  # a unique sample's id is shared, not copied


def test_a_sample_without_an_ok_row_is_named(tmp_path):
    X = _unit(np.random.default_rng(1).standard_normal((3, 4)))
    wd = make_workdir(tmp_path / "w", X, [0, 1, 0], ["x", "y"], sample_ids=["a.png", "b.png", "c.png"])
    (wd.embeddings_dir / "part-00000-00000.parquet").unlink()
    manifest = parquet_io.read_table(wd.manifest, "manifest")[0]
    sha = manifest["sha256"].to_pylist()
    _part(wd, "part-00000-00001.parquet", ["a.png", "b.png", "c.png"], sha, X, status=["ok", "corrupt", "ok"])
    with pytest.raises(WorkdirError, match=r"1 usable samples have no embedding yet \(first: b.png\)"):
        load_embeddings(wd)


def test_samples_without_a_sha256_each_get_their_own_row(tmp_path):
    """Imported features of files not on disk: null sha256 in the manifest and the part file."""
    X = np.eye(3, 4, dtype=np.float32)
    wd = make_workdir(tmp_path / "w", X, [0, 1, 0], ["x", "y"], sample_ids=["a.png", "b.png", "c.png"])
    manifest, meta = parquet_io.read_table(wd.manifest, "manifest")
    manifest = manifest.set_column(manifest.schema.get_field_index("sha256"), "sha256", pa.nulls(3, pa.string()))
    parquet_io.write_table(wd.manifest, manifest, "manifest", None, classes=meta["classes"])
    (wd.embeddings_dir / "part-00000-00000.parquet").unlink()
    _part(wd, "part-00000-00001.parquet", ["a.png", "b.png", "c.png"], [None] * 3, X)
    emb = load_embeddings(wd)
    np.testing.assert_allclose(emb.X, X, atol=1e-6)
