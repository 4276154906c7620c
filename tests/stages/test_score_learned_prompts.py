"""`score --prompts learned:<method>`: the zero-shot estimator with a trainer's learned prompts."""

import numpy as np
import pyarrow as pa
import pytest

from labelclean.core.errors import UsageError, WorkdirError
from labelclean.stages.configs import ScoreConfig
from labelclean.stages.pipeline import stage_fingerprint
from labelclean.stages.score import run_score
from labelclean.store import parquet_io, schemas
from workdirgen import make_clustered, make_workdir


pytestmark = pytest.mark.usefixtures("quiet_console")


def _write_prompts(wd, T, names, model_id="test-model"):
    """prompts/css.parquet as `train --method css` writes it (one row per class)."""
    table = pa.table(
        {"class_id": pa.array(range(len(names)), pa.int32()), "class_name": pa.array(names, pa.string()),
         "prompt": pa.array([f"learned:css: {n}" for n in names], pa.string()),
         "source": pa.array(["learned:css"] * len(names), pa.string()),
         "embedding": parquet_io.fixed_list(T.astype(np.float32), pa.float32())},
        schema=schemas.learned_prompts_schema(T.shape[1]),
    )
    path = wd.learned_prompts("css")
    path.parent.mkdir(parents=True, exist_ok=True)
    parquet_io.write_table(path, table, "learned_prompts", model_id=model_id, method="css")


def _zeroshot(wd):
    from labelclean.store.probs import load_probs

    return load_probs(wd, "zeroshot")[1]


def test_learned_prompts_replace_embeds_prompts_for_zeroshot(tmp_path):
    syn = make_clustered(300, n_classes=4, dim=16, text_noise=2.0, seed=0)
    wd = make_workdir(tmp_path / "w", syn.X, syn.labels, syn.class_names, T=syn.T, prompt_class_ids=syn.prompt_class_ids)
    base = run_score(wd, ScoreConfig(estimators="zeroshot"))
    before = _zeroshot(wd)
    _write_prompts(wd, syn.centroids, syn.class_names)  # "learned": exactly the class centroids
    learned = run_score(wd, ScoreConfig(estimators="zeroshot", prompts="learned:css"))
    after = _zeroshot(wd)
    assert learned.estimator_info["zeroshot"]["prompt_source"] == "learned:css"
    assert base.estimator_info["zeroshot"]["prompt_source"] == "embed"
    assert learned.estimator_info["zeroshot"]["prompts"] == 4
    assert not np.allclose(before, after)
    assert learned.agreement["zeroshot"] >= base.agreement["zeroshot"]


def test_missing_or_unknown_learned_prompts(tmp_path):
    syn = make_clustered(50, n_classes=3, dim=8, seed=1)
    wd = make_workdir(tmp_path / "w", syn.X, syn.labels, syn.class_names, T=syn.T, prompt_class_ids=syn.prompt_class_ids)
    with pytest.raises(WorkdirError, match="prompts/css.parquet does not exist"):
        run_score(wd, ScoreConfig(estimators="zeroshot", prompts="learned:css"))
    with pytest.raises(UsageError, match="learned:css"):
        run_score(wd, ScoreConfig(estimators="zeroshot", prompts="mine"))
    _write_prompts(wd, syn.centroids, syn.class_names, model_id="another-model")
    with pytest.raises(WorkdirError):
        run_score(wd, ScoreConfig(estimators="zeroshot", prompts="learned:css"))


def test_the_score_fingerprint_follows_the_learned_prompts(tmp_path):
    syn = make_clustered(50, n_classes=3, dim=8, seed=2)
    wd = make_workdir(tmp_path / "w", syn.X, syn.labels, syn.class_names, T=syn.T, prompt_class_ids=syn.prompt_class_ids)
    cfg = ScoreConfig(prompts="learned:css")
    _write_prompts(wd, syn.centroids, syn.class_names)
    first = stage_fingerprint(wd, "score", cfg, "up")
    assert stage_fingerprint(wd, "score", cfg, "up") == first
    _write_prompts(wd, syn.centroids[::-1].copy(), syn.class_names)  # training again changed them
    assert stage_fingerprint(wd, "score", cfg, "up") != first
    assert stage_fingerprint(wd, "score", ScoreConfig(), "up") != first
