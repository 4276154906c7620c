"""Label Studio hand-off: tasks with pre-annotations out, the annotated JSON export back in."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from labelclean.core.errors import InputError
from labelclean.export import label_studio as ls
from labelclean.review.decisions import effective_selection
from labelclean.review.label_studio import read_label_studio
from labelclean.store.tables import load_classes, load_manifest
from reportgen import make_selected_workdir

EVIL = '<b a="1">&amp</b>'


@pytest.fixture()
def fx(tmp_path):
    return make_selected_workdir(tmp_path, classes=("cat", "dog", EVIL), n_per_class=12, noise=0.3, seed=2)


def tasks_of(fx):
    manifest, meta = load_manifest(fx.wd, ["sample_id", "path"])
    return ls.build_tasks(effective_selection(fx.wd), manifest, load_classes(fx.wd), meta.get("data_root"))


def test_tasks_are_the_suspects_worst_first_with_predictions(fx):
    tasks = tasks_of(fx)
    assert sorted(t["data"]["sample_id"] for t in tasks) == sorted(fx.flagged)
    scores = [t["data"]["clean_score"] for t in tasks]
    assert scores == sorted(scores)
    t = tasks[0]
    sid = t["data"]["sample_id"]
    assert t["data"]["image"] == ls.LOCAL_FILES_PREFIX + sid.replace(" ", "%20")
    assert (fx.data / sid).exists(), "the local-files path is relative to the data root"
    given = t["predictions"][-1]
    assert given["model_version"] == "given-label"
    assert given["result"][0]["value"]["choices"] == [fx.given[sid]] and given["score"] == t["data"]["clean_score"]
    with_sugg = [t for t in tasks if t["data"]["suggested_label"] is not None]
    assert with_sugg, "the fixture has suggestions"
    p = with_sugg[0]["predictions"][0]
    assert p["model_version"].endswith("-suggestion") and p["result"][0]["from_name"] == "label"
    assert p["result"][0]["value"]["choices"] == [with_sugg[0]["data"]["suggested_label"]] and 0 < p["score"] <= 1


def test_image_url_is_quoted():
    assert ls.image_url("a b/c#d.png", "/data/a b/c#d.png", "/data") == "/data/local-files/?d=a%20b/c%23d.png"


def test_config_lists_every_class_escaped(fx):
    root = ET.fromstring(ls.config_xml(load_classes(fx.wd)))
    label = root.find("Choices[@name='label']")
    assert [c.get("value") for c in label] == ["cat", "dog", EVIL]
    assert root.find("Choices[@name='drop']/Choice").get("value") == ls.DROP_CHOICE
    assert root.find("Image").get("value") == "$image"


def annotate(task, choice, *, control="label", cancelled=False, at="2026-01-01T00:00:00Z"):
    task.setdefault("annotations", []).append({
        "was_cancelled": cancelled, "updated_at": at,
        "result": [{"from_name": control, "to_name": "image", "type": "choices", "value": {"choices": [choice]}}],
    })


def test_round_trip(fx, tmp_path):
    tasks = json.loads(ls.files(tasks_of(fx), load_classes(fx.wd))[ls.TASKS_FILE])
    a, b, c, d, e = tasks[:5]
    annotate(a, a["data"]["given_label"])  # the given label is right
    other = next(n for n in ("cat", "dog", EVIL) if n != b["data"]["given_label"])
    annotate(b, "cat" if other == "cat" else other)
    annotate(c, ls.DROP_CHOICE, control="drop")
    annotate(d, other if other != d["data"]["given_label"] else "dog", cancelled=True)  # cancelled: not reviewed
    annotate(e, "cat", at="2026-01-01T00:00:00Z")
    annotate(e, "dog", at="2026-02-01T00:00:00Z")  # the latest annotation wins
    del e["data"]["sample_id"]  # found from the image URL instead
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    table = read_label_studio(path, load_classes(fx.wd))
    got = {r["sample_id"]: (r["decision"], r["label"]) for r in table.to_pylist()}
    e_sid = e["data"]["image"].split("?d=")[1]
    e_want = ("reject", None) if e["data"]["given_label"] == "dog" else ("relabel", "dog")
    assert got == {a["data"]["sample_id"]: ("reject", None), b["data"]["sample_id"]: ("relabel", other),
                   c["data"]["sample_id"]: ("drop", None), e_sid: e_want}
    assert set(table["source"].to_pylist()) == {str(path)}


def test_json_min_rows(fx, tmp_path):
    sid = fx.flagged[0]
    path = tmp_path / "min.json"
    path.write_text(json.dumps([{"image": "x", "sample_id": sid, "given_label": fx.given[sid], "label": "dog"},
                                {"image": "y", "sample_id": fx.flagged[1]}]))
    table = read_label_studio(path, load_classes(fx.wd))
    want = ("reject", None) if fx.given[sid] == "dog" else ("relabel", "dog")
    assert [(r["sample_id"], r["decision"], r["label"]) for r in table.to_pylist()] == [(sid, *want)]


def test_errors_name_the_file_and_task(fx, tmp_path):
    classes = load_classes(fx.wd)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad.json: not valid JSON \(Expecting property name"):
        read_label_studio(bad, classes)
    bad.write_text(json.dumps({"tasks": []}))
    with pytest.raises(InputError, match=r"bad.json: expected a JSON list of tasks"):
        read_label_studio(bad, classes)
    task = {"data": {"sample_id": fx.flagged[0]}}
    annotate(task, "wolf")
    bad.write_text(json.dumps([task]))
    with pytest.raises(InputError) as err:
        read_label_studio(bad, classes)
    assert err.value.message.endswith("bad.json: task 1: unknown class 'wolf' in relabel:wolf; valid classes: "
                                      f"cat, dog, {EVIL}")
