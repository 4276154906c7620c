"""Everything the report template shows, computed from the workdir.

Estimated noise rate (per class and overall) = the fraction of usable samples (those in
selection.parquet) that `select` did not find clean. Galleries list flagged samples (not
kept after reviewer decisions, or not clean) worst first (lowest clean_score); thumbnails are
capped per class and in total, plus a deterministic sample of kept images per class.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from markupsafe import Markup

from labelclean import __version__

from labelclean.core import console
from labelclean.export.top3 import load_top3
from labelclean.report import svg
from labelclean.report.thumbs import thumbnail_uri
from labelclean.review.decisions import effective_selection
from labelclean.store.parquet_io import read_meta
from labelclean.store.tables import load_classes, load_manifest
from labelclean.store.workdir import Workdir

MAX_BARS, MAX_HEATMAP, MAX_HISTOGRAMS = 40, 20, 24


@dataclass
class Caps:
    thumbs_per_class: int  # defaults: stages.configs.ReportConfig
    thumbs_total: int
    rows_total: int = 10000
    kept_per_class: int = 8
    kept_total: int = 240
    thumb_px: int = 80


def json_for_script(obj: object) -> Markup:
    """JSON safe inside <script type="application/json">: '<', '>' and '&' are \\u-escaped."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def find_threshold(selection_meta: dict) -> float | None:
    """A global clean_score threshold select recorded in selection.parquet's metadata (None when absent)."""
    value = selection_meta.get("clean_score_threshold")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def boundary(scores: np.ndarray, clean: np.ndarray) -> float | None:
    """The clean_score cut that best separates clean (above) from flagged (below) samples.

    Select decides per class with GMMs on other scores, so this is where its decision falls
    on the clean_score axis; None when the class has only clean or only flagged samples.
    """
    ok = ~np.isnan(scores)
    v, c = scores[ok], clean[ok].astype(bool)
    if c.all() or not c.any():
        return None
    order = np.argsort(v, kind="stable")
    v, c = v[order], c[order]
    # cut after position j: flagged at or below j count as right, clean above j count as right
    right = np.cumsum(~c) + (c.sum() - np.cumsum(c))
    cuts = np.flatnonzero(v[:-1] < v[1:])
    if not len(cuts):
        return None
    best = cuts[right[cuts] == right[cuts].max()]
    j = best[len(best) // 2]
    return float((v[j] + v[j + 1]) / 2)


def build_context(wd: Workdir, caps: Caps) -> dict:
    """The template context: summary figures, SVG plots and the gallery JSON."""
    eff = effective_selection(wd)
    manifest, meta = load_manifest(wd, ["sample_id", "path", "status"])
    classes = load_classes(wd)
    names = [c.name for c in classes]
    s = _arrays(eff)
    run = wd.read_run()
    threshold = find_threshold(read_meta(wd.selection))
    per_class = _per_class(s, names)
    for r in per_class:
        m = s["label_id"] == r["id"]
        r["boundary"] = threshold if threshold is not None else boundary(s["clean_score"][m], s["clean"][m])
    ctx = {
        "version": __version__,
        "source": meta.get("source") or meta.get("data_root") or str(wd.root),
        "model_id": run.get("model", {}).get("model_id"),
        "workdir": str(wd.root),
        "totals": _totals(s, manifest),
        "excluded": _excluded(manifest, set(s["sample_id"])),
        "per_class": per_class,
        "threshold": threshold,
        "caps": caps,
    }
    ctx["plots"] = _plots(s, names, per_class, threshold)
    ctx["gallery_json"] = json_for_script(_gallery(s, names, manifest, load_top3(wd), caps))
    return ctx


def _arrays(eff: pa.Table) -> dict[str, np.ndarray]:
    cols = ["sample_id", "label_id", "clean", "clean_score", "failed", "suggested_label_id", "suggested_confidence",
            "final_label_id", "keep", "reviewed", "review_decision"]
    out = {c: np.asarray(eff[c].to_pylist(), dtype=object) for c in cols}
    for c, t in (("label_id", int), ("final_label_id", int), ("clean", bool), ("keep", bool), ("reviewed", bool)):
        out[c] = out[c].astype(t)
    out["clean_score"] = np.asarray([np.nan if v is None else v for v in out["clean_score"]], float)
    return out


def _totals(s: dict, manifest: pa.Table) -> dict:
    n = len(s["sample_id"])
    has_sugg = np.array([v is not None for v in s["suggested_label_id"]], bool)
    return {
        "found": manifest.num_rows,
        "usable": n,
        "excluded": manifest.num_rows - n,
        "kept": int(s["keep"].sum()),
        "not_kept": int((~s["keep"]).sum()),
        "relabeled": int((s["keep"] & (s["final_label_id"] != s["label_id"])).sum()),
        "flagged": int((~s["clean"]).sum()),
        "suggestions": int((~s["clean"] & has_sugg).sum()),
        "reviewed": int(s["reviewed"].sum()),
        "noise_rate": float((~s["clean"]).mean()) if n else 0.0,
    }


def _excluded(manifest: pa.Table, selected: set[str]) -> list[tuple[str, int]]:
    counts = Counter(
        st if st != "ok" else "not_scored"
        for sid, st in zip(manifest["sample_id"].to_pylist(), manifest["status"].to_pylist())
        if sid not in selected
    )
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _per_class(s: dict, names: list[str]) -> list[dict]:
    rows = []
    has_sugg = np.array([v is not None for v in s["suggested_label_id"]], bool)
    for cid, name in enumerate(names):
        m = s["label_id"] == cid
        n, flagged = int(m.sum()), int((m & ~s["clean"]).sum())
        rows.append({"id": cid, "name": name, "n": n, "flagged": flagged, "rate": flagged / n if n else 0.0,
                     "suggestions": int((m & ~s["clean"] & has_sugg).sum()), "kept": int((m & s["keep"]).sum())})
    return rows


def _plots(s: dict, names: list[str], per_class: list[dict], threshold: float | None) -> dict:
    worst = sorted(per_class, key=lambda r: (-r["rate"], r["name"]))
    bars = [r for r in worst if r["n"]][:MAX_BARS]
    plots = {"noise": svg.bar_chart([r["name"] for r in bars], [r["rate"] for r in bars],
                                    title="Estimated noise rate per class"),
             "noise_shown": len(bars), "noise_more": max(0, sum(1 for r in per_class if r["n"]) - len(bars))}
    pairs = Counter((g, t) for g, t, c in zip(s["label_id"], s["suggested_label_id"], s["clean"])
                    if t is not None and not c)
    plots["heatmap"], plots["heatmap_note"] = _heatmap(pairs, names)
    overall = threshold if threshold is not None else boundary(s["clean_score"], s["clean"])
    hists = [svg.histogram(s["clean_score"], ~s["clean"], title="all classes", threshold=overall)]
    for r in sorted(per_class, key=lambda r: (-r["flagged"], r["name"]))[:MAX_HISTOGRAMS]:
        m = s["label_id"] == r["id"]
        if m.any():
            hists.append(svg.histogram(s["clean_score"][m], ~s["clean"][m], title=r["name"], threshold=r["boundary"]))
    plots["histograms"] = hists
    plots["histograms_more"] = max(0, sum(1 for r in per_class if r["n"]) - (len(hists) - 1))
    return plots


def _heatmap(pairs: Counter, names: list[str]) -> tuple[Markup | None, str]:
    if not pairs:
        return None, "no relabel suggestions"
    weight = Counter()
    for (g, t), n in pairs.items():
        weight[g] += n
        weight[t] += n
    ids = sorted(sorted(weight, key=lambda c: (-weight[c], c))[:MAX_HEATMAP])
    pos = {c: i for i, c in enumerate(ids)}
    m = np.zeros((len(ids), len(ids)), int)
    for (g, t), n in pairs.items():
        if g in pos and t in pos:
            m[pos[g], pos[t]] += n
    note = f"the {len(ids)} classes with the most suggestions" if len(weight) > len(ids) else ""
    labels = [names[c] for c in ids]
    return svg.heatmap(labels, labels, m, title="Given label → suggested label"), note


def _gallery(s: dict, names: list[str], manifest: pa.Table, top3: dict, caps: Caps) -> dict:
    path_of = dict(zip(manifest["sample_id"].to_pylist(), manifest["path"].to_pylist()))
    flagged = np.flatnonzero(~s["clean"] | ~s["keep"])
    flagged = flagged[np.lexsort((s["sample_id"][flagged].astype(str), s["clean_score"][flagged]))][: caps.rows_total]
    want = _thumb_choice(s["label_id"][flagged], caps.thumbs_per_class, caps.thumbs_total)
    kept = _kept_sample(s, caps)
    thumbs: list[str] = []
    with console.progress("report thumbnails", total=int(want.sum()) + len(kept), unit="img") as bar:
        def thumb(i: int) -> int:
            uri = thumbnail_uri(path_of.get(s["sample_id"][i], ""), size=caps.thumb_px)
            bar.advance()
            if uri is None:
                return -1
            thumbs.append(uri)
            return len(thumbs) - 1

        rows = [_row(s, i, top3, thumb(i) if w else -2) for i, w in zip(flagged, want)]
        kept_rows = [{"s": s["sample_id"][i], "l": int(s["final_label_id"][i]), "c": _num(s["clean_score"][i]),
                      "t": thumb(i)} for i in kept]
    return {"classes": names, "flagged": rows, "kept": kept_rows, "thumbs": thumbs,
            "flagged_total": int((~s["clean"] | ~s["keep"]).sum())}


def _num(v: float) -> float | None:
    return None if v is None or np.isnan(v) else round(float(v), 4)


def _row(s: dict, i: int, top3: dict, t: int) -> dict:
    sugg = s["suggested_label_id"][i]
    return {
        "s": s["sample_id"][i], "g": int(s["label_id"][i]), "u": -1 if sugg is None else int(sugg),
        "p": _num(s["suggested_confidence"][i]), "c": _num(s["clean_score"][i]), "f": s["failed"][i] or "",
        "k": [[int(c), round(float(p), 3)] for c, p in top3.get(s["sample_id"][i], [])],
        "r": s["review_decision"][i], "l": int(s["final_label_id"][i]), "kp": bool(s["keep"][i]), "t": t,
    }


def _thumb_choice(labels: np.ndarray, per_class: int, total: int) -> np.ndarray:
    """Which rows (already worst first) get a thumbnail: the first per_class of each class,
    spread across classes by rank so the total cap does not starve later classes."""
    rank = np.zeros(len(labels), int)
    seen: Counter = Counter()
    for j, c in enumerate(labels):
        rank[j] = seen[c]
        seen[c] += 1
    eligible = np.flatnonzero(rank < per_class)
    chosen = eligible[np.lexsort((eligible, rank[eligible]))][:total]
    want = np.zeros(len(labels), bool)
    want[chosen] = True
    return want


def _kept_sample(s: dict, caps: Caps) -> list[int]:
    """A deterministic pseudo-random sample of kept samples per class (by hash of sample_id)."""
    idx = np.flatnonzero(s["keep"])
    key = [hashlib.sha1(str(s["sample_id"][i]).encode()).hexdigest() for i in idx]
    chosen, per = [], Counter()
    for _, i in sorted(zip(key, idx)):
        c = s["final_label_id"][i]
        if per[c] < caps.kept_per_class and len(chosen) < caps.kept_total:
            per[c] += 1
            chosen.append(int(i))
    return sorted(chosen, key=lambda i: (s["final_label_id"][i], s["sample_id"][i]))
