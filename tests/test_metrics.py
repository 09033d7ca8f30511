"""selfheal.metrics: our text exposition output, read back with prometheus_client's parser."""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from selfheal import metrics as M


def parse(text: str) -> dict[str, Any]:
    """Families by name (the parser names a counter family without `_total`)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family: Any, name: str | None = None) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in family.samples
        if name is None or s.name == name
    }


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


CONTRACT = {
    "selfheal_predictions": "counter",
    "selfheal_request_duration_seconds": "histogram",
    "selfheal_http_requests": "counter",
    "selfheal_batch_size": "histogram",
    "selfheal_writer_commit_seconds": "histogram",
    "selfheal_writer_queue_depth": "gauge",
    "selfheal_drift_share": "gauge",
    "selfheal_dataset_drift": "gauge",
    "selfheal_feature_effect_size": "gauge",
    "selfheal_feature_drifted": "gauge",
    "selfheal_feature_missing_share": "gauge",
    "selfheal_feature_missing_drifted": "gauge",
    "selfheal_live_f1": "gauge",
    "selfheal_estimated_f1": "gauge",
    "selfheal_estimated_f1_low": "gauge",
    "selfheal_estimated_f1_high": "gauge",
    "selfheal_monitor_cycles": "counter",
    "selfheal_retrains": "counter",
    "selfheal_rollbacks": "counter",
    "selfheal_promotions": "counter",
    "selfheal_model_info": "gauge",
    "selfheal_model_promoted_timestamp_seconds": "gauge",
}


def cycle(**over: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "status": "ok",
        "drift_share": 0.25,
        "dataset_drift": 0,
        "live_f1": 0.71,
        "estimated_f1": 0.7,
        "estimated_f1_low": 0.65,
        "estimated_f1_high": 0.75,
        "features": [
            {"feature": "age", "effect_name": "normed_wasserstein", "effect_size": 0.3,
             "drifted": True, "missing_share": 0.9, "missing_share_reference": 0.05,
             "missing_drifted": 1},
            {"feature": "purpose", "effect_name": "jensen_shannon", "effect_size": 0.02,
             "drifted": False},
        ],
    }  # fmt: skip
    summary.update(over)
    return summary


# -- the service registry ------------------------------------------------------------------------
def test_build_registry_exposes_the_contract_and_helpers_feed_it() -> None:
    depth = [7]
    pointer: dict[str, Any] = {"version": "v0003", "promoted_at": "2024-05-01T10:00:00.000000Z"}
    audit = {  # as store.audit_counts returns it
        "retrains": {"promoted": 1},
        "promotions": {"cli": 2, "api": 1},
        "rollbacks": {"monitor": 1},
    }
    reg = M.build_registry(
        queue_depth=lambda: depth[0], production=lambda: pointer, audit=lambda: audit
    )
    assert isinstance(reg, M.Registry)

    reg.observe_request("/predict", 200, 0.004)
    reg.observe_request("/predict", 200, 0.2)
    reg.observe_request("/predict", 422, 0.001)
    reg.observe_predictions("v0003", 5)
    reg.observe_predictions("v0003", 2, "invalid")
    reg.observe_predictions("v0003", 0, "error")  # nothing to count
    reg.observe_batch(5, 0.003)
    reg.observe_batch(0, 0.001)  # a write-only batch: commit time, no batch size
    reg.observe_cycle(cycle())

    fams = parse(reg.render())
    assert {n: f.type for n, f in fams.items()} == CONTRACT

    assert samples(fams["selfheal_predictions"]) == {
        key(model_version="v0003", outcome="ok"): 5.0,
        key(model_version="v0003", outcome="invalid"): 2.0,
    }
    assert samples(fams["selfheal_http_requests"]) == {
        key(route="/predict", status="200"): 2.0,
        key(route="/predict", status="422"): 1.0,
    }
    rd = fams["selfheal_request_duration_seconds"]
    assert samples(rd, "selfheal_request_duration_seconds_count") == {key(route="/predict"): 3}
    assert samples(rd, "selfheal_request_duration_seconds_sum")[key(route="/predict")] == (
        pytest.approx(0.205)
    )
    buckets = samples(rd, "selfheal_request_duration_seconds_bucket")
    assert buckets[key(route="/predict", le="0.001")] == 1
    assert buckets[key(route="/predict", le="0.005")] == 2
    assert buckets[key(route="/predict", le="0.25")] == 3
    les = [float(s.labels["le"]) for s in rd.samples if s.name.endswith("_bucket")]
    assert les[0] == 0.001 and les[-2] == 10.0 and les[-1] == math.inf

    bs = fams["selfheal_batch_size"]
    assert samples(bs, "selfheal_batch_size_count") == {(): 1}
    assert [float(s.labels["le"]) for s in bs.samples if s.name.endswith("_bucket")] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, math.inf,
    ]  # fmt: skip
    assert samples(
        fams["selfheal_writer_commit_seconds"], "selfheal_writer_commit_seconds_count"
    ) == {(): 2}

    assert samples(fams["selfheal_writer_queue_depth"]) == {(): 7.0}
    assert samples(fams["selfheal_drift_share"]) == {(): 0.25}
    assert samples(fams["selfheal_dataset_drift"]) == {(): 0.0}
    assert samples(fams["selfheal_live_f1"]) == {(): 0.71}
    assert samples(fams["selfheal_estimated_f1"]) == {(): 0.7}
    assert samples(fams["selfheal_estimated_f1_low"]) == {(): 0.65}
    assert samples(fams["selfheal_estimated_f1_high"]) == {(): 0.75}
    assert samples(fams["selfheal_feature_effect_size"]) == {
        key(feature="age", effect="normed_wasserstein"): 0.3,
        key(feature="purpose", effect="jensen_shannon"): 0.02,
    }
    assert samples(fams["selfheal_feature_drifted"]) == {
        key(feature="age"): 1.0,
        key(feature="purpose"): 0.0,
    }
    assert samples(fams["selfheal_feature_missing_share"]) == {
        key(feature="age", side="window"): 0.9,
        key(feature="age", side="reference"): 0.05,
    }
    assert samples(fams["selfheal_feature_missing_drifted"]) == {key(feature="age"): 1.0}
    assert samples(fams["selfheal_monitor_cycles"]) == {key(status="ok"): 1.0}
    # known outcomes are visible at 0 before they first happen
    assert samples(fams["selfheal_retrains"]) == {
        key(outcome="promoted"): 1.0,
        key(outcome="rejected"): 0.0,
        key(outcome="failed"): 0.0,
    }
    assert samples(fams["selfheal_rollbacks"]) == {key(actor="monitor"): 1.0}
    assert samples(fams["selfheal_promotions"]) == {key(actor="cli"): 2.0, key(actor="api"): 1.0}
    assert samples(fams["selfheal_model_info"]) == {key(version="v0003"): 1.0}
    assert samples(fams["selfheal_model_promoted_timestamp_seconds"]) == {(): 1714557600.0}

    # collectors are read at render time
    depth[0] = 0
    pointer = {"version": "v0002", "promoted_at": "2024-05-02T00:00:00.000000Z"}
    fams = parse(reg.render())
    assert samples(fams["selfheal_writer_queue_depth"]) == {(): 0.0}
    assert samples(fams["selfheal_model_info"]) == {key(version="v0002"): 1.0}
    assert samples(fams["selfheal_model_promoted_timestamp_seconds"]) == {(): 1714608000.0}


def test_build_registry_without_live_objects_and_without_production() -> None:
    reg = M.build_registry(production=lambda: None)
    fams = parse(reg.render())
    assert set(fams) == set(CONTRACT)
    assert samples(fams["selfheal_writer_queue_depth"]) == {}
    assert samples(fams["selfheal_model_info"]) == {}
    assert samples(fams["selfheal_model_promoted_timestamp_seconds"]) == {}
    assert samples(fams["selfheal_predictions"]) == {}
    # a label-less histogram shows zero buckets before its first observation
    assert samples(fams["selfheal_batch_size"], "selfheal_batch_size_count") == {(): 0}


def test_observe_cycle_clears_stale_feature_gauges_and_keeps_them_on_error() -> None:
    reg = M.build_registry()
    reg.observe_cycle(cycle())
    # next report: other features ('name' as in FeatureDrift.to_dict), no verdict for one
    reg.observe_cycle(
        cycle(
            drift_share=None,
            live_f1=None,
            dataset_drift=1,
            features=None,
        ),
        features=[
            {"name": "income", "effect_name": "normed_wasserstein", "effect_size": 0.5,
             "drifted": True},
            {"name": "score", "effect_name": "normed_wasserstein", "effect_size": None,
             "drifted": None},
        ],
    )  # fmt: skip
    fams = parse(reg.render())
    assert samples(fams["selfheal_feature_effect_size"]) == {
        key(feature="income", effect="normed_wasserstein"): 0.5
    }
    assert samples(fams["selfheal_feature_drifted"]) == {key(feature="income"): 1.0}
    assert samples(fams["selfheal_feature_missing_share"]) == {}  # age's are gone
    assert samples(fams["selfheal_drift_share"]) == {}  # None drops the stale value
    assert samples(fams["selfheal_live_f1"]) == {}
    assert samples(fams["selfheal_dataset_drift"]) == {(): 1.0}

    # a failed cycle is counted, and the last good report stays visible
    reg.observe_cycle({"status": "error", "error": "boom"})
    reg.observe_cycle({"status": "insufficient_data", "dataset_drift": 0})
    fams = parse(reg.render())
    assert samples(fams["selfheal_monitor_cycles"]) == {
        key(status="ok"): 2.0,
        key(status="error"): 1.0,
        key(status="insufficient_data"): 1.0,
    }
    assert samples(fams["selfheal_feature_effect_size"]) == {}
    assert samples(fams["selfheal_dataset_drift"]) == {(): 0.0}


def test_gauge_clear_and_remove_drop_label_sets() -> None:
    reg = M.Registry()
    g = reg.gauge("x_effect", "effect", ("feature",))
    g.set(1, feature="a")
    g.set(2, feature="b")
    g.remove(feature="a")
    g.remove(feature="never")
    assert samples(parse(reg.render())["x_effect"]) == {key(feature="b"): 2.0}
    g.clear()
    g.set(3, feature="c")
    assert samples(parse(reg.render())["x_effect"]) == {key(feature="c"): 3.0}
    assert g.value(feature="c") == 3.0 and g.value(feature="b") is None


# -- histogram -----------------------------------------------------------------------------------
def test_histogram_cumulative_buckets_inf_sum_and_count() -> None:
    reg = M.Registry()
    h = reg.histogram("x_seconds", "latency", [1, 2, 5], ("route",))
    for v in (0.5, 1.0, 1.5, 3.0, 100.0, -1.0):  # 1.0 lands in le="1.0": bounds are inclusive
        h.observe(v, route="/a")
    h.observe(2.0, route="/b")
    fam = parse(reg.render())["x_seconds"]
    assert fam.type == "histogram"
    assert samples(fam, "x_seconds_bucket") == {
        key(route="/a", le="1.0"): 3,
        key(route="/a", le="2.0"): 4,
        key(route="/a", le="5.0"): 5,
        key(route="/a", le="+Inf"): 6,
        key(route="/b", le="1.0"): 0,
        key(route="/b", le="2.0"): 1,
        key(route="/b", le="5.0"): 1,
        key(route="/b", le="+Inf"): 1,
    }
    assert samples(fam, "x_seconds_sum") == {key(route="/a"): 105.0, key(route="/b"): 2.0}
    assert samples(fam, "x_seconds_count") == {key(route="/a"): 6, key(route="/b"): 1}
    # per label set: buckets (ascending le, +Inf last), then _sum, then _count
    names = [s.name for s in fam.samples if s.labels.get("route") == "/a"]
    assert names == ["x_seconds_bucket"] * 4 + ["x_seconds_sum", "x_seconds_count"]
    assert [s.labels["le"] for s in fam.samples if s.name == "x_seconds_bucket"][:4] == [
        "1.0", "2.0", "5.0", "+Inf",
    ]  # fmt: skip

    h.observe(math.inf, route="/b")
    fam = parse(reg.render())["x_seconds"]
    assert samples(fam, "x_seconds_bucket")[key(route="/b", le="+Inf")] == 2
    assert samples(fam, "x_seconds_sum")[key(route="/b")] == math.inf


@pytest.mark.parametrize("buckets", [[], [2, 1], [1, 1], [1, math.nan], [math.inf], [-math.inf, 1]])
def test_histogram_rejects_bad_buckets(buckets: list[float]) -> None:
    with pytest.raises(ValueError, match="x_h"):
        M.Histogram("x_h", "h", buckets)


def test_histogram_explicit_inf_bucket_is_not_doubled_and_nan_is_rejected() -> None:
    h = M.Histogram("x_h", "h", [1, math.inf])
    assert h.buckets == (1.0,)
    with pytest.raises(ValueError, match="x_h.*NaN"):
        h.observe(math.nan)
    with pytest.raises(ValueError, match="x_h.*reserved"):
        M.Histogram("x_h", "h", [1], ("le",))


# -- format details ------------------------------------------------------------------------------
def test_hostile_label_value_and_help_round_trip_through_the_real_parser() -> None:
    hostile = 'a"b\\c\nd\\"\\n}{,=" end'
    help_text = 'line one\\ with backslash\nline two "quoted"'
    reg = M.Registry()
    reg.gauge("x_g", help_text, ("feature",)).set(1.5, feature=hostile)
    reg.counter("x_c", help_text, ("who",)).inc(who=hostile)
    text = reg.render()
    assert text.endswith("\n")
    assert "\n" not in text.split("# HELP x_g ", 1)[1].split("# TYPE", 1)[0].rstrip("\n")
    fams = parse(text)
    assert fams["x_g"].documentation == help_text
    assert samples(fams["x_g"]) == {key(feature=hostile): 1.5}
    assert fams["x_c"].documentation == help_text
    assert samples(fams["x_c"]) == {key(who=hostile): 1.0}
    assert M.escape_label_value('\\"\n') == '\\\\\\"\\n'
    assert M.escape_help('\\"\n') == '\\\\"\\n'


def test_nan_and_infinite_gauge_values() -> None:
    reg = M.Registry()
    g = reg.gauge("x_v", "values", ("kind",))
    g.set(math.nan, kind="nan")
    g.set(math.inf, kind="pos")
    g.set(-math.inf, kind="neg")
    g.set(0.1, kind="plain")
    text = reg.render()
    assert 'x_v{kind="nan"} NaN\n' in text
    assert 'x_v{kind="pos"} +Inf\n' in text
    assert 'x_v{kind="neg"} -Inf\n' in text
    got = samples(parse(text)["x_v"])
    assert math.isnan(got[key(kind="nan")])
    assert got[key(kind="pos")] == math.inf
    assert got[key(kind="neg")] == -math.inf
    assert got[key(kind="plain")] == 0.1
    assert [M.format_value(v) for v in (1, 2.5, 1e-9, True)] == ["1", "2.5", "1e-09", "1.0"]


def test_counter_total_suffix_and_help_type_lines() -> None:
    reg = M.Registry()
    a = reg.counter("x_requests", "plain name")
    b = reg.counter("x_errors_total", "already suffixed")
    a.inc()
    a.inc(2.5)
    b.inc(0)
    text = reg.render()
    assert text.splitlines()[:3] == [
        "# HELP x_requests_total plain name",
        "# TYPE x_requests_total counter",
        "x_requests_total 3.5",
    ]
    assert "x_errors_total 0.0" in text and "x_errors_total_total" not in text
    fams = parse(text)
    assert fams["x_requests"].type == "counter" and fams["x_errors"].type == "counter"
    assert reg.get("x_requests") is a and reg.get("x_requests_total") is a
    with pytest.raises(ValueError, match="x_requests_total.*only go up"):
        a.inc(-1)
    with pytest.raises(ValueError, match="x_requests_total"):
        a.inc(math.nan)
    assert M.Registry().render() == ""


# -- collectors ----------------------------------------------------------------------------------
def test_collectors_run_at_render_time_and_a_broken_one_is_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reg = M.Registry()
    info = reg.gauge("x_info", "info", ("version",))
    reg.gauge("x_depth", "depth")
    calls = [0]

    def good() -> list[M.Collected]:
        calls[0] += 1
        return [("x_info", {"version": f"v{calls[0]}"}, 1), ("x_depth", {}, calls[0] * 10)]

    def broken() -> list[M.Collected]:
        raise RuntimeError("live object gone")

    def wrong_labels() -> list[M.Collected]:
        return [("x_depth", {"extra": "1"}, 1.0)]

    def unknown() -> list[M.Collected]:
        return [("x_nope", {}, 1.0)]

    for fn in (good, broken, wrong_labels, unknown):
        reg.add_collector(fn)
    assert calls[0] == 0  # nothing runs before a render
    with caplog.at_level(logging.ERROR, logger="selfheal.metrics"):
        first = parse(reg.render())
        second = parse(reg.render())
    assert samples(first["x_info"]) == {key(version="v1"): 1.0}
    assert samples(second["x_info"]) == {key(version="v2"): 1.0}
    assert samples(second["x_depth"]) == {(): 20.0}
    assert "x_nope" not in second
    assert len(caplog.records) == 6  # 3 broken collectors x 2 renders
    errors = " ".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert "live object gone" in errors and "x_nope" in errors and "x_depth" in errors

    # a collector sample replaces a set value with the same labels
    info.set(5, version="v3")
    info.set(7, version="static")
    fams = parse(reg.render())
    assert samples(fams["x_info"]) == {key(version="v3"): 1.0, key(version="static"): 7.0}


def test_gauge_fn_is_read_at_render_time() -> None:
    value: list[float | None] = [1.0]
    reg = M.Registry()
    g = reg.gauge("x_live", "live", fn=lambda: value[0])
    assert samples(parse(reg.render())["x_live"]) == {(): 1.0}
    value[0] = 42
    assert samples(parse(reg.render())["x_live"]) == {(): 42.0}
    value[0] = None
    assert samples(parse(reg.render())["x_live"]) == {}
    with pytest.raises(ValueError, match="x_live"):
        g.set(3)
    with pytest.raises(ValueError, match="x_labelled"):
        M.Gauge("x_labelled", "h", ("a",), fn=lambda: 1.0)


def test_gauge_fn_that_raises_leaves_only_its_family_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom() -> float:
        raise RuntimeError("gone")

    reg = M.Registry()
    reg.gauge("x_bad", "bad", fn=boom)
    reg.gauge("x_ok", "ok").set(1)
    with caplog.at_level(logging.ERROR, logger="selfheal.metrics"):
        fams = parse(reg.render())
    assert samples(fams["x_bad"]) == {} and samples(fams["x_ok"]) == {(): 1.0}
    assert any("x_bad" in r.getMessage() for r in caplog.records)


# -- validation ----------------------------------------------------------------------------------
def test_wrong_label_sets_raise_naming_the_metric() -> None:
    reg = M.Registry()
    c = reg.counter("x_c", "c", ("route", "status"))
    g = reg.gauge("x_g", "g")
    h = reg.histogram("x_h", "h", [1], ("route",))
    with pytest.raises(ValueError, match=r"x_c_total: expected labels \['route', 'status'\]"):
        c.inc(route="/a")
    with pytest.raises(ValueError, match="x_c_total"):
        c.inc(route="/a", status="200", extra="1")
    with pytest.raises(ValueError, match="x_c_total"):
        c.inc(route="/a", statuz="200")
    with pytest.raises(ValueError, match="x_g"):
        g.set(1, feature="a")
    with pytest.raises(ValueError, match="x_h"):
        h.observe(1)
    assert samples(parse(reg.render())["x_c"]) == {}


@pytest.mark.parametrize("labelnames", [("1a",), ("a-b",), ("",), ("__x",), ("a", "a"), ("é",)])
def test_invalid_label_names_are_rejected(labelnames: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="x_m"):
        M.Gauge("x_m", "m", labelnames)


@pytest.mark.parametrize("name", ["", "1x", "x-y", "x y", "é"])
def test_invalid_metric_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        M.Gauge(name, "m")


def test_name_clashes_are_rejected_at_registration() -> None:
    reg = M.Registry()
    reg.histogram("x_h", "h", [1])
    reg.counter("x_c", "c")
    for make in (
        lambda: reg.gauge("x_h", "again"),
        lambda: reg.gauge("x_h_count", "clashes with the histogram's _count"),
        lambda: reg.gauge("x_c_total", "clashes with the counter's samples"),
        lambda: reg.counter("x_c_total", "same counter"),
        lambda: reg.gauge("x_c", "the parser's name for the counter family"),
        lambda: reg.counter("x_h_count", "a counter over the histogram's _count"),
    ):
        with pytest.raises(ValueError, match="already registered"):
            make()
    with pytest.raises(KeyError):
        reg.get("x_missing")


# -- threads -------------------------------------------------------------------------------------
def test_concurrent_updates_give_exact_totals_and_consistent_snapshots() -> None:
    reg = M.Registry()
    c = reg.counter("x_hits", "hits", ("worker",))
    total = reg.counter("x_all", "all")
    g = reg.gauge("x_g", "g")
    h = reg.histogram("x_h", "h", [0.5, 1, 2], ("route",))
    n_threads, n = 8, 1000
    start = threading.Barrier(n_threads + 1)
    done = threading.Event()
    snapshots: list[str] = []

    def work(i: int) -> None:
        start.wait()
        for _ in range(n):
            c.inc(worker=str(i % 2))
            total.inc()
            g.inc()
            h.observe(1.0, route="/r")

    def scrape() -> None:
        start.wait()
        while not done.is_set():
            snapshots.append(reg.render())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    scraper = threading.Thread(target=scrape)
    for t in [*threads, scraper]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    scraper.join()

    fams = parse(reg.render())
    assert samples(fams["x_hits"]) == {key(worker="0"): 4000.0, key(worker="1"): 4000.0}
    assert samples(fams["x_all"]) == {(): 8000.0}
    assert samples(fams["x_g"]) == {(): 8000.0}
    assert samples(fams["x_h"], "x_h_count") == {key(route="/r"): 8000}
    assert samples(fams["x_h"], "x_h_sum") == {key(route="/r"): 8000.0}
    # every histogram snapshot taken mid-flight is self-consistent
    for text in [*snapshots[:: max(1, len(snapshots) // 50)], *snapshots[-1:]]:
        hs = parse(text)["x_h"]
        count = samples(hs, "x_h_count").get(key(route="/r"), 0)
        b = samples(hs, "x_h_bucket")
        if count:
            assert b[key(route="/r", le="+Inf")] == b[key(route="/r", le="1.0")] == count
            assert samples(hs, "x_h_sum")[key(route="/r")] == float(count)


def test_retrains_promotions_and_rollbacks_count_every_process(trained_home: Any) -> None:
    """A promotion and a rollback made by the CLI (another process, which the server never
    hears about) appear in the server's /metrics: the counters are read from the audit
    tables at scrape time."""
    from selfheal.service import Service
    from selfheal.web import create_app
    from tests.conftest import register_copy

    svc = Service(trained_home.settings).start(monitor=False)
    try:
        client = create_app(svc).test_client()

        def counts() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            fams = parse(client.get("/metrics").get_data(as_text=True))
            return {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for f in fams.values()
                for s in f.samples
            }

        before = counts()
        assert before[("selfheal_promotions_total", (("actor", "init"),))] == 1  # v0001
        assert ("selfheal_rollbacks_total", (("actor", "cli"),)) not in before
        version = register_copy(trained_home.registry)
        trained_home.registry.promote(version, actor="cli")  # as `selfheal promote` does
        trained_home.registry.rollback(actor="cli")
        after = counts()
        assert after[("selfheal_promotions_total", (("actor", "cli"),))] == 1
        assert after[("selfheal_rollbacks_total", (("actor", "cli"),))] == 1
        assert after[("selfheal_retrains_total", (("outcome", "promoted"),))] == 0
    finally:
        svc.stop()
