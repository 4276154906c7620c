"""JSONL manifests are parsed piece by piece (labelclean.ingest.manifest._jsonl_parts).

Every case is read with pieces of a few lines, so that types, columns, blank lines and
errors cross piece boundaries, and compared with the same file read as one piece."""

from __future__ import annotations

import json

import imagegen as g
import pytest
import pyarrow.json as pajson

from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest import manifest as mf
from labelclean.ingest.discover import discover


def rows(found):
    return [(c.sample_id, c.path, c.label, c.status, c.detail, c.extras) for c in found.candidates]


@pytest.fixture
def images(tmp_path):
    g.make_image_folder(tmp_path / "imgs", {"cat": 4, "dog": 4})
    return tmp_path


@pytest.fixture
def tiny_pieces(monkeypatch):
    """Pieces of ``n`` bytes, and a record of the sizes pyarrow was given."""
    sizes: list[int] = []
    real = pajson.read_json

    def spy(source, *args, **kwargs):
        sizes.append(len(source.getbuffer()))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pajson, "read_json", spy)

    def use(n: int) -> list[int]:
        monkeypatch.setattr(mf, "JSONL_BLOCK_BYTES", n)
        sizes.clear()
        return sizes
    return use


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def record(k, label, **extra):
    return json.dumps({"path": f"imgs/{'cat' if k < 4 else 'dog'}/{'cat' if k < 4 else 'dog'}_00{k % 4}.png",
                       "label": label, **extra})


def test_types_and_columns_that_change_between_pieces_read_like_one_piece(images, tiny_pieces):
    lines = [
        record(0, 3, n=1, note=None),
        record(1, 3, n=2, note=None),
        record(2, 3.0, n=3, note=None),  # 3.0 -> "3"
        record(3, "cat", n="four", note="x"),  # label and n turn to text, note from null to text
        record(4, "cat", n=5, note=None, late=True),  # a column that appears only here
        record(5, 7, n=6, note=None, when="2024-01-02"),  # an ISO date stays text
        record(6, " dog ", n=7, note=None),
        record(7, None, n=8, note="y"),
    ]
    manifest = write_lines(images / "m.jsonl", lines)
    whole = discover(manifest)
    sizes = tiny_pieces(len(lines[0]) + 2)  # about one line per piece
    pieces = discover(manifest)
    assert len(sizes) >= len(lines) and max(sizes) < 2 * (max(map(len, lines)) + 1)
    assert rows(pieces) == rows(whole)
    assert pieces.extra_columns == whole.extra_columns == ["n", "note", "late", "when"]
    by_id = {c.sample_id: c for c in pieces.candidates}
    labels = [by_id[f"imgs/cat/cat_00{k}.png"].label for k in range(4)] + \
             [by_id[f"imgs/dog/dog_00{k}.png"].label for k in range(4)]
    assert labels == ["3", "3", "3", "cat", "cat", "7", "dog", None]
    assert by_id["imgs/dog/dog_003.png"].status is Reason.unlabeled
    assert [c.name for c in pieces.classes] == ["3", "7", "cat", "dog"]
    assert by_id["imgs/cat/cat_003.png"].extras["n"] == "four" and by_id["imgs/cat/cat_000.png"].extras["n"] == "1"
    assert by_id["imgs/dog/dog_000.png"].extras["late"] is True and by_id["imgs/cat/cat_000.png"].extras["late"] is None
    assert by_id["imgs/dog/dog_001.png"].extras["when"] == "2024-01-02"


def test_typed_extras_stay_typed_across_pieces(images, tiny_pieces):
    lines = [record(k, "cat" if k < 4 else "dog", n=k, score=k / 2) for k in range(8)]
    manifest = write_lines(images / "m.jsonl", lines)
    tiny_pieces(3 * len(lines[0]))
    found = discover(manifest)
    assert [c.extras["n"] for c in found.candidates] == list(range(8))
    assert [c.extras["score"] for c in found.candidates] == [k / 2 for k in range(8)]


def test_line_numbers_and_errors_across_pieces(images, tiny_pieces):
    lines = [record(k, "cat" if k < 4 else "dog") for k in range(8)]
    lines[5] = json.dumps({"path": "imgs/dog/gone.png", "label": "dog"})
    spaced = lines[:3] + ["", "   "] + lines[3:]  # blank lines: the reader numbers lines as written
    manifest = write_lines(images / "m.jsonl", spaced)
    tiny_pieces(2 * len(lines[0]))
    found = discover(manifest)
    gone = {c.sample_id: c for c in found.candidates}["imgs/dog/gone.png"]
    assert gone.status is Reason.missing and "line 8" in gone.detail

    bad = write_lines(images / "bad.jsonl", lines[:6] + ['{"path": "imgs/x.png", "label": "cat"', lines[6]])
    with pytest.raises(InputError, match="invalid JSON on line 7"):
        discover(bad)
    # a row without a path early and a broken line late: the JSON error is named, as when read whole
    early = write_lines(images / "early.jsonl", [json.dumps({"path": "", "label": "cat"})] + lines[1:6] + ["[1]"])
    with pytest.raises(InputError, match="line 7 of the manifest"):
        discover(early)
    listed = write_lines(images / "list.jsonl", lines[:6] + [json.dumps({"path": "imgs/y.png", "label": [1, 2]})])
    with pytest.raises(InputError, match=r"a list in the `label` column on line 7"):
        discover(listed)


def test_crlf_bom_and_a_line_longer_than_a_piece(images, tiny_pieces):
    lines = [record(k, "cat" if k < 4 else "dog", note="n" * (200 if k == 2 else 1)) for k in range(8)]
    lines[6] = json.dumps({"path": "imgs/dog/nope.png", "label": "dog"})
    manifest = images / "m.jsonl"
    manifest.write_bytes(b"\xef\xbb\xbf" + "".join(line + "\r\n" for line in lines).encode())
    whole = discover(manifest)
    tiny_pieces(64)
    pieces = discover(manifest)
    assert rows(pieces) == rows(whole) and len(pieces.candidates) == 8
    nope = {c.sample_id: c for c in pieces.candidates}["imgs/dog/nope.png"]
    assert "line 7" in nope.detail

    lone = images / "cr.jsonl"  # a lone CR ends a line for Python's reader: numbering follows it
    lone.write_bytes("\r".join(lines).encode())
    found = discover(lone)
    assert "line 7" in {c.sample_id: c for c in found.candidates}["imgs/dog/nope.png"].detail


def test_truth_rows_read_in_pieces(images, tiny_pieces):
    lines = [record(k, 1 if k < 3 else "cat") for k in range(8)]
    manifest = write_lines(images / "t.jsonl", lines)
    whole, columns = mf._read_rows(manifest, "jsonl")
    tiny_pieces(len(lines[0]))
    pieces, columns2 = mf._read_rows(manifest, "jsonl")
    assert columns == columns2 == ["path", "label"]
    assert [w for w, _ in pieces] == [f"line {k}" for k in range(1, 9)]
    assert [v["label"] for _, v in pieces] == [v["label"] for _, v in whole] == [1, 1, 1] + ["cat"] * 5
