"""Self-contained HTML pages: the per-cycle drift report, the operator dashboard and the
replay report.

Everything is inline (SVG charts + a small stylesheet): no JavaScript, no external fonts,
images or links to other hosts, so a saved report opens offline. The pages are the Jinja2
templates of :mod:`selfheal.templates`; this module chooses what they show and passes it
as plain data, which the templates escape (feature names are user-controlled CSV column
names). The SVG charts are drawn here and passed as :class:`~markupsafe.Markup`: they
escape every text they hold themselves (:func:`_e`), and every number drawn passes a
finiteness guard, so neither markup nor ``nan``/``inf`` can reach the page.
"""

from __future__ import annotations

import html
import math
import numbers
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup
from numpy.typing import NDArray

from selfheal.drift import SCORE_NAME, DriftReport, FeatureDrift, Histogram, ReferenceSketch
from selfheal.drift import histogram as drift_histogram
from selfheal.templates import DASH, render, scalar
from selfheal.templates import fmt as _fmt
from selfheal.templates import mapping as _mapping
from selfheal.templates import num as _num
from selfheal.templates import plain as _plain
from selfheal.templates import show as _show
from selfheal.templates import utc as _time

__all__ = [
    "KEEP_REPORTS",
    "build_report",
    "render_dashboard",
    "render_drift_report",
    "render_replay",
    "stamp_from_time",
    "write_report",
]

#: Timestamped drift reports kept by :func:`write_report`.
KEEP_REPORTS = 200
REF_COLOR, CUR_COLOR = "#4c78a8", "#f58518"
_MAX_LEVELS = 30  # categorical levels drawn per chart (the largest ones)
#: A table cell: (kind, value); the macro "cell" of templates/macros.html shows each kind.
Cell = tuple[str, Any]

# ----------------------------------------------------------------------------- SVG helpers


def _e(value: Any) -> str:
    """Escaped text of any value (quotes too, so it is safe inside an attribute): what
    every text a chart draws goes through."""
    return html.escape("" if value is None else str(value), quote=True)


def _c(value: float) -> str:
    """SVG coordinate: one decimal, 0 for anything non-finite."""
    return f"{value:.1f}" if math.isfinite(value) else "0"


def _svg(attr: str, value: str, w: int, h: int, legend: Sequence[tuple[str, str]]) -> str:
    """Opening ``<svg class="chart" attr="value">`` tag plus a legend row at the top."""
    out = f'<svg class="chart" {attr}="{_e(value)}" viewBox="0 0 {w} {h}" width="{w}" '
    out += f'height="{h}" role="img" aria-label="{_e(value)}">'
    x = 40.0
    for label, color in legend:
        out += f'<rect x="{_c(x)}" y="3" width="10" height="10" fill="{color}" opacity=".6"/>'
        out += _text(x + 14, 12, label, size=10)
        x += 22 + 6 * len(label)
    return out


def _text(x: float, y: float, text: str, anchor: str = "", size: int = 9, title: str = "") -> str:
    """An SVG ``<text>`` (escaped); with ``title``, rotated -40 degrees with a tooltip."""
    a = f' text-anchor="{anchor}"' if anchor else ""
    if title:
        a += f' transform="rotate(-40 {_c(x)} {_c(y)})"><title>{_e(title)}</title'
    return f'<text x="{_c(x)}" y="{_c(y)}" font-size="{size}"{a}>{_e(text)}</text>'


def _axes(w: int, h: int, y_top: str, x_labels: tuple[Any, Any], left: int = 40) -> str:
    """Axis lines of a ``w x h`` chart (plot area 20..h-20), max / 0 and first / last labels."""
    base = h - 20
    return (
        f'<path d="M{left} 20V{base}H{w - 10}" fill="none" stroke="#999"/>'
        + _text(left - 3, 28, y_top, "end")
        + _text(left - 3, base, "0", "end")
        + _text(left, h - 5, _plain(x_labels[0]))
        + _text(w - 10, h - 5, _plain(x_labels[1]), "end")
    )


def _hist_svg(h: Histogram) -> Markup:
    """Reference and current proportions overlaid (numeric) or side by side (categorical)."""
    cat = h.kind == "categorical"
    ref, cur = [_num(v) or 0.0 for v in h.reference], [_num(v) or 0.0 for v in h.current]
    idx = list(range(min(len(ref), len(cur))))
    hidden = max(len(idx) - _MAX_LEVELS, 0) if cat else 0
    if hidden:  # keep the largest levels, in their own order
        idx = sorted(sorted(idx, key=lambda i: -max(ref[i], cur[i]))[:_MAX_LEVELS])
    w, height = 340, 212 if cat else 170
    pw, ph = w - 50, 130  # plot area: x 40..330, y 20..150
    peak = max([ref[i] for i in idx] + [cur[i] for i in idx] + [1e-12])
    slot = pw / max(len(idx), 1)
    bars: dict[str, list[str]] = {REF_COLOR: [], CUR_COLOR: []}
    labels = []
    for k, i in enumerate(idx):
        x0 = 40 + k * slot
        for color, v, dx in ((REF_COLOR, ref[i], 0.1), (CUR_COLOR, cur[i], 0.5)):
            x, bw, bh = (
                (x0 + slot * dx, slot * 0.4, ph * v / peak) if cat else (x0, slot, ph * v / peak)
            )
            bars[color].append(
                f'<rect x="{_c(x)}" y="{_c(150 - bh)}" width="{_c(max(bw - 0.5, 0.5))}" '
                f'height="{_c(bh)}"/>'
            )
        if cat and h.levels is not None and i < len(h.levels):
            name, tx = str(h.levels[i]), x0 + slot / 2
            short = name if len(name) <= 14 else name[:13] + "\u2026"
            labels.append(_text(tx, 160, short, "end", title=name))
    out = _svg(
        "data-feature", h.feature, w, height, [("reference", REF_COLOR), ("current", CUR_COLOR)]
    )
    for color, rects in bars.items():
        out += f'<g fill="{color}" fill-opacity=".55">{"".join(rects)}</g>'
    out += "".join(labels) + '<path d="M40 150H330" stroke="#999"/>'
    out += _text(37, 28, f"{_fmt(peak * 100, '.0f', '0')}%", "end") + _text(37, 150, "0", "end")
    if not cat and h.edges:
        out += _text(40, 163, _fmt(h.edges[0], ".4g", "?"), size=10)
        out += _text(330, 163, _fmt(h.edges[-1], ".4g", "?"), "end", size=10)
    if hidden:
        out += _text(330, height - 3, f"+{hidden} smaller levels not shown", "end")
    return Markup(out + "</svg>")


def _line_svg(
    key: str,
    series: Sequence[tuple[str, str, Sequence[Any]]],
    x_labels: tuple[Any, Any],
    *,
    y_max: float | None = None,
    hline: float | None = None,
    band: tuple[Sequence[Any], Sequence[Any]] | None = None,
    unit: str = "",
) -> Markup:
    """Line chart over evenly spaced points; the line skips None / non-finite values.

    ``band`` (low, high) is shaded in the colour of the last series; ``hline`` is a dashed
    threshold. The y range is 0..``y_max`` (default 1.1 x the largest value)."""
    w, h = 520, 190
    n = max((len(s[2]) for s in series), default=0)
    vals = [_num(v) for s in series for v in s[2]] + [_num(v) for b in band or () for v in b]
    top = y_max or 1.1 * max([v for v in vals if v is not None] + [0.0]) or 1.0

    def xy(i: int, v: Any) -> str:
        x = 40 + (470 * i / (n - 1) if n > 1 else 235)
        return f"{_c(x)} {_c(170 - 150 * min(max((_num(v) or 0.0) / top, 0.0), 1.0))}"

    out = _svg("data-chart", key, w, h, [(s[0], s[1]) for s in series])
    if band is not None:  # one polygon per run of points with both bounds
        lo, hi = band
        runs: list[list[int]] = [[]]
        for i in range(min(len(lo), len(hi))):
            if _num(lo[i]) is None or _num(hi[i]) is None:
                runs.append([])
            else:
                runs[-1].append(i)
        for r in (r for r in runs if len(r) > 1):
            d = "L".join([xy(i, hi[i]) for i in r] + [xy(i, lo[i]) for i in reversed(r)])
            out += f'<path d="M{d}Z" fill="{series[-1][1]}" fill-opacity=".18"/>'
    if _num(hline) is not None:
        y = xy(0, hline).split()[1]
        out += f'<path d="M40 {y}H510" stroke="#c0392b" stroke-dasharray="4 3"/>'
        out += _text(510, float(y) - 3, f"threshold {_fmt(hline, '.2g')}", "end")
    for _, color, values in series:
        pts = [xy(i, v) for i, v in enumerate(values) if _num(v) is not None]
        d = "M" + "L".join(pts) if pts else ""
        if len(values) <= 60:  # markers only while they stay readable
            out += "".join(
                f'<circle cx="{x}" cy="{y}" r="2.2" fill="{color}"/>'
                for x, y in (p.split() for p in pts)
            )
        if d:
            out += f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.8"/>'
    return Markup(out + _axes(w, h, _fmt(top, ".3g", "1") + unit, x_labels) + "</svg>")


def _bar_svg(key: str, values: Sequence[Any], x_labels: tuple[Any, Any], label: str) -> Markup:
    """Vertical bars over evenly spaced slots (e.g. requests per time bucket)."""
    nums = [max(_num(v) or 0.0, 0.0) for v in values]
    peak, slot = max(nums + [0.0]) or 1.0, 470 / max(len(nums), 1)
    rects = "".join(
        f'<rect x="{_c(40 + i * slot)}" y="{_c(170 - 150 * v / peak)}" '
        f'width="{_c(max(slot - 1, 0.5))}" height="{_c(150 * v / peak)}"/>'
        for i, v in enumerate(nums)
    )
    out = _svg("data-chart", key, 520, 190, [(label, REF_COLOR)])
    out += f'<g fill="{REF_COLOR}">{rects}</g>'
    return Markup(out + _axes(520, 190, _fmt(peak, ",.0f", "1"), x_labels) + "</svg>")


# ----------------------------------------------------------------------------- drift report

_EXTRA_LABELS = {
    "estimated_f1": "estimated F1 (label-free)",
    "live_f1": "live F1 (labeled)",
    "positive_rate": "positive rate",
    "mean_probability": "mean probability",
    "n_labeled": "labeled rows",
}


def _verdict(fd: FeatureDrift) -> str:
    return "no verdict" if fd.drifted is None else ("drifted" if fd.drifted else "stable")


def render_drift_report(
    report: DriftReport,
    histograms: Sequence[Histogram],
    *,
    score_histogram: Histogram | None,
    title: str,
    generated_at: str,
    model_version: str,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained HTML page for a :class:`~selfheal.drift.DriftReport`.

    ``histograms`` are matched to features by ``Histogram.feature`` (a feature without
    one gets a card without chart). Drifted features come first (the score too, when it
    drifted), then stable ones, then those without verdict. ``extra`` holds optional
    label-free / labeled metrics for the summary line, e.g. ``{"estimated_f1": 0.8,
    "estimated_f1_low": 0.77, "estimated_f1_high": 0.83, "live_f1": 0.79, "n_labeled":
    412, "positive_rate": 0.27, "mean_probability": 0.3}``; other keys are shown under
    their own name. Each chart is ``<svg class="chart" data-feature="<name>">`` (the
    score's is ``data-feature="__score__"``).
    """
    extra = dict(extra or {})
    hist = {h.feature: h for h in histograms}
    judged = [f for f in report.features if f.drifted is not None]
    drifted = [f for f in report.features if f.drifted]
    share = f"{len(drifted)} of {len(judged)} features" if judged else "no verdict"
    if judged and _num(report.drift_share) is not None:
        share += f" ({_fmt(report.drift_share, '.0%')})"
    if 0 < len(judged) < len(report.features):
        share += f", {len(report.features) - len(judged)} without verdict"
    low, high = extra.pop("estimated_f1_low", None), extra.pop("estimated_f1_high", None)
    items: list[tuple[str, Cell]] = [  # (label, table cell)
        ("status", ("badge", report.status)),
        ("dataset drift", ("text", "yes" if report.dataset_drift else "no")),
        ("drifted", ("text", share)),
        ("window rows", ("text", _fmt(report.n_window, ",.0f"))),
        ("reference rows", ("text", _fmt(report.n_reference, ",.0f"))),
        ("model", ("text", model_version)),
        ("generated", ("text", generated_at)),
    ]
    for key, value in extra.items():
        label = _EXTRA_LABELS.get(key, str(key).replace("_", " "))
        if key == "estimated_f1" and _num(low) is not None and _num(high) is not None:
            items.append((label, ("estimate", (value, low, high))))
        else:
            items.append((label, ("show", value)))
    psi_t = report.config.psi_threshold

    def card(fd: FeatureDrift | None, h: Histogram | None, title: str) -> dict[str, Any]:
        chart = _hist_svg(h) if h is not None else None
        verdict = _verdict(fd) if fd is not None else None
        return {
            "fd": fd,
            "title": title,
            "chart": chart,
            "verdict": verdict,
            "psi_threshold": psi_t,
        }

    rank = {True: 0, False: 1, None: 2}
    ordered = sorted(report.features, key=lambda f: rank[f.drifted])
    cards = [card(f, hist.get(f.name), f.name) for f in ordered]
    if report.score is not None or score_histogram is not None:
        at = 0 if report.score is not None and report.score.drifted else len(drifted)
        cards.insert(at, card(report.score, score_histogram, "prediction score"))
    return render(
        "drift_report.html",
        title=title,
        refresh=None,
        items=items,
        drifted=[f.name for f in drifted],
        cfg=report.config,
        cards=cards,
    )


def build_report(
    sketch: ReferenceSketch,
    window_df: pd.DataFrame,
    scores: NDArray[Any] | None,
    report: DriftReport,
    *,
    model_version: str,
    generated_at: str,
    extra: Mapping[str, Any] | None = None,
    bins: int = 20,
    title: str = "Drift report",
) -> str:
    """Compute the histograms with :func:`selfheal.drift.histogram` and render them.

    Every feature of ``report`` gets one (a feature whose histogram cannot be computed
    gets a card without chart); the score gets one when ``scores`` is given and the
    sketch has reference scores. See :func:`render_drift_report` for ``extra``.
    """
    hists: list[Histogram] = []
    for fd in report.features:
        try:
            hists.append(drift_histogram(sketch, window_df, fd.name, bins=bins))
        except ValueError:
            continue
    score_h = None
    if scores is not None and sketch.score is not None:
        score_h = drift_histogram(sketch, None, SCORE_NAME, bins=bins, scores=scores)
    return render_drift_report(
        report,
        hists,
        score_histogram=score_h,
        title=title,
        generated_at=generated_at,
        model_version=model_version,
        extra=extra,
    )


# ----------------------------------------------------------------------------- report files

_ISO = re.compile(
    r"^(\d{4})-?(\d{2})-?(\d{2})[T ](\d{2}):?(\d{2}):?(\d{2})(?:[.,]\d+)?(Z|[+-]\d{2}:?\d{2})?$"
)


def stamp_from_time(stamp: str) -> str:
    """File-name stem for a report.

    An ISO time becomes ``YYYYMMDDTHHMMSS`` plus ``Z`` when it carries an offset (it is
    converted to UTC; fractions of a second are dropped): "2026-11-26T08:30:00.123Z" ->
    "20261126T083000Z". Anything else keeps only ``[0-9A-Za-z_-]`` (at most 100).

    Raises
    ------
    ValueError
        If nothing usable is left, or the result would be ``latest``.
    """
    m = _ISO.match(stamp.strip())
    if m is None:
        out = re.sub(r"[^0-9A-Za-z_-]", "", stamp)[:100]
        if not out or out == "latest":
            raise ValueError(f"write_report: argument 'stamp' {stamp!r} gives no usable name")
        return out
    y, mo, d, hh, mi, ss, tz = m.groups()
    if tz is None:
        return f"{y}{mo}{d}T{hh}{mi}{ss}"
    t = datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss), tzinfo=timezone.utc)
    if tz != "Z":
        t -= (1 if tz[0] == "+" else -1) * timedelta(hours=int(tz[1:3]), minutes=int(tz[-2:]))
    return t.strftime("%Y%m%dT%H%M%SZ")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(html: str, reports_dir: Path, stamp: str, *, keep: int = KEEP_REPORTS) -> Path:
    """Write ``reports_dir/drift/<stamp>.html`` and atomically replace ``latest.html``.

    ``stamp`` goes through :func:`stamp_from_time`. Each file is written to a temporary
    file in the same folder and then ``os.replace``-d, so a reader never sees a partial
    page. Afterwards only the ``keep`` timestamped reports with the greatest names (the
    newest, for time stamps) are kept; the file just written is never deleted. Returns
    the timestamped path.
    """
    out_dir = Path(reports_dir) / "drift"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stamp_from_time(stamp)}.html"
    _atomic_write(path, html)
    _atomic_write(out_dir / "latest.html", html)
    dated = sorted(p for p in out_dir.glob("*.html") if p.name != "latest.html")
    for old in dated[: max(len(dated) - keep, 0)]:
        if old != path:
            old.unlink(missing_ok=True)
    return path


# ----------------------------------------------------------------------------- dashboard

_STAT_KEYS: dict[str, tuple[str, str, str]] = {  # key -> (label, format, suffix)
    "total": ("predictions", ",.0f", ""),
    "labels": ("labels received", ",.0f", ""),
    "window_rows": ("rows in drift window", ",.0f", ""),
    "positive_rate": ("positive rate", ".1%", ""),
    "mean_probability": ("mean probability", ".3f", ""),
    "latency_p50": ("latency p50", ".1f", " ms"),
    "latency_p99": ("latency p99", ".1f", " ms"),
}


def _rows(data: Any) -> list[Mapping[str, Any]]:
    ok = isinstance(data, Sequence) and not isinstance(data, str)
    return [r for r in data if isinstance(r, Mapping)] if ok else []


def _label(value: Any) -> str:
    """An axis label: a time as "2026-11-26 08:30:00", anything else as it is."""
    t = _time(value)
    return _plain(value) if t is None else f"{t:%Y-%m-%d %H:%M:%S}"


def _short_reason(text: str, limit: int) -> str:
    """The cause of an audit reason: a rejection reads "<trigger>: rejected by <gate>:
    <why>.; <gate>: <why>.; passed: <gates>", so this is its first failing gate and a
    count of the others, at most ``limit`` characters."""
    short = text.split("; passed: ", 1)[0]
    causes = short.split(".; ")
    if len(causes) > 1:
        short = f"{causes[0]}. (+{len(causes) - 1} more)"
    return short if len(short) <= limit else short[: limit - 1].rstrip() + "\u2026"


class _Reasons:
    """The audit reasons of one page. A long reason shows its short form
    (:func:`_short_reason`) with the whole text one click away in a ``<details>``
    element (no JavaScript), the first time it appears; where the same text appears again
    (a rejection is the last retrain's reason, its version's and its event's) a link
    points back up to it instead. Call it in page order: the first call gets the text."""

    def __init__(self) -> None:
        self.anchors: dict[str, str] = {}

    def __call__(self, value: Any, limit: int = 160) -> dict[str, str | None]:
        """What the macro "reason" shows: ``text``; ``short`` and the ``anchor`` of its
        ``<details>``; or ``link``, the anchor of the same text above."""
        text = _plain(value)
        short = _short_reason(text, limit)
        out: dict[str, str | None] = {"text": text, "short": short, "anchor": None, "link": None}
        if short == text:
            return out
        if text in self.anchors:
            out["link"] = self.anchors[text]
        else:
            out["anchor"] = self.anchors[text] = f"reason-{len(self.anchors) + 1}"
        return out


def _health(health: Mapping[str, Any]) -> list[list[Cell]]:
    """One row per part: its status badge and its other keys."""
    rows = []
    for key, value in health.items():
        sub = _mapping(value)
        rest = [(k, v) for k, v in sub.items() if k != "status"]
        rows.append([("text", key), ("health", (sub.get("status") if sub else value, rest))])
    return rows


def _kv(m: Mapping[str, Any], reasons: _Reasons, badge: str = "status") -> list[list[Cell]]:
    """Key / value rows of a mapping (``badge`` key as a badge, ``reason`` through
    ``reasons``, ``*_at`` as times, nested values summarised)."""
    rows = []
    for k, v in m.items():
        cell: Cell
        if k == badge:
            cell = ("badge", v)
        elif k == "metrics":
            cell = ("metrics", v)
        elif k == "reason":
            cell = ("reason", reasons(v))
        elif str(k).endswith("_at"):
            cell = ("when", v)
        else:
            cell = ("show", v) if scalar(v) else ("brief", v)
        rows.append([("text", str(k).replace("_", " ")), cell])
    return rows


def _gates(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each evaluation gate: passed, its name, its numbers (``figures``), its values and
    thresholds."""
    out = []
    for g in rows:
        values = _mapping(g.get("values"))
        out.append(
            {
                "passed": bool(g.get("passed")),
                "gate": g.get("gate"),
                "figures": {k: v for k, v in values.items() if isinstance(v, numbers.Number)},
                "values": values,
                "thresholds": _mapping(g.get("thresholds")),
            }
        )
    return out


_RUN_KEYS = {  # key -> label, in the order shown
    "status": "status",
    "trigger": "trigger",
    "id": "run",
    "actor": "actor",
    "base_version": "production then",
    "candidate_version": "candidate",
    "started_at": "started",
    "finished_at": "finished",
    "stage": "stage",
    "reason": "reason",
    "error": "error",
    "evidence": "evidence",
    "gates": "gates",
    "candidates": "candidates",
}


def _retrain(run: Mapping[str, Any], reasons: _Reasons) -> list[list[Cell]]:
    """The last retrain as short rows: empty fields left out, the evidence and the
    candidates summarised (macro "brief"), one line per gate."""
    rows = []
    for k in [*(k for k in _RUN_KEYS if k in run), *(k for k in run if k not in _RUN_KEYS)]:
        v = run[k]
        if v is None or v == "" or (not scalar(v) and not v):
            continue
        cell: Cell
        if k == "status":
            cell = ("badge", v)
        elif k in ("reason", "error"):
            cell = ("reason", reasons(v))
        elif k == "gates":
            cell = ("gates", _gates(_rows(v)))
        elif str(k).endswith("_at"):
            cell = ("when", v)
        else:
            cell = ("brief", v)
        rows.append([("text", _RUN_KEYS.get(k, str(k).replace("_", " "))), cell])
    return rows


def _events(events: list[Mapping[str, Any]], reasons: _Reasons) -> list[list[Cell]]:
    """The model events rows (first 50): time, event, version (and the production
    version before it), actor, reason."""
    return [
        [
            ("when", ev.get("created_at")),
            ("badge", ev.get("event")),
            ("version", (ev.get("version"), ev.get("previous_version"))),
            ("show", ev.get("actor")),
            ("reason", reasons(ev.get("reason"))),
        ]
        for ev in events[:50]
    ]


def _figures(stats: Mapping[str, Any]) -> list[tuple[Any, str, str]]:
    """(key, value, label) of each big number: the known keys first, in their order."""
    out = []
    for k in [*(k for k in _STAT_KEYS if k in stats), *(k for k in stats if k not in _STAT_KEYS)]:
        label, spec, suffix = _STAT_KEYS.get(k, (str(k).replace("_", " "), ",.4g", ""))
        v = _fmt(stats[k], spec) + suffix if _num(stats[k]) is not None else _show(stats[k])
        out.append((k, v or DASH, label))
    return out


def _traffic(traffic: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The traffic and latency charts, from two buckets on; with one, that bucket."""
    if len(traffic) < 2:
        return {
            "traffic_chart": None,
            "latency_chart": None,
            "first_minute": traffic[0] if traffic else None,
        }
    xl = (_plain(traffic[0].get("bucket")), _plain(traffic[-1].get("bucket")))
    xl = (xl[0].replace("T", " "), xl[1].replace("T", " "))  # minutes: "... 08:30"
    counts = [r.get("count") for r in traffic]
    lat = [
        ("p50", REF_COLOR, [r.get("p50_ms") for r in traffic]),
        ("p99", CUR_COLOR, [r.get("p99_ms") for r in traffic]),
    ]
    return {
        "traffic_chart": _bar_svg("traffic", counts, xl, "requests per bucket"),
        "latency_chart": _line_svg("latency", lat, xl, unit=" ms"),
        "first_minute": None,
    }


def render_dashboard(data: Mapping[str, Any]) -> str:
    """The operator dashboard (``GET /``): plain HTML + inline SVG, refreshed by a meta tag.

    Every key is optional; a missing or empty section renders "no data yet", and values of
    the wrong type are ignored. Numbers that are None / NaN / inf show as a dash. A chart
    that would have fewer than two points is a sentence instead, in an element with the
    chart's ``data-chart`` key.

    * ``refresh_seconds`` (int, default 30, clamped to 1..86400): the
      ``<meta http-equiv="refresh">`` period. ``generated_at`` (str): shown in the header.
      ``drift_share_threshold`` (float, default 0.5): dashed line of the drift chart.
    * ``health``: ``{"status", "model", "database", "writer", "monitor"}``; each value a
      status string or a mapping with a ``"status"`` key (its other keys are listed).
    * ``stats``: ``{"total", "labels", "window_rows", "positive_rate", "mean_probability",
      "latency_p50", "latency_p99"}`` (rates as fractions, latencies in ms); each one is a
      big number in ``<div class="figure" data-key="<key>">``; unknown keys are shown too.
    * ``report_url``: link to the latest drift report; only a site-relative path (such as
      ``"/reports/drift/latest"``) becomes a link, anything else is shown as text.
    * ``production``: ``{"version", "promoted_at", "actor", "reason", "metrics": {"f1",
      "auc", "brier", "precision", "recall"}}``.
    * ``last_retrain`` (a ``retrain_runs`` row): ``{"id", "trigger", "status", "actor",
      "base_version", "candidate_version", "started_at", "finished_at", "stage",
      "reason", "error", "evidence", "candidates", "gates"}``; ``evidence`` and
      ``candidates`` are JSON-like values shown as short lists (template macro "brief":
      numbers to 3 significant digits), ``gates`` the ``gate_results`` rows ``{"gate", "passed",
      "values", "thresholds"}``; empty fields are left out.
    * ``cycles`` (oldest first): ``{"created_at", "status", "drift_share", "dataset_drift",
      "live_f1", "estimated_f1", "estimated_f1_low", "estimated_f1_high", "n_window",
      "decision"}`` -> ``<svg class="chart" data-chart="drift_share">`` and the healing
      timeline ``data-chart="f1"``: live and estimated F1 (its interval shaded) over time.
    * ``timeline_events`` (default: ``events``): ``model_events`` rows ``{"created_at",
      "event", "version", "previous_version"}``; each promotion, rejection and rollback
      from the first cycle on is a line ``<path data-mark="promoted|rejected|rolled_back">``
      on the timeline.
    * ``runs``: ``retrain_runs`` rows ``{"id", "trigger", "status", "candidate_version",
      "started_at", "finished_at"}``; each start is a tick ``data-mark="retrain"``, a
      failed run (or one rejected without a "rejected" event) a line at its end.
    * ``traffic`` (oldest first): ``{"bucket", "count", "p50_ms", "p99_ms"}`` ->
      ``data-chart="traffic"`` (bars) and ``data-chart="latency"`` (lines).
    * ``versions`` (newest first): ``{"version", "status", "created_at", "trigger",
      "reason", "metrics"}`` -> a list (first 50).
    * ``events`` (newest first, model_events rows): ``{"created_at", "event", "version",
      "previous_version", "reason", "actor"}`` -> a table (first 50).

    A long reason shows its cause, the whole text in a ``<details>`` element; the same
    text further down the page links back to it (:class:`_Reasons`).
    """
    refresh = int(min(max(_num(data.get("refresh_seconds", 30)) or 30, 1), 86400))
    health, stats = _mapping(data.get("health")), _mapping(data.get("stats"))
    url = data.get("report_url")
    local = isinstance(url, str) and url.startswith("/") and not url.startswith("//")
    threshold = _num(data.get("drift_share_threshold", 0.5))
    cycles, traffic = _rows(data.get("cycles")), _rows(data.get("traffic"))
    events = _rows(data.get("events"))
    marked = _rows(data["timeline_events"]) if "timeline_events" in data else events
    pts = sorted(
        ((t, c) for c in cycles if (t := _time(c.get("created_at"))) is not None),
        key=lambda p: p[0],
    )
    first_cycle = None
    if len(pts) == 1:
        c = pts[0][1]
        low, high = c.get("estimated_f1_low"), c.get("estimated_f1_high")
        band = (low, high) if _num(low) is not None and _num(high) else None
        first_cycle = {
            "live_f1": c.get("live_f1"),
            "estimated_f1": c.get("estimated_f1"),
            "band": band,
        }
    drift_chart = None
    if len(cycles) > 1:
        xl = (_label(cycles[0].get("created_at")), _label(cycles[-1].get("created_at")))
        share = [("drift share", CUR_COLOR, [c.get("drift_share") for c in cycles])]
        line = 0.5 if threshold is None else threshold
        drift_chart = _line_svg("drift_share", share, xl, y_max=1.0, hline=line)
    # In page order: a repeated reason links up to its first appearance.
    reasons = _Reasons()
    production = _kv(_mapping(data.get("production")), reasons)
    last_retrain = _retrain(_mapping(data.get("last_retrain")), reasons)
    versions = [
        {
            "version": v.get("version"),
            "status": v.get("status"),
            "created_at": v.get("created_at"),
            "trigger": v.get("trigger"),
            "reason": reasons(v.get("reason")),
            "metrics": v.get("metrics"),
        }
        for v in _rows(data.get("versions"))[:50]
    ]
    return render(
        "dashboard.html",
        title="selfheal dashboard",
        refresh=refresh,
        status=health["status"] if "status" in health else None,
        generated_at=data.get("generated_at"),
        report_link=url if local else None,
        report_url=url,
        figures=_figures(stats),
        timeline=_timeline(pts, marked, _rows(data.get("runs"))) if len(pts) > 1 else None,
        first_cycle=first_cycle,
        health=_health(health),
        production=production,
        last_retrain=last_retrain,
        last_cycle=cycles[-1] if cycles else None,
        drift_chart=drift_chart,
        **_traffic(traffic),
        versions=versions,
        events=_events(events, reasons),
    )


#: Marks of the healing timeline: colour and legend label. A retrain start is a tick at
#: the bottom, the others span the plot.
_TIMELINE_MARKS = {
    "promoted": ("#27ae60", "promotion"),
    "rejected": ("#c0392b", "rejection"),
    "rolled_back": ("#333333", "rollback"),
    "retrain": ("#8e44ad", "retrain started"),
    "failed": ("#c0392b", "failed retrain"),
}
_TICK_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800]
_TICK_SECONDS += [21600, 43200, 86400, 172800, 604800, 1209600, 2592000]


def _marks(
    events: list[Mapping[str, Any]], runs: list[Mapping[str, Any]]
) -> list[tuple[datetime, str, str, str]]:
    """(time, kind, short label, tooltip) of every promotion, rejection and rollback among
    ``events``, every retrain start among ``runs``, and every run that failed or was
    rejected without a "rejected" event of its candidate."""
    out: list[tuple[datetime, str, str, str]] = []
    rejected = set()
    for ev in events:
        kind, t = _plain(ev.get("event")), _time(ev.get("created_at"))
        if kind not in ("promoted", "rejected", "rolled_back") or t is None:
            continue
        version, previous = _plain(ev.get("version")), _plain(ev.get("previous_version"))
        if kind == "rejected":
            rejected.add(version)
        tip = f"{kind.replace('_', ' ')} {version}" + (f" (was {previous})" if previous else "")
        out.append((t, kind, version, tip))
    for run in runs:
        rid, status = _plain(run.get("id")), _plain(run.get("status"))
        start, end = _time(run.get("started_at")), _time(run.get("finished_at"))
        if start is not None:
            tip = f"retrain {rid} started (trigger {_plain(run.get('trigger'))})"
            out.append((start, "retrain", "", tip))
        candidate = _plain(run.get("candidate_version"))
        own = status == "failed" or (status == "rejected" and candidate not in rejected)
        if end is not None and own:
            out.append((end, status, candidate, f"retrain {rid} {status} {candidate}".rstrip()))
    return out


def _timeline(
    pts: list[tuple[datetime, Mapping[str, Any]]],
    events: list[Mapping[str, Any]],
    runs: list[Mapping[str, Any]],
) -> Markup:
    """The healing timeline of two or more monitor cycles ``pts`` (time, cycle), oldest
    first: live (labeled) and estimated (label-free, its interval shaded) F1 of each cycle
    over time, promotions, rejections and rollbacks as vertical lines and retrain starts as
    ticks. Marks before the first cycle are left out."""
    t0 = pts[0][0]
    marks = sorted((m for m in _marks(events, runs) if m[0] >= t0), key=lambda m: m[0])
    t1 = max([pts[-1][0], *(m[0] for m in marks)])
    span = max((t1 - t0).total_seconds(), 1.0)
    w, h, left, right, top, base = 900, 262, 40, 885, 22, 222

    def px(t: datetime) -> float:
        return left + (right - left) * (t - t0).total_seconds() / span

    def py(v: float) -> float:
        return base - (base - top) * min(max(v, 0.0), 1.0)

    legend = [("live F1 (labeled)", CUR_COLOR), ("estimated F1 (label-free)", REF_COLOR)]
    legend += [(label, color) for k, (color, label) in _TIMELINE_MARKS.items() if k != "failed"]
    out = _svg("data-chart", "f1", w, h, legend).replace('"chart"', '"chart wide"', 1)
    for k in range(6):
        out += f'<path d="M{left} {_c(py(k / 5))}H{right}" stroke="#eee"/>'
        out += _text(left - 3, py(k / 5) + 4, f"{k / 5:.1f}", "end", 11)
    run: list[tuple[float, float, float]] = []
    for t, c in [*pts, (t1, {})]:  # the empty sentinel closes the last run
        lo, hi = _num(c.get("estimated_f1_low")), _num(c.get("estimated_f1_high"))
        if lo is not None and hi is not None:
            run.append((px(t), py(lo), py(hi)))
            continue
        if len(run) > 1:
            d = "L".join([f"{_c(x)} {_c(y)}" for x, _, y in run])
            d += "L" + "L".join(f"{_c(x)} {_c(y)}" for x, y, _ in reversed(run))
            out += f'<path d="M{d}Z" fill="{REF_COLOR}" fill-opacity=".18"/>'
        run = []
    last_label = -1e9
    for t, kind, label, tip in marks:
        color = _TIMELINE_MARKS.get(kind, ("#c0392b", ""))[0]
        x, y0 = px(t), (base - 8 if kind == "retrain" else top)
        out += (
            f'<path data-mark="{_e(kind)}" d="M{_c(x)} {_c(y0)}V{base}" stroke="{color}" '
            f'stroke-width="1.5"><title>{_e(tip)} at {t:%Y-%m-%d %H:%M:%S} UTC</title></path>'
        )
        if label and kind != "retrain" and x - last_label >= 44:
            end = x > right - 44  # near the right edge the label goes left of its line
            out += _text(x - 2 if end else x + 2, top + 10, label, "end" if end else "", 11)
            last_label = x
    for key, color in (("estimated_f1", REF_COLOR), ("live_f1", CUR_COLOR)):
        line: list[list[str]] = [[]]
        for t, c in pts:
            v = _num(c.get(key))
            if v is None:
                line.append([])
            else:
                line[-1].append(f"{_c(px(t))} {_c(py(v))}")
        for r in (r for r in line if r):
            if len(r) > 1:
                out += f'<path d="M{"L".join(r)}" fill="none" stroke="{color}" stroke-width="1.8"/>'
            if len(pts) <= 60 or len(r) == 1:  # dots while they stay readable
                out += "".join(
                    f'<circle cx="{x}" cy="{y}" r="2.2" fill="{color}"/>'
                    for x, y in (p.split() for p in r)
                )
    out += f'<path d="M{left} {top}V{base}H{right}" fill="none" stroke="#999"/>'
    step = float(next((s for s in _TICK_SECONDS if span / s <= 6), span / 6))
    fmt = "%H:%M:%S" if step < 60 else "%H:%M" if step < 86400 else "%m-%d"
    tick = math.ceil(t0.timestamp() / step) * step
    while tick <= t0.timestamp() + span:
        x = px(datetime.fromtimestamp(tick, timezone.utc))
        out += f'<path d="M{_c(x)} {base}v4" stroke="#999"/>'
        label = f"{datetime.fromtimestamp(tick, timezone.utc):{fmt}}"
        out += _text(x, base + 15, label, "middle", 11)
        tick += step
    caption = f"UTC, {t0:%Y-%m-%d %H:%M:%S} to {t1:%Y-%m-%d %H:%M:%S}"
    return Markup(out + _text(left, h - 4, caption, size=11) + "</svg>")


# ----------------------------------------------------------------------------- replay

#: Event kinds marked on the replay chart: colour, and whether the mark spans the plot
#: (a model change) or is a tick at the bottom (a trigger).
_MARKS = {
    "promoted": ("#27ae60", True),
    "rejected": ("#c0392b", True),
    "failed": ("#c0392b", True),
    "rolled_back": ("#333333", True),
    "trigger": ("#8e44ad", False),
}


def _replay_chart(curve: list[Mapping[str, Any]], events: list[Mapping[str, Any]]) -> Markup:
    """Served and frozen AUC (one point per curve row) over row numbers, events marked.
    The y axis runs from 1.0 down to 0.5 or the lowest value, in steps of 0.1."""
    w, h, left, right, top, base = 900, 240, 40, 875, 22, 215
    xs = [_num(p.get("row")) for p in curve]
    rows = [x for x in xs if x is not None] + [
        x for x in (_num(e.get("row")) for e in events) if x is not None
    ]
    r0, r1 = (min(rows), max(rows)) if rows else (0.0, 1.0)
    vals = [v for p in curve for v in (_num(p.get("served_auc")), _num(p.get("frozen_auc"))) if v]
    lo = math.floor(min([0.5, *vals]) * 10) / 10

    def px(row: float) -> float:
        return left + (right - left) * (row - r0) / max(r1 - r0, 1.0)

    def py(v: float) -> float:
        return base - (base - top) * (v - lo) / max(1.0 - lo, 1e-9)

    legend = [("served AUC", CUR_COLOR), ("frozen first model AUC", REF_COLOR)]
    legend += [(k.replace("_", " "), c) for k, (c, _) in _MARKS.items() if k != "failed"]
    out = _svg("data-chart", "replay_auc", w, h, legend).replace('"chart"', '"chart wide"', 1)
    for k in range(round((1.0 - lo) * 10) + 1):
        v = lo + k / 10
        out += f'<path d="M{left} {_c(py(v))}H{right}" stroke="#eee"/>'
        out += _text(left - 3, py(v) + 3, f"{v:.1f}", "end")
    for e in events:
        color, full = _MARKS.get(str(e.get("kind")), ("", False))
        row = _num(e.get("row"))
        if not color or row is None:
            continue
        y0 = top if full else base - 8
        label = f"row {int(row)}: {e.get('kind')} {e.get('version') or ''}"
        out += (
            f'<path d="M{_c(px(row))} {_c(y0)}V{base}" stroke="{color}" stroke-width="1.5">'
            f"<title>{_e(label)}</title></path>"
        )
    # Served first, frozen dashed on top: before the first promotion they are one line.
    for key, color, dash in (("served_auc", CUR_COLOR, ""), ("frozen_auc", REF_COLOR, "5 3")):
        runs: list[list[str]] = [[]]
        for p, x in zip(curve, xs, strict=True):
            auc = _num(p.get(key))
            if auc is None or x is None:
                runs.append([])
            else:
                runs[-1].append(f"{_c(px(x))} {_c(py(auc))}")
        for r in (r for r in runs if r):
            out += (
                f'<path d="M{"L".join(r)}" fill="none" stroke="{color}" stroke-width="1.8" '
                f'stroke-dasharray="{dash or "none"}"/>'
            )
    out += f'<path d="M{left} {top}V{base}H{right}" fill="none" stroke="#999"/>'
    span = max(r1 - r0, 1.0)
    step = 10.0 ** math.floor(math.log10(span))
    step *= next(f for f in (0.1, 0.2, 0.5, 1.0) if span / (step * f) <= 8)  # <= 8 ticks
    tick = math.ceil(r0 / step) * step
    while tick <= r1:
        out += f'<path d="M{_c(px(tick))} {base}v4" stroke="#999"/>'
        out += _text(px(tick), base + 14, f"{int(tick)}", "middle")
        tick += step
    return Markup(out + "</svg>")


def render_replay(data: Mapping[str, Any]) -> str:
    """The page of one `selfheal replay` run, from `ReplayResult.to_dict()` (plus an
    optional ``source``, the replayed file): the served model's AUC against the frozen
    first model's over the stream (rolling window of ``params.segment`` rows, see
    ``curve``), promotions, rejections, rollbacks and triggers marked on it, then the
    segment table, the recoveries and every event."""
    events = _rows(data.get("events"))
    seg_keys = ("n", "refused", "served_auc", "served_f1", "frozen_auc", "frozen_f1")
    segments = [
        [
            ("range", (s.get("start_row"), s.get("end_row"))),
            *(("show", s.get(k)) for k in seg_keys),
            ("text", ", ".join(str(v) for v in s.get("versions") or [])),
        ]
        for s in _rows(data.get("segments"))
    ]
    rec_keys = ("began_row", "trigger", "recovered_row", "rows", "retrains", "promotions")
    recoveries = [
        [("show", r.get(k)) for k in rec_keys]
        + [("change", (r.get("served_auc_before"), r.get("served_auc_after")))]
        for r in _rows(data.get("recoveries"))
    ]
    rows = [
        [
            ("show", e.get("row")),
            ("badge", e.get("kind")),
            ("show", e.get("version")),
            ("show", e.get("detail")),
        ]
        for e in events
    ]
    return render(
        "replay.html",
        title=f"Replay of {data.get('source') or 'a stream'}",
        refresh=None,
        summary=_mapping(data.get("summary")),
        params=_mapping(data.get("params")),
        chart=_replay_chart(_rows(data.get("curve")), events),
        segments=segments,
        recoveries=recoveries,
        events=rows,
    )
