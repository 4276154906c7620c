"""Discovery and manifest reading over the whole robustness corpus (see robustcorpus.py)."""

from __future__ import annotations

import shutil

import pytest

from labelclean.core.errors import InputError
from labelclean.ingest.discover import discover
from labelclean.review.decisions import read_decisions
from labelclean.store.tables import ClassInfo
from robustcorpus import CLASSES, PER_CLASS, build_corpus, changes, snapshot


def _statuses(found):
    return {c.sample_id: (c.status.value if c.status else "ok") for c in found.candidates}


def test_folder_discovery_of_the_corpus(corpus):
    found = discover(corpus.data, exclude=[corpus.data / "labelclean-work"])
    s = _statuses(found)
    assert [c.name for c in found.classes] == list(CLASSES)
    assert found.empty_folders == ["yellow"]
    assert {k: v for k, v in s.items() if v != "ok"} == {
        "blue/loop/": "symlink_loop",
        "blue/sib/": "symlink_loop",
        "red/upup/": "symlink_outside_root",
        "red/far.png": "symlink_outside_root",
        "loose.png": "unlabeled",
        "clean.csv": "unlabeled",
    }
    assert s["red/dup.png"] == "ok"
    assert found.ignored == [".DS_Store", ".git/", "blue/.hidden.jpg"]
    assert len(s) == 3 * PER_CLASS + 11 + 2 + 3 + 2  # images, bad cases, dup + far, 3 folder links, loose + csv
    assert all(str(corpus.outside) not in str(c.path) for c in found.candidates if c.status is None)


def test_absolute_manifest_kept_apart_from_the_images(corpus):
    found = discover(corpus.lists / "abs.csv")
    assert set(_statuses(found).values()) == {"ok"} and len(found.candidates) == 3 * PER_CLASS
    assert found.candidates[0].sample_id == (corpus.data / "blue" / "blue_000.png").as_posix()


def test_semicolon_manifest(corpus):
    found = discover(corpus.lists / "semi.csv")
    assert [c.name for c in found.classes] == list(CLASSES) and len(found.candidates) == 6


def test_list_labels(corpus):
    with pytest.raises(InputError, match=r"has a list in the `label` column on row 1"):
        discover(corpus.lists / "listlabels.parquet")


def test_relative_manifest_in_the_data_folder(corpus):
    found = discover(corpus.clean_csv)
    assert set(_statuses(found).values()) == {"ok"} and len(found.candidates) == 2 * PER_CLASS


def test_excel_decisions(corpus):
    with pytest.raises(InputError) as e:
        read_decisions(corpus.decisions_cp1252, [ClassInfo(0, "blue", "blue")])
    assert "is not UTF-8 text" in e.value.message and e.value.hint.startswith("save it as UTF-8")


def test_snapshot_sees_every_kind_of_change(tmp_path):
    c = build_corpus(tmp_path / "c")
    before = snapshot(c.base)
    (c.data / "red" / "red_001.png").write_bytes(b"changed")
    (c.data / "blue" / "loop").unlink()
    (c.data / "new.txt").write_text("x")
    (c.data / "labelclean-work-x").mkdir()
    assert changes(before, snapshot(c.base), allowed_new=("data/labelclean-work",)) == [
        "added: data/new.txt", "changed: data/red/red_001.png", "removed: data/blue/loop",
    ]
    shutil.rmtree(c.base)
