"""Issue 14 through the command line, over the corpus: no traceback, one line, the data untouched."""

from __future__ import annotations

import errno
import json
import os

import imagegen as g
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from labelclean.cli import app
from labelclean.store.workdir import Workdir

runner = CliRunner()


class Ran:
    """A CLI result whose stderr is unwrapped (the console wraps long lines at 80 columns)."""

    def __init__(self, r):
        self.exit_code, self.output, self.stdout = r.exit_code, r.output, r.stdout
        self.stderr = r.stderr.replace("\n", "")


def invoke(*args: str) -> Ran:
    r = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in r.output, r.output
    return Ran(r)


def statuses(wd) -> dict[str, str]:
    t = pq.read_table(Workdir(wd).manifest, columns=["sample_id", "status"])
    return dict(zip(t["sample_id"].to_pylist(), t["status"].to_pylist()))


@pytest.fixture(scope="module")
def folder_run(corpus, tiny_model):
    """`run` on the corpus folder with the workdir inside the data (`cd photos && labelclean run .`)."""
    wd = corpus.data / "labelclean-work-run"
    first = invoke("run", corpus.data, "-w", wd, "-m", tiny_model, "--device", "cpu")
    assert first.exit_code == 0, first.output
    again = invoke("run", corpus.data, "-w", wd, "-m", tiny_model, "--device", "cpu", "--force")
    assert again.exit_code == 0, again.output
    return wd, first, again


def test_run_on_the_corpus_skips_traps_with_reasons(folder_run, corpus):
    wd, first, _ = folder_run
    s = statuses(wd)
    assert s["blue/loop/"] == s["blue/sib/"] == "symlink_loop"
    assert s["red/upup/"] == s["red/far.png"] == "symlink_outside_root"
    assert not any(k.startswith(("blue/loop/", "blue/sib/", "red/upup/")) and not k.endswith("/") for k in s)
    classes = [c["name"] for c in json.loads(pq.read_schema(Workdir(wd).manifest).metadata[b"labelclean"])["classes"]]
    assert classes == ["blue", "green", "red"]
    assert "skipped 3 hidden or system files and folders (.DS_Store, .git/, blue/.hidden.jpg)" in first.stderr
    assert "1 empty class folders are not classes: yellow" in first.stderr


def test_workdir_inside_the_data_is_not_scanned(folder_run):
    wd, _, again = folder_run
    assert "not scanned (inside the data folder): labelclean-work-run/ (the work directory)" in again.stderr
    assert not any(k.startswith("labelclean-work") for k in statuses(wd))
    assert (wd / "export" / "clean.csv").is_file()


def test_export_into_the_data_folder_is_refused(folder_run, corpus):
    wd, _, _ = folder_run
    r = invoke("export", "-w", wd, "--out", corpus.data, "--overwrite")
    assert r.exit_code == 1
    assert f"--out {corpus.data} lies inside the data folder {corpus.data}" in r.stderr


def test_export_through_a_symlink_in_out_is_refused(folder_run, corpus, tmp_path):
    wd, _, _ = folder_run
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(corpus.data / "red", out / "red")
    r = invoke("export", "-w", wd, "--out", out, "--format", "imagefolder", "--link", "copy", "--overwrite")
    assert r.exit_code == 1
    assert f"through a symlink into the data folder {corpus.data}" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["red"]


def test_manifest_in_the_data_folder_is_never_overwritten(corpus, tiny_model, tmp_path):
    wd = tmp_path / "w"
    r = invoke("run", corpus.clean_csv, "-w", wd, "-m", tiny_model, "--device", "cpu")
    assert r.exit_code == 0, r.output
    r = invoke("export", "-w", wd, "--out", corpus.data, "--overwrite")
    assert r.exit_code == 1
    assert f"export would overwrite the input manifest {corpus.clean_csv}" in r.stderr


def test_absolute_manifest_apart_from_the_images_runs(corpus, tiny_model, tmp_path):
    wd = tmp_path / "w"
    r = invoke("run", corpus.lists / "abs.csv", "-w", wd, "-m", tiny_model, "--device", "cpu", "--json")
    assert r.exit_code == 0, r.output
    assert set(statuses(wd).values()) == {"ok"}
    clean = (wd / "export" / "clean.csv").read_text().splitlines()
    assert all(line.startswith(str(corpus.data)) for line in clean[1:])


def test_allow_outside_root_on_embed_follows_links_out(corpus, tiny_model, tmp_path):
    wd = tmp_path / "w"
    r = invoke("embed", corpus.data, "-w", wd, "-m", tiny_model, "--device", "cpu", "--allow-outside-root")
    assert r.exit_code == 0, r.output
    s = statuses(wd)
    assert s["red/far.png"] == "ok" and s["blue/loop/"] == "symlink_loop"
    assert s["red/upup/outside/far.png"] == "ok"  # allowed out of the root ...
    assert s["red/upup/data/"] == "symlink_loop"  # ... but never back into it
    assert not any(k.startswith("red/upup/data/") and k != "red/upup/data/" for k in s)


def test_root_option_resolves_relative_manifest_paths(corpus, tiny_model, tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "rel.csv").write_text("path,label\nblue/blue_000.png,blue\nred/red_000.png,red\n")
    wd = tmp_path / "w"
    r = invoke("embed", lists / "rel.csv", "-w", wd, "-m", tiny_model, "--device", "cpu", "--root", corpus.data)
    assert r.exit_code == 0, r.output
    assert statuses(wd) == {"blue/blue_000.png": "ok", "red/red_000.png": "ok"}


@pytest.fixture()
def unusable(tmp_path):
    data = tmp_path / "bad"
    for i in range(3):
        g.make_text_as_jpg(data / "cat" / f"notes{i}.jpg", text=f"not an image {i}\n")
        g.make_empty(data / "dog" / f"empty{i}.jpg")
    return data


def test_embed_with_nothing_usable_exits_1(unusable, tiny_model, tmp_path):
    wd = tmp_path / "w"
    r = invoke("embed", unusable, "-w", wd, "-m", tiny_model, "--device", "cpu")
    assert r.exit_code == 1
    assert f"no usable image in {unusable}: 3 empty, 3 not_image (see {wd.resolve() / 'manifest.parquet'})" in r.stderr
    s = invoke("score", "-w", wd)
    assert s.exit_code == 1 and "no usable image in" in s.stderr and "holds no embeddings" not in s.stderr


def test_disk_full_during_embed_is_one_line(corpus, tiny_model, tmp_path, monkeypatch):
    import pyarrow.parquet as pq_mod

    class Full:
        def __init__(self, *a, **k):
            raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq_mod, "ParquetWriter", Full)
    wd = tmp_path / "w"
    r = invoke("embed", corpus.lists / "abs.csv", "-w", wd, "-m", tiny_model, "--device", "cpu")
    assert r.exit_code == 1
    assert f"no space left on the device to write into {wd}" in r.stderr


def test_unwritable_embeddings_folder_is_one_line(corpus, tiny_model, tmp_path, monkeypatch):
    import pyarrow.parquet as pq_mod

    class Denied:
        def __init__(self, *a, **k):
            raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(pq_mod, "ParquetWriter", Denied)
    r = invoke("embed", corpus.lists / "abs.csv", "-w", tmp_path / "w", "-m", tiny_model, "--device", "cpu")
    assert r.exit_code == 1 and "permission denied: cannot write into" in r.stderr


def test_disk_full_during_report_names_the_file(folder_run, tmp_path, monkeypatch):
    wd, _, _ = folder_run
    real = type(tmp_path).write_bytes

    def full(self, data):
        if self.name.startswith(".report.html"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(type(tmp_path), "write_bytes", full)
    out = tmp_path / "report.html"
    r = invoke("report", "-w", wd, "--out", out)
    assert r.exit_code == 1
    assert f"no space left on the device to write {out}" in r.stderr
    assert list(tmp_path.iterdir()) == []
