"""The review app in a real browser: Playwright driving the system Chromium (never a
downloaded one). One server process per test module; the tests run in order and share it.
Skipped where Playwright or /usr/bin/chromium is absent (`.ci/run` installs both)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reviewkit import Server, make_review_workdir

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
EVIL = "<img src=x onerror=alert(1)>"
CLASSES = ("cat", "dog", "fox", EVIL)
ARTIFACTS = Path(os.environ.get("LABELCLEAN_TEST_ARTIFACTS", "")) if os.environ.get("LABELCLEAN_TEST_ARTIFACTS") else None


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return make_review_workdir(tmp_path_factory.mktemp("review"), classes=CLASSES, n_per_class=30, noise=0.4, seed=5)


@pytest.fixture(scope="module")
def server(fx):
    srv = Server(fx.wd.root)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    open_app(pg, server.url)
    yield pg
    ctx.close()


def open_app(pg, url):
    pg.goto(url)
    pg.wait_for_selector("body[data-ready='1']", timeout=20_000)


def stored(fx) -> dict[str, str]:
    if not fx.wd.decisions.exists():
        return {}
    rows = pq.read_table(fx.wd.decisions).to_pylist()
    return {r["sample_id"]: r["decision"] + (f":{r['label']}" if r["label"] else "") for r in rows}


def current_id(pg) -> str:
    return pg.eval_on_selector(".card.current", "e => e.dataset.id")


def wait_saved(pg, fx, n):
    pg.wait_for_function("n => document.getElementById('progress-text').textContent.startsWith(n + ' /')", arg=n)
    assert len(stored(fx)) == n


def test_keyboard_flow_twenty_decisions(page, fx, server):
    pg = page
    total = len(fx.flagged)
    assert total >= 25
    assert pg.inner_text("#progress-text") == f"0 / {total} suspects reviewed"
    expected: dict[str, str] = {}
    for i in range(20):
        sid = current_id(pg)
        item = pg.evaluate("id => fetch('api/items?' + new URLSearchParams({token: new URLSearchParams(location.search)"
                           ".get('token'), limit: 200})).then(r => r.json()).then(r => r.items.find(x => x.id === id))", sid)
        if i % 5 == 0:
            pg.keyboard.press("k")
            expected[sid] = "reject"
        elif i % 5 == 1 and item["suggested"] is not None:
            pg.keyboard.press("a")
            expected[sid] = f"relabel:{item['suggested']}"
        elif i % 5 == 2:
            pg.keyboard.press("d")
            expected[sid] = "drop"
        elif i % 5 == 3 and item["candidates"]:
            pg.keyboard.press("1")
            expected[sid] = f"relabel:{item['candidates'][0]}"
        else:  # class picker with type-ahead
            target = next(c for c in ("fox", "dog") if c != item["given"])
            pg.keyboard.press("c")
            pg.wait_for_selector("#picker:not([hidden])")
            pg.keyboard.type(target[:2])
            pg.keyboard.press("Enter")
            expected[sid] = f"relabel:{target}"
        wait_saved(pg, fx, i + 1)
        assert current_id(pg) != sid, "the cursor moved on"
    assert stored(fx) == expected
    assert pg.inner_text("#progress-text") == f"20 / {total} suspects reviewed"
    counts = pg.inner_text("#counts")
    assert f"dropped: {list(expected.values()).count('drop')}" in counts
    # skip moves on without deciding
    before = current_id(pg)
    pg.keyboard.press("s")
    assert current_id(pg) != before and len(stored(fx)) == 20 and "skipped: 1" in pg.inner_text("#counts")
    pg.keyboard.press("ArrowLeft")
    assert current_id(pg) == before
    assert not pg.errors


def test_undo(page, fx):
    pg = page
    last_before = stored(fx)
    sid = current_id(pg)
    pg.keyboard.press("d")
    wait_saved(pg, fx, 21)
    pg.keyboard.press("u")
    wait_saved(pg, fx, 20)
    assert stored(fx) == last_before and current_id(pg) == sid
    # undo of a changed decision restores the earlier one
    first = next(iter(last_before))
    pg.evaluate("() => window.scrollTo(0, 0)")
    pg.click(f".card[data-id='{first}']")
    pg.keyboard.press("d")
    pg.wait_for_function("id => document.getElementById('status').textContent === `saved: ${id} → drop`", arg=first)
    assert stored(fx)[first] == "drop"
    pg.keyboard.press("Control+z")
    pg.wait_for_function("id => document.getElementById('status').textContent.startsWith(`undone: ${id}`)", arg=first)
    assert stored(fx) == last_before


def test_fast_typing_loses_no_key(page, fx, server):
    pg = page
    open_app(pg, server.url)  # the cursor is on the first suspect not reviewed yet
    before = stored(fx)
    items = pg.evaluate("() => fetch('api/items?' + new URLSearchParams({token: new URLSearchParams(location.search)"
                        ".get('token'), limit: 200})).then(r => r.json())")["items"]
    ids = [it["id"] for it in items]
    start = ids.index(current_id(pg))
    pg.keyboard.type("ddkdk", delay=0)  # faster than the saves answer
    wait_saved(pg, fx, len(before) + 5)
    got = stored(fx)
    assert [got[s] for s in ids[start : start + 5]] == ["drop", "drop", "reject", "drop", "reject"]
    assert current_id(pg) == ids[start + 5]


def test_filter_by_given_class_and_state(page, fx):
    pg = page
    pg.select_option("#f-given", label="dog")
    pg.wait_for_function("() => document.getElementById('f-total').textContent.includes('match')")
    n_dog = sum(fx.given[s] == "dog" for s in fx.flagged)
    pg.wait_for_function(f"() => document.getElementById('f-total').textContent.startsWith('{n_dog} ')")
    givens = pg.eval_on_selector_all(".card .given", "els => els.map(e => e.textContent)")
    assert givens and set(givens) == {"dog"}
    pg.select_option("#f-state", value="todo")
    todo = sum(fx.given[s] == "dog" and s not in stored(fx) for s in fx.flagged)
    pg.wait_for_function(f"() => document.getElementById('f-total').textContent.startsWith('{todo} ')")
    pg.click("#f-clear")
    pg.wait_for_function(f"() => document.getElementById('f-total').textContent.startsWith('{len(fx.flagged)} ')")


def test_reload_resumes_at_the_first_unreviewed(page, fx, server):
    pg = page
    open_app(pg, server.url)
    decided = stored(fx)
    cur = current_id(pg)
    assert cur not in decided
    items = pg.evaluate("() => fetch('api/items?' + new URLSearchParams({token: new URLSearchParams(location.search)"
                        ".get('token'), limit: 200})).then(r => r.json())")
    assert cur == next(it["id"] for it in items["items"] if it["id"] not in decided)
    assert pg.inner_text("#progress-text").startswith(f"{len(decided)} /")


def test_injected_class_name_is_text(page, fx):
    pg = page
    pg.select_option("#f-given", label=EVIL)
    pg.wait_for_selector(".card")
    pg.keyboard.press("g")  # single view: given, suggestions, neighbours, candidates
    pg.wait_for_selector("#single h2")
    pg.wait_for_function("() => { const i = document.querySelector('#single .main-img img'); "
                         "return i && i.complete && i.naturalWidth > 0; }")
    assert pg.is_hidden("#grid") and pg.is_visible("#single .main-img img")
    pg.click("#toggle-pairs")
    text = pg.inner_text("body")
    assert EVIL in text
    assert pg.eval_on_selector_all("img", "els => els.filter(e => e.getAttribute('src') === 'x').length") == 0
    assert pg.evaluate("() => [...document.querySelectorAll('*')].some(e => e.hasAttribute('onerror'))") is False
    assert pg.dialogs == [] and not pg.errors
    options = pg.eval_on_selector_all("#f-given option", "els => els.map(e => e.textContent)")
    assert EVIL in options
    pg.keyboard.press("g")
    pg.click("#f-clear")


def test_screenshot_artifact(page, tmp_path):
    pg = page
    pg.keyboard.press("Escape")
    shot = tmp_path / "review-app.png"
    pg.screenshot(path=str(shot), full_page=False)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    if ARTIFACTS is not None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, ARTIFACTS / shot.name)


def test_token_less_requests_are_refused(server, fx):
    before = stored(fx)
    for url in (f"{server.base}/", f"{server.base}/api/items", f"{server.base}/img?id={urllib.parse.quote(fx.flagged[0])}",
                f"{server.base}/api/summary?token=wrong"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url, timeout=10)
        assert err.value.code == 403
    req = urllib.request.Request(f"{server.base}/api/decide?token={server.token}", method="POST",
                                 data=json.dumps({"id": fx.flagged[0], "decision": "drop"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 403
    assert stored(fx) == before


def test_killed_mid_review_then_restarted_loses_nothing(browser, fx, server):
    ctx = browser.new_context()
    pg = ctx.new_page()
    open_app(pg, server.url)
    before = stored(fx)
    sid = current_id(pg)
    pg.keyboard.press("d")
    wait_saved(pg, fx, len(before) + 1)
    server.kill()  # SIGKILL right after the save answered
    after = stored(fx)
    assert after == {**before, sid: "drop"}
    again = Server(fx.wd.root)
    try:
        open_app(pg, again.url)
        assert pg.inner_text("#progress-text").startswith(f"{len(after)} /")
        assert current_id(pg) not in after
        pg.keyboard.press("k")
        wait_saved(pg, fx, len(after) + 1)
    finally:
        again.stop()
        ctx.close()


@pytest.mark.slow
def test_a_hundred_suspects_by_keyboard_alone(browser, tmp_path):
    big = make_review_workdir(tmp_path, classes=CLASSES, n_per_class=70, noise=0.45, seed=9)
    assert len(big.flagged) >= 100
    srv = Server(big.wd.root)
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        open_app(pg, srv.url)
        for i in range(100):
            pg.keyboard.press("adk"[i % 3])  # accept, drop, keep
            if pg.inner_text("#status").startswith("no suggestion"):  # said at once by the key handler
                pg.keyboard.press("k")
            pg.wait_for_function("n => document.getElementById('progress-text').textContent.startsWith(n + ' /')",
                                 arg=i + 1)
        assert len(stored(big)) == 100
        assert pg.inner_text("#progress-text") == f"100 / {len(big.flagged)} suspects reviewed"
    finally:
        ctx.close()
        srv.stop()
