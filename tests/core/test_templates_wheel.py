"""The wheel carries templates/ (and the demo model); they are found from an install, not the checkout."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.slow  # builds and installs a wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    try:
        import hatchling  # noqa: F401
    except ImportError:
        pytest.skip("hatchling is not installed (pip install -e '.[test]')")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("labelclean-*.whl")
    return whl


def test_wheel_contains_templates(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "labelclean/templates/prompts/simple.txt",
        "labelclean/templates/prompts/imagenet80.txt",
        "labelclean/templates/descriptions/cifar10.yaml",
        "labelclean/templates/descriptions/cifar100.yaml",
    ):
        assert needed in names, needed


def test_installed_wheel_finds_templates_outside_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import labelclean, labelclean.core.templates as t\n"
        "p = t.template_path('prompts', 'simple.txt')\n"
        "assert str(p).startswith(%r), (labelclean.__file__, p)\n"
        "assert '{}' in p.read_text()\n" % str(target)
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)
