"""Reviewer decisions: parsing, storage, and the effective selection every export uses."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from labelclean.store import parquet_io, schemas
from labelclean.cli import app
from labelclean.core.errors import InputError
from labelclean.review.decisions import effective_selection, parse_decision, read_decisions, resolve
from labelclean.stages.review import ReviewConfig, run_review
from labelclean.ingest.types import ClassInfo
from reportgen import make_selected_workdir

CLASSES = [ClassInfo(0, "cat", "cat"), ClassInfo(1, "dog", "dog"), ClassInfo(2, "maple_tree", "maple tree")]
runner = CliRunner()


@pytest.fixture()
def fx(tmp_path):
    return make_selected_workdir(tmp_path, n_per_class=10, noise=0.3, seed=3)


def _write_csv(path, rows, header=("sample_id", "decision")):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize(
    "text, expected",
    [
        ("accept", ("accept", None)),
        (" Reject ", ("reject", None)),
        ("DROP", ("drop", None)),
        ("relabel:dog", ("relabel", "dog")),
        ("relabel: maple tree", ("relabel", "maple_tree")),
        ("relabel:maple_tree", ("relabel", "maple_tree")),
    ],
)
def test_parse_decision(text, expected):
    d = parse_decision(text, CLASSES)
    assert (d.decision, d.label) == expected


def test_blank_decision_is_not_reviewed():
    assert parse_decision("  ", CLASSES) is None


def test_unknown_class_names_line_and_valid_classes(tmp_path):
    f = _write_csv(tmp_path / "d.csv", [("a.png", "accept"), ("b.png", "relabel:cow")])
    with pytest.raises(InputError) as e:
        read_decisions(f, CLASSES)
    assert f"{f}:3:" in e.value.message
    assert "unknown class 'cow'" in e.value.message
    assert "valid classes: cat, dog, maple_tree" in e.value.message


def test_unknown_decision_lists_choices(tmp_path):
    f = _write_csv(tmp_path / "d.csv", [("a.png", "maybe")])
    with pytest.raises(InputError, match=r"d.csv:2: unknown decision 'maybe'; use one of: accept, reject, drop"):
        read_decisions(f, CLASSES)


def test_missing_columns(tmp_path):
    f = _write_csv(tmp_path / "d.csv", [("a.png", "x")], header=("file", "verdict"))
    with pytest.raises(InputError, match="needs a 'decision' column"):
        read_decisions(f, CLASSES)


def test_conflicting_duplicates_are_refused(tmp_path):
    f = _write_csv(tmp_path / "d.csv", [("a.png", "accept"), ("a.png", "accept"), ("a.png", "drop")])
    with pytest.raises(InputError, match=r"d.csv:4: conflicting decisions for a.png \(also on line 3\)"):
        read_decisions(f, CLASSES)


def test_jsonl_and_path_mapping(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(
        json.dumps({"path": "/data/cat/1.png", "decision": "reject"}) + "\n\n"
        + json.dumps({"sample_id": "dog/2.png", "decision": "relabel:cat"}) + "\n"
        + json.dumps({"sample_id": "dog/3.png", "decision": None}) + "\n"
    )
    t = read_decisions(f, CLASSES, path_to_id={"/data/cat/1.png": "cat/1.png"})
    assert t.schema == schemas.DECISIONS
    assert t.to_pylist() == [
        {"sample_id": "cat/1.png", "decision": "reject", "label": None, "source": str(f)},
        {"sample_id": "dog/2.png", "decision": "relabel", "label": "cat", "source": str(f)},
    ]


def _selection(rows):
    cols = list(zip(*rows))
    return pa.table(
        {
            "sample_id": list(cols[0]), "label_id": pa.array(cols[1], pa.int32()), "clean": list(cols[2]),
            "clean_score": pa.array([0.9 if c else 0.1 for c in cols[2]], pa.float32()),
            "failed": ["" if c else "p_given" for c in cols[2]],
            "suggested_label_id": pa.array(cols[3], pa.int32()),
            "suggested_confidence": pa.array(cols[4], pa.float32()),
            "outlier": [False] * len(rows), "decision": ["keep"] * len(rows),
        },
        schema=schemas.SELECTION,
    )


SEL = _selection([
    ("a", 0, True, None, None),  # clean
    ("b", 0, False, 1, 0.9),  # flagged, confident suggestion dog
    ("c", 0, False, 1, 0.4),  # flagged, weak suggestion dog
    ("d", 1, False, None, None),  # flagged, no suggestion
    ("e", 1, False, 0, 0.8),
])


def _decisions(pairs):
    return pa.table(
        {"sample_id": [p[0] for p in pairs], "decision": [p[1] for p in pairs], "label": [p[2] for p in pairs],
         "source": ["x"] * len(pairs)},
        schema=schemas.DECISIONS,
    )


def _result(table):
    return {r["sample_id"]: (r["keep"], r["final_label_id"], r["reviewed"], r["review_decision"])
            for r in table.to_pylist()}


def test_automatic_choice_keeps_clean_only():
    r = _result(resolve(SEL, None, CLASSES))
    assert r == {"a": (True, 0, False, None), "b": (False, 0, False, None), "c": (False, 0, False, None),
                 "d": (False, 1, False, None), "e": (False, 1, False, None)}


def test_apply_relabels_respects_min_confidence():
    r = _result(resolve(SEL, None, CLASSES, apply_relabels=True, min_confidence=0.5))
    assert r["b"][:2] == (True, 1) and r["e"][:2] == (True, 0)
    assert r["c"][:2] == (False, 0) and r["d"][:2] == (False, 1)
    r = _result(resolve(SEL, None, CLASSES, apply_relabels=True))
    assert r["c"][:2] == (True, 1)


def test_reviewer_decisions_override():
    dec = _decisions([("a", "drop", None), ("b", "reject", None), ("c", "accept", None), ("d", "accept", None),
                      ("e", "relabel", "maple_tree"), ("zzz", "accept", None)])
    r = _result(resolve(SEL, dec, CLASSES, apply_relabels=True, min_confidence=0.95))
    assert r["a"] == (False, 0, True, "drop")
    assert r["b"] == (True, 0, True, "reject")
    assert r["c"] == (True, 1, True, "accept")  # accepted suggestion: relabelled
    assert r["d"] == (False, 1, True, "accept")  # flagged without suggestion: confirmed wrong
    assert r["e"] == (True, 2, True, "relabel:maple_tree")


def test_accept_on_clean_sample_keeps_given_label():
    r = _result(resolve(SEL, _decisions([("a", "accept", None)]), CLASSES))
    assert r["a"] == (True, 0, True, "accept")


def test_import_and_effective_selection_survive_reselect(fx, tmp_path):
    flagged = fx.flagged[:3]
    f = _write_csv(tmp_path / "dec.csv", [(flagged[0], "reject"), (flagged[1], "relabel:fox"), (flagged[2], "drop"),
                                          ("nope/none.png", "accept")])
    rep = run_review(fx.wd, ReviewConfig(decisions=f))
    assert rep.summary["imported"] == 3 and rep.summary["unknown_samples"] == 1
    assert rep.counts == {"drop": 1, "reject": 1, "relabel": 1}

    sel, meta = parquet_io.read_table(fx.wd.selection, "selection")  # re-running select rewrites it
    parquet_io.write_table(fx.wd.selection, sel, "selection", meta.get("model_id"))
    eff = {r["sample_id"]: r for r in effective_selection(fx.wd).to_pylist()}
    assert eff[flagged[0]]["keep"] and eff[flagged[0]]["final_label_id"] == eff[flagged[0]]["label_id"]
    assert eff[flagged[1]]["keep"] and eff[flagged[1]]["final_label_id"] == fx.classes.index("fox")
    assert not eff[flagged[2]]["keep"] and eff[flagged[2]]["review_decision"] == "drop"
    assert sum(r["reviewed"] for r in eff.values()) == 3


def test_later_import_updates_per_sample_and_replace(fx, tmp_path):
    a, b = fx.flagged[:2]
    run_review(fx.wd, ReviewConfig(decisions=_write_csv(tmp_path / "1.csv", [(a, "reject"), (b, "drop")])))
    run_review(fx.wd, ReviewConfig(decisions=_write_csv(tmp_path / "2.csv", [(a, "drop")])))
    stored, _ = parquet_io.read_table(fx.wd.decisions, "decisions")
    assert dict(zip(stored["sample_id"].to_pylist(), stored["decision"].to_pylist())) == {a: "drop", b: "drop"}
    run_review(fx.wd, ReviewConfig(decisions=_write_csv(tmp_path / "3.csv", [(b, "reject")]), replace=True))
    stored, _ = parquet_io.read_table(fx.wd.decisions, "decisions")
    assert stored["sample_id"].to_pylist() == [b]


def test_cli_review_warns_about_unknown_samples(fx, tmp_path):
    f = _write_csv(tmp_path / "d.csv", [(fx.flagged[0], "accept"), ("x/1.png", "drop"), ("x/2.png", "drop")])
    r = runner.invoke(app, ["review", "-w", str(fx.wd.root), "--decisions", str(f)])
    assert r.exit_code == 0, r.output
    assert "2 decisions name samples that are not in this workdir (first: x/1.png)" in r.stderr
    assert r.stdout.startswith("1 decisions imported, 1 stored in ")


def test_cli_review_bad_class_exits_1(fx, tmp_path):
    f = _write_csv(tmp_path / "d.csv", [(fx.flagged[0], "relabel:unicorn")])
    r = runner.invoke(app, ["review", "-w", str(fx.wd.root), "--decisions", str(f), "--json"])
    assert r.exit_code == 1
    assert "d.csv:2: unknown class 'unicorn' in relabel:unicorn; valid classes: cat, dog, fox" in r.stderr
    assert r.stdout == ""
