"""Meta-tests: every command has help with an example, --help stays light, README is true."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from labelclean import __version__
from labelclean.cli import app

REPO = Path(__file__).resolve().parent.parent
COMMANDS = sorted(get_command(app).commands)
runner = CliRunner()


def test_commands_registered():
    expected = {"embed", "score", "select", "evaluate", "noise", "export", "review", "report", "check", "run",
                "train", "predict", "demo"}
    assert expected <= set(COMMANDS), f"missing commands: {expected - set(COMMANDS)}"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_example(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout, f"`labelclean {name} --help` has no example"
    assert f"labelclean {name}" in result.stdout


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"labelclean {__version__}"


def test_unknown_command_is_usage_error():
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from labelclean.cli import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'open_clip', 'sklearn', 'faiss', 'timm', 'numpy', 'pyarrow', 'PIL') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_readme_quick_start_has_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", quick, re.S)
    commands = [line for b in blocks for line in b.strip().splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2, commands
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1].strip() in ci
    assert "labelclean demo" in commands[0]


def test_readme_mentions_every_command():
    readme = (REPO / "README.md").read_text()
    missing = [c for c in COMMANDS if f"labelclean {c}" not in readme]
    assert not missing, f"README does not mention: {missing}"
