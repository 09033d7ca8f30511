"""selfheal.prometheus: the service's /metrics text, read back with prometheus_client's parser."""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from selfheal import prometheus as M


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
    assert isinstance(reg, M.ServiceMetrics)
    assert isinstance(reg.registry, CollectorRegistry) and reg.registry is not REGISTRY

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


# -- histograms ----------------------------------------------------------------------------------
def test_request_histogram_cumulative_buckets_inf_sum_and_count() -> None:
    reg = M.build_registry()
    # 1.0 lands in le="1.0": bounds are inclusive; a negative or NaN duration counts as 0
    for v in (0.5, 1.0, 1.5, 3.0, 100.0, -1.0, math.nan):
        reg.observe_request("/a", 200, v)
    reg.observe_request("/b", 200, 2.0)
    fam = parse(reg.render())["selfheal_request_duration_seconds"]
    assert fam.type == "histogram"
    b = samples(fam, "selfheal_request_duration_seconds_bucket")
    a_les = ("0.001", "0.5", "1.0", "2.5", "5.0", "+Inf")
    assert [b[key(route="/a", le=le)] for le in a_les] == [2, 3, 4, 5, 6, 7]
    assert [b[key(route="/b", le=le)] for le in ("1.0", "2.5", "10.0", "+Inf")] == [0, 1, 1, 1]
    assert samples(fam, "selfheal_request_duration_seconds_sum") == {
        key(route="/a"): 106.0,
        key(route="/b"): 2.0,
    }
    assert samples(fam, "selfheal_request_duration_seconds_count") == {
        key(route="/a"): 7,
        key(route="/b"): 1,
    }
    # per label set: the buckets (ascending le, +Inf last), then _count and _sum
    a = [s for s in fam.samples if s.labels.get("route") == "/a"]
    les = [s.labels["le"] for s in a if s.name.endswith("_bucket")]
    assert les == [*(str(float(x)) for x in M.REQUEST_BUCKETS), "+Inf"]
    assert {s.name for s in a[len(les) :]} == {
        "selfheal_request_duration_seconds_sum",
        "selfheal_request_duration_seconds_count",
    }

    reg.observe_request("/b", 200, math.inf)
    fam = parse(reg.render())["selfheal_request_duration_seconds"]
    assert samples(fam, "selfheal_request_duration_seconds_bucket")[key(route="/b", le="+Inf")] == 2
    assert samples(fam, "selfheal_request_duration_seconds_sum")[key(route="/b")] == math.inf


# -- format details ------------------------------------------------------------------------------
def test_hostile_feature_name_round_trips_through_the_real_parser() -> None:
    """Feature names come from the operator's CSV, so they reach label values as they are."""
    hostile = 'a"b\\c\nd\\"\\n}{,=" end'
    reg = M.build_registry()
    reg.observe_cycle(cycle(features=[{"feature": hostile, "effect_size": 1.5, "drifted": 1}]))
    text = reg.render()
    assert text.endswith("\n")
    fams = parse(text)
    assert samples(fams["selfheal_feature_effect_size"]) == {
        key(feature=hostile, effect="unknown"): 1.5
    }
    assert samples(fams["selfheal_feature_drifted"]) == {key(feature=hostile): 1.0}


def test_nan_and_infinite_gauge_values() -> None:
    reg = M.build_registry()
    features = [
        {"feature": name, "effect_name": "e", "effect_size": value}
        for name, value in (
            ("nan", math.nan),
            ("pos", math.inf),
            ("neg", -math.inf),
            ("plain", 0.1),
        )
    ]
    reg.observe_cycle(cycle(features=features))
    text = reg.render()
    assert 'selfheal_feature_effect_size{effect="e",feature="nan"} NaN\n' in text
    assert 'selfheal_feature_effect_size{effect="e",feature="pos"} +Inf\n' in text
    assert 'selfheal_feature_effect_size{effect="e",feature="neg"} -Inf\n' in text
    got = samples(parse(text)["selfheal_feature_effect_size"])
    assert math.isnan(got[key(feature="nan", effect="e")])
    assert got[key(feature="pos", effect="e")] == math.inf
    assert got[key(feature="neg", effect="e")] == -math.inf
    assert got[key(feature="plain", effect="e")] == 0.1


def test_counter_total_suffix_help_type_lines_and_no_created_series() -> None:
    reg = M.build_registry()
    reg.observe_predictions("v0001", 3)
    text = reg.render()
    assert text.splitlines()[:3] == [
        "# HELP selfheal_predictions_total Predictions answered, by model version and outcome "
        "(ok | invalid | error).",
        "# TYPE selfheal_predictions_total counter",
        'selfheal_predictions_total{model_version="v0001",outcome="ok"} 3.0',
    ]
    assert "# TYPE selfheal_retrains_total counter" in text
    assert "_total_total" not in text and "_created" not in text
    fams = parse(text)
    assert fams["selfheal_predictions"].type == "counter"


# -- read at scrape time -------------------------------------------------------------------------
def test_live_objects_are_read_at_render_time_and_a_broken_one_is_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = [0]

    def depth() -> float | None:
        calls[0] += 1
        return None if calls[0] == 2 else calls[0] * 10

    def broken() -> Any:
        raise RuntimeError("live object gone")

    reg = M.build_registry(queue_depth=depth, production=broken, audit=broken)
    assert calls[0] == 0  # nothing runs before a render
    with caplog.at_level(logging.ERROR, logger="selfheal.prometheus"):
        first = parse(reg.render())
        second = parse(reg.render())
    assert samples(first["selfheal_writer_queue_depth"]) == {(): 10.0}
    assert samples(second["selfheal_writer_queue_depth"]) == {}  # None: no sample
    for fams in (first, second):
        assert set(fams) == set(CONTRACT)
        for name in ("model_info", "model_promoted_timestamp_seconds", "retrains", "rollbacks"):
            assert samples(fams[f"selfheal_{name}"]) == {}
    assert len(caplog.records) == 4  # 2 broken live objects x 2 renders
    errors = " ".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert "live object gone" in errors
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "selfheal_model_info" in messages and "selfheal_retrains_total" in messages


def test_storage_gauge_that_raises_leaves_only_its_family_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom() -> float:
        raise RuntimeError("gone")

    reg = M.build_registry()
    M.add_storage_metrics(
        reg, wal_bytes=boom, wal_high_water=lambda: 8192, checkpoints=lambda: {("idle", "ok"): 2}
    )
    with caplog.at_level(logging.ERROR, logger="selfheal.prometheus"):
        fams = parse(reg.render())
    assert samples(fams["selfheal_wal_bytes"]) == {}
    assert samples(fams["selfheal_wal_high_water_bytes"]) == {(): 8192.0}
    assert samples(fams["selfheal_wal_checkpoints"]) == {key(reason="idle", result="ok"): 2.0}
    assert any("selfheal_wal_bytes" in r.getMessage() for r in caplog.records)


def test_a_family_name_is_registered_once() -> None:
    reg = M.build_registry()
    M.add_storage_metrics(reg, wal_bytes=int, wal_high_water=int, checkpoints=dict)
    with pytest.raises(ValueError, match="selfheal_wal_bytes"):
        M.add_storage_metrics(reg, wal_bytes=int, wal_high_water=int, checkpoints=dict)


# -- threads -------------------------------------------------------------------------------------
def test_concurrent_updates_give_exact_totals_and_consistent_snapshots() -> None:
    reg = M.build_registry()
    n_threads, n = 8, 1000
    start = threading.Barrier(n_threads + 1)
    done = threading.Event()
    snapshots: list[str] = []

    def work(i: int) -> None:
        start.wait()
        for _ in range(n):
            reg.observe_predictions(str(i % 2), 1)
            reg.observe_request("/r", 200, 1.0)
            reg.observe_batch(1, 0.001)

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
    assert samples(fams["selfheal_predictions"]) == {
        key(model_version="0", outcome="ok"): 4000.0,
        key(model_version="1", outcome="ok"): 4000.0,
    }
    assert samples(fams["selfheal_http_requests"]) == {key(route="/r", status="200"): 8000.0}
    assert samples(fams["selfheal_batch_size"], "selfheal_batch_size_count") == {(): 8000}
    h = fams["selfheal_request_duration_seconds"]
    assert samples(h, "selfheal_request_duration_seconds_count") == {key(route="/r"): 8000}
    assert samples(h, "selfheal_request_duration_seconds_sum") == {key(route="/r"): 8000.0}
    # every histogram snapshot taken mid-flight has its buckets and count in step; its sum is
    # read after them (prometheus_client takes no snapshot across the two), so it may include
    # observations made during the scrape, never fewer than the count
    for text in [*snapshots[:: max(1, len(snapshots) // 50)], *snapshots[-1:]]:
        hs = parse(text)["selfheal_request_duration_seconds"]
        count = samples(hs, "selfheal_request_duration_seconds_count").get(key(route="/r"), 0)
        b = samples(hs, "selfheal_request_duration_seconds_bucket")
        if count:
            assert b[key(route="/r", le="+Inf")] == b[key(route="/r", le="1.0")] == count
            total = samples(hs, "selfheal_request_duration_seconds_sum")[key(route="/r")]
            assert count <= total <= n_threads * n


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
