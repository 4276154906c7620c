"""labelclean.ingest.table: discovery's columnar store read as a sequence of Candidates.

Every rule is checked with chunks of a few rows, so that sorting, duplicate detection and
reason codes cross chunk boundaries, against the same discovery in one chunk."""

from __future__ import annotations

import json
import os
import unicodedata

import imagegen as g
import pytest

from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.embed.plan import Shard, _by_shard, owned, owned_usable, shard_of
from labelclean.ingest import table as tbl
from labelclean.ingest.discover import discover
from labelclean.ingest.table import CandidateBuilder, CandidateTable


def rows(found):
    return [(c.sample_id, c.path, c.label, c.status, c.detail, c.extras, c.member) for c in found.candidates]


@pytest.fixture
def tiny_chunks(monkeypatch):
    def use(n: int) -> None:
        monkeypatch.setattr(tbl, "CHUNK_ROWS", n)
    return use


def messy_folder(tmp_path):
    data = tmp_path / "data"
    g.make_image_folder(data, {"b": 3, "a": 2, "empty": 0})
    for k in range(4):
        g.make_png(data / "a" / f"sub{k % 2}" / f"deep_{k}.png")
    g.make_png(data / "a" / "sub-x.png")  # sorts between a/sub0/... and a/sub1/... only by string order
    g.make_png(data / "stray.png")  # unlabeled
    (data / "b" / ".DS_Store").write_bytes(b"x")  # ignored
    outside = tmp_path / "outside.png"
    g.make_png(outside)
    os.symlink(outside, data / "b" / "link_out.png")  # symlink_outside_root
    os.symlink(data / "a", data / "b" / "loop")  # symlink_loop
    return data


def test_folder_discovery_is_the_same_in_chunks_of_two(tmp_path, tiny_chunks):
    data = messy_folder(tmp_path)
    whole = discover(data)
    tiny_chunks(2)
    chunked = discover(data)
    assert rows(chunked) == rows(whole)
    ids = [c.sample_id for c in chunked.candidates]
    assert ids == sorted(set(ids)) and len(ids) == 13
    status = {c.sample_id: c.status for c in chunked.candidates}
    assert status["stray.png"] is Reason.unlabeled
    assert status["b/link_out.png"] is Reason.symlink_outside_root
    assert status["b/loop/"] is Reason.symlink_loop
    assert chunked.empty_folders == ["empty"] and chunked.ignored == ["b/.DS_Store"]
    assert [c.name for c in chunked.classes] == ["a", "b"]


def test_the_view_reads_like_a_list(tmp_path):
    data = messy_folder(tmp_path)
    cands = discover(data).candidates
    as_list = list(cands)
    assert isinstance(cands, CandidateTable) and len(cands) == len(as_list) == 13
    assert cands[0] == as_list[0] and cands[-1] == as_list[-1] and cands[5] == as_list[5]
    part = cands[3:7]
    assert isinstance(part, CandidateTable) and list(part) == as_list[3:7]
    assert cands[::5] == as_list[::5]
    with pytest.raises(IndexError):
        cands[13]
    assert cands.paths().to_pylist() == [str(c.path) for c in as_list]
    assert cands.labels() == {"a", "b"} and cands.ids() == [c.sample_id for c in as_list]
    # a path equal to root/sample_id is not stored; a symlink's is
    stored = dict(zip(cands.ids(), cands.column("path").to_pylist()))
    assert stored["a/a_000.png"] is None and stored["b/loop/"] == str(data / "b" / "loop")


def test_same_name_after_nfc_across_chunks_is_refused(tmp_path, tiny_chunks):
    tiny_chunks(1)
    for k in range(5):
        g.make_png(tmp_path / "cat" / f"f{k}.png")
    g.make_png(tmp_path / "cat" / unicodedata.normalize("NFC", "é.png"))
    g.make_png(tmp_path / "cat" / unicodedata.normalize("NFD", "é.png"), color=(1, 2, 3))
    with pytest.raises(InputError, match="same name after unicode normalisation"):
        discover(tmp_path)


@pytest.fixture
def images(tmp_path):
    g.make_image_folder(tmp_path / "imgs", {"cat": 3, "dog": 3})
    return tmp_path


@pytest.mark.parametrize("ext, word", [("csv", "line"), ("jsonl", "line"), ("parquet", "row")])
def test_a_file_listed_twice_in_different_chunks_names_both_rows(images, tiny_chunks, ext, word):
    tiny_chunks(2)
    paths = ["imgs/dog/dog_000.png", "imgs/cat/cat_001.png", "imgs/dog/dog_001.png", "x/1.png", "x/2.png",
             "imgs/dog/dog_002.png", "imgs/cat/cat_001.png", "x/3.png"]  # rows 1 and 6: three chunks apart
    records = [{"path": p, "label": "cat"} for p in paths]
    first = 2 if ext == "csv" else 1
    with pytest.raises(InputError, match=rf"lists imgs/cat/cat_001.png twice \({word} {1 + first} and {word} {6 + first}\)"):
        discover(g.write_manifest(images / f"m.{ext}", records))


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_manifest_reasons_and_extras_are_the_same_in_chunks_of_two(images, tiny_chunks, ext):
    records = [
        {"path": "imgs/dog/dog_000.png", "label": "dog", "n": 1},
        {"path": "imgs/cat/cat_000.png", "label": "cat", "n": 2},
        {"path": "imgs/cat/gone.png", "label": "cat", "n": 3},  # missing
        {"path": "../elsewhere.png", "label": "dog", "n": 4},  # outside_root
        {"path": "imgs/dog/dog_001.png", "label": None, "n": 5},  # unlabeled
        {"path": "imgs/dog/dog_002.png", "label": "bird", "n": None},  # not in --classes
        {"path": str(images / "imgs/cat/cat_001.png"), "label": "cat", "n": 7},
    ]
    manifest = g.write_manifest(images / f"m.{ext}", records)
    classes = images / "classes.txt"
    classes.write_text("cat\ndog\n")
    whole = discover(manifest, classes_file=classes)
    tiny_chunks(2)
    chunked = discover(manifest, classes_file=classes)
    assert rows(chunked) == rows(whole)
    status = {c.sample_id: c.status for c in chunked.candidates}
    assert status == {
        "imgs/cat/cat_000.png": None, "imgs/cat/cat_001.png": None, "imgs/cat/gone.png": Reason.missing,
        str(images.parent / "elsewhere.png"): Reason.outside_root, "imgs/dog/dog_000.png": None,
        "imgs/dog/dog_001.png": Reason.unlabeled, "imgs/dog/dog_002.png": Reason.unlabeled,
    }
    n = {c.sample_id: c.extras["n"] for c in chunked.candidates}
    expected = {"csv": "5"}.get(ext, 5)
    assert n["imgs/dog/dog_001.png"] == expected and n["imgs/dog/dog_002.png"] is None
    assert chunked.extra_columns == ["n"]


def test_mixed_extra_types_become_text_whatever_the_chunks(images, tiny_chunks):
    # a blank line sends JSONL to the standard-library reader: Python values per row
    text = "".join(json.dumps({"path": f"imgs/cat/cat_00{k}.png", "label": "cat", "x": v}) + "\n"
                   for k, v in enumerate([1, 2, "three"]))
    manifest = images / "m.jsonl"
    manifest.write_text(text + "\n", encoding="utf-8")
    whole = discover(manifest)
    tiny_chunks(2)
    chunked = discover(manifest)
    assert [c.extras["x"] for c in chunked.candidates] == [c.extras["x"] for c in whole.candidates] == ["1", "2", "three"]


def test_builder_keeps_at_most_one_chunk_of_python_rows(tmp_path):
    b = CandidateBuilder(tmp_path, chunk_rows=2)
    for k in (4, 3, 2, 1, 0):
        b.add(f"c/{k}.png", str(tmp_path / "c" / f"{k}.png"), "c", None if k else Reason.unlabeled, "" if k else "why")
    assert len(b.chunks) == 2 and len(b._buf[0]) == 1 and (b.rows, b.n_ok) == (5, 4)
    view = b.finish(lambda a, c: AssertionError("no duplicate here"))
    assert view.ids() == [f"c/{k}.png" for k in range(5)]
    assert (view[0].status, view[0].detail, view[1].status, view[1].detail) == (Reason.unlabeled, "why", None, "")


def test_shard_and_usable_filters_are_views_equal_to_the_list_rules(tmp_path, tiny_chunks):
    tiny_chunks(3)
    cands = discover(messy_folder(tmp_path)).candidates
    as_list = list(cands)
    shard = Shard(1, 3)
    mine = owned(cands, shard)
    assert isinstance(mine, CandidateTable) and list(mine) == owned(as_list, shard)
    usable = owned_usable(cands, None, features=False)
    assert [c.sample_id for c in usable] == [c.sample_id for c in as_list if c.status is None]
    groups = _by_shard(usable, 3)
    assert sorted(c.sample_id for g_ in groups for c in g_) == [c.sample_id for c in usable]
    assert all(len({shard_of(c.sample_id, 3) for c in g_}) == 1 for g_ in groups)
