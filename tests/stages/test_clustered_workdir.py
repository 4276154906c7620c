"""workdirgen.write_clustered_workdir (the 10M benchmark's generator) makes a workdir the stages read."""

import pyarrow.parquet as pq
from workdirgen import write_clustered_workdir

from labelclean.stages.configs import EvaluateConfig, ScoreConfig, SelectConfig
from labelclean.stages.evaluate import run_evaluate
from labelclean.stages.score import run_score
from labelclean.stages.select import run_select
from labelclean.store.workdir import Workdir


def test_block_by_block_workdir_is_scored_and_the_same_with_workers(tmp_path):
    counts = write_clustered_workdir(tmp_path / "a", 2500, dim=32, n_classes=6, block=700)
    assert counts["n"] == 2500 and 400 < counts["noisy"] < 600  # 20 % noise
    assert write_clustered_workdir(tmp_path / "b", 2500, dim=32, n_classes=6, block=700, workers=2) == counts
    for name in ("manifest.parquet", "embeddings/part-00000-00000.parquet"):
        a, b = pq.read_table(tmp_path / "a" / name), pq.read_table(tmp_path / "b" / name)
        assert a.drop_columns(["path"] if "path" in a.column_names else []).equals(
            b.drop_columns(["path"] if "path" in b.column_names else []))
    wd = Workdir(tmp_path / "a")
    run_score(wd, ScoreConfig(device="cpu"))
    run_select(wd, SelectConfig())
    assert run_evaluate(wd, EvaluateConfig("clean_label")).summary["auroc"] > 0.95
