"""Issue 14 items 3, 4 and 7: exports never write into, over or through the data; disk full."""

from __future__ import annotations

import errno
import os
import shutil

import imagegen as g
import pyarrow as pa
import pytest

from labelclean.core.errors import InputError, LabelcleanError
from labelclean.export import publish as pub
from labelclean.export import writers
from labelclean.export.guard import DataGuard
from labelclean.export.rows import KeptFile
from labelclean.export.tree import MARKER, read_marker

TABLE = pa.table({"path": ["red/red_000.png"], "label": ["red"]})


@pytest.fixture()
def data(tmp_path):
    return g.make_image_folder(tmp_path / "data", {"blue": 2, "red": 3})


def _samples(data):
    return sorted(str(p) for p in data.rglob("*.png"))


def _folder_guard(data, wd):
    return DataGuard(data_root=str(data), source=str(data), kind="folder", sample_paths=_samples(data), workdir=wd)


def _kept(data):
    return [KeptFile(f"{p.parent.name}/{p.name}", str(p), p.parent.name, p.parent.name)
            for p in sorted(data.rglob("*.png"))]


def _targets(data):
    return [(k.sample_id, k) for k in _kept(data)]


def _publish(out, guard, *, targets=(), overwrite=False, link="copy"):
    return pub.publish(out, lists={"clean.csv": (TABLE, "csv")}, targets=list(targets), link=link,
                       fmt="imagefolder" if targets else "csv", overwrite=overwrite, guard=guard)


def test_list_export_never_overwrites_the_input_manifest(tmp_path, data):
    manifest = data / "clean.csv"
    manifest.write_text("path,label\nred/red_000.png,red\n")
    before = manifest.read_bytes()
    guard = DataGuard(data_root=str(data), source=str(manifest), kind="csv",
                      sample_paths=[str(data / "red" / "red_000.png")], workdir=tmp_path / "w")
    with pytest.raises(InputError) as e:
        _publish(data, guard, overwrite=True)
    assert e.value.message == f"export would overwrite the input manifest {manifest} (writing {data / 'clean.csv'})"
    assert manifest.read_bytes() == before


def test_list_export_into_a_folder_of_images_is_refused(tmp_path, data):
    guard = _folder_guard(data, tmp_path / "w")
    with pytest.raises(InputError) as e:
        _publish(data / "red", guard, overwrite=True)
    assert e.value.message == f"--out {data / 'red'} lies inside the data folder {data}"
    assert not (data / "red" / "clean.csv").exists()


def test_tree_export_through_a_symlink_into_the_data_is_refused(tmp_path, data):
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(data / "red", out / "red")
    guard = _folder_guard(data, tmp_path / "w")
    with pytest.raises(InputError) as e:
        _publish(out, guard, targets=_targets(data), overwrite=True)
    assert e.value.message == (
        f"export would write {out / 'red' / 'red_000.png'} through a symlink into the data folder {data}"
    )
    assert sorted(p.name for p in (data / "red").iterdir()) == ["red_000.png", "red_001.png", "red_002.png"]


def test_export_inside_a_workdir_inside_the_data_is_fine(data):
    wd = data / "labelclean-work"
    files = _publish(wd / "export", _folder_guard(data, wd), targets=_targets(data))
    assert "red/red_002.png" in files and (wd / "export" / "red" / "red_002.png").is_file()


def test_overwrite_replaces_only_files_an_export_wrote(tmp_path, data):
    out = tmp_path / "out"
    out.mkdir()
    (out / "clean.csv").write_text("mine\n")
    guard = _folder_guard(data, tmp_path / "w")
    with pytest.raises(InputError) as e:
        _publish(out, guard, overwrite=True)
    assert e.value.message == f"{out / 'clean.csv'} already exists and was not written by labelclean export"
    assert e.value.hint == "choose another --out; --overwrite only replaces files an earlier export wrote"
    (out / "clean.csv").unlink()
    _publish(out, guard)
    with pytest.raises(InputError) as e:
        _publish(out, guard)
    assert e.value.hint == "pass --overwrite to replace the earlier export, or choose another --out"
    assert _publish(out, guard, overwrite=True) == ["clean.csv"]


def test_disk_full_during_a_tree_leaves_no_partial_tree(tmp_path, data, monkeypatch):
    out = tmp_path / "out"
    guard = _folder_guard(data, tmp_path / "w")
    calls = []

    def copy2(src, dst):
        calls.append(src)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        shutil.copyfile(src, dst)

    monkeypatch.setattr(shutil, "copy2", copy2)
    with pytest.raises(LabelcleanError) as e:
        _publish(out, guard, targets=_targets(data))
    assert e.value.message == f"no space left on the device to write {out / 'red' / 'red_000.png'}"
    assert not out.exists()


def test_disk_full_keeps_the_earlier_export(tmp_path, data, monkeypatch):
    out = tmp_path / "out"
    guard = _folder_guard(data, tmp_path / "w")
    _publish(out, guard, targets=_targets(data))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writers, "write_bytes", full)
    with pytest.raises(LabelcleanError) as e:
        _publish(out, guard, targets=_targets(data), overwrite=True)
    assert e.value.message == f"no space left on the device to write {out / 'clean.csv'}"
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert read_marker(out) == sorted(["clean.csv", *(t for t, _ in _targets(data))])
    assert not [p for p in out.iterdir() if p.name.startswith(pub.STAGING_PREFIX)]


def test_marker_lists_every_file(tmp_path, data):
    out = tmp_path / "out"
    files = _publish(out, _folder_guard(data, tmp_path / "w"), targets=_targets(data), link="symlink")
    assert read_marker(out) == files and (out / MARKER).is_file()
    assert os.path.islink(out / "blue" / "blue_000.png")


def test_atomic_writes_name_the_file_on_disk_full(tmp_path, monkeypatch):
    from labelclean.store.workdir import atomic_write_text

    def full(self, data, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(tmp_path), "write_text", full)
    with pytest.raises(OSError) as e:
        atomic_write_text(tmp_path / "report.html", "x")
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, str(tmp_path / "report.html"))
    assert list(tmp_path.iterdir()) == []
