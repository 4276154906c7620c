"""Issue 14 item 1 and 7: re-importing decisions merges, encodings give one-line errors."""

from __future__ import annotations

import pytest

from labelclean.core.errors import InputError
from labelclean.review.decisions import merge_decisions, read_decisions
from labelclean.stages.review import ReviewConfig, run_review
from labelclean.store import parquet_io
from labelclean.store.tables import ClassInfo
from reportgen import make_selected_workdir

CLASSES = [ClassInfo(0, "cat", "cat"), ClassInfo(1, "dog", "dog")]


@pytest.fixture()
def fx(tmp_path):
    return make_selected_workdir(tmp_path, n_per_class=8, noise=0.3, seed=5, broken=False)


def _stored(wd):
    table, _ = parquet_io.read_table(wd.decisions, "decisions")
    return dict(zip(table["sample_id"].to_pylist(), table["decision"].to_pylist()))


def test_reimporting_the_same_file_is_a_no_op(fx, tmp_path):
    one = tmp_path / "one.csv"
    one.write_text(f"sample_id,decision\n{fx.flagged[0]},drop\n")
    first = run_review(fx.wd, ReviewConfig(decisions=one))
    before = fx.wd.decisions.read_bytes()
    again = run_review(fx.wd, ReviewConfig(decisions=one))
    assert _stored(fx.wd) == {fx.flagged[0]: "drop"}
    assert fx.wd.decisions.read_bytes() == before
    assert first.summary["changed"] == 1 and again.summary["changed"] == 0


def test_later_decision_replaces_the_earlier_one(fx, tmp_path):
    a = fx.flagged[0]
    (tmp_path / "1.csv").write_text(f"sample_id,decision\n{a},drop\n")
    (tmp_path / "2.csv").write_text(f"sample_id,decision\n{a},reject\n")
    run_review(fx.wd, ReviewConfig(decisions=tmp_path / "1.csv"))
    rep = run_review(fx.wd, ReviewConfig(decisions=tmp_path / "2.csv"))
    assert _stored(fx.wd) == {a: "reject"} and rep.summary["changed"] == 1


def test_merge_replacing_every_old_row(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("sample_id,decision\na.png,drop\nb.png,accept\n")
    old = read_decisions(f, CLASSES)
    f.write_text("sample_id,decision\nb.png,reject\na.png,drop\n")
    merged = merge_decisions(old, read_decisions(f, CLASSES))
    assert merged["sample_id"].to_pylist() == ["a.png", "b.png"]
    assert merged["decision"].to_pylist() == ["drop", "reject"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_non_utf8_decisions_file_is_one_line_error(tmp_path, suffix):
    f = tmp_path / f"excel{suffix}"
    text = "sample_id,decision\ncaf\u00e9.png,drop\n" if suffix == ".csv" else '{"sample_id": "caf\u00e9.png", "decision": "drop"}\n'
    f.write_bytes(text.encode("cp1252"))
    with pytest.raises(InputError) as e:
        read_decisions(f, CLASSES)
    assert e.value.message == f"decisions file {f} is not UTF-8 text (byte 0xe9 at position {text.index('é')})"
    assert e.value.hint == "save it as UTF-8 (in Excel: Save As > CSV UTF-8) and import it again"


def test_cli_reimport_twice_exits_0(fx, tmp_path):
    from typer.testing import CliRunner

    from labelclean.cli import app

    one = tmp_path / "one.csv"
    one.write_text(f"sample_id,decision\n{fx.flagged[0]},drop\n")
    args = ["review", "-w", str(fx.wd.root), "--decisions", str(one)]
    first, again = CliRunner().invoke(app, args), CliRunner().invoke(app, args)
    assert first.exit_code == again.exit_code == 0, again.output
    assert "every decision was already stored: nothing changed" in again.stderr
    assert "Traceback" not in again.output


def test_cli_excel_file_is_one_line(fx, tmp_path):
    from typer.testing import CliRunner

    from labelclean.cli import app

    f = tmp_path / "excel.csv"
    f.write_bytes(f"sample_id,decision,note\n{fx.flagged[0]},drop,caf\u00e9\n".encode("cp1252"))
    r = CliRunner().invoke(app, ["review", "-w", str(fx.wd.root), "--decisions", str(f)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"decisions file {f} is not UTF-8 text" in r.stderr and "save it as UTF-8" in r.stderr


def test_semicolon_decisions_file_is_read(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("sample_id;decision\na.png;drop\n")
    assert read_decisions(f, CLASSES)["decision"].to_pylist() == ["drop"]
