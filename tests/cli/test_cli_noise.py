"""`labelclean noise`: noisy manifests that load back, realised rates, every mode, errors."""

import csv
import json

import numpy as np
import pytest
from imagegen import make_image_folder
from typer.testing import CliRunner
from workdirgen import make_clustered, make_workdir

from labelclean.cli import app
from labelclean.ingest.discover import discover

runner = CliRunner()
CIFAR10 = {n: 3 for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("noise") / "data", CIFAR10, size=8)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sym_noise_manifest_loads_back_with_the_same_sample_ids(folder):
    out = folder / "noisy.csv"
    r = runner.invoke(app, ["noise", str(folder), "--rate", "0.2", "--mode", "sym", "--seed", "1", "--out", str(out),
                            "--overwrite", "--json"])
    assert r.exit_code == 0, r.output
    rows = _rows(out)
    assert len(rows) == 30 and set(rows[0]) == {"path", "label", "clean_label"}
    assert sum(row["label"] != row["clean_label"] for row in rows) == 6
    side = json.loads((folder / "noisy.csv.noise.json").read_text())
    assert side["realised_rate"] == pytest.approx(0.2) and side["flipped"] == 6 and side["seed"] == 1
    assert json.loads(r.stdout)["summary"]["realised_rate"] == pytest.approx(0.2)
    back = discover(out)
    original = {c.sample_id: c.label for c in discover(folder).candidates if c.status is None}
    assert {c.sample_id for c in back.candidates} == set(original)
    assert all(c.status is None and c.extras["clean_label"] == original[c.sample_id] for c in back.candidates)
    assert "realised rate 0.2000" in r.stderr


def test_asym_uses_the_bundled_cifar10_mapping(folder, tmp_path):
    out = folder / "asym.jsonl"
    r = runner.invoke(app, ["noise", str(folder), "--rate", "0.5", "--mode", "asym", "--out", str(out), "--overwrite"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    flips = {(row["clean_label"], row["label"]) for row in rows if row["label"] != row["clean_label"]}
    assert flips == {("truck", "automobile"), ("bird", "airplane"), ("deer", "horse"), ("cat", "dog"), ("dog", "cat")}
    assert sum(row["label"] != row["clean_label"] for row in rows) == 10  # round(0.5 * 3) = 2 per mapped class


def test_asym_with_unknown_classes_asks_for_a_mapping(tmp_path):
    data = make_image_folder(tmp_path / "d", {"apple": 2, "pear": 2}, size=8)
    r = runner.invoke(app, ["noise", str(data), "--mode", "asym", "--out", str(data / "n.csv")])
    assert r.exit_code == 1 and "is not one of: apple, pear" in r.stderr and "--mapping" in r.stderr
    mapping = tmp_path / "map.yaml"
    mapping.write_text("apple: pear\n")
    r = runner.invoke(app, ["noise", str(data), "--mode", "asym", "--rate", "1", "--mapping", str(mapping),
                            "--out", str(data / "n.parquet")])
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    assert pq.read_table(data / "n.parquet")["label"].to_pylist() == ["pear"] * 4


def test_instance_noise_reads_the_workdir(folder, tmp_path):
    found = discover(folder)
    names = [c.name for c in found.classes]
    cands = [c for c in found.candidates if c.status is None]  # not the manifests written at the root
    labels = np.array([names.index(c.label) for c in cands])
    d = make_clustered(len(labels), dim=8, n_classes=len(names), seed=0)
    X = d.centroids[labels] + 0.05 * np.random.default_rng(0).standard_normal((len(labels), 8)).astype(np.float32)
    wd = make_workdir(tmp_path / "w", X, labels, names, sample_ids=[c.sample_id for c in cands])
    out = folder / "idn.csv"
    r = runner.invoke(app, ["noise", str(folder), "--rate", "0.3", "--mode", "instance", "-w", str(wd.root),
                            "--out", str(out), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert sum(row["label"] != row["clean_label"] for row in _rows(out)) == 9
    r = runner.invoke(app, ["noise", str(folder), "--mode", "instance", "--out", str(folder / "x.csv")])
    assert r.exit_code == 2 and "needs -w/--workdir" in r.stderr


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--out", "{tmp}/outside.csv"], 2, "--out must be in a folder that contains every image"),
        (["--out", "{data}/n.txt"], 2, "--out must end in"),
        (["--rate", "2", "--out", "{data}/n.csv"], 2, "--rate must be in [0, 1]"),
        (["--mode", "random", "--out", "{data}/n.csv"], 2, "--mode must be one of"),
    ],
)
def test_errors(folder, tmp_path, args, code, message):
    args = [a.format(tmp=tmp_path, data=folder) for a in args]
    r = runner.invoke(app, ["noise", str(folder), *args])
    assert r.exit_code == code and message in r.stderr


def test_existing_out_needs_overwrite(folder):
    out = folder / "exists.csv"
    out.write_text("x")
    r = runner.invoke(app, ["noise", str(folder), "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.stderr and out.read_text() == "x"
