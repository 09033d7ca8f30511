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
    # No value left to test, but a missing share of 100% against 0%: drifted on that alone.
    for name in ("income", "color"):
        f = rep.feature(name)
        assert f.p_value is None and f.missing_drifted is True and f.drifted is True
    assert rep.score is not None and rep.score.drifted is None
    text = render(sketch, cur, scores, rep)
    page = check_page(text)
    assert len(page.charts()) == len(NUMERIC) + 3
    assert "no verdict" in text and "300" in text  # 300 missing values counted
    assert "100.0% (reference 0.0%) <b>(moved: drifted)</b>" in text


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
    charts = {c.get("data-chart"): c.get("class") for c in page.charts()}
    assert charts == {
        "f1": "chart wide",  # the healing timeline
        "drift_share": "chart",
        "traffic": "chart",
        "latency": "chart",
    }
    keys = {a["data-key"] for t, a in page.elements if "figure" in a.get("class", "").split()}
    assert keys == set(full_dashboard()["stats"])
    assert '<meta http-equiv="refresh" content="15">' in text
    assert 'href="/reports/drift/latest"' in text
    assert "12,345" in text and "27.0%" in text and "14.9 ms" in text
    assert "v0001" in text and "bootstrap" in text and "gates passed" in text
    assert html.escape(HOSTILE, quote=True) in text and HOSTILE not in text
    assert "no data yet" not in text
    assert 'fill-opacity=".18"' in text and "threshold 0.5" in text  # F1 band, drift line
    assert text.count('data-mark="promoted"') == 1 and "data-mark=" in text


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
    assert {c.get("data-chart") for c in page.charts()} == {"drift_share"}
    assert '<p class="muted wait" data-chart="f1">no monitor cycle yet;' in text  # no times
    assert "&lt;i&gt;x&lt;/i&gt;" in text and 'content="30"' in text


REJECTION = (
    "drift: rejected by statistical: F1 gain -0.006 < 0.01 required (n=500).; "
    "stability: Unstable: Brier 0.2083 vs champion 0.1103 (increase +0.0980 > 0.01 allowed).; "
    "passed: data_quality, consistency"
)


def test_dashboard_shows_a_rejection_reason_once_short_with_the_full_text_in_details() -> None:
    text = report.render_dashboard(
        {
            "versions": [{"version": "v0002", "status": "rejected", "reason": REJECTION}],
            "events": [{"event": "rejected", "version": "v0002", "reason": REJECTION}],
            "last_retrain": {"id": 1, "status": "rejected", "reason": REJECTION},
        }
    )
    page = check_page(text)
    short = "drift: rejected by statistical: F1 gain -0.006 &lt; 0.01 required (n=500). (+1 more)"
    assert f'<details id="reason-1"><summary>{short}</summary>' in text
    assert text.count(html.escape(REJECTION)) == 1 and text.count("<details") == 1
    assert text.count("F1 gain -0.006") == 2 and text.count("Unstable") == 1  # never 3 times
    # The full text is in the last retrain (first on the page); the others link up to it.
    assert text.index("<details") < text.index("<h2>Model versions</h2>")
    links = [a["href"] for t, a in page.elements if t == "a"]
    assert links == ["#reason-1", "#reason-1"] and "same reason as above" in text
    plain = report.render_dashboard({"versions": [{"version": "v0001", "reason": "first model"}]})
    assert "first model" in plain and "<details" not in plain and "<a " not in plain


def card(text: str, title: str) -> str:
    """The markup of the dashboard card titled `title`."""
    return text.split(f"<h2>{title}</h2>", 1)[1].split('<div class="card', 1)[0]


def test_dashboard_last_retrain_shows_evidence_as_a_short_list_with_rounded_numbers() -> None:
    run = {
        "id": 1,
        "trigger": "drift",
        "status": "rejected",
        "actor": "monitor",
        "base_version": "v0001",
        "candidate_version": "v0002",
        "started_at": "2026-11-30T09:31:29.686100Z",
        "finished_at": "2026-11-30T09:31:31.514515Z",
        "reason": "drift: rejected by statistical: F1 gain -0.065 < 0.01 required.",
        "error": None,
        "data_cutoff_seq": None,
        "evidence": {
            "triggers": {
                "drift": {
                    "consecutive_cycles": 2,
                    "drift_share": 0.75,
                    "drifted": ["age", "income", "employment_years"],
                    "score_drifted": True,
                },
                "estimated_f1": {
                    "estimated_f1": 0.5113284358865495,
                    "reference_estimated_f1": 0.5956862206347026,
                    "band": [0.4604975922953451, 0.5595594826482264],
                    "drop": 0.08435778474815303,
                    "deeper": {"a": {"b": 1}},
                },
            },
            "model_version": "v0001",
            "estimator": "HistGradientBoostingClassifier(early_stopping=False,\n"
            + " " * 31
            + "l2_regularization=1.0, learning_rate=0.08, max_iter=200)",
        },
        "candidates": {
            "n_live": 800,
            "holdout": {"rows": 240, "positive_rate": 0.2916666666666667},
            "candidates": [{"window": "recent", "f1": 0.5799}, {"window": "weighted"}],
            "chosen": "recent",
        },
        "gates": [
            {
                "gate": "data_quality",
                "passed": True,
                "values": {"n_rows": 5800, "class_shares": {"0": 0.7318965517241379}},
                "thresholds": {"min_rows": 500},
            },
            {
                "gate": "statistical",
                "passed": False,
                "values": {
                    "mode": "champion",
                    "n": 240,
                    "gain": -0.06527963351784694,
                    "ci_low": -0.1414433175,
                },
                "thresholds": {"min_f1_gain": 0.01, "threshold": 0.2300279212132047},
            },
        ],
    }
    text = report.render_dashboard({"last_retrain": run})
    check_page(text)
    part = card(text, "Last retrain")
    assert "{" not in part and "&#x27;" not in part  # never a raw dict repr
    shown = re.sub(r"<[^>]*>", " ", part)  # the text on screen
    decimals = re.findall(r"\d+\.\d+", shown)
    assert decimals and all(len(d.replace(".", "").lstrip("0")) <= 3 for d in decimals), decimals
    for shown in (
        # two levels as nested lists, the third as "key value" pairs, the fourth a count
        '<li><span class="k">triggers</span> <ul class="brief"><li><span class="k">drift</span>',
        "consecutive cycles 2 &middot; drift share 0.75 &middot; drifted age, income, "
        "employment_years &middot; score drifted yes</li>",
        "estimated f1 0.511 &middot; reference estimated f1 0.596 &middot; band 0.46, 0.56 "
        "&middot; drop 0.0844 &middot; deeper 1 field</li>",
        '<span class="k">positive rate</span> 0.292',
        '<span class="k">candidates</span> 2 items',
        "n 240 &middot; gain -0.0653 &middot; ci low -0.141</summary>values: mode champion",
        "thresholds: min f1 gain 0.01 &middot; threshold 0.23</details>",
        "n rows 5800</summary>",
        '<span class="badge b-passed">passed</span> <b>data_quality</b>',
        '<span class="badge b-failed">failed</span> <b>statistical</b>',
        '<time datetime="2026-11-30T09:31:29.686100Z"',
        ">2026-11-30 09:31:29</time>",
    ):
        assert shown in part, shown
    estimator = "HistGradientBoostingClassifier(early_stopping=False, l2_regularization=1.0, "
    assert f'<span title="{estimator}' in part and "\u2026</span>" in part  # clipped
    assert "error" not in part and "data cutoff" not in part  # empty fields left out
    assert "<th>run</th><td>1</td>" in part and "<th>candidate</th><td>v0002</td>" in part


def timeline_data() -> dict[str, Any]:
    at = "2026-11-26T{}Z".format
    cycles = [
        {
            "created_at": at(t),
            "live_f1": live,
            "estimated_f1": est,
            "estimated_f1_low": est - 0.03,
            "estimated_f1_high": est + 0.03,
        }
        for t, live, est in (
            ("08:00:00", 0.8, 0.78),
            ("08:10:00", None, 0.7),
            ("08:40:00", 0.5, 0.6),
        )
    ]
    events = [  # newest first, as the events table has them
        {"created_at": at("08:30:00"), "event": "rolled_back", "version": "v0001"},
        {"created_at": at("08:20:00"), "event": "promoted", "version": "v0003"},
        {"created_at": at("08:20:00"), "event": "registered", "version": "v0003"},
        {"created_at": at("08:15:00"), "event": "rejected", "version": "v0002"},
        {"created_at": "2026-11-20T08:00:00Z", "event": "promoted", "version": "v0001"},
    ]
    runs = [
        {
            "id": 1,
            "status": "rejected",
            "candidate_version": "v0002",
            "trigger": "drift",
            "started_at": at("08:10:00"),
            "finished_at": at("08:15:00"),
        },
        {
            "id": 2,
            "status": "promoted",
            "candidate_version": "v0003",
            "trigger": "labeled_f1",
            "started_at": at("08:18:00"),
            "finished_at": at("08:20:00"),
        },
        {
            "id": 3,
            "status": "failed",
            "candidate_version": None,
            "trigger": "manual",
            "started_at": at("08:31:00"),
            "finished_at": at("08:32:00"),
        },
        {
            "id": 4,
            "status": "rejected",
            "candidate_version": None,
            "trigger": "manual",
            "started_at": at("08:33:00"),
            "finished_at": at("08:50:00"),
        },
    ]
    return {"cycles": cycles, "events": events, "runs": runs}


def test_dashboard_healing_timeline_marks_promotions_rejections_and_rollbacks() -> None:
    text = report.render_dashboard(timeline_data())
    page = check_page(text)
    marks = [a["data-mark"] for t, a in page.elements if t == "path" and "data-mark" in a]
    # Oldest first; the promotion before the first cycle and "registered" are not marks;
    # run 1's rejection is its event's, run 4 (no candidate) is marked at its end.
    assert marks == [
        "retrain",
        "rejected",
        "retrain",
        "promoted",
        "rolled_back",
        "retrain",
        "failed",
        "retrain",
        "rejected",
    ]
    svg = text.split('data-chart="f1"', 1)[1].split("</svg>", 1)[0]
    for label in ("live F1 (labeled)", "estimated F1 (label-free)", "promotion", "rejection"):
        assert f">{label}</text>" in svg, label
    assert ">rollback</text>" in svg and ">retrain started</text>" in svg
    assert "<title>rolled back v0001 at 2026-11-26 08:30:00 UTC</title>" in svg
    assert "<title>retrain 3 failed at 2026-11-26 08:32:00 UTC</title>" in svg
    assert "UTC, 2026-11-26 08:00:00 to 2026-11-26 08:50:00" in svg  # run 4 ends last
    assert ">08:10</text>" in svg and ">08:50</text>" in svg  # ticks every 10 minutes


def test_dashboard_healing_timeline_places_cycles_by_time() -> None:
    data = timeline_data()
    data["runs"], data["events"] = [], []
    svg = report.render_dashboard(data).split('data-chart="f1"', 1)[1].split("</svg>", 1)[0]
    # x runs 40..885 over 08:00..08:40: the cycles sit at 0, 1/4 and 1 of the way.
    live = re.findall(rf'<circle cx="([\d.]+)" cy="[\d.]+" r="2.2" fill="{report.CUR_COLOR}"', svg)
    est = re.findall(rf'<circle cx="([\d.]+)" cy="[\d.]+" r="2.2" fill="{report.REF_COLOR}"', svg)
    assert live == ["40.0", "885.0"] and est == ["40.0", "251.2", "885.0"]
    assert svg.count('fill-opacity=".18"') == 1  # one band over the three estimates


def test_dashboard_with_one_cycle_shows_sentences_instead_of_empty_charts() -> None:
    cycle = {
        "created_at": "2026-11-26T08:00:00Z",
        "status": "ok",
        "drift_share": 0.25,
        "live_f1": 0.812,
        "estimated_f1": 0.79,
        "estimated_f1_low": 0.75,
        "estimated_f1_high": 0.83,
    }
    traffic = [{"bucket": "2026-11-26T08:00", "count": 400, "p50_ms": 3.14, "p99_ms": 12.5}]
    text = report.render_dashboard({"cycles": [cycle], "traffic": traffic})
    page = check_page(text)
    assert page.charts() == []  # no chart with one point
    waits = {a["data-chart"] for t, a in page.elements if t == "p" and "data-chart" in a}
    assert waits == {"f1", "drift_share", "traffic", "latency"}
    assert "live F1 0.812, estimated F1 0.790 (0.750&ndash;0.830)" in text
    assert "the healing timeline starts after two monitor cycles" in text
    assert "400 requests so far" in text and "p50 3.1 ms, p99 12.5 ms so far" in text
    two = report.render_dashboard({"cycles": [cycle, {**cycle, "created_at": "2026-11-26T08:01Z"}]})
    assert {c.get("data-chart") for c in check_page(two).charts()} == {"f1", "drift_share"}


def test_dashboard_events_table_is_compact() -> None:
    events = [
        {
            "created_at": "2026-11-26T11:00:00.123456Z",
            "event": "rolled_back",
            "version": "v0001",
            "previous_version": "v0004",
            "actor": "cli",
            "reason": "operator rollback",
        }
    ]
    part = card(report.render_dashboard({"events": events}), "Recent model events")
    assert "<th>time</th><th>event</th><th>version</th><th>actor</th><th>reason</th>" in part
    assert '<td class="nw"><time datetime="2026-11-26T11:00:00.123456Z"' in part
    assert 'v0001 <small class="muted">was v0004</small>' in part


def test_replay_page_escapes_its_source_and_draws_the_auc_chart() -> None:
    data = {
        "source": HOSTILE,
        "summary": {"rows": 2000, "train_rows": 500, "served_auc": 0.8123, "seconds": 1.25},
        "params": {"segment": 250},
        "curve": [{"row": 500 + 100 * i, "served_auc": 0.8, "frozen_auc": 0.7} for i in range(5)],
        "segments": [{"start_row": 500, "end_row": 749, "n": 250, "versions": [HOSTILE]}],
        "events": [{"row": 700, "kind": "promoted", "version": "v0002", "detail": HOSTILE}],
    }
    text = report.render_replay(data)
    page = check_page(text)
    assert HOSTILE not in text and html.escape(f"Replay of {HOSTILE}", quote=True) in text
    assert [c.get("data-chart") for c in page.charts()] == ["replay_auc"]
    assert "rows: <b>2000 (500 to train)</b>" in text and "wall time: <b>1.2 s</b>" in text
    assert "<td>500&ndash;749</td>" in text and '<p class="muted">none</p>' in text
