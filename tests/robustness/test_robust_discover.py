"""Issue 14 items 2, 6 and 8: symlinked folders, the workdir inside the data, hidden files, empty classes."""

from __future__ import annotations

import os

import imagegen as g
import pytest

from labelclean.core.reasons import Reason
from labelclean.ingest.discover import EXPORT_MARKER, discover


def statuses(found):
    return {c.sample_id: (c.status.value if c.status else "ok") for c in found.candidates}


@pytest.fixture()
def tree(tmp_path):
    data = tmp_path / "d"
    g.make_image_folder(data, {"blue": 2, "red": 2})
    return data


def test_loop_to_parent_is_not_followed(tree):
    os.symlink("..", tree / "blue" / "loop")
    found = discover(tree)
    assert statuses(found) == {
        "blue/blue_000.png": "ok", "blue/blue_001.png": "ok", "blue/loop/": "symlink_loop",
        "red/red_000.png": "ok", "red/red_001.png": "ok",
    }
    assert found.candidates[2].detail == "a folder symlink to the data root, which is listed already; not followed"


def test_sibling_link_does_not_list_a_class_twice(tree):
    os.symlink("../red", tree / "blue" / "sib")
    s = statuses(discover(tree))
    assert s["blue/sib/"] == "symlink_loop" and len(s) == 5
    assert not any(k.startswith("blue/sib/red") for k in s)


def test_link_above_the_root_is_never_walked(tree):
    g.make_png(tree.parent / "secret" / "x.png")
    os.symlink("../..", tree / "red" / "upup")
    found = discover(tree)
    assert statuses(found)["red/upup/"] == "symlink_outside_root"
    assert all("secret" not in str(c.path) for c in found.candidates)


def test_links_out_of_the_root_need_allow_outside_root(tmp_path, tree):
    outside = g.make_image_folder(tmp_path / "far", {"green": 2})
    os.symlink(outside / "green", tree / "green")
    os.symlink(outside / "green" / "green_000.png", tree / "red" / "linked.png")
    s = statuses(discover(tree))
    assert s["green/"] == "symlink_outside_root" and s["red/linked.png"] == "symlink_outside_root"
    assert [c.name for c in discover(tree).classes] == ["blue", "red"]
    found = discover(tree, allow_outside_root=True)
    s = statuses(found)
    assert s["green/green_000.png"] == "ok" and s["red/linked.png"] == "ok"
    assert [c.name for c in found.classes] == ["blue", "green", "red"]


def test_followed_outside_links_stop_at_loops(tmp_path, tree):
    outside = g.make_image_folder(tmp_path / "far", {"green": 1})
    os.symlink(outside / "green", tree / "green")
    os.symlink(outside / "green", outside / "green" / "again")
    s = statuses(discover(tree, allow_outside_root=True))
    assert s["green/again/"] == "symlink_loop" and s["green/green_000.png"] == "ok"


def test_file_link_inside_the_root_is_used(tree):
    os.symlink("../red/red_000.png", tree / "blue" / "same.png")
    assert statuses(discover(tree))["blue/same.png"] == "ok"


def test_workdir_and_exports_inside_the_data_are_excluded(tree):
    wd = tree / "labelclean-work"
    g.make_png(wd / "export" / "x.png")
    (wd / "run.json").write_text("{}")
    export = tree / "red" / "cleaned"
    g.make_png(export / "red" / "y.png")
    (export / EXPORT_MARKER).write_text("{}")
    old = tree / "blue" / "old-work"
    (old / "embeddings").mkdir(parents=True)
    (old / "run.json").write_text("{}")
    (old / "manifest.parquet").write_bytes(b"PAR1")
    found = discover(tree, exclude=[wd])
    assert [c.name for c in found.classes] == ["blue", "red"]
    assert found.excluded == [
        "labelclean-work/ (the work directory)", "blue/old-work/ (a labelclean work directory)",
        "red/cleaned/ (a labelclean export)",
    ]
    assert len(found.candidates) == 4


def test_hidden_files_are_counted(tree):
    g.make_png(tree / "red" / ".hidden.jpg")
    (tree / ".DS_Store").write_bytes(b"x")
    (tree / "blue" / ".git").mkdir()
    found = discover(tree)
    assert found.ignored == [".DS_Store", "blue/.git/", "red/.hidden.jpg"]


def test_empty_class_folder_is_not_a_class(tree):
    (tree / "yellow").mkdir()
    (tree / "purple").mkdir()
    (tree / "purple" / ".keep").write_bytes(b"")
    found = discover(tree)
    assert [c.name for c in found.classes] == ["blue", "red"]
    assert found.empty_folders == ["purple", "yellow"]


def test_empty_folder_listed_in_classes_file_stays_a_class(tree, tmp_path):
    (tree / "yellow").mkdir()
    classes = tmp_path / "classes.txt"
    classes.write_text("blue\nred\nyellow\n")
    assert [c.name for c in discover(tree, classes_file=classes).classes] == ["blue", "red", "yellow"]


def test_reason_codes_exist():
    assert Reason("symlink_loop") and Reason("symlink_outside_root")
