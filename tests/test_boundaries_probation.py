"""Boundaries of a probation (issue 16): it blocks retraining while active, and it does not
expire before SELFHEAL_PROBATION_MAX_HOURS. A real service (writer, registry, monitor), time
injected with `now=`; the probation is opened the way the healer opens it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from selfheal import datasets, store
from selfheal.db import iso, utcnow
from selfheal.home import Home
from selfheal.service import Service
from selfheal.web import create_app
from tests.conftest import register_copy

MAX_HOURS = 24.0


@pytest.fixture
def on_probation(trained_home: Home) -> Iterator[tuple[Service, str, datetime]]:
    """v0002 (a copy of v0001) promoted and on probation since `start`, v0001 in shadow.
    The probation needs more labels than any test sends, so it never ends by a verdict."""
    svc = Service(trained_home.settings.replace(probation_max_hours=MAX_HOURS))
    svc.start(monitor=False)
    svc.monitor.background_retrain = False  # a retrain, if one started, runs in the cycle
    v2 = register_copy(svc.registry, calibrator=svc.registry.meta("v0001")["calibrator"])
    svc.registry.promote(v2, actor="test")
    start = utcnow()
    svc.writer.write(
        lambda c: store.start_probation(
            c, version=v2, previous="v0001", run_id=None, labels_needed=100_000, now=iso(start)
        )
    )
    svc.registry.set_shadow("v0001", actor="test")
    svc.models.refresh(force=True)  # as the healer's swap does after a promotion
    assert svc.models.current is not None and svc.models.current.version == v2
    yield svc, v2, start
    svc.stop()


def test_probation_does_not_expire_before_max_hours(
    on_probation: tuple[Service, str, datetime],
) -> None:
    svc, v2, start = on_probation
    for before in (timedelta(minutes=1), timedelta(hours=MAX_HOURS - 1), timedelta(0)):
        state = svc.healer.check_probation(now=start + timedelta(hours=MAX_HOURS) - before)
        assert state is not None and state["status"] == "active", (before, state)
    assert store.active_probation(svc.read_conn()) is not None
    assert svc.registry.shadow() == "v0001"
    ended = svc.healer.check_probation(now=start + timedelta(hours=MAX_HOURS, seconds=1))
    assert ended is not None and ended["status"] == "ended"
    assert ended["reason"] == "expired after 24.0 h with 0 of 100000 labeled predictions"
    assert store.active_probation(svc.read_conn()) is None
    assert svc.registry.shadow() is None and svc.registry.production() == v2


def send_labeled(svc: Service, n: int, seed: int) -> None:
    client = create_app(svc).test_client()
    frame = datasets.generate(n, seed=seed, drift="concept")
    for start in range(0, n, 500):
        part = frame.iloc[start : start + 500]
        instances = [{k: float(r[k]) for k in datasets.FEATURES} for _, r in part.iterrows()]
        resp = client.post("/predict", json={"instances": instances})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        ids = [p["prediction_id"] for p in resp.get_json()["predictions"]]
        body: dict[str, Any] = {
            "labels": [
                {"prediction_id": i, "label": int(y)}
                for i, y in zip(ids, part["default"], strict=True)
            ]
        }
        labels = client.post(
            "/monitoring/labels", data=json.dumps(body), content_type="application/json"
        )
        assert labels.get_json()["counts"] == {"created": len(ids)}


def test_monitor_starts_no_retrain_during_an_active_probation(
    on_probation: tuple[Service, str, datetime],
) -> None:
    """A labeled-F1 collapse beyond noise on the model under probation: the cycle sees the
    trigger and decides `probation`; no retrain run starts and production stays."""
    svc, v2, start = on_probation
    send_labeled(svc, 2000, seed=62)
    summary = svc.monitor.run_once(now=start + timedelta(minutes=5))
    assert summary["probation"]["status"] == "active"
    assert summary["trigger"] == "labeled_f1", summary
    assert summary["decision"] == "probation", summary
    assert store.recent_runs(svc.read_conn(), 10) == []
    assert svc.registry.production() == v2 and svc.registry.version_names() == ["v0001", v2]
