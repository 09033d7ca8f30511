"""Tests of selfheal.report: the HTML drift report, its files, and the operator dashboard."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from selfheal import datasets, drift, report
from selfheal.drift import SCORE_NAME, DriftReport, ReferenceSketch

NUMERIC = ["age", "income", "credit_score", "employment_years"]
HOSTILE = '<script>alert(1)</script> & "x"'
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


class Page(HTMLParser):
    """Parses a page strictly: every non-void element must close in order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.starts: dict[str, int] = {}
        self.ends: dict[str, int] = {}
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self.starts[tag] = self.starts.get(tag, 0) + 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        self.ends[tag] = self.ends.get(tag, 0) + 1
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def charts(self) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == "svg"]

    def attr_values(self) -> list[str]:
        return [v for _, a in self.elements for v in a.values()]


def check_page(text: str) -> Page:
    page = Page(text)
    assert page.errors == [] and page.stack == []
    assert page.starts.get("svg", 0) == page.ends.get("svg", 0)
    low = text.lower()
    assert "<script" not in low and "http://" not in low and "https://" not in low
    for value in page.attr_values():  # neither NaN nor inf may reach any attribute
        assert not re.search(r"\b(nan|inf|infinity)\b", value.lower()), value
    assert not re.search(r"\b(nan|inf)\b", " ".join(page.text).lower())
    return page


def score_of(frame: pd.DataFrame) -> np.ndarray:
    z = -0.01 * (frame["credit_score"] - 680) - 0.8 * (np.log(frame["income"]) - 10.86)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def with_tier(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["tier"] = np.where(out["credit_score"] > 700, "prime", "subprime")
    return out


@pytest.fixture(scope="module")
def covariate() -> tuple[ReferenceSketch, pd.DataFrame, np.ndarray, DriftReport]:
    ref = with_tier(datasets.generate(3000, seed=1))
    cur = with_tier(datasets.generate(800, seed=2, drift="covariate"))
    sketch = drift.build_sketch(ref, NUMERIC, ["tier"], scores=score_of(ref))
    scores = score_of(cur)
    return sketch, cur, scores, drift.detect(sketch, cur, scores)


def render(sketch: ReferenceSketch, cur: pd.DataFrame, scores: Any, rep: DriftReport) -> str:
    return report.build_report(
        sketch, cur, scores, rep, model_version="v0007", generated_at="2026-11-26T08:30:00Z"
    )


def test_covariate_report_has_a_chart_per_feature_and_score(covariate: Any) -> None:
    sketch, cur, scores, rep = covariate
    text = report.build_report(
        sketch,
        cur,
        scores,
        rep,
        model_version="v0007",
        generated_at="2026-11-26T08:30:00Z",
        extra={
            "estimated_f1": 0.61,
            "estimated_f1_low": 0.58,
            "estimated_f1_high": 0.64,
            "live_f1": 0.6,
            "positive_rate": 0.31,
        },
    )
    page = check_page(text)
    charts = page.charts()
    assert all(c.get("class") == "chart" for c in charts)
    assert {c["data-feature"] for c in charts} == {*NUMERIC, "tier", SCORE_NAME}
    assert len(charts) == len(NUMERIC) + 2
    assert "v0007" in text and "2026-11-26T08:30:00Z" in text
    assert "0.610 (0.580&ndash;0.640)" in text and "live F1 (labeled)" in text
    n_drift, n_judged = len(rep.drifted_features), len(rep.features)
    assert f"{n_drift} of {n_judged} features" in text
    assert "reference" in text and "current" in text  # the legend


def test_drifted_features_come_first_and_are_marked(covariate: Any) -> None:
    sketch, cur, scores, rep = covariate
    assert {"age", "income"} <= set(rep.drifted_features)
    order = [c["data-feature"] for c in Page(render(sketch, cur, scores, rep)).charts()]
    flags = [rep.feature(name).drifted for name in order]
    first_stable = flags.index(False)
    assert all(flags[:first_stable]) and not any(flags[first_stable:])
    text = render(sketch, cur, scores, rep)
    assert text.count('class="card drifted"') == sum(bool(f) for f in flags)


def test_p_values_are_formatted(covariate: Any) -> None:
    sketch, cur, scores, rep = covariate
    text = render(sketch, cur, scores, rep)
    for fd in [*rep.features, rep.score]:
        for p in (fd.p_value, fd.p_adjusted):
            if p == 0.0:
                assert "&lt; 1e-300" in text
            else:
                assert (f"{p:.4f}" if p >= 1e-4 else f"{p:.2e}") in text


def test_twenty_features_stay_under_200_kb() -> None:
    rng = np.random.default_rng(5)

    def frame(n: int, shift: float) -> pd.DataFrame:
        cols: dict[str, Any] = {
            f"num_{i:02d}": rng.normal(shift * i, 1.0 + i, n) for i in range(12)
        }
        for i in range(8):  # up to 60 levels, some unseen in the reference
            levels = [f"level-{j}-{'x' * 12}" for j in range(8 * (i + 1))]
            cols[f"cat_{i}"] = rng.choice(levels[: 4 * (i + 1) + (int(shift) * 4 * (i + 1))], n)
        return pd.DataFrame(cols)

    ref, cur = frame(4000, 0.0), frame(1000, 1.0)
    num = [c for c in ref if c.startswith("num")]
    cat = [c for c in ref if c.startswith("cat")]
    sketch = drift.build_sketch(ref, num, cat, scores=rng.random(4000))
    scores = rng.random(1000) ** 2
    rep = drift.detect(sketch, cur, scores)
    text = render(sketch, cur, scores, rep)
    page = check_page(text)
    assert len(page.charts()) == 21
    assert len(text) < 200_000, len(text)


def test_hostile_feature_name_is_escaped() -> None:
    ref = datasets.generate(600, seed=3)
    cur = datasets.generate(300, seed=4, drift="covariate")
    ref[HOSTILE], cur[HOSTILE] = ref["age"], cur["age"]
    ref["cat"] = np.where(ref["income"] > 50_000, HOSTILE, "low")
    cur["cat"] = np.where(cur["income"] > 50_000, HOSTILE, "<b>unseen</b>")
    sketch = drift.build_sketch(ref, [HOSTILE], ["cat"])
    rep = drift.detect(sketch, cur)
    text = report.build_report(
        sketch,
        cur,
        None,
        rep,
        model_version=HOSTILE,
        generated_at=HOSTILE,
        extra={HOSTILE: HOSTILE},
    )
    page = check_page(text)
    assert HOSTILE not in text and "<b>unseen" not in text
    assert html.escape(HOSTILE, quote=True) in text
    assert {c["data-feature"] for c in page.charts()} == {HOSTILE, "cat"}
    assert not any(t == "script" for t, _ in page.elements)


def test_constant_and_all_nan_columns_render_without_nan() -> None:
    ref = datasets.generate(500, seed=6)
    cur = datasets.generate(300, seed=7)
    ref["const"], cur["const"] = 5.0, 5.0
    cur["income"] = np.nan
    ref["color"] = np.where(ref["age"] > 40, "red", "blue")
    cur["color"] = None
    sketch = drift.build_sketch(ref, [*NUMERIC, "const"], ["color"], scores=score_of(ref))
    scores = np.full(300, np.nan)  # no finite current score either
    rep = drift.detect(sketch, cur, scores)
    assert rep.feature("income").drifted is None and rep.feature("color").drifted is None
    text = render(sketch, cur, scores, rep)
    page = check_page(text)
    assert len(page.charts()) == len(NUMERIC) + 3
    assert "no verdict" in text and "300" in text  # 300 missing values counted


def test_insufficient_data_renders_no_verdict(covariate: Any) -> None:
    sketch = covariate[0]
    cur = with_tier(datasets.generate(50, seed=8))
    scores = score_of(cur)
    rep = drift.detect(sketch, cur, scores)
    assert rep.status == "insufficient_data"
    text = render(sketch, cur, scores, rep)
    check_page(text)
    assert "insufficient_data" in text
    assert text.count("<td>no verdict</td>") == len(NUMERIC) + 2
    assert "drifted: <b>no verdict" in text


def test_non_finite_numbers_never_reach_the_page() -> None:
    nan, inf = float("nan"), float("inf")
    fd = drift.FeatureDrift(
        name="x",
        kind="numeric",
        test="ks",
        statistic=nan,
        p_value=inf,
        p_adjusted=nan,
        effect_name="normed_wasserstein",
        effect_size=-inf,
        threshold=nan,
        psi=inf,
        n_nan=0,
        n_window=0,
        drifted=None,
    )
    cat = drift.FeatureDrift(
        name="c",
        kind="categorical",
        test="chi2",
        statistic=None,
        p_value=None,
        p_adjusted=None,
        effect_name="jensen_shannon",
        effect_size=None,
        threshold=0.1,
        psi=None,
        n_nan=5,
        n_window=0,
        drifted=None,
    )
    rep = DriftReport(
        status="insufficient_data",
        dataset_drift=False,
        drift_share=nan,
        n_reference=10,
        n_window=0,
        features=[fd, cat],
        score=None,
        config=drift.DriftConfig(),
    )
    hists = [
        drift.Histogram("x", "numeric", [nan, 0.0, inf], None, [nan, inf], [0.5, -inf]),
        drift.Histogram("c", "categorical", None, ["a", "b"], [nan, nan], [0.0, 0.0]),
    ]
    text = report.render_drift_report(
        rep,
        hists,
        score_histogram=None,
        title="t",
        generated_at="now",
        model_version="v",
        extra={"estimated_f1": nan, "live_f1": inf},
    )
    page = check_page(text)
    assert {c["data-feature"] for c in page.charts()} == {"x", "c"}


def test_render_accepts_missing_histograms(covariate: Any) -> None:
    rep = covariate[3]
    text = report.render_drift_report(
        rep, [], score_histogram=None, title="t", generated_at="now", model_version="v1"
    )
    page = check_page(text)
    assert page.charts() == [] and text.count("no histogram data") == len(NUMERIC) + 2


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-26T08:30:00.123Z", "20261126T083000Z"),
        ("2026-11-26T10:30:00+02:00", "20261126T083000Z"),
        ("2026-11-26 08:30:00", "20261126T083000"),
        ("../../etc/passwd", "etcpasswd"),
        ("cycle_12-b", "cycle_12-b"),
    ],
)
def test_stamp_from_time(stamp: str, expected: str) -> None:
    assert report.stamp_from_time(stamp) == expected


@pytest.mark.parametrize("stamp", ["", "///", "latest"])
def test_stamp_without_usable_name_is_refused(stamp: str) -> None:
    with pytest.raises(ValueError):
        report.stamp_from_time(stamp)


def test_write_report_writes_both_files(tmp_path: Path) -> None:
    first = report.write_report("<p>one</p>", tmp_path, "2026-11-26T08:30:00.123Z")
    assert first == tmp_path / "drift" / "20261126T083000Z.html"
    second = report.write_report("<p>two</p>", tmp_path, "2026-11-26T08:35:00Z")
    latest = tmp_path / "drift" / "latest.html"
    assert first.read_text(encoding="utf-8") == "<p>one</p>"
    assert latest.read_text(encoding="utf-8") == second.read_text(encoding="utf-8") == "<p>two</p>"
    assert sorted(p.name for p in (tmp_path / "drift").iterdir()) == [
        "20261126T083000Z.html",
        "20261126T083500Z.html",
        "latest.html",
    ]


def test_write_report_keeps_the_newest_200(tmp_path: Path) -> None:
    stamps = [f"2026-11-26T{h:02d}:{m:02d}:00Z" for h in range(4) for m in range(0, 60)][:203]
    for i, stamp in enumerate(stamps):
        report.write_report(f"<p>{i}</p>", tmp_path, stamp)
    files = sorted(p.name for p in (tmp_path / "drift").iterdir())
    assert len(files) == report.KEEP_REPORTS + 1 and files[-1] == "latest.html"
    assert files[0] == "20261126T000300Z.html"  # the three oldest were deleted
    assert (tmp_path / "drift" / "latest.html").read_text(encoding="utf-8") == "<p>202</p>"


def full_dashboard() -> dict[str, Any]:
    cycles = [
        {
            "created_at": f"2026-11-26T{h:02d}:00:00Z",
            "status": "drift" if h > 8 else "ok",
            "drift_share": min(h / 10, 1.0) if h != 3 else None,
            "dataset_drift": h > 8,
            "live_f1": 0.8 - h / 100 if h % 2 else None,
            "estimated_f1": 0.79 - h / 100,
            "estimated_f1_low": 0.76 - h / 100,
            "estimated_f1_high": 0.82 - h / 100,
            "n_window": 1000,
            "decision": "retrain" if h == 11 else "none",
        }
        for h in range(12)
    ]
    cycles[5]["drift_share"] = float("nan")
    cycles[6]["estimated_f1_high"] = float("inf")
    traffic = [
        {"bucket": f"2026-11-26T08:{m:02d}:00Z", "count": 100 + m, "p50_ms": 3.1, "p99_ms": 12.5}
        for m in range(60)
    ]
    traffic[10]["p99_ms"] = float("nan")
    return {
        "refresh_seconds": 15,
        "generated_at": "2026-11-26T12:00:00Z",
        "report_url": "/reports/drift/latest",
        "health": {
            "status": "ok",
            "model": "ok",
            "database": "ok",
            "writer": {"status": "ok", "queue": 3},
            "monitor": "running",
        },
        "stats": {
            "total": 12345,
            "labels": 678,
            "window_rows": 1000,
            "positive_rate": 0.27,
            "mean_probability": 0.31,
            "latency_p50": 3.2,
            "latency_p99": 14.9,
        },
        "production": {
            "version": "v0002",
            "promoted_at": "2026-11-26T11:00:00Z",
            "actor": "monitor",
            "reason": "gates passed",
            "metrics": {"f1": 0.81, "auc": 0.86, "brier": 0.15},
        },
        "versions": [
            {
                "version": "v0002",
                "status": "production",
                "created_at": "2026-11-26T10:00:00Z",
                "trigger": "drift",
                "reason": "gates passed",
                "metrics": {"f1": 0.81},
            },
            {
                "version": "v0001",
                "status": "archived",
                "created_at": "2026-11-20T10:00:00Z",
                "trigger": None,
                "reason": "bootstrap",
                "metrics": {},
            },
        ],
        "events": [
            {
                "created_at": "2026-11-26T11:00:00Z",
                "event": "promoted",
                "version": "v0002",
                "previous_version": "v0001",
                "reason": HOSTILE,
                "actor": "monitor",
            },
            {
                "created_at": "2026-11-26T10:00:00Z",
                "event": "registered",
                "version": "v0002",
                "previous_version": None,
                "reason": "retrain 4",
                "actor": "monitor",
            },
        ],
        "cycles": cycles,
        "traffic": traffic,
        "last_retrain": {
            "id": 4,
            "trigger": "drift",
            "status": "passed",
            "started_at": "2026-11-26T10:00:00Z",
            "finished_at": None,
            "reason": "all gates passed",
            "candidate_version": "v0002",
        },
    }


def test_dashboard_with_full_data() -> None:
    text = report.render_dashboard(full_dashboard())
    page = check_page(text)
    charts = {c.get("data-chart") for c in page.charts()}
    assert charts == {"drift_share", "f1", "traffic", "latency"}
    assert all(c.get("class") == "chart" for c in page.charts())
    keys = {a["data-key"] for t, a in page.elements if "figure" in a.get("class", "").split()}
    assert keys == set(full_dashboard()["stats"])
    assert '<meta http-equiv="refresh" content="15">' in text
    assert 'href="/reports/drift/latest"' in text
    assert "12,345" in text and "27.0%" in text and "14.9 ms" in text
    assert "v0001" in text and "bootstrap" in text and "gates passed" in text
    assert html.escape(HOSTILE, quote=True) in text and HOSTILE not in text
    assert "no data yet" not in text
    assert 'fill-opacity=".18"' in text and "threshold 0.5" in text  # F1 band, drift line


def test_dashboard_with_empty_data() -> None:
    text = report.render_dashboard({})
    page = check_page(text)
    assert page.charts() == []
    assert "no data yet" in text and '<meta http-equiv="refresh" content="30">' in text


def test_dashboard_refuses_foreign_links_and_survives_junk() -> None:
    data: dict[str, Any] = {
        "report_url": "javascript:alert(1)",
        "cycles": [{"created_at": None, "drift_share": "oops"}, {"created_at": float("nan")}],
        "traffic": "not a list",
        "events": [None, 3, {"event": float("nan"), "version": float("inf")}],
        "health": {"status": float("nan"), "model": {"status": None, "load_ms": float("nan")}},
        "stats": {"total": None, "labels": float("nan"), "odd": "<i>x</i>"},
        "production": {"version": float("nan"), "metrics": {"f1": float("inf")}},
        "refresh_seconds": float("nan"),
    }
    text = report.render_dashboard(data)
    page = check_page(text)
    assert not any(t == "a" for t, _ in page.elements)
    assert {c.get("data-chart") for c in page.charts()} == {"drift_share", "f1"}
    assert "&lt;i&gt;x&lt;/i&gt;" in text and 'content="30"' in text


def test_dashboard_reasons_lead_with_the_cause_and_keep_the_full_text_in_details() -> None:
    from selfheal.report import render_dashboard

    reason = (
        "drift: rejected by statistical: F1 gain -0.006 < 0.01 required (n=500).; "
        "passed: data_quality, stability, consistency"
    )
    html = render_dashboard(
        {
            "versions": [{"version": "v0002", "status": "rejected", "reason": reason}],
            "events": [{"event": "rejected", "version": "v0002", "reason": reason}],
            "last_retrain": {"id": 1, "status": "rejected", "reason": reason},
        }
    )
    short = "drift: rejected by statistical: F1 gain -0.006 &lt; 0.01 required (n=500)."
    assert html.count(f"<details><summary>{short}</summary>") == 3
    assert html.count("passed: data_quality, stability, consistency</details>") == 3
    assert "<script" not in html
    plain = render_dashboard({"versions": [{"version": "v0001", "reason": "first model"}]})
    assert "first model" in plain and "<details>" not in plain
