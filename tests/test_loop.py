"""The self-healing loop end to end, deterministic: traffic through the real API and
writer, monitor cycles driven by run_once(now=...), never by sleeping."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from selfheal import datasets, store
from selfheal.db import utcnow
from selfheal.healer import Healer
from selfheal.home import Home
from selfheal.schema import infer_schema
from selfheal.service import Service
from selfheal.training import train
from selfheal.web import create_app
from tests.conftest import register_copy

AUTH = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def trained_home(trained_home_any: Home) -> Home:
    """Every test here runs on SQLite and on PostgreSQL (conftest's `backend`)."""
    return trained_home_any


@pytest.fixture
def loop(trained_home: Any) -> Iterator[Service]:
    svc = Service(trained_home.settings.replace(admin_token="s3cret"))
    svc.start(monitor=False)
    svc.monitor.background_retrain = False  # deterministic: the retrain runs inside the cycle
    yield svc
    svc.stop()


class Clock:
    def __init__(self) -> None:
        self.t = utcnow() + timedelta(minutes=1)

    def tick(self, minutes: float = 1.0) -> datetime:
        self.t += timedelta(minutes=minutes)
        return self.t


def send(svc: Service, frame: pd.DataFrame, *, labels: bool = True) -> list[str]:
    """Score `frame` through POST /predict and label it through POST /monitoring/labels."""
    client = create_app(svc).test_client()
    ids: list[str] = []
    for start in range(0, len(frame), 500):
        part = frame.iloc[start : start + 500]
        records = [{k: float(r[k]) for k in datasets.FEATURES} for _, r in part.iterrows()]
        resp = client.post(
            "/predict", data=json.dumps({"instances": records}), content_type="application/json"
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        batch = [p["prediction_id"] for p in resp.get_json()["predictions"]]
        ids += batch
        if labels:
            body = {
                "labels": [
                    {"prediction_id": i, "label": int(y)}
                    for i, y in zip(batch, part["default"], strict=True)
                ]
            }
            r = client.post(
                "/monitoring/labels", data=json.dumps(body), content_type="application/json"
            )
            assert r.get_json()["counts"] == {"created": len(batch)}
    return ids


def runs(svc: Service) -> list[dict[str, Any]]:
    return store.recent_runs(svc.read_conn(), 100)


def f1_at(model: Any, frame: pd.DataFrame) -> tuple[float, float]:
    from selfheal.performance import labeled_metrics

    p = model.predict_proba(model.schema.frame_to_matrix(frame))
    m = labeled_metrics(frame["default"].to_numpy(), p, model.threshold)
    return m.f1, float(m.auc or 0)


def test_no_drift_over_20_cycles_means_no_retrain(loop: Service) -> None:
    clock = Clock()
    decisions = []
    for cycle in range(20):
        send(loop, datasets.generate(250, seed=100 + cycle))
        summary = loop.monitor.run_once(now=clock.tick())
        decisions.append(summary["decision"])
    assert decisions == ["none"] * 20
    assert runs(loop) == []
    reports = store.recent_reports(loop.read_conn(), 50)
    assert len(reports) == 20 and {r["status"] for r in reports[:16]} == {"ok"}
    assert loop.registry.production() == "v0001"


def test_covariate_drift_is_detected_and_a_retrain_is_judged(loop: Service) -> None:
    clock = Clock()
    send(loop, datasets.generate(1000, seed=1))
    assert loop.monitor.run_once(now=clock.tick())["status"] == "ok"
    # No labels yet: only the inputs can tell that the world moved.
    send(loop, datasets.generate(1000, seed=2, drift="covariate"), labels=False)
    first = loop.monitor.run_once(now=clock.tick())
    assert first["status"] == "drift" and first["decision"] == "none"  # hysteresis: 1 of 2
    assert {"income", "age"} <= set(first["drifted_features"])
    send(loop, datasets.generate(300, seed=3, drift="covariate"), labels=False)
    second = loop.monitor.run_once(now=clock.tick())
    assert second["decision"] == "retrain" and second["trigger"] == "drift"
    assert second["triggers"]["drift"]["consecutive_cycles"] == 2
    run = runs(loop)[0]
    assert run["trigger"] == "drift" and run["status"] in ("promoted", "rejected")
    assert run["evidence"]["triggers"]["drift"]["drifted"]
    gates = store.gate_results(loop.read_conn(), run["id"])
    assert [g["gate"] for g in gates] == ["data_quality", "statistical", "stability", "consistency"]
    assert all(g["reason"] for g in gates)


def test_concept_drift_is_healed_and_the_new_model_wins_after_drift(loop: Service) -> None:
    clock = Clock()
    send(loop, datasets.generate(1000, seed=11))
    assert loop.monitor.run_once(now=clock.tick())["decision"] == "none"
    send(loop, datasets.generate(2000, seed=12, drift="concept"))
    summary = loop.monitor.run_once(now=clock.tick())
    assert summary["trigger"] == "labeled_f1" and summary["decision"] == "retrain"
    evidence = summary["triggers"]["labeled_f1"]
    assert evidence["live_f1"] < evidence["expected_f1"] - 0.05
    run = runs(loop)[0]
    assert run["status"] == "promoted", run["reason"]
    new_version = run["candidate_version"]
    assert loop.registry.production() == new_version == loop.models.current.version
    events = [
        (e["event"], e["version"], e["actor"]) for e in store.recent_events(loop.read_conn(), 10)
    ]
    assert ("promoted", new_version, "monitor") in events
    # meta.json and retrain_runs say what was judged, which window won and what was refit.
    recipe = loop.registry.load(new_version).meta["data"]["recipe"]
    stored = json.loads(
        loop.read_conn().execute("SELECT candidates FROM retrain_runs").fetchone()[0]
    )
    assert recipe == stored and recipe["chosen"] in {c["window"] for c in recipe["candidates"]}
    assert abs(recipe["change_point"]["seq"] - 1001) <= 25  # the change: after 1,000 rows
    assert recipe["holdout"]["rows"] <= 500 and recipe["holdout"]["to_seq"] == 3000
    chosen = next(c for c in recipe["candidates"] if c["window"] == recipe["chosen"])
    assert recipe["refit"]["rows"] == chosen["refit_rows"] > chosen["rows"]
    assert loop.registry.load(new_version).meta["data"]["holdout_rows"] == 0  # refit on all
    fresh = datasets.generate(5000, seed=99, drift="concept")
    old_f1, old_auc = f1_at(loop.registry.load("v0001"), fresh)
    new_f1, new_auc = f1_at(loop.registry.load(new_version), fresh)
    assert new_f1 > old_f1 + 0.05 and new_auc > old_auc + 0.05
    # The predecessor is scored in shadow during probation.
    assert loop.registry.shadow() == "v0001" and loop.models.shadow is not None
    send(loop, datasets.generate(10, seed=13, drift="concept"), labels=False)
    assert store.traffic_counts(loop.read_conn())["shadow"] == 10


def test_candidate_trained_on_shuffled_labels_is_rejected(loop: Service) -> None:
    clock = Clock()
    send(loop, datasets.generate(1500, seed=21))
    frame = datasets.generate(3000, seed=22)
    y = np.random.default_rng(0).permutation(frame.pop("default").to_numpy())
    schema = loop.models.current.schema
    bad = train(frame, y, infer_schema(frame, target="default", declared=schema), seed=1)
    outcome = loop.healer.challenge(bad, schema, actor="cli", now=clock.tick())
    assert outcome.status == "rejected"
    stat = next(g for g in outcome.gates if g["name"] == "statistical")
    assert not stat["passed"] and stat["values"]["ci_low"] <= 0
    assert loop.registry.production() == "v0001"
    statuses = {v["version"]: v["status"] for v in loop.registry.list()}
    assert statuses[outcome.version] == "rejected"
    meta = loop.registry.meta(outcome.version)
    assert [g["name"] for g in meta["gates"]] == [
        "data_quality",
        "statistical",
        "stability",
        "consistency",
    ]
    assert store.recent_events(loop.read_conn(), 1)[0]["event"] == "rejected"


def test_promoted_model_that_does_worse_live_is_rolled_back(loop: Service) -> None:
    clock = Clock()
    send(loop, datasets.generate(1000, seed=31))
    send(loop, datasets.generate(2000, seed=32, drift="concept"))
    loop.monitor.run_once(now=clock.tick())
    promoted = loop.registry.production()
    assert promoted != "v0001"
    # The world returns to the old relationship: the new model now trails its predecessor,
    # which is being scored in shadow on the same requests.
    send(loop, datasets.generate(250, seed=33))
    summary = loop.monitor.run_once(now=clock.tick())
    assert summary["decision"] == "rolled_back"
    assert summary["probation"]["status"] == "rolled_back"
    assert summary["probation"]["f1_previous"] - summary["probation"]["f1_new"] > 0.05
    assert loop.registry.production() == "v0001" == loop.models.current.version
    event = store.recent_events(loop.read_conn(), 5)
    rollback = next(e for e in event if e["event"] == "rolled_back")
    assert rollback["actor"] == "monitor" and "probation" in rollback["reason"]
    assert loop.registry.shadow() is None
    # The restored model's window starts at the rollback: the rows it served before its
    # first stint ended (the evidence of the retrain just undone) are not evidence again.
    stale = loop.monitor.run_once(now=clock.tick())
    assert stale["n_window"] == 0 and stale["trigger"] is None and stale["decision"] == "none"
    # A labeled collapse on new evidence (the concept came back) retrains at once, inside
    # the cooldown: a recurring concept heals.
    send(loop, datasets.generate(1000, seed=34, drift="concept"))
    again = loop.monitor.run_once(now=clock.tick())
    assert again["trigger"] == "labeled_f1" and again["decision"] == "retrain"
    assert "labeled F1 collapsed" in again["decision_reason"]


def test_single_flight_under_repeated_requests(loop: Service) -> None:
    clock = Clock()
    healer = loop.healer
    now = clock.tick()
    decision, run_id = healer.request("manual", {"why": "test"}, actor="cli", now=now)
    assert decision == "retrain" and run_id
    later = now + timedelta(minutes=1)
    with healer._flight() as held:  # another retrain is in flight
        assert held
        assert healer.request("manual", {}, actor="cli", now=later) == ("retrain_running", None)
        # A second process (its own Healer on the same registry) is refused as well.
        other = Healer(
            loop.settings, loop.registry, read_conn=loop.read_conn, write=loop.writer.write
        )
        assert other.request("manual", {}, actor="cli", now=later)[0] == "retrain_running"
    assert healer.request("manual", {}, actor="cli", now=later)[0] == "retrain"
    assert len(runs(loop)) == 2


def test_failing_cycle_is_survived_and_visible_in_health(loop: Service) -> None:
    client = create_app(loop).test_client()
    sketch = loop.registry.sketch_path("v0001")
    original = sketch.read_bytes()
    sketch.chmod(0o644)
    sketch.write_bytes(original[:-10])  # a corrupt reference: the cycle must fail loudly
    loop.settings = loop.monitor.settings = loop.settings.replace(monitor_interval=0.05)
    loop.monitor.start()
    try:
        deadline = time.monotonic() + 5
        while loop.monitor.failures < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert loop.monitor.failures >= 2 and loop.monitor.alive
        health = client.get("/health")
        assert health.status_code == 503
        assert "modified" in health.get_json()["monitor"]["last_error"]
        sketch.write_bytes(original)
        deadline = time.monotonic() + 5
        while client.get("/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/health").status_code == 200 and loop.monitor.alive
    finally:
        loop.monitor.stop()
    errors = [r for r in store.recent_reports(loop.read_conn(), 100) if r["status"] == "error"]
    assert errors and "modified" in errors[0]["error"]


def test_monitoring_run_and_drift_routes(loop: Service) -> None:
    client = create_app(loop).test_client()
    assert client.get("/monitoring/drift").status_code == 404
    send(loop, datasets.generate(300, seed=41))
    assert client.post("/monitoring/run").status_code == 401
    resp = client.post("/monitoring/run", headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok"
    drift = client.get("/monitoring/drift").get_json()
    assert {f["feature"] for f in drift["features"]} == {*datasets.FEATURES, "__score__"}
    stats = client.get("/monitoring/stats").get_json()
    assert stats["drift"]["status"] == "ok"


def test_retrain_never_blocks_serving(loop: Service) -> None:
    loop.monitor.background_retrain = True
    send(loop, datasets.generate(1000, seed=51))
    send(loop, datasets.generate(2000, seed=52, drift="concept"))
    summary = loop.monitor.run_once(now=Clock().tick())
    assert summary["decision"] == "retrain"
    client = create_app(loop).test_client()
    t0 = time.monotonic()
    while loop.healer.running and time.monotonic() - t0 < 30:
        body = {k: 40.0 for k in datasets.FEATURES} | {"income": 50000.0, "credit_score": 650.0}
        r = client.post("/predict", data=json.dumps(body), content_type="application/json")
        assert r.status_code == 200
    loop.healer.join(30)
    assert runs(loop)[0]["status"] in ("promoted", "rejected")


def test_each_cycle_writes_the_html_report_and_the_dashboard_shows_it(loop: Service) -> None:
    client = create_app(loop).test_client()
    assert client.get("/reports/drift/latest").status_code == 404
    send(loop, datasets.generate(400, seed=61, drift="covariate"), labels=False)
    summary = loop.monitor.run_once(now=Clock().tick())
    latest = loop.settings.reports_path / "drift" / "latest.html"
    assert latest.is_file() and summary["report_path"].endswith(".html")
    page = client.get("/reports/drift/latest")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'data-feature="income"' in html and "<script" not in html
    dash = client.get("/")
    assert dash.status_code == 200 and dash.mimetype == "text/html"
    text = dash.get_data(as_text=True)
    for chart in ("drift_share", "f1", "traffic", "latency"):
        assert f'data-chart="{chart}"' in text
    assert "/reports/drift/latest" in text and 'http-equiv="refresh"' in text
    assert "v0001" in text


def _samples(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_parse_as_prometheus_text_and_move_with_traffic(loop: Service) -> None:
    client = create_app(loop).test_client()
    before = _samples(client)
    assert before[("selfheal_model_info", (("version", "v0001"),))] == 1
    key = ("selfheal_predictions_total", (("model_version", "v0001"), ("outcome", "ok")))
    assert before.get(key, 0) == 0
    send(loop, datasets.generate(300, seed=71, drift="covariate"), labels=True)
    client.post("/predict", data="{}", content_type="application/json")  # one invalid
    loop.monitor.run_once(now=Clock().tick())
    after = _samples(client)
    assert after[key] == 300
    assert (
        after[("selfheal_predictions_total", (("model_version", "v0001"), ("outcome", "invalid")))]
        == 1
    )
    assert after[("selfheal_batch_size_count", ())] >= 1
    assert after[("selfheal_request_duration_seconds_count", (("route", "/predict"),))] >= 2
    assert after[("selfheal_monitor_cycles_total", (("status", "drift"),))] == 1
    assert after[("selfheal_drift_share", ())] > 0
    assert after[("selfheal_feature_drifted", (("feature", "income"),))] == 1
    assert (
        "selfheal_feature_effect_size",
        (("effect", "normed_wasserstein"), ("feature", "income")),
    ) in after
    assert ("selfheal_live_f1", ()) in after and ("selfheal_estimated_f1", ()) in after
    assert ("selfheal_writer_queue_depth", ()) in after
    loop.registry.promote(register_copy(loop.registry), actor="api")
    loop.registry.rollback(actor="api")
    assert _samples(client)[("selfheal_rollbacks_total", (("actor", "api"),))] == 1


def test_probation_without_labels_expires_instead_of_blocking_healing(loop: Service) -> None:
    clock = Clock()
    send(loop, datasets.generate(1000, seed=81))
    send(loop, datasets.generate(2000, seed=82, drift="concept"))
    loop.monitor.run_once(now=clock.tick())
    assert loop.registry.shadow() == "v0001"  # probation began
    state = loop.healer.check_probation(now=clock.tick(60 * 73))
    assert state is not None and state["status"] == "ended" and "expired" in state["reason"]
    assert loop.registry.shadow() is None
    assert store.active_probation(loop.read_conn()) is None


def cycle_decisions(svc: Service) -> list[tuple[str, str | None]]:
    rows = svc.read_conn().execute("SELECT decision, trigger FROM drift_reports ORDER BY id")
    return [(r[0], r[1]) for r in rows]


def test_one_class_labels_fire_no_trigger_and_store_null_f1(loop: Service) -> None:
    """300 labels, all 0 (only repaid loans confirmed yet): no F1, no retrain."""
    clock = Clock()
    frame = datasets.generate(300, seed=41)
    frame["default"] = 0
    send(loop, frame)
    summary = loop.monitor.run_once(now=clock.tick())
    assert summary["n_labeled"] == 300 and summary["live_f1"] is None
    assert summary["decision"] == "none" and "labeled_f1" not in summary["triggers"]
    stored = loop.read_conn().execute("SELECT live_f1, live_auc FROM drift_reports").fetchone()
    assert tuple(stored) == (None, None)
    assert runs(loop) == []


def test_rejected_retrain_then_new_evidence_retrains_inside_the_cooldown(loop: Service) -> None:
    """A retrain after a concept change is rejected (here: a gain no challenger can show);
    the wall-clock cooldown then holds only until enough new labeled rows have arrived."""
    # The latency check times two models on this machine: beside other busy processes it
    # can fail, and this test asserts which gates passed. Its subject is the cooldown.
    strict = loop.settings.replace(gate_min_f1_gain=0.9, gate_max_latency_ratio=1000.0)
    loop.settings = loop.monitor.settings = loop.healer.settings = strict
    clock = Clock()
    send(loop, datasets.generate(1000, seed=51, drift="concept"))
    first = loop.monitor.run_once(now=clock.tick())
    assert first["trigger"] == "labeled_f1" and first["decision"] == "retrain"
    rejected = runs(loop)[0]
    assert rejected["status"] == "rejected"
    # The reason leads with the cause: the failing gate's own sentence, then the passing
    # gates by name (their full text is in gate_results).
    assert rejected["reason"].startswith("labeled_f1: rejected by statistical: F1 gain ")
    assert rejected["reason"].endswith("; passed: data_quality, stability, consistency")
    assert "Training data accepted" not in rejected["reason"]
    send(loop, datasets.generate(150, seed=52, drift="concept"))
    held = loop.monitor.run_once(now=clock.tick())
    assert held["decision"] == "cooldown" and "50 more labels" in held["decision_reason"]
    send(loop, datasets.generate(100, seed=53, drift="concept"))
    early = loop.monitor.run_once(now=clock.tick())  # minutes, not an hour, later
    assert early["decision"] == "retrain", early["decision_reason"]
    assert "250 new labels since run 1 (rejected)" in early["decision_reason"]
    assert len(runs(loop)) == 2 and runs(loop)[0]["status"] == "rejected"
    # Two rejections in a row: the next run needs twice the evidence.
    send(loop, datasets.generate(250, seed=54, drift="concept"))
    backoff = loop.monitor.run_once(now=clock.tick())
    assert backoff["decision"] == "cooldown"
    assert "150 more labels (2 runs in a row rejected)" in backoff["decision_reason"]
    recipe = json.loads(
        loop.read_conn().execute("SELECT candidates FROM retrain_runs ORDER BY id").fetchone()[0]
    )
    assert recipe["holdout"]["rows"] <= 500 and recipe["chosen"] in {
        c["window"] for c in recipe["candidates"]
    }
    assert all(c["auc"] is not None for c in recipe["candidates"])


def test_a_retrain_that_stops_before_training_starts_no_cooldown(loop: Service) -> None:
    """The data-quality gate refuses the training set (here: a minimum no history meets), so
    nothing was trained: the next run waits for new labels, not for the wall clock."""
    strict = loop.settings.replace(gate_min_rows=50_000)
    loop.settings = loop.monitor.settings = loop.healer.settings = strict
    clock = Clock()
    send(loop, datasets.generate(600, seed=61, drift="concept"))
    first = loop.monitor.run_once(now=clock.tick())
    assert first["trigger"] == "labeled_f1" and first["decision"] == "retrain"
    run = loop.read_conn().execute("SELECT status, stage FROM retrain_runs").fetchone()
    assert tuple(run) == ("rejected", "data")
    assert loop.monitor.run_once(now=clock.tick())["decision"] == "awaiting_labels"
    relaxed = loop.settings.replace(gate_min_rows=500)
    loop.settings = loop.monitor.settings = loop.healer.settings = relaxed
    send(loop, datasets.generate(200, seed=62, drift="concept"))
    again = loop.monitor.run_once(now=clock.tick())  # one minute later: no cooldown
    assert again["decision"] == "retrain" and len(runs(loop)) == 2
    assert runs(loop)[0]["status"] in {"promoted", "rejected"}


def test_rollback_by_hand_during_probation_ends_it_at_once(loop: Service) -> None:
    """The probation and its shadow end with the rollback, with that reason, not at the
    next cycle as "production changed"."""
    clock = Clock()
    send(loop, datasets.generate(1000, seed=11))
    loop.monitor.run_once(now=clock.tick())
    send(loop, datasets.generate(2000, seed=12, drift="concept"))
    loop.monitor.run_once(now=clock.tick())
    promoted = loop.registry.production()
    assert promoted != "v0001" and loop.registry.shadow() == "v0001"
    client = create_app(loop).test_client()
    resp = client.post("/model/rollback", json={}, headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["production"] == "v0001"
    assert store.active_probation(loop.read_conn()) is None
    row = loop.read_conn().execute("SELECT status, result FROM probations").fetchone()
    assert row["status"] == "ended"
    assert json.loads(row["result"])["reason"] == "rolled back to v0001 by api"
    assert loop.registry.shadow() is None
    info = client.get("/model/info").get_json()
    assert info["version"] == "v0001" and "shadow" in info and info["shadow"] is None
