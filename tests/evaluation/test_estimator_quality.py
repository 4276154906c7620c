"""Per-estimator AUROC and accuracy against true labels (CLIPCleaner's Figure 4 table)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from labelclean.evaluation.estimators import SELECT_ROW, estimator_quality, workdir_estimator_quality
from labelclean.store.parquet_io import write_table
from labelclean.store.workdir import Workdir


def test_estimator_quality_ranks_and_accuracy():
    given = np.array([0, 0, 1, 1, 1, 0])
    truth = np.array([0, 0, 1, 1, 0, 1])  # the last two are mislabelled
    perfect = np.array([0.9, 0.8, 0.7, 0.9, 0.1, 0.2])
    inverted = 1 - perfect
    rows = estimator_quality(given, truth, {"a": perfect, "b": inverted},
                             {"a": np.array([0, 0, 1, 1, 0, 1]), "b": np.array([1, 1, 1, 1, 1, 1])})
    assert [(r.name, r.auroc, r.accuracy, r.n) for r in rows] == [("a", 1.0, 1.0, 6), ("b", 0.0, 0.5, 6)]


def test_workdir_estimator_quality_joins_on_sample_id(tmp_path):
    wd = Workdir(tmp_path / "w")
    wd.ensure()
    ids = ["s0", "s1", "s2", "s3"]
    scores = pa.table({
        "sample_id": ids, "label_id": pa.array([0, 1, 1, 0], pa.int32()),
        "zeroshot_p_given": pa.array([0.9, 0.2, 0.8, 0.7], pa.float32()),
        "zeroshot_pred": pa.array([0, 0, 1, 0], pa.int32()),
        "ensemble_p_given": pa.array([0.9, 0.1, 0.6, 0.2], pa.float32()),
        "ensemble_pred": pa.array([0, 0, 1, 1], pa.int32()),
        "logreg_p_given": pa.array([0.1, 0.9, 0.5, 0.5], pa.float32()),
        "logreg_pred": pa.array([1, 1, 1, 0], pa.int32()),
    })
    write_table(wd.scores, scores, "scores")
    sel = pa.table({"sample_id": ids[::-1], "clean_score": pa.array([0.3, 0.8, 0.1, 0.9], pa.float32())})
    write_table(wd.selection, sel, "selection")
    truth = {"s0": 0, "s1": 0, "s2": 1}  # s1 is mislabelled, s3 has no truth
    rows = {r.name: r for r in workdir_estimator_quality(wd, truth)}
    assert list(rows) == ["zeroshot", "logreg", "ensemble", SELECT_ROW]
    assert rows["zeroshot"].auroc == 1.0 and rows["zeroshot"].accuracy == 1.0
    assert rows["logreg"].auroc == 0.0 and rows["logreg"].accuracy == 1 / 3
    # by sample_id s0=0.9, s1=0.1, s2=0.8 (AUROC 1); by row position s1 would get 0.8 (AUROC 0)
    assert rows[SELECT_ROW].auroc == 1.0 and rows[SELECT_ROW].accuracy is None
    assert all(r.n == 3 for r in rows.values())
