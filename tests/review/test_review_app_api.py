"""The review app's HTTP API in-process (Starlette TestClient): token, decisions, filters, images."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from labelclean.review.decisions import effective_selection
from labelclean.review.server.app import create_app
from labelclean.review.server.data import ReviewData
from labelclean.review.server.decide import set_decision
from labelclean.review.server.index import IdIndex
from labelclean.review.server.neighbours import Neighbours, cache_path, query_neighbours
from reviewkit import make_review_workdir

TOKEN = "t0ken-for-tests"
EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture()
def fx(tmp_path):
    return make_review_workdir(tmp_path, classes=("cat", "dog", "fox", EVIL), n_per_class=20, noise=0.3, seed=3)


@pytest.fixture()
def client(fx):
    data = ReviewData(fx.wd)
    nb = Neighbours(fx.wd, data.sample_ids.take(data.view_rows("suspects")))
    nb.start(background=False)
    return TestClient(create_app(data, nb, TOKEN))


def post(client, sid, decision, token=TOKEN):
    return client.post("/api/decide", json={"id": sid, "decision": decision}, headers={"X-Labelclean-Token": token})


def get(client, path, **params):
    return client.get(path, params={"token": TOKEN, **params})


def test_every_route_needs_the_token(client, fx):
    sid = fx.flagged[0]
    for path in ("/", "/api/summary", "/api/items", "/static/app.js", f"/img?id={sid}"):
        r = client.get(path)
        assert r.status_code == 403, path
        assert r.text.startswith("403: missing or wrong token")
        assert client.get(path, params={"token": "wrong"}).status_code == 403
    assert get(client, "/").status_code == 200
    # a POST must carry the token in the header, not only in the URL
    assert client.post(f"/api/decide?token={TOKEN}", json={"id": sid, "decision": "drop"}).status_code == 403
    assert post(client, sid, "drop", token="wrong").status_code == 403
    assert not fx.wd.decisions.exists()


def test_page_carries_token_and_strict_csp(client):
    r = get(client, "/")
    assert f"static/app.js?token={TOKEN}" in r.text and "__TOKEN__" not in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "http://" not in r.text and "https://" not in r.text  # no external URL, works offline


def test_suspects_worst_first_with_details(client, fx):
    r = get(client, "/api/items", limit=100).json()
    assert r["total"] == len(fx.flagged) and r["first_todo"] == 0
    scores = [it["score"] for it in r["items"]]
    assert scores == sorted(scores)
    it = r["items"][0]
    assert it["given"] == fx.given[it["id"]] and it["state"] == "todo"
    assert len(it["top3"]) == 3 and it["failed"] == ["p_given", "consistency"]
    assert 5 <= len(it["neighbours"]) <= 8 and all(n["id"] != it["id"] for n in it["neighbours"])
    assert all(n["label"] == fx.given[n["id"]] for n in it["neighbours"])
    assert it["given"] not in it["candidates"] and len(it["candidates"]) <= 9


def test_decisions_are_stored_at_once_and_flow_into_the_effective_selection(client, fx):
    a, b, c = fx.flagged[:3]
    assert post(client, a, "reject").json()["state"] == "keep"
    r = post(client, b, "drop").json()
    assert r["stored"] == "drop" and r["counts"]["drop"] == 1
    other = next(n for n in ("cat", "dog", "fox") if n != fx.given[c])
    assert post(client, c, f"relabel:{other}").status_code == 200
    table = pq.read_table(fx.wd.decisions).to_pylist()
    assert {(t["sample_id"], t["decision"], t["label"], t["source"]) for t in table} == {
        (a, "reject", None, "review-app"), (b, "drop", None, "review-app"), (c, "relabel", other, "review-app")}
    eff = effective_selection(fx.wd).to_pylist()
    by = {e["sample_id"]: e for e in eff}
    assert by[a]["keep"] and not by[b]["keep"] and by[c]["keep"] and by[c]["review_decision"] == f"relabel:{other}"
    # undo = set back to "not reviewed"
    assert post(client, b, None).json()["stored"] is None
    assert {t["sample_id"] for t in pq.read_table(fx.wd.decisions).to_pylist()} == {a, c}
    s = get(client, "/api/summary").json()
    assert s["reviewed"] == 2 and s["counts"]["keep"] == 1


def test_bad_decisions_are_refused_with_the_reason(client, fx):
    r = post(client, fx.flagged[0], "relabel:wolf")
    assert r.status_code == 400
    assert r.json()["error"].startswith("unknown class 'wolf' in relabel:wolf; valid classes: cat, dog, fox")
    assert post(client, fx.flagged[0], "maybe").json()["error"] == (
        "unknown decision 'maybe'; use one of: accept, reject, drop, relabel:<class>")
    assert post(client, "no/such.png", "drop").status_code == 404
    bad = client.post("/api/decide", content="drop", headers={"X-Labelclean-Token": TOKEN, "content-type": "text/plain"})
    assert bad.status_code == 415
    assert not fx.wd.decisions.exists()


def test_filters(client, fx):
    cat = "0"
    r = get(client, "/api/items", given=cat, limit=200).json()
    assert r["total"] == sum(fx.given[s] == "cat" for s in fx.flagged)
    assert all(it["given"] == "cat" for it in r["items"])
    first = get(client, "/api/items").json()["items"][0]
    post(client, first["id"], "drop")
    todo = get(client, "/api/items", state="todo", limit=200).json()
    assert todo["total"] == len(fx.flagged) - 1 and first["id"] not in {i["id"] for i in todo["items"]}
    dropped = get(client, "/api/items", state="drop").json()
    assert [i["id"] for i in dropped["items"]] == [first["id"]]
    ranged = get(client, "/api/items", min="0.1", max="0.3", limit=200).json()
    assert all(0.1 <= it["score"] <= 0.3 for it in ranged["items"])
    kept = get(client, "/api/items", view="kept", limit=200).json()
    assert kept["total"] == len(fx.sample_ids) - len(fx.flagged) and all(it["clean"] for it in kept["items"])
    heat = get(client, "/api/summary").json()["heatmap"]
    g, s = heat["classes"][0]["id"], heat["classes"][1]["id"]
    pair = get(client, "/api/items", given=g, suggested=s, limit=200).json()
    assert pair["total"] == heat["cells"][0][1]
    assert get(client, "/api/items", state="maybe").json()["error"] == "state='maybe' is not one of todo, keep, accept, relabel, drop"


def test_images_only_by_sample_id(client, fx, tmp_path):
    sid = fx.flagged[0]
    r = get(client, "/img", id=sid, size="large")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert list((fx.wd.root / "thumbs" / "large").rglob("*.jpg")), "thumbnail cached in W/thumbs/"
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"x")
    for bad in (str(secret), "../secret.png", f"{sid}/../../../secret.png"):
        assert get(client, "/img", id=bad).status_code == 404
    broken = next(s for s, why in fx.excluded.items() if why == "corrupt")
    assert get(client, "/img", id=broken).status_code == 404  # in the manifest but undecodable: a placeholder


def test_two_writers_lose_nothing(fx):
    classes = ReviewData(fx.wd).classes
    errors = []

    def worker(ids):
        try:
            for s in ids:
                set_decision(fx.wd, s, "drop", classes)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ids = fx.flagged
    threads = [threading.Thread(target=worker, args=(ids[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(pq.read_table(fx.wd.decisions)["sample_id"].to_pylist()) == sorted(ids)


def test_decisions_written_elsewhere_are_picked_up(client, fx):
    data_classes = ReviewData(fx.wd).classes
    set_decision(fx.wd, fx.flagged[0], "reject", data_classes)  # e.g. a second server on this workdir
    items = get(client, "/api/items", limit=100).json()["items"]
    assert next(i for i in items if i["id"] == fx.flagged[0])["state"] == "keep"


def test_neighbour_cache_is_reused_and_invalidated(fx):
    data = ReviewData(fx.wd)
    suspects = data.sample_ids.take(data.view_rows("suspects"))
    Neighbours(fx.wd, suspects).start(background=False)
    path = cache_path(fx.wd)
    stamp = path.stat().st_ino  # every write is a rename: a new inode
    again = Neighbours(fx.wd, suspects)
    again.start(background=False)
    assert again.status == "ready" and path.stat().st_ino == stamp
    fewer = Neighbours(fx.wd, suspects.slice(1))
    fewer.start(background=False)
    assert path.stat().st_ino != stamp and fewer.of(suspects[0].as_py()) is None


def test_query_neighbours_skips_identical_files():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6)).astype(np.float32)
    X[1] = X[0]  # 0 and 1 are the same file
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    canonical = np.array(["a", "a"] + [f"s{i}" for i in range(28)], dtype=object)
    full = X[5] @ X.T
    full[5] = -np.inf
    import importlib.util

    for backend in ("numpy", "faiss") if importlib.util.find_spec("faiss") else ("numpy",):
        idx, sims = query_neighbours(X, np.array([0, 5]), canonical, k=5, backend=backend)
        assert 1 not in idx[0] and 0 not in idx[0] and 5 not in idx[1]
        assert list(idx[1]) == list(np.argsort(-full)[:5]), backend
        assert np.all(np.diff(sims, axis=1) <= 1e-6)
    # more identical files than spare results: that row is searched in full
    canonical[:12] = "a"
    X[:12] = X[0]
    idx, _ = query_neighbours(X, np.array([0]), canonical, k=5, backend="numpy")
    assert (idx[0] >= 12).all()


def test_id_index_sorted_and_unsorted():
    for ids in (["a", "b", "c", "d"], ["d", "b", "a", "c"]):
        index = IdIndex(pa.array(ids))
        assert [index.find(s) for s in ids] == list(range(4))
        assert index.find("zz") is None and index.find("") is None


def test_near_duplicate_threshold_is_relative_to_the_embedding_space():
    from labelclean.review.server.neighbours import near_duplicate_threshold

    assert near_duplicate_threshold([[0.99, 0.9, 0.8]] * 3) == pytest.approx(0.98)  # median k-th distance 0.2
    assert near_duplicate_threshold([[0.999, 0.996, 0.995]] * 3) == pytest.approx(0.9995)  # a crowded space
    assert near_duplicate_threshold([]) == 1.0


def test_identical_files_are_shown_together(fx):
    from labelclean.store.parquet_io import read_meta, read_table, write_table

    a, b = fx.flagged[:2]
    manifest, _ = read_table(fx.wd.manifest, "manifest")
    meta = read_meta(fx.wd.manifest)
    dup = [a if s == b else None for s in manifest["sample_id"].to_pylist()]
    manifest = manifest.set_column(manifest.schema.get_field_index("duplicate_of"), "duplicate_of",
                                   pa.array(dup, pa.string()))
    extra = {k: v for k, v in meta.items() if k not in ("table", "schema_version", "model_id")}
    write_table(fx.wd.manifest, manifest, "manifest", **extra)
    data = ReviewData(fx.wd)
    c = TestClient(create_app(data, None, TOKEN))
    items = {it["id"]: it for it in get(c, "/api/items", limit=200).json()["items"]}
    assert items[a]["duplicates"] == [{"id": b, "label": fx.given[b]}]
    assert items[b]["duplicates"] == [{"id": a, "label": fx.given[a]}]
    assert items[a]["neighbours"] is None  # no neighbour index given: the page says so


def test_a_new_selection_on_disk_is_reported(client, fx):
    assert get(client, "/api/summary").json()["selection_changed"] is False
    fx.wd.selection.write_bytes(fx.wd.selection.read_bytes())  # select ran again
    assert get(client, "/api/summary").json()["selection_changed"] is True


def test_the_server_process_does_not_wait_for_pandas():
    """pyarrow imports pandas on its first array when pandas is installed (about 0.5 s of the app's
    open time); serve() answers that import as an environment without pandas would."""
    import subprocess
    import sys

    code = ("import sys, pyarrow as pa\n"
            "from labelclean.review.server.serve import _without_pandas\n"
            "_without_pandas(); _without_pandas()\n"
            "assert pa.array([1, 2]).to_numpy().sum() == 3\n"
            "print('pandas' in sys.modules and sys.modules['pandas'] is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
