"""labelclean.ingest.discover, manifest_input and classes_file: folders, manifests, class lists."""

from __future__ import annotations

import json
import os
import unicodedata

import imagegen as g
import pytest

from labelclean.ingest.discover import discover, read_classes_file
from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason


def ids(found):
    return [c.sample_id for c in found.candidates]


def by_id(found):
    return {c.sample_id: c for c in found.candidates}


# ---------------------------------------------------------------- folders


def test_folder_classes_are_sorted_and_skip_empty_folders(tmp_path):
    g.make_image_folder(tmp_path, {"zebra": 1, "maple_tree": 2, "empty": 0})
    found = discover(tmp_path)
    assert found.kind == "folder" and found.root == tmp_path.resolve() and found.extra_columns == []
    assert [(c.id, c.name, c.prompt_name) for c in found.classes] == [
        (0, "maple_tree", "maple tree"),
        (1, "zebra", "zebra"),
    ]
    assert found.empty_folders == ["empty"] and found.empty_classes() == []
    assert ids(found) == ["maple_tree/maple_tree_000.png", "maple_tree/maple_tree_001.png", "zebra/zebra_000.png"]
    first = found.candidates[0]
    assert first.path == tmp_path.resolve() / "maple_tree" / "maple_tree_000.png"
    assert (first.label, first.status, first.extras) == ("maple_tree", None, {})


def test_every_file_in_a_class_folder_is_a_candidate(tmp_path):
    expected = g.write_bad_cases(tmp_path / "cat" / "nested deeper")
    found = discover(tmp_path)
    assert ids(found) == sorted(f"cat/nested deeper/{unicodedata.normalize('NFC', n)}" for n in expected)
    assert all(c.label == "cat" and c.status is None for c in found.candidates)


def test_loose_files_are_unlabeled_and_hidden_files_ignored(tmp_path):
    g.make_image_folder(tmp_path, {"cat": 1})
    g.make_png(tmp_path / "stray.png")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "cat" / "Thumbs.db").write_bytes(b"x")
    (tmp_path / "cat" / ".hidden").mkdir()
    g.make_png(tmp_path / "cat" / ".hidden" / "x.png")
    (tmp_path / "__MACOSX").mkdir()
    found = discover(tmp_path)
    assert [c.name for c in found.classes] == ["cat"]
    stray = by_id(found)["stray.png"]
    assert (stray.label, stray.status) == (None, Reason.unlabeled)
    assert ids(found) == ["cat/cat_000.png", "stray.png"]
    assert found.ignored == [".DS_Store", "__MACOSX/", "cat/.hidden/", "cat/Thumbs.db"]


def test_unicode_names_are_nfc_and_paths_stay_as_on_disk(tmp_path):
    nfd_class = unicodedata.normalize("NFD", "café")
    path = g.make_png(tmp_path / nfd_class / "über bild 1.png")
    found = discover(tmp_path)
    assert [c.name for c in found.classes] == ["café"]
    (c,) = found.candidates
    assert c.sample_id == unicodedata.normalize("NFC", "café/über bild 1.png")
    assert c.label == "café" and c.path == path.resolve() and c.path.exists()


def test_names_equal_after_normalisation_are_an_error(tmp_path):
    g.make_png(tmp_path / "cat" / unicodedata.normalize("NFC", "é.png"))
    g.make_png(tmp_path / "cat" / unicodedata.normalize("NFD", "é.png"), color=(1, 2, 3))
    with pytest.raises(InputError, match="same name after unicode normalisation"):
        discover(tmp_path)


def test_symlinked_files_outside_need_allowing_and_dir_loops_stop(tmp_path):
    data = tmp_path / "data"
    g.make_image_folder(data, {"cat": 1})
    outside = g.make_png(tmp_path / "elsewhere.png", color=(9, 9, 9))
    os.symlink(outside, data / "cat" / "linked.png")
    os.symlink(data / "cat", data / "cat" / "loop")
    found = by_id(discover(data))
    assert list(found) == ["cat/cat_000.png", "cat/linked.png", "cat/loop/"]
    assert found["cat/linked.png"].status is Reason.symlink_outside_root
    assert found["cat/loop/"].status is Reason.symlink_loop
    assert by_id(discover(data, allow_outside_root=True))["cat/linked.png"].status is None


def test_symlinked_class_folder_is_followed_when_allowed(tmp_path):
    g.make_image_folder(tmp_path / "real", {"dog": 2})
    g.make_image_folder(tmp_path / "data", {"cat": 1})
    os.symlink(tmp_path / "real" / "dog", tmp_path / "data" / "dog")
    assert ids(discover(tmp_path / "data")) == ["cat/cat_000.png", "dog/"]
    found = discover(tmp_path / "data", allow_outside_root=True)
    assert ids(found) == ["cat/cat_000.png", "dog/dog_000.png", "dog/dog_001.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can list a chmod 000 folder")
def test_unlistable_subfolder_is_recorded(tmp_path):
    g.make_image_folder(tmp_path, {"cat": 1})
    locked = tmp_path / "cat" / "locked"
    locked.mkdir()
    os.chmod(locked, 0)
    try:
        found = discover(tmp_path)
    finally:
        os.chmod(locked, 0o755)
    assert by_id(found)["cat/locked/"].status is Reason.unreadable


def test_unlistable_subfolder_is_recorded_even_as_root(tmp_path, monkeypatch):
    g.make_image_folder(tmp_path, {"cat": 1})
    (tmp_path / "cat" / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    locked = by_id(discover(tmp_path))["cat/locked/"]
    assert (locked.status, locked.label) == (Reason.unreadable, "cat")
    assert "Permission denied" in locked.detail


def test_folder_with_classes_file_fixes_order_and_prompt_names(tmp_path):
    g.make_image_folder(tmp_path / "data", {"n01": 1, "n02": 1})
    classes = tmp_path / "classes.txt"
    classes.write_text("# order matters\nn02\tgolden retriever\nn01\nn03\ttench\n", encoding="utf-8")
    found = discover(tmp_path / "data", classes_file=classes)
    assert [(c.id, c.name, c.prompt_name) for c in found.classes] == [
        (0, "n02", "golden retriever"),
        (1, "n01", "n01"),
        (2, "n03", "tench"),
    ]


def test_folder_class_missing_from_classes_file_is_an_error(tmp_path):
    g.make_image_folder(tmp_path / "data", {"cat": 1, "dog": 1, "owl": 0})
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\n")
    with pytest.raises(InputError) as err:
        discover(tmp_path / "data", classes_file=classes)
    assert "1 class folders" in err.value.message and err.value.message.endswith(": dog")
    assert "TAB" not in err.value.hint


def test_classes_file_written_with_spaces_gets_a_tab_hint(tmp_path):
    g.make_image_folder(tmp_path / "data", {"n01": 1})
    classes = tmp_path / "classes.txt"
    classes.write_text("n01 tench\n")
    with pytest.raises(InputError) as err:
        discover(tmp_path / "data", classes_file=classes)
    assert "n01" in err.value.message and "TAB" in err.value.hint


@pytest.mark.parametrize("setup", ["missing", "empty_dir", "only_loose_files", "unknown_extension"])
def test_bad_data_argument(tmp_path, setup):
    target = tmp_path / "data"
    if setup == "empty_dir":
        target.mkdir()
    elif setup == "only_loose_files":
        g.make_png(target / "a.png")
    elif setup == "unknown_extension":
        target = tmp_path / "data.xlsx"
        target.write_text("x")
    with pytest.raises(InputError) as err:
        discover(target)
    assert target.name in err.value.message
    assert err.value.hint


# ---------------------------------------------------------------- manifests


@pytest.fixture
def images(tmp_path):
    g.make_image_folder(tmp_path / "imgs", {"cat": 2, "dog": 1})
    return tmp_path


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "parquet"])
def test_manifest_resolves_paths_and_carries_extras(images, ext):
    rows = [
        {"path": "imgs/dog/dog_000.png", "label": "dog", "clean_label": "dog"},
        {"path": "imgs/cat/cat_000.png", "label": "cat", "clean_label": "dog"},
        {"path": str(images / "imgs/cat/cat_001.png"), "label": "cat", "clean_label": None},
    ]
    found = discover(g.write_manifest(images / f"m.{ext}", rows))
    assert found.kind == ("csv" if ext == "tsv" else ext)
    assert found.root == images.resolve()
    assert found.extra_columns == ["clean_label"]
    assert [c.name for c in found.classes] == ["cat", "dog"]
    assert ids(found) == ["imgs/cat/cat_000.png", "imgs/cat/cat_001.png", "imgs/dog/dog_000.png"]
    cands = by_id(found)
    assert cands["imgs/cat/cat_000.png"].extras == {"clean_label": "dog"}
    assert cands["imgs/cat/cat_001.png"].extras == {"clean_label": None}
    assert cands["imgs/dog/dog_000.png"].path == images.resolve() / "imgs/dog/dog_000.png"
    assert all(c.status is None for c in found.candidates)


def test_manifest_problem_rows_get_reasons(images):
    rows = [
        {"path": "imgs/cat/cat_000.png", "label": "cat"},
        {"path": "imgs/cat/gone.png", "label": "cat"},
        {"path": "../outside.png", "label": "dog"},
        {"path": "/etc/hostname", "label": "dog"},
        {"path": "imgs/cat/cat_001.png", "label": "  "},
        {"path": "imgs/dog/../dog/dog_000.png", "label": "bird"},
    ]
    found = discover(g.write_manifest(images / "m.jsonl", rows))
    cands = by_id(found)
    assert cands["imgs/cat/gone.png"].status is Reason.missing
    assert "line 2" in cands["imgs/cat/gone.png"].detail
    outside = [c for c in found.candidates if c.status is Reason.outside_root]
    assert [c.sample_id for c in outside] == [(images.parent / "outside.png").as_posix()]
    assert cands["/etc/hostname"].status is None  # absolute paths are used as written
    assert cands["imgs/cat/cat_001.png"].status is Reason.unlabeled
    assert cands["imgs/dog/dog_000.png"].label == "bird"
    assert [c.name for c in found.classes] == ["bird", "cat", "dog"]


def test_allow_outside_root_uses_absolute_ids(images):
    outside = g.make_png(images.parent / "far" / "x.png")
    manifest = g.write_manifest(images / "m.csv", [{"path": str(outside), "label": "cat"}])
    found = discover(manifest, allow_outside_root=True)
    (c,) = found.candidates
    assert c.sample_id == outside.as_posix() and c.status is None


def test_explicit_root(images):
    (images / "lists").mkdir()
    manifest = g.write_manifest(images / "lists" / "m.csv", [{"path": "cat/cat_000.png", "label": "cat"}])
    found = discover(manifest, root=images / "imgs")
    assert found.root == (images / "imgs").resolve() and ids(found) == ["cat/cat_000.png"]
    assert found.candidates[0].status is None


def test_duplicate_rows_name_both_lines(images):
    rows = [{"path": "imgs/cat/cat_000.png", "label": "cat"}, {"path": "imgs/dog/dog_000.png", "label": "dog"}]
    rows.append({"path": "./imgs/cat/cat_000.png", "label": "dog"})
    with pytest.raises(InputError, match=r"lists imgs/cat/cat_000.png twice \(line 2 and line 4\)"):
        discover(g.write_manifest(images / "m.csv", rows))


def test_labels_not_in_classes_file_are_unlabeled(images):
    rows = [{"path": "imgs/cat/cat_000.png", "label": "cat"}, {"path": "imgs/dog/dog_000.png", "label": "dog"}]
    classes = images / "classes.json"
    classes.write_text(json.dumps({"cat": "kitty", "cow": None}))
    found = discover(g.write_manifest(images / "m.csv", rows), classes_file=classes)
    assert [(c.name, c.prompt_name) for c in found.classes] == [("cat", "kitty"), ("cow", "cow")]
    dog = by_id(found)["imgs/dog/dog_000.png"]
    assert dog.status is Reason.unlabeled and "'dog'" in dog.detail


def test_integer_labels_sort_numerically(images):
    rows = [{"path": f"imgs/cat/cat_00{i}.png", "label": lab} for i, lab in enumerate([10, 2])]
    rows.append({"path": "imgs/dog/dog_000.png", "label": 1})
    found = discover(g.write_manifest(images / "m.parquet", rows))
    assert [c.name for c in found.classes] == ["1", "2", "10"]
    assert by_id(found)["imgs/cat/cat_000.png"].label == "10"


def test_column_aliases(images):
    rows = [{"filepath": "imgs/cat/cat_000.png", "class": "cat", "path2": 1}]
    found = discover(g.write_manifest(images / "m.csv", rows))
    assert ids(found) == ["imgs/cat/cat_000.png"] and found.extra_columns == ["path2"]


def test_missing_columns_are_named(images):
    with pytest.raises(InputError) as err:
        discover(g.write_manifest(images / "m.csv", [{"img": "imgs/cat/cat_000.png", "y": "cat"}]))
    assert "it has: img, y" in err.value.message and "path" in err.value.hint


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("m.csv", "path,label\n", "has no rows"),
        ("m.jsonl", "\n\n", "has no rows"),
        ("m.jsonl", '{"path": "a.png", "label": "x"}\nnot json\n', "invalid JSON on line 2"),
        ("m.jsonl", "[1, 2]\n", "line 1 of the manifest"),
        ("m.csv", "path,label\na.png,cat,extra\n", "more fields than header columns on line 2"),
        ("m.csv", "path,label\n,cat\n", "no path on line 2"),
        ("m.parquet", "not parquet", "cannot read the Parquet manifest"),
        ("m.csv", "path,label\nmissing.png,\n", "no labelled rows"),
    ],
)
def test_bad_manifests(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as err:
        discover(path)
    assert message in err.value.message and str(path) in err.value.message


def test_root_is_for_manifests_only(tmp_path):
    g.make_image_folder(tmp_path, {"cat": 1})
    with pytest.raises(InputError, match="manifests only"):
        discover(tmp_path, root=tmp_path)


# ---------------------------------------------------------------- classes files


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("c.txt", "\ufeffmaple_tree\n\n# comment\nn01\t tench \n"),
        ("c.json", '{"maple_tree": null, "n01": "tench"}'),
        ("c.yaml", "maple_tree:\nn01: tench\n"),
        ("c.yml", "- maple_tree\n- n01\n"),
    ],
)
def test_classes_file_formats(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    want = [("maple_tree", "maple tree"), ("n01", "n01" if name == "c.yml" else "tench")]
    assert read_classes_file(path) == want


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.txt", "a\nb\na\n", "lists 'a' twice"),
        ("c.txt", "# nothing\n\n", "lists no classes"),
        ("c.json", "{bad", "not valid JSON"),
        ("c.yaml", "a: [1\n", "not valid YAML"),
        ("c.yaml", "yes: x\n", "not text"),
        ("c.json", '{"a": 3}', "prompt name that is not text"),
        ("c.json", '"a"', "must hold a mapping or a list"),
        ("missing.txt", None, "cannot read the classes file"),
    ],
)
def test_bad_classes_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_classes_file(path)
    assert message in err.value.message and str(path) in err.value.message
