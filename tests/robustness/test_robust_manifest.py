"""Issue 14 items 5 and 8: manifests with absolute paths, symlinks, ';' separators, list labels."""

from __future__ import annotations

import json
import os

import imagegen as g
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest.discover import discover


@pytest.fixture()
def images(tmp_path):
    return g.make_image_folder(tmp_path / "images", {"blue": 2, "red": 2})


def _statuses(found):
    return {c.sample_id: (c.status.value if c.status else "ok") for c in found.candidates}


def test_absolute_paths_outside_the_manifest_folder_are_used(tmp_path, images):
    lists = tmp_path / "lists"
    lists.mkdir()
    rows = [f"{p},{p.parent.name}" for p in sorted(images.rglob("*.png"))]
    (lists / "m.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    found = discover(lists / "m.csv")
    assert set(_statuses(found).values()) == {"ok"}
    assert found.candidates[0].sample_id == (images / "blue" / "blue_000.png").as_posix()
    assert [c.name for c in found.classes] == ["blue", "red"]


def test_absolute_path_inside_the_root_gets_a_relative_id(images):
    (images / "m.csv").write_text(f"path,label\n{images / 'red' / 'red_000.png'},red\n")
    assert [c.sample_id for c in discover(images / "m.csv").candidates] == ["red/red_000.png"]


def test_relative_path_escaping_the_root_is_outside_root(tmp_path, images):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "m.csv").write_text("path,label\n../images/red/red_000.png,red\n")
    (c,) = discover(lists / "m.csv").candidates
    assert c.status is Reason.outside_root
    assert c.detail == f"line 2 points outside the data root {lists} (pass --allow-outside-root to use it)"
    assert discover(lists / "m.csv", root=images / "blue").candidates[0].status is Reason.outside_root
    assert discover(lists / "m.csv", allow_outside_root=True).candidates[0].status is None


def test_relative_symlink_leading_out_needs_allowing(tmp_path, images):
    lists = tmp_path / "lists"
    lists.mkdir()
    os.symlink(images / "red" / "red_000.png", lists / "link.png")
    (lists / "m.csv").write_text("path,label\nlink.png,red\n")
    (c,) = discover(lists / "m.csv").candidates
    assert c.status is Reason.symlink_outside_root and "is a symlink to" in c.detail
    assert discover(lists / "m.csv", allow_outside_root=True).candidates[0].status is None


def test_semicolon_separated_csv_is_read(images):
    (images / "m.csv").write_text("path;label;note\nred/red_000.png;red;a,b\nblue/blue_000.png;blue;\n")
    found = discover(images / "m.csv")
    assert [(c.sample_id, c.label, c.extras) for c in found.candidates] == [
        ("blue/blue_000.png", "blue", {"note": None}),
        ("red/red_000.png", "red", {"note": "a,b"}),
    ]


def test_parquet_list_labels_are_refused(images):
    table = pa.table({"path": ["red/red_000.png"], "label": pa.array([["red"]], pa.list_(pa.string()))})
    pq.write_table(table, images / "m.parquet")
    with pytest.raises(InputError) as e:
        discover(images / "m.parquet")
    assert e.value.message == f"the manifest {images / 'm.parquet'} has a list in the `label` column on row 1 (['red'])"
    assert e.value.hint == "store one class name per row (labelclean takes one label per image)"


def test_csv_cells_stay_text(images):
    (images / "m.csv").write_text("path,label,code,when\nred/red_000.png,007,NA,2020-01-01\n")
    (c,) = discover(images / "m.csv").candidates
    assert c.label == "007" and c.extras == {"code": "NA", "when": "2020-01-01"}


def test_jsonl_dates_stay_text(images):
    rows = [{"path": "red/red_000.png", "label": "red", "when": "2020-01-01"}]
    (images / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert discover(images / "m.jsonl").candidates[0].extras == {"when": "2020-01-01"}


def test_unknown_columns_in_a_semicolon_header_get_a_delimiter_hint(images):
    (images / "m.csv").write_text("img;y\nred/red_000.png;red\n")
    with pytest.raises(InputError) as e:
        discover(images / "m.csv")
    assert e.value.hint.endswith("; the header is one column holding ';': separate columns with ',' (or TAB in a .tsv)")
