"""The report in a real browser: headless Chromium loads it from a file, runs its script,
renders data strings as text, and takes a screenshot. Skipped where Chromium is absent."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from labelclean.stages.report import ReportConfig, run_report
from labelclean.stages.review import ReviewConfig, run_review
from reportgen import make_selected_workdir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")]
EVIL_CLASS = "<script>alert(1)</script>"
EVIL_FOLDER = "<img src=x onerror=alert(2)>"


def elements(dom: str) -> list[tuple[str, list[str]]]:
    """(tag, attribute names) of every element in the serialised DOM."""
    from html.parser import HTMLParser

    found: list[tuple[str, list[str]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, [name for name, _ in attrs]))

    Collect().feed(dom)
    return found


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=3000", *args]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    fx = make_selected_workdir(root, classes=("cat", "dog", EVIL_FOLDER, EVIL_CLASS), n_per_class=16, noise=0.3,
                               seed=4)
    dec = root / "decisions.csv"
    with dec.open("w", newline="") as f:
        csv.writer(f).writerows([("sample_id", "decision"), (fx.flagged[0], "relabel:dog")])
    run_review(fx.wd, ReviewConfig(decisions=dec))
    return run_report(fx.wd, ReportConfig(out=root / "report.html")).outputs[0]


def test_rendered_text_and_escaping(report, tmp_path):
    result = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "labelclean report" in dom and "Suspected mislabels" in dom
    assert re.search(r"page 1 of \d+ \(\d+ samples\)", dom), "the gallery script ran"
    assert dom.count('class="card"') > 0
    # data strings are text nodes: serialised escaped, never as elements
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=alert(2)&gt;" in dom
    tags = elements(dom)
    assert [t for t, _ in tags].count("script") == 2, "only the report's own two script elements"
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")], "no event-handler attribute"
    assert "review: relabel:dog → keep as dog" in dom


def test_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    result = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1280, 2000)
        colors = img.convert("RGB").resize((64, 100)).getcolors(64 * 100)
        assert colors is None or len(colors) > 20, "the page rendered more than a blank canvas"
