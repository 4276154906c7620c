"""The option registry: one entry per option, defaults from the stage configs, method-dependent options."""

from __future__ import annotations

import dataclasses

import pytest
import typer
from typer.testing import CliRunner

from labelclean.cli.options import OPTIONS, Given, default_of, pipeline_options, stage_options, type_of, uses
from labelclean.stages.configs import CONFIGS, PIPELINE, ScoreConfig, SelectConfig

runner = CliRunner()


def _fields(ref: str) -> dataclasses.Field:
    stage, name = ref.split(".")
    return {f.name: f for f in dataclasses.fields(CONFIGS[stage])}[name]


@pytest.mark.parametrize("key", sorted(k for k, o in OPTIONS.items() if len(o.feeds) > 1))
def test_an_option_feeding_several_stages_has_one_default(key):
    defaults = {ref: _fields(ref).default for ref in OPTIONS[key].feeds}
    assert len(set(defaults.values())) == 1, defaults


def test_every_entry_names_real_fields_and_has_a_type():
    for key, opt in OPTIONS.items():
        for ref in opt.feeds:
            _fields(ref)  # KeyError for a misspelt field
        assert type_of(key) is not None, key
        if opt.needs is not None:
            assert opt.needs[0] in OPTIONS, key


def test_flags_are_unique_within_each_command():
    from typer.main import get_command

    from labelclean.cli import app

    for name, cmd in get_command(app).commands.items():
        flags = [f for p in cmd.params for f in (*p.opts, *p.secondary_opts)]
        assert len(flags) == len(set(flags)), (name, flags)


def test_run_offers_the_select_thresholds_with_selects_defaults():
    keys = pipeline_options(PIPELINE)
    assert {"theta_cons", "theta_relabel", "estimators", "seed", "model", "format"} <= set(keys)
    assert default_of("theta_cons") == SelectConfig.theta_cons == 0.8
    assert "temperature" in stage_options("score") and "temperature" not in keys


def test_a_new_option_needs_only_its_entry_and_its_field(monkeypatch):
    @dataclasses.dataclass
    class Cfg(ScoreConfig):
        knn_metric: str = "cosine"

    monkeypatch.setitem(CONFIGS, "score", Cfg)
    monkeypatch.setitem(OPTIONS, "knn_metric", dataclasses.replace(
        OPTIONS["k"], flags=("--knn-metric",), help="cosine or dot.", feeds=("score.knn_metric",)))
    app = typer.Typer()
    seen = {}

    @app.command()
    @uses(*stage_options("score"))
    def score(o: Given) -> None:
        seen["cfg"] = o.config("score")

    help_text = runner.invoke(app, ["--help"]).stdout
    assert "--knn-metric" in help_text and "[default: cosine]" in help_text
    r = runner.invoke(app, ["--knn-metric", "dot", "--k", "3"])
    assert r.exit_code == 0, r.output
    assert (seen["cfg"].knn_metric, seen["cfg"].k, seen["cfg"].temperature) == ("dot", 3, None)


def test_given_config_leaves_unoffered_fields_at_their_defaults():
    cfg = Given({"seed": 7, "theta_relabel": 0.3}).config("select")
    assert cfg == SelectConfig(seed=7, theta_relabel=0.3)


def test_an_option_default_left_alone_is_not_a_usage_error():
    app = typer.Typer()

    @app.command()
    @uses("method", "theta_cons")
    def select(o: Given) -> None:
        print(o.config("select").theta_cons)

    assert runner.invoke(app, []).stdout == "0.8\n"
    assert runner.invoke(app, ["--method", "criteria", "--theta-cons", "0.9"]).stdout == "0.9\n"
    r = runner.invoke(app, ["--theta-cons", "0.9"])
    assert r.exit_code == 1 and "only has an effect with --method criteria" in str(r.exception)


def test_train_options_of_the_other_method_are_usage_errors(tmp_path):
    from labelclean.cli import app

    r = runner.invoke(app, ["train", "-w", str(tmp_path), "--warmup", "2"])
    assert (r.exit_code, r.stderr) == (2, "Error: --warmup only has an effect with --method deft or --method css "
                                          "(got --method mixfix)\nHint: add --method deft, or drop --warmup\n")
