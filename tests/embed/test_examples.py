"""examples/: the batch-job files agree with `--shard auto` and with each other."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from labelclean.embed.plan import Shard, parse_shard

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
N = 4


def _env(pairs) -> dict[str, str]:
    return {p["name"]: str(p["value"]) for p in pairs}


def test_kubernetes_indexed_job():
    job = yaml.safe_load((EXAMPLES / "kubernetes" / "embed-job.yaml").read_text())
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed" and spec["completions"] == N
    container = spec["template"]["spec"]["containers"][0]
    assert container["args"][0] == "embed" and container["args"][-2:] == ["--shard", "auto"]
    env = _env(container["env"])
    shards = {parse_shard("auto", None, {**env, "JOB_COMPLETION_INDEX": str(i)}) for i in range(N)}
    assert shards == {Shard(i, N) for i in range(N)}
    run = yaml.safe_load((EXAMPLES / "kubernetes" / "run-job.yaml").read_text())
    args = run["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "run" and args[1:] == container["args"][1:4]


def test_aws_batch_array_job():
    embed = json.loads((EXAMPLES / "aws-batch" / "embed-job-definition.json").read_text())
    run = json.loads((EXAMPLES / "aws-batch" / "run-job-definition.json").read_text())
    cmd = embed["containerProperties"]["command"]
    assert cmd[0] == "embed" and cmd[-2:] == ["--shard", "auto"]
    env = _env(embed["containerProperties"]["environment"])
    shards = {parse_shard("auto", None, {**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)}) for i in range(N)}
    assert shards == {Shard(i, N) for i in range(N)}
    submit = (EXAMPLES / "aws-batch" / "submit.sh").read_text()
    assert f"--array-properties size={N}" in submit and "--depends-on jobId=" in submit
    assert run["containerProperties"]["command"][:2] == ["run", cmd[1]]


def test_slurm_array():
    script = (EXAMPLES / "slurm" / "embed-array.sbatch").read_text()
    first, last = map(int, re.search(r"#SBATCH --array=(\d+)-(\d+)", script).groups())
    assert last - first + 1 == N and f"LABELCLEAN_NUM_SHARDS={N}" in script and "--shard auto" in script
    shards = {parse_shard("auto", None, {"SLURM_ARRAY_TASK_ID": str(i), "SLURM_ARRAY_TASK_MIN": str(first),
                                         "SLURM_ARRAY_TASK_COUNT": str(N)}) for i in range(first, last + 1)}
    assert shards == {Shard(i, N) for i in range(N)}
    assert "--dependency=afterok" in (EXAMPLES / "slurm" / "submit.sh").read_text()


def test_slurm_arrays_numbered_from_one():
    env = {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"}
    assert parse_shard("auto", None, env) == Shard(3, 4)
