"""Boundaries of what is stored and served (issue 16): the writer's queue accounting, batches
that mix models, savepoints of write jobs, frame validation, the order of durable writes and
version names from every registry entry point. Real SQLite, real writer threads, real files;
the only recording is of the OS calls os.fsync and os.replace."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from selfheal import datasets, store
from selfheal.errors import InvalidVersionError, UnavailableError, ValidationError
from selfheal.home import Home
from selfheal.registry import LoadedModel, Registry, atomic_write_json
from selfheal.schema import BELOW_MIN, WRONG_TYPE, FeatureSchema
from selfheal.writer import Writer
from tests.conftest import register_copy


def records(n: int, seed: int) -> list[dict[str, float]]:
    frame = datasets.generate(n, seed=seed)
    return [{k: float(r[k]) for k in datasets.FEATURES} for _, r in frame.iterrows()]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


# -- writer accounting ------------------------------------------------------------------------
@pytest.fixture
def small_queue_client(trained_home: Home) -> Iterator[tuple[Any, Any]]:
    from selfheal.service import Service
    from selfheal.web import create_app

    svc = Service(trained_home.settings.replace(max_queue=50))
    svc.start(monitor=False)
    yield svc, create_app(svc).test_client()
    svc.stop()


def test_writer_queue_frees_its_rows_so_predict_answers_after_more_than_max_queue_rows(
    small_queue_client: tuple[Any, Any],
) -> None:
    """max_queue bounds the rows *waiting*, not the rows ever served: 120 rows through a
    queue of 50, in 12 requests of 10 and 30 single ones, all answer 200."""
    svc, client = small_queue_client
    batch = records(120, seed=5)
    for start in range(0, 120, 10):
        resp = client.post("/predict", json={"instances": batch[start : start + 10]})
        assert resp.status_code == 200, resp.get_data(as_text=True)
    for rec in batch[:30]:
        assert client.post("/predict", json=rec).status_code == 200
    assert svc.writer.depth == 0
    assert svc.writer.stats.rows == 150
    count = svc.read_conn().execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    assert count == 150


def test_writer_queue_refuses_a_request_larger_than_max_queue(
    small_queue_client: tuple[Any, Any],
) -> None:
    svc, client = small_queue_client
    resp = client.post("/predict", json={"instances": records(51, seed=6)})
    assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "overloaded"
    assert svc.writer.depth == 0  # a refused request holds no room
    assert client.post("/predict", json={"instances": records(50, seed=6)}).status_code == 200


# -- writer batches: a held writer makes the next batch exact ----------------------------------
class HeldWriter:
    """A real Writer whose thread is held inside a write job, so that the jobs queued
    meanwhile all land in the next batch (one group commit)."""

    def __init__(self, db_path: Path) -> None:
        self.writer = Writer(db_path)
        self.writer.start()
        self._entered = threading.Event()
        self._release = threading.Event()
        self._threads: list[threading.Thread] = []
        self.outcomes: dict[str, Any] = {}

    def hold(self) -> None:
        def held(conn: sqlite3.Connection) -> None:
            self._entered.set()
            assert self._release.wait(60)

        self.submit("hold", lambda: self.writer.write(held))
        assert self._entered.wait(10)

    def submit(self, key: str, call: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                self.outcomes[key] = call()
            except Exception as exc:
                self.outcomes[key] = exc

        t = threading.Thread(target=run)
        t.start()
        self._threads.append(t)

    def queued(self, rows: int) -> bool:
        return self.writer.depth == rows

    def release(self, queued_rows: int) -> None:
        wait_until(functools.partial(self.queued, queued_rows))
        batches = self.writer.stats.batches
        self._release.set()
        for t in self._threads:
            t.join(10)
        assert self.writer.stats.batches == batches + 2  # the hold, then everything queued

    def stop(self) -> None:
        self._release.set()
        self.writer.stop()


@pytest.fixture
def held(trained_home: Home) -> Iterator[HeldWriter]:
    h = HeldWriter(trained_home.settings.db_path)
    yield h
    h.stop()


def other_model(trained_home: Home) -> LoadedModel:
    """v0002: a real, different classifier (a logistic regression) on the same schema."""
    reg = trained_home.registry
    schema = reg.load("v0001").schema
    frame = datasets.generate(1000, seed=3)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    pipe.fit(schema.frame_to_matrix(frame), frame["default"].to_numpy())
    return reg.load(register_copy(reg, pipeline=pipe, threshold=0.3))


def test_writer_batch_mixing_models_scores_each_job_with_its_own_model(
    trained_home: Home, held: HeldWriter
) -> None:
    reg = trained_home.registry
    champion, challenger = reg.load("v0001"), other_model(trained_home)
    schema = champion.schema
    held.hold()
    prod_records = [schema.check_record(r) for r in records(7, seed=8)]
    shadow_records = [schema.check_record(r) for r in records(5, seed=9)]
    held.submit("production", lambda: held.writer.predict(champion, prod_records))
    wait_until(functools.partial(held.queued, 7))  # queue order: production first
    held.submit("shadow", lambda: held.writer.predict(challenger, shadow_records, role="shadow"))
    held.release(queued_rows=12)

    for key, model, recs in (
        ("production", champion, prod_records),
        ("shadow", challenger, shadow_records),
    ):
        results = held.outcomes[key]
        expected = model.predict_proba(schema.to_matrix([r.values for r in recs]))
        assert [r["model_version"] for r in results] == [model.version] * len(recs)
        np.testing.assert_allclose([r["probability"] for r in results], expected, rtol=1e-12)
        assert [r["prediction"] for r in results] == [int(p >= model.threshold) for p in expected]
    # Different models give different answers on the same kind of row: the check has teeth.
    both = schema.to_matrix([r.values for r in shadow_records])
    assert not np.allclose(champion.predict_proba(both), challenger.predict_proba(both))

    rows = trained_home.conn.execute(
        "SELECT model_version, role, COUNT(*) FROM predictions GROUP BY 1, 2 ORDER BY 1"
    ).fetchall()
    assert [tuple(r) for r in rows] == [("v0001", "production", 7), ("v0002", "shadow", 5)]


def test_writer_savepoint_drops_a_failed_write_job_and_commits_the_others(
    trained_home: Home, held: HeldWriter
) -> None:
    """Job "broken" inserts an event, then fails on the database itself (model_events is
    append-only): none of its rows stay, and the jobs around it in the group commit."""

    def event(name: str) -> Callable[[sqlite3.Connection], int]:
        return lambda c: store.insert_event(c, {"event": name, "actor": "test"})

    def broken(c: sqlite3.Connection) -> None:
        store.insert_event(c, {"event": "half_written", "actor": "test"})
        c.execute("UPDATE model_events SET reason = 'x'")  # the trigger aborts this

    held.hold()
    jobs: list[tuple[str, Callable[[sqlite3.Connection], Any]]] = [
        ("before", event("before")),
        ("broken", broken),
        ("after", event("after")),
    ]
    for n, (key, fn) in enumerate(jobs, start=1):
        held.submit(key, functools.partial(held.writer.write, fn))
        wait_until(functools.partial(held.queued, n))  # queued in this order
    held.release(queued_rows=3)

    assert isinstance(held.outcomes["before"], int) and isinstance(held.outcomes["after"], int)
    error = held.outcomes["broken"]
    assert isinstance(error, UnavailableError) and "append-only" in str(error)
    names = [
        r[0]
        for r in trained_home.conn.execute(
            "SELECT event FROM model_events WHERE actor = 'test' ORDER BY id"
        )
    ]
    assert names == ["before", "after"]
    assert held.writer.stats.failures == 0


# -- frame validation ------------------------------------------------------------------------
SCHEMA = FeatureSchema.from_dict(
    {
        "features": {
            "age": {"type": "numeric", "min": 18, "max": 100},
            "income": {"type": "numeric", "min": 0},
        }
    }
)


def test_frame_validation_refuses_a_boolean_column_declared_numeric() -> None:
    frame = pd.DataFrame({"age": [30.0, 40.0, 50.0], "income": [True, False, True]})
    problems = SCHEMA.validate_frame(frame)
    assert [(p["field"], p["problem"], p["count"]) for p in problems] == [("income", WRONG_TYPE, 3)]
    with pytest.raises(ValidationError, match="must be a number, got boolean"):
        SCHEMA.check_record({"age": 30, "income": True})  # as for a single record


@pytest.mark.parametrize("age", [18, 18.0, 100, 100.0])
def test_schema_accepts_a_value_equal_to_a_hard_bound(age: float) -> None:
    assert SCHEMA.check_record({"age": age, "income": 0}).values == (float(age), 0.0)
    frame = pd.DataFrame({"age": [age, 50], "income": [0.0, 10.0]})
    assert SCHEMA.validate_frame(frame) == []


@pytest.mark.parametrize(("age", "problem"), [(17.999, BELOW_MIN), (100.001, "above_max")])
def test_schema_refuses_a_value_just_beyond_a_hard_bound(age: float, problem: str) -> None:
    valid, problems = SCHEMA.validate_record({"age": age, "income": 0})
    assert valid is None and [p["problem"] for p in problems] == [problem]
    frame = pd.DataFrame({"age": [age, 50.0], "income": [0.0, 10.0]})
    assert [(p["problem"], p["rows"]) for p in SCHEMA.validate_frame(frame)] == [(problem, [0])]


# -- durable writes --------------------------------------------------------------------------
def record_os_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record os.fsync (by the path of the descriptor) and os.replace, then call through."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        calls.append(("replace", f"{os.path.realpath(src)} -> {os.path.realpath(dst)}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name descriptors")
def test_atomic_write_fsyncs_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "production.json"
    calls = record_os_calls(monkeypatch)
    atomic_write_json(target, {"version": "v0002"})
    assert len(calls) == 3, calls
    (kind0, tmp), (kind1, rename), (kind2, folder) = calls
    assert kind0 == "fsync" and Path(tmp).parent == tmp_path.resolve()
    assert Path(tmp).name.startswith(".production.json.")
    assert (kind1, rename) == ("replace", f"{tmp} -> {target.resolve()}")
    assert (kind2, folder) == ("fsync", str(tmp_path.resolve()))
    assert json.loads(target.read_text()) == {"version": "v0002"}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name descriptors")
def test_promote_fsyncs_the_pointer_before_replacing_it_and_the_folder_after(
    trained_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = trained_home.registry
    v2 = register_copy(reg)
    calls = record_os_calls(monkeypatch)
    reg.promote(v2, actor="test")
    pointer, root = str(reg.pointer_path.resolve()), str(reg.root.resolve())
    replaces = [i for i, (kind, _) in enumerate(calls) if kind == "replace"]
    assert len(replaces) == 1
    i = replaces[0]
    tmp, dst = calls[i][1].split(" -> ")
    assert dst == pointer
    assert ("fsync", tmp) in calls[:i]  # the new pointer's bytes are on disk first
    assert calls[i + 1 :] == [("fsync", root)]  # then the rename itself


# -- version names from every entry point ---------------------------------------------------
def test_registry_validates_version_names_at_every_entry_point(trained_home: Home) -> None:
    """`../x` is a complete, valid copy of v0001 just outside the registry: any method that
    let the name through to a path would find it and succeed."""
    reg = Registry(trained_home.registry.root)
    shutil.copytree(reg.root / "v0001", reg.root.parent / "x")
    bad = "../x"
    entry_points: dict[str, Callable[[], Any]] = {
        "path": lambda: reg.path(bad),
        "meta": lambda: reg.meta(bad),
        "verify": lambda: reg.verify(bad),
        "load": lambda: reg.load(bad),
        "reference": lambda: reg.reference(bad),
        "sketch_path": lambda: reg.sketch_path(bad),
        "promote": lambda: reg.promote(bad, actor="test"),
        "promote_force": lambda: reg.promote(bad, actor="test", force=True),
        "rollback_to": lambda: reg.rollback(to=bad, actor="test"),
        "set_shadow": lambda: reg.set_shadow(bad, actor="test"),
    }
    for name, call in entry_points.items():
        with pytest.raises(InvalidVersionError, match=r"invalid version name '\.\./x'"):
            call()
            pytest.fail(f"Registry.{name} accepted {bad!r}")
    # A name read from a (tampered) pointer file reaches Registry.path too.
    pointer = json.loads(reg.pointer_path.read_text())
    reg.pointer_path.write_text(json.dumps({**pointer, "history": [bad]}))
    with pytest.raises(InvalidVersionError):
        reg.rollback(actor="test")
    assert reg.production() == "v0001" and reg.shadow() is None
    assert reg.version_names() == ["v0001"]
