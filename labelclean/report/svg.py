"""Small inline SVG plots (no plotting library): bars, a heatmap and histograms.

Every function returns ``markupsafe.Markup``; each text that comes from the data (class
names) is escaped here, so the template can insert the SVG as is.
"""

from __future__ import annotations

import numpy as np
from markupsafe import Markup, escape

FONT = 'font-family="system-ui,sans-serif" font-size="11"'
BAR = "#d9534f"
ACCENT = "#1f6feb"


def _text(x: float, y: float, s: object, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(str(s))}</text>'


def _clip(name: str, n: int = 22) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def bar_chart(labels: list[str], values: list[float], *, title: str, width: int = 640) -> Markup:
    """Horizontal bars, one per label, values in [0, 1] shown as percentages."""
    row, left, top = 18, 170, 24
    height = top + row * len(labels) + 10
    span = width - left - 60
    parts = [f'<svg width="{width}" height="{height}" role="img" {FONT}>',
             f"<title>{escape(title)}</title>"]
    for i, (lab, v) in enumerate(zip(labels, values)):
        y = top + i * row
        w = max(0.0, min(1.0, float(v))) * span
        parts.append(_text(left - 6, y + 12, _clip(lab), "end"))
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="{BAR}"/>')
        parts.append(_text(left + w + 4, y + 12, f"{100 * v:.1f}%"))
    parts.append(f'<line x1="{left}" y1="{top - 4}" x2="{left}" y2="{height - 8}" stroke="#888"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap(rows: list[str], cols: list[str], counts: np.ndarray, *, title: str) -> Markup:
    """Counts of (given row -> suggested column) pairs; darker = more samples."""
    cell, left, top = 22, 150, 110
    width, height = left + cell * len(cols) + 10, top + cell * len(rows) + 10
    peak = max(int(counts.max()) if counts.size else 0, 1)
    parts = [f'<svg width="{width}" height="{height}" role="img" {FONT}>',
             f"<title>{escape(title)}</title>",
             _text(left - 6, top - 8, "given ↓ / suggested →", "end", 'fill="#555"')]
    for j, c in enumerate(cols):
        x = left + j * cell + cell / 2
        parts.append(_text(x, top - 6, _clip(c, 16), "start", f'transform="rotate(-55 {x:.1f} {top - 6})"'))
    for i, r in enumerate(rows):
        y = top + i * cell
        parts.append(_text(left - 6, y + cell / 2 + 4, _clip(r), "end"))
        for j in range(len(cols)):
            n = int(counts[i, j])
            alpha = 0.0 if n == 0 else 0.15 + 0.85 * n / peak
            x = left + j * cell
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{BAR}" '
                         f'fill-opacity="{alpha:.3f}" stroke="#eee"><title>{escape(r)} → {escape(cols[j])}: '
                         f"{n}</title></rect>")
            if n:
                color = "#fff" if alpha > 0.55 else "#222"
                parts.append(_text(x + cell / 2, y + cell / 2 + 4, n, "middle", f'fill="{color}" font-size="9"'))
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(
    values: np.ndarray, flagged: np.ndarray, *, title: str, threshold: float | None, bins: int = 20
) -> Markup:
    """Stacked histogram of clean_score in [0, 1] (kept grey, flagged red), threshold dashed."""
    width, height, pad, top = 230, 120, 8, 18
    edges = np.linspace(0.0, 1.0, bins + 1)
    v = np.clip(np.asarray(values, float), 0.0, 1.0)
    f = np.asarray(flagged, bool)
    h_all = np.histogram(v, edges)[0]
    h_flag = np.histogram(v[f], edges)[0]
    peak = max(int(h_all.max()) if h_all.size else 0, 1)
    plot_h, bw = height - top - 16, (width - 2 * pad) / bins
    parts = [f'<svg width="{width}" height="{height}" role="img" {FONT}>',
             f"<title>{escape(title)}</title>", _text(pad, 12, _clip(title, 34), "start", 'font-weight="600"')]
    for b in range(bins):
        x = pad + b * bw
        for count, color in ((h_all[b], "#9aa4b1"), (h_flag[b], BAR)):
            hh = plot_h * count / peak
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - hh:.1f}" width="{bw - 1:.1f}" height="{hh:.1f}" '
                         f'fill="{color}"/>')
    base = top + plot_h
    parts.append(f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#888"/>')
    parts.append(_text(pad, base + 12, "0") + _text(width - pad, base + 12, "1", "end"))
    if threshold is not None:
        x = pad + float(np.clip(threshold, 0, 1)) * (width - 2 * pad)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 2}" x2="{x:.1f}" y2="{base}" stroke="{ACCENT}" '
                     f'stroke-dasharray="4 3" stroke-width="1.5"/>')
        parts.append(_text(x + 3, top + 8, f"t={threshold:.2f}", "start", f'fill="{ACCENT}"'))
    parts.append(f"<desc>{int(f.sum())} flagged of {len(v)}</desc></svg>")
    return Markup("".join(parts))
