"""The writer's exact behaviour (issue 16, mutation testing of selfheal/writer.py): the rows a
scored batch logs (production and shadow), the group commit and its batches, savepoints of
write jobs, queue accounting and every error path with the text a caller reads, and the WAL
bound. A real SQLite file in tmp_path, real writer threads and a real scikit-learn model; a
writer is held inside a write job so that the jobs queued meanwhile form one exact batch."""

from __future__ import annotations

import functools
import logging
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info, threadpool_limits

from selfheal import db, store
from selfheal.errors import ConflictError, NoModelError, UnavailableError, cli
from selfheal.registry import LoadedModel
from selfheal.schema import NUMERIC, Feature, FeatureSchema, Validated
from selfheal.writer import (
    CHECKPOINT_REASONS,
    CHECKPOINT_RESULTS,
    CHECKPOINT_WAIT_MS,
    IDLE_CHECKPOINT_SECONDS,
    MAX_ROWS_PER_BATCH,
    Done,
    Writer,
    WriterStats,
)

SCHEMA = FeatureSchema(
    features=(
        Feature("a", NUMERIC, soft_min=-1.0, soft_max=1.0),
        Feature("b", NUMERIC, nullable=True),
    )
)
OTHER_SCHEMA = FeatureSchema(features=(Feature("b", NUMERIC), Feature("a", NUMERIC)))
NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


@functools.cache  # fitted models are only read: one fit per (seed, flip)
def fitted(seed: int, flip: bool = False) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, 2))
    y = ((x[:, 0] - x[:, 1] > 0) != flip).astype(int)
    return LogisticRegression().fit(x, y)


def model(
    version: str,
    threshold: float = 0.5,
    *,
    schema: FeatureSchema = SCHEMA,
    seed: int = 1,
    flip: bool = False,
) -> LoadedModel:
    return LoadedModel(
        version=version, pipeline=fitted(seed, flip), schema=schema, threshold=threshold, meta={}
    )


class Broken:
    def predict_proba(self, X: Any) -> Any:
        raise ZeroDivisionError("no")


def records(*pairs: tuple[float, float | None]) -> list[Validated]:
    return [SCHEMA.check_record({"a": a, "b": b}) for a, b in pairs]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file brought up to date once; each test writes to its own copy."""
    path = tmp_path_factory.mktemp("template") / "w.db"
    db.open_db(path).close()
    return path


@pytest.fixture
def db_path(tmp_path: Path, migrated: Path) -> Path:
    path = tmp_path / "w.db"
    shutil.copyfile(migrated, path)
    return path


def rows(
    db_path: Path, sql: str = "SELECT * FROM predictions ORDER BY seq"
) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


class Held:
    """A started Writer held inside a write job; calls made meanwhile queue up in order."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.entered = threading.Event()
        self.release_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.outcomes: dict[str, Any] = {}

    def hold(self) -> None:
        def held(conn: sqlite3.Connection) -> str:
            self.entered.set()
            assert self.release_event.wait(30)
            return "held"

        self.submit("hold", lambda: self.writer.write(held), queued=None)
        assert self.entered.wait(5)

    def submit(self, key: str, call: Callable[[], Any], queued: int | None = -1) -> None:
        """Run `call` in a thread; wait until the queue holds `queued` rows (-1: any change)."""
        before = self.writer.depth

        def run() -> None:
            try:
                self.outcomes[key] = call()
            except BaseException as exc:
                self.outcomes[key] = exc

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)
        if queued == -1:
            wait_until(lambda: self.writer.depth != before)
        elif queued is not None:
            wait_until(lambda: self.writer.depth == queued)

    def release(self) -> None:
        self.release_event.set()
        for t in self.threads:
            t.join(10)
            assert not t.is_alive()


FAIL_FAST = 5.0  # seconds a call waits by default here: a dead writer fails a test quickly


class FailFastWriter(Writer):
    """The real Writer; a call made without a timeout waits FAIL_FAST seconds instead of
    the default 30, so that a writer thread that died fails its test in seconds."""

    def write(self, fn: Callable[[db.Connection], Any], **kw: Any) -> Any:
        return super().write(fn, **{"timeout": FAIL_FAST, **kw})

    def predict(
        self, model: LoadedModel, records: Sequence[Validated], **kw: Any
    ) -> list[dict[str, Any]]:
        return super().predict(model, records, **{"timeout": FAIL_FAST, **kw})


@pytest.fixture
def make_writer(db_path: Path) -> Iterator[Callable[..., Writer]]:
    made: list[Writer] = []

    def make(**kw: Any) -> Writer:
        kw.setdefault("clock", lambda: NOW)
        w = FailFastWriter(db_path, **kw)
        w.start()
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


@pytest.fixture
def held(make_writer: Callable[..., Writer]) -> Iterator[Held]:
    h = Held(make_writer())
    h.hold()
    yield h
    h.release_event.set()


# -- constants and defaults --------------------------------------------------------------------
def test_constants_and_fresh_stats() -> None:
    assert MAX_ROWS_PER_BATCH == 4096
    assert (IDLE_CHECKPOINT_SECONDS, CHECKPOINT_WAIT_MS) == (1.0, 500)
    assert CHECKPOINT_REASONS == ("bound", "idle")
    assert CHECKPOINT_RESULTS == ("ok", "busy", "error")
    s = WriterStats()
    assert (s.batches, s.rows, s.commits, s.failures, s.last_batch_rows) == (0, 0, 0, 0, 0)
    assert (s.last_commit_ms, s.last_error, s.last_checkpoint_ms, s.wal_high_water) == (
        0.0,
        None,
        0.0,
        0,
    )
    assert s.checkpoints == {
        ("bound", "ok"): 0,
        ("bound", "busy"): 0,
        ("bound", "error"): 0,
        ("idle", "ok"): 0,
        ("idle", "busy"): 0,
        ("idle", "error"): 0,
    }


def test_a_new_writer_is_a_named_daemon_thread_with_its_settings(db_path: Path) -> None:
    w = Writer(db_path)
    assert (w.name, w.daemon, w.max_queue, w.max_wait, w.sync) == (
        "selfheal-writer",
        True,
        10_000,
        0.0,
        "full",
    )
    assert (w.wal_max_bytes, w.idle_checkpoint_seconds, w.depth) == (
        db.DEFAULT_WAL_LIMIT,
        IDLE_CHECKPOINT_SECONDS,
        0,
    )
    assert Writer(db_path, max_wait_ms=250).max_wait == 0.25
    assert not w.healthy
    with pytest.raises(UnavailableError) as err:
        w.write(lambda c: 1)
    assert (err.value.code, err.value.message) == (
        "shutting_down",
        "the service is shutting down; retry shortly",
    )
    w.start()
    assert w.healthy and w.write(lambda c: 7) == 7
    w.stop()
    assert not w.healthy and not w.is_alive()
    with pytest.raises(UnavailableError, match="shutting down"):
        w.write(lambda c: 1)
    w.stop()  # stopping twice is harmless


# -- scoring and the rows logged ---------------------------------------------------------------
def test_a_predict_job_answers_and_logs_one_row_per_record(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    batches: list[tuple[int, float]] = []
    w = make_writer(on_batch=lambda n, ms: batches.append((n, ms)))
    m = model("v0003", threshold=0.5)
    recs = records((0.5, 0.25), (-2.0, 0.5), (3.0, -1.0))
    started = time.monotonic() - 100_000.0  # 10**8 ms: a scale of 1.001 would add 10**5 ms
    results = w.predict(m, recs, started=started)
    X = SCHEMA.to_matrix([r.values for r in recs])
    proba = m.pipeline.predict_proba(X)[:, 1]
    assert [r["probability"] for r in results] == [float(p) for p in proba]
    assert [r["prediction"] for r in results] == [int(p >= 0.5) for p in proba]
    assert [r["model_version"] for r in results] == ["v0003"] * 3
    assert [r["out_of_range"] for r in results] == [[], ["a"], ["a"]]
    assert all(len(r["prediction_id"]) == 32 for r in results)
    assert len({r["prediction_id"] for r in results}) == 3
    assert set(results[0]) == {
        "prediction_id",
        "probability",
        "prediction",
        "model_version",
        "out_of_range",
    }
    logged = rows(db_path)
    assert [r["id"] for r in logged] == [r["prediction_id"] for r in results]
    for row, rec, res in zip(logged, recs, results, strict=True):
        assert row["created_at"] == "2026-01-02T03:04:05.678901Z"
        assert (row["model_version"], row["role"], row["parent_id"]) == (
            "v0003",
            "production",
            None,
        )
        assert row["features"] == store.dumps(rec.record)
        assert (row["probability"], row["prediction"], row["threshold"]) == (
            res["probability"],
            res["prediction"],
            0.5,
        )
        assert 1e8 <= row["latency_ms"] < 1e8 + 10_000.0
        assert row["latency_ms"] == round(row["latency_ms"], 3)
    assert [r["out_of_range"] for r in logged] == [None, '["a"]', '["a"]']
    assert len({r["latency_ms"] for r in logged}) == 1  # one job, one latency
    assert w.stats.rows == 3 and w.stats.last_batch_rows == 3 and w.stats.batches == 1
    assert w.stats.commits == 1 and w.stats.last_error is None
    assert [n for n, _ in batches] == [3] and batches[0][1] == w.stats.last_commit_ms
    assert w.stats.last_commit_ms > 0.0 and w.depth == 0


def test_the_threshold_is_inclusive(make_writer: Callable[..., Writer], db_path: Path) -> None:
    m = model("v0001")
    recs = records((0.5, 0.25))
    X = SCHEMA.to_matrix([recs[0].values])
    p = float(m.pipeline.predict_proba(X)[0, 1])
    at = LoadedModel(version="v0001", pipeline=m.pipeline, schema=SCHEMA, threshold=p, meta={})
    above = LoadedModel(
        version="v0002", pipeline=m.pipeline, schema=SCHEMA, threshold=np.nextafter(p, 1), meta={}
    )
    other = fitted(5, flip=True)
    sp = float(other.predict_proba(X)[0, 1])
    shadows = iter(
        [
            LoadedModel(version="v0003", pipeline=other, schema=SCHEMA, threshold=sp, meta={}),
            LoadedModel(
                version="v0004",
                pipeline=other,
                schema=SCHEMA,
                threshold=np.nextafter(sp, 1),
                meta={},
            ),
        ]
    )
    w = make_writer(shadow=lambda: next(shadows))
    assert w.predict(at, recs)[0]["prediction"] == 1
    assert w.predict(above, recs)[0]["prediction"] == 0
    logged = rows(db_path, "SELECT model_version, role, prediction FROM predictions ORDER BY seq")
    assert [tuple(r.values()) for r in logged] == [
        ("v0001", "production", 1),
        ("v0003", "shadow", 1),
        ("v0002", "production", 0),
        ("v0004", "shadow", 0),
    ]


def test_the_wall_clock_stamps_rows_without_an_injected_clock(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    w = make_writer(clock=None)
    before = db.iso()
    w.predict(model("v0001"), records((0.1, 0.1)))
    (row,) = rows(db_path)
    assert before <= row["created_at"] <= db.iso()
    assert 0.0 <= row["latency_ms"] < 10_000.0


def test_the_shadow_model_scores_the_same_rows_beside_production(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    shadow = model("v0002", threshold=0.3, seed=5, flip=True)
    w = make_writer(shadow=lambda: shadow)
    prod = model("v0001", threshold=0.6)
    recs = records((0.5, 0.25), (-2.0, 0.5))
    results = w.predict(prod, recs, started=time.monotonic() - 1.0)
    X = SCHEMA.to_matrix([r.values for r in recs])
    sp = shadow.pipeline.predict_proba(X)[:, 1]
    logged = rows(db_path)
    assert [r["role"] for r in logged] == ["production", "shadow", "production", "shadow"]
    for k in (0, 1):
        served, shadowed = logged[2 * k], logged[2 * k + 1]
        assert served["id"] == results[k]["prediction_id"]
        assert shadowed["parent_id"] == served["id"] and len(shadowed["id"]) == 32
        assert shadowed["id"] != served["id"]
        assert (shadowed["model_version"], shadowed["created_at"]) == (
            "v0002",
            "2026-01-02T03:04:05.678901Z",
        )
        assert shadowed["features"] == served["features"]
        assert shadowed["probability"] == float(sp[k])
        assert shadowed["prediction"] == int(sp[k] >= 0.3)
        assert (shadowed["threshold"], shadowed["latency_ms"]) == (0.3, None)
        assert shadowed["out_of_range"] == served["out_of_range"]
    assert [r["out_of_range"] for r in logged] == [None, None, '["a"]', '["a"]']
    assert w.stats.rows == 2 and w.stats.last_batch_rows == 2  # served rows only
    assert results == [{k: v for k, v in r.items()} for r in results] and [
        r["model_version"] for r in results
    ] == ["v0001", "v0001"]


@pytest.mark.parametrize(
    "shadow",
    [
        None,
        LoadedModel(version="v0001", pipeline=fitted(5), schema=SCHEMA, threshold=0.5, meta={}),
        LoadedModel(
            version="v0002", pipeline=fitted(5), schema=OTHER_SCHEMA, threshold=0.5, meta={}
        ),
        LoadedModel(version="v0002", pipeline=Broken(), schema=SCHEMA, threshold=0.5, meta={}),
    ],
    ids=["none", "same-version", "other-features", "broken"],
)
def test_no_shadow_rows_without_a_usable_shadow(
    make_writer: Callable[..., Writer],
    db_path: Path,
    shadow: LoadedModel | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = make_writer(shadow=lambda: shadow)
    results = w.predict(model("v0001"), records((0.5, 0.25)))
    assert [(r["role"], r["id"]) for r in rows(db_path)] == [
        ("production", results[0]["prediction_id"])
    ]
    assert w.healthy
    logged = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    broken = isinstance(shadow, LoadedModel) and isinstance(shadow.pipeline, Broken)
    assert logged == ([("ERROR", "shadow scoring failed with v0002", True)] if broken else [])


def test_the_shadow_role_is_kept_for_a_shadow_job(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    w = make_writer()
    w.predict(model("v0002"), records((0.1, 0.2)), role="shadow")
    assert [r["role"] for r in rows(db_path)] == ["shadow"]


# -- group commit -----------------------------------------------------------------------------
def test_jobs_queued_meanwhile_form_one_batch_each_scored_by_its_model(
    held: Held, db_path: Path
) -> None:
    w = held.writer
    a, b = model("v0001"), model("v0002", seed=9, flip=True)
    ra, rb = records((0.5, 0.5), (1.5, -0.5)), records((-0.5, 0.5))
    held.submit("a", lambda: w.predict(a, ra), queued=2)
    held.submit("write", lambda: w.write(lambda c: store.insert_event(c, {"event": "e"})), queued=3)
    held.submit("b", lambda: w.predict(b, rb), queued=4)
    assert w.depth == 4
    held.release()
    assert w.depth == 0
    assert w.stats.batches == 2 and w.stats.commits == 2
    assert w.stats.rows == 3 and w.stats.last_batch_rows == 3
    for key, m, recs in (("a", a, ra), ("b", b, rb)):
        expected = m.pipeline.predict_proba(SCHEMA.to_matrix([r.values for r in recs]))[:, 1]
        assert [r["probability"] for r in held.outcomes[key]] == [float(p) for p in expected]
        assert {r["model_version"] for r in held.outcomes[key]} == {m.version}
    assert isinstance(held.outcomes["write"], int)
    assert held.outcomes["hold"] == "held"
    logged = rows(db_path)
    assert [(r["model_version"]) for r in logged] == ["v0001", "v0001", "v0002"]
    # Latencies keep three decimals, not fewer (two whole milliseconds: a 1e-6 chance) nor more.
    assert any(r["latency_ms"] != int(r["latency_ms"]) for r in logged)
    assert all(r["latency_ms"] == round(r["latency_ms"], 3) for r in logged)


def test_a_batch_takes_jobs_until_4096_rows(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    seen: list[int] = []
    h = Held(make_writer(on_batch=lambda n, ms: seen.append(n)))
    h.hold()
    m = model("v0001")
    rec = records((0.1, 0.1))[0]
    h.submit("one", lambda: w_predict(h.writer, m, [rec] * 2048), queued=2048)
    h.submit("two", lambda: w_predict(h.writer, m, [rec] * 2047), queued=4095)
    h.submit("three", lambda: w_predict(h.writer, m, [rec] * 2), queued=4097)
    h.submit("four", lambda: w_predict(h.writer, m, [rec] * 5), queued=4102)
    h.release()
    # Below 4096 rows the batch takes the next job; at 4096 or more it stops.
    assert seen == [0, 4097, 5]
    assert h.writer.stats.batches == 3 and h.writer.stats.rows == 4102
    assert rows(db_path, "SELECT COUNT(*) AS n FROM predictions") == [{"n": 4102}]


def w_predict(w: Writer, m: LoadedModel, recs: list[Validated]) -> int:
    return len(w.predict(m, recs))


def test_max_wait_gathers_jobs_until_4096_rows_or_the_deadline(
    make_writer: Callable[..., Writer],
) -> None:
    w = make_writer(max_wait_ms=60_000)
    h = Held(w)
    rec = records((0.1, 0.1))[0]
    m = model("v0001")
    h.submit("w1", lambda: w.write(lambda c: 1), queued=1)
    h.submit("w2", lambda: w.write(lambda c: 2), queued=2)
    t0 = time.monotonic()
    h.submit("p", lambda: w_predict(w, m, [rec] * 4094), queued=None)
    h.release()  # 4096 rows: the wait ends long before its minute
    assert time.monotonic() - t0 < 30
    assert h.outcomes == {"w1": 1, "w2": 2, "p": 4094}
    assert w.stats.batches == 1 and w.stats.last_batch_rows == 4094
    short = make_writer(max_wait_ms=1)
    assert short.write(lambda c: 3) == 3
    # A batch taken while the writer stops does not wait to fill.
    stopping = make_writer(max_wait_ms=600)
    h2 = Held(stopping)
    h2.hold()
    h2.submit("late", lambda: stopping.write(lambda c: 4), queued=1)
    stopper = threading.Thread(target=stopping.stop)
    stopper.start()
    wait_until(lambda: not stopping.healthy)
    t0 = time.monotonic()
    h2.release()
    assert h2.outcomes == {"hold": "held", "late": 4}
    assert time.monotonic() - t0 < 0.3
    stopper.join(10)
    assert not stopping.is_alive()


# -- write jobs and savepoints ----------------------------------------------------------------
def test_a_failing_write_job_is_rolled_back_alone(
    held: Held, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = held.writer

    def event(name: str) -> Callable[[sqlite3.Connection], int]:
        return lambda c: store.insert_event(c, {"event": name, "actor": "t"})

    def broken(c: sqlite3.Connection) -> None:
        store.insert_event(c, {"event": "half", "actor": "t"})
        raise ValueError("boom")

    refusal = ConflictError("already there", code="dup")

    def refused(c: sqlite3.Connection) -> None:
        store.insert_event(c, {"event": "half2", "actor": "t"})
        raise refusal

    held.submit("before", lambda: w.write(event("before")), queued=1)
    held.submit("broken", lambda: w.write(broken), queued=2)
    held.submit("refused", lambda: w.write(refused), queued=3)
    held.submit("preds", lambda: w.predict(model("v0001"), records((0.1, 0.1))), queued=4)
    held.submit("after", lambda: w.write(event("after")), queued=5)
    held.release()
    error = held.outcomes["broken"]
    assert isinstance(error, UnavailableError)
    assert (error.code, error.message) == ("database_unavailable", "database write failed: boom")
    assert held.outcomes["refused"] is refusal
    assert isinstance(held.outcomes["before"], int) and isinstance(held.outcomes["after"], int)
    assert len(held.outcomes["preds"]) == 1
    names = [r["event"] for r in rows(db_path, "SELECT event FROM model_events ORDER BY id")]
    assert names == ["before", "after"]
    assert w.stats.failures == 0 and w.stats.last_error is None and w.stats.batches == 2
    assert len(rows(db_path)) == 1
    # Only the unexpected failure is logged with its traceback; a refusal is the job's answer.
    logged = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert logged == [("ERROR", "write job failed", True)]


def test_a_failed_group_commit_fails_every_job_and_is_counted(
    held: Held, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = held.writer

    def ends_the_transaction(c: sqlite3.Connection) -> None:
        c.execute("ROLLBACK")  # the savepoint can no longer be released

    held.submit("pred", lambda: w.predict(model("v0001"), records((0.1, 0.1))), queued=1)
    held.submit("ok", lambda: w.write(lambda c: store.insert_event(c, {"event": "x"})), queued=2)
    held.submit("bad", lambda: w.write(ends_the_transaction), queued=3)
    held.release()
    errors = [held.outcomes[k] for k in ("pred", "ok", "bad")]
    assert all(e is errors[0] for e in errors)
    err = errors[0]
    assert isinstance(err, UnavailableError) and err.code == "database_unavailable"
    assert err.message == (
        "the database is unavailable (no such savepoint: job1); nothing was logged, retry"
    )
    assert w.stats.failures == 1 and w.stats.batches == 1 and w.stats.commits == 1
    assert w.stats.last_error == "OperationalError: no such savepoint: job1"
    assert rows(db_path) == [] and rows(db_path, "SELECT * FROM model_events") == []
    assert w.healthy and w.write(lambda c: 5) == 5
    assert w.stats.last_error is None and w.stats.failures == 1
    # A SQLite connection does not break as a PostgreSQL one does: no reconnection.
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "group commit of 3 job(s) failed: no such savepoint: job1")
    ]


def test_a_job_without_a_model_or_with_a_broken_one_fails_alone(
    held: Held, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = held.writer
    broken = LoadedModel(version="v0009", pipeline=Broken(), schema=SCHEMA, threshold=0.5, meta={})
    held.submit("none", lambda: w.predict(None, records((0.1, 0.1))), queued=1)  # type: ignore[arg-type]
    held.submit("broken", lambda: w.predict(broken, records((0.1, 0.1), (0.2, 0.2))), queued=3)
    held.submit("good", lambda: w.predict(model("v0001"), records((0.3, 0.3))), queued=4)
    held.release()
    none = held.outcomes["none"]
    assert isinstance(none, NoModelError) and none.code == "no_model"
    assert none.message == (
        f"no production model is loaded; run `{cli('init')}` or promote a version"
    )
    bad = held.outcomes["broken"]
    assert isinstance(bad, UnavailableError)
    assert (bad.code, bad.message) == (
        "scoring_failed",
        "model v0009 failed to score: ZeroDivisionError",
    )
    assert len(held.outcomes["good"]) == 1
    assert [r["model_version"] for r in rows(db_path)] == ["v0001"]
    assert w.stats.rows == 1 and w.stats.last_batch_rows == 1 and w.healthy
    logged = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert logged == [("ERROR", "scoring failed with v0009", True)]


def test_a_failing_batch_observer_never_fails_the_batch(
    make_writer: Callable[..., Writer], db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")

    def observer(n: int, ms: float) -> None:
        raise RuntimeError("metrics down")

    w = make_writer(on_batch=observer)
    assert len(w.predict(model("v0001"), records((0.1, 0.1)))) == 1
    assert w.write(lambda c: 2) == 2
    assert w.stats.failures == 0 and w.stats.batches == 2 and len(rows(db_path)) == 1
    wait_until(lambda: len(caplog.records) >= 2)  # an observer runs after its waiters wake
    logged = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert logged == [("ERROR", "batch observer failed", True)] * 2


def test_a_failing_insert_rolls_the_batch_back_and_each_failure_counts(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    batches: list[int] = []
    w = make_writer(on_batch=lambda n, ms: batches.append(n))
    w.write(
        lambda c: c.execute(
            "CREATE TRIGGER closed BEFORE INSERT ON predictions"
            " BEGIN SELECT RAISE(ABORT, 'closed'); END"
        )
    )
    for attempt in (1, 2):
        with pytest.raises(UnavailableError) as err:
            w.predict(model("v0001"), records((0.1, 0.1)))
        assert err.value.message == (
            "the database is unavailable (closed); nothing was logged, retry"
        )
        assert w.stats.failures == attempt and w.stats.last_error == "IntegrityError: closed"
    w.write(lambda c: c.execute("DROP TRIGGER closed"))  # the transaction was rolled back
    assert len(w.predict(model("v0001"), records((0.1, 0.1)))) == 1
    assert len(rows(db_path)) == 1 and w.stats.failures == 2 and w.stats.last_error is None
    after_commits(w)
    wait_until(lambda: len(batches) >= 4)  # an observer runs after its waiters wake
    assert batches == [0, 0, 1, 0]  # a failed batch is not observed


def test_stop_waits_at_most_its_timeout_for_the_thread(held: Held) -> None:
    t0 = time.monotonic()
    stopper = threading.Thread(target=held.writer.stop, kwargs={"timeout": 0.2}, daemon=True)
    stopper.start()
    stopper.join(5)
    assert not stopper.is_alive() and 0.2 <= time.monotonic() - t0 < 5
    assert held.writer.is_alive()  # still inside the held job
    held.release()
    held.writer.join(5)
    assert not held.writer.is_alive()


# -- the queue --------------------------------------------------------------------------------
def test_the_queue_bounds_waiting_rows_exactly(make_writer: Callable[..., Writer]) -> None:
    w = make_writer(max_queue=5)
    h = Held(w)
    h.hold()
    rec = records((0.1, 0.1))[0]
    m = model("v0001")
    h.submit("four", lambda: w_predict(w, m, [rec] * 4), queued=4)
    with pytest.raises(UnavailableError) as err:
        w.predict(m, [rec, rec])
    assert err.value.code == "overloaded"
    assert err.value.message == (
        "the scoring queue is full (4 records waiting, limit SELFHEAL_MAX_QUEUE=5); retry with "
        "backoff"
    )
    assert w.depth == 4  # a refused request holds no room
    h.submit("write", lambda: w.write(lambda c: "fits"), queued=5)  # 4 + 1 == 5 fits
    with pytest.raises(UnavailableError, match=r"full \(5 records waiting"):
        w.write(lambda c: 0)
    h.release()
    assert h.outcomes["four"] == 4 and h.outcomes["write"] == "fits" and w.depth == 0


def test_a_job_not_taken_in_time_is_withdrawn_and_never_logged(held: Held, db_path: Path) -> None:
    w = held.writer
    rec = records((0.1, 0.1))[0]
    held.submit("queued", lambda: w_predict(w, model("v0001"), [rec]), queued=1)
    t0 = time.monotonic()
    with pytest.raises(UnavailableError) as err:
        w.predict(model("v0001"), [rec, rec], timeout=0.51)
    assert time.monotonic() - t0 >= 0.51
    assert (err.value.code, err.value.message) == (
        "database_unavailable",
        "the database did not take the write within 1 s; nothing was logged, retry",
    )
    assert w.depth == 1
    with pytest.raises(UnavailableError, match="within 0 s; nothing was logged"):
        w.write(lambda c: store.insert_event(c, {"event": "late"}), timeout=0.05)
    assert w.depth == 1
    held.release()
    assert held.outcomes["queued"] == 1
    assert len(rows(db_path)) == 1 and rows(db_path, "SELECT * FROM model_events") == []
    assert w.stats.rows == 1


def test_a_job_taken_but_not_committed_in_time_may_still_land(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    w = make_writer()
    release = threading.Event()

    def slow(c: sqlite3.Connection) -> int:
        assert release.wait(30)
        return store.insert_event(c, {"event": "slow"})

    with pytest.raises(UnavailableError) as err:
        w.write(slow, timeout=0.2)
    assert (err.value.code, err.value.message) == (
        "database_unavailable",
        "the database did not commit within 0 s; the write may still land, check before retrying",
    )
    release.set()
    assert w.write(lambda c: 1) == 1
    assert [r["event"] for r in rows(db_path, "SELECT event FROM model_events")] == ["slow"]


def test_stop_finishes_every_queued_job(held: Held, db_path: Path) -> None:
    w = held.writer
    held.submit("a", lambda: w.write(lambda c: store.insert_event(c, {"event": "a"})), queued=1)
    held.submit("p", lambda: w_predict(w, model("v0001"), records((0.1, 0.1))), queued=2)
    stopper = threading.Thread(target=w.stop)
    stopper.start()
    wait_until(lambda: not w.healthy)
    with pytest.raises(UnavailableError, match="shutting down"):
        w.write(lambda c: 0)
    held.release()
    stopper.join(10)
    assert not w.is_alive()
    assert isinstance(held.outcomes["a"], int) and held.outcomes["p"] == 1
    assert len(rows(db_path)) == 1


# -- the WAL bound ----------------------------------------------------------------------------
def after_commits(w: Writer) -> None:
    """Wait until the writer has finished with the jobs before (a commit's checkpoint runs
    after its caller is woken): a job that changes nothing writes nothing to the log."""
    assert w.write(lambda c: None) is None


def test_a_commit_beyond_the_wal_bound_truncates_the_log(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    w = make_writer(wal_max_bytes=1, idle_checkpoint_seconds=3600)
    w.predict(model("v0001"), records((0.1, 0.1)))
    after_commits(w)
    assert w.stats.checkpoints[("bound", "ok")] == 1
    high = w.stats.wal_high_water
    assert high > 1 and db.wal_size(db_path) == 0
    w.write(lambda c: store.insert_event(c, {"event": "x"}))
    after_commits(w)
    assert w.stats.checkpoints[("bound", "ok")] == 2
    assert sum(w.stats.checkpoints.values()) == 2
    assert w.stats.wal_high_water >= high and db.wal_size(db_path) == 0
    assert w.stats.last_checkpoint_ms > 0.0


def test_under_the_bound_the_log_is_truncated_once_idle(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    w = make_writer(idle_checkpoint_seconds=0.05)
    w.write(lambda c: store.insert_event(c, {"event": "x"}))
    wait_until(lambda: w.stats.checkpoints[("idle", "ok")] == 1)
    assert w.stats.wal_high_water > 0 and db.wal_size(db_path) == 0
    assert w.stats.checkpoints[("bound", "ok")] == 0
    time.sleep(0.2)  # the log is clean now: no further idle checkpoint
    assert sum(w.stats.checkpoints.values()) == 1
    w.write(lambda c: store.insert_event(c, {"event": "y"}))
    wait_until(lambda: w.stats.checkpoints[("idle", "ok")] == 2)


def test_never_idle_checkpoint_before_any_commit(make_writer: Callable[..., Writer]) -> None:
    w = make_writer(idle_checkpoint_seconds=0.01)
    time.sleep(0.1)
    assert sum(w.stats.checkpoints.values()) == 0


def test_a_busy_checkpoint_waits_for_a_quarter_bound_more_before_retrying(
    make_writer: Callable[..., Writer], db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = make_writer(wal_max_bytes=65536, idle_checkpoint_seconds=3600)
    big = "x" * 70_000
    w.write(lambda c: store.insert_event(c, {"event": "pad", "reason": big}))
    after_commits(w)
    assert w.stats.checkpoints[("bound", "ok")] == 1
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM model_events").fetchone()  # holds a snapshot
        w.write(lambda c: store.insert_event(c, {"event": "a", "reason": big}))
        after_commits(w)
        first = db.wal_size(db_path)
        assert first > 65536 and w.stats.checkpoints[("bound", "busy")] == 1
        assert w.stats.wal_high_water == first
        # Less than a quarter of the bound (16 KiB) more: no new try.
        w.write(lambda c: store.insert_event(c, {"event": "s"}))
        after_commits(w)
        assert first < db.wal_size(db_path) <= first + 16384
        assert w.stats.checkpoints[("bound", "busy")] == 1
        w.write(lambda c: store.insert_event(c, {"event": "b", "reason": big}))
        after_commits(w)
        assert w.stats.checkpoints[("bound", "busy")] == 2
        busy_ms = w.stats.last_checkpoint_ms  # the last busy wait, in milliseconds
    finally:
        reader.execute("COMMIT")
        reader.close()
    w.write(lambda c: store.insert_event(c, {"event": "c", "reason": big}))
    after_commits(w)
    assert w.stats.checkpoints[("bound", "ok")] == 2 and db.wal_size(db_path) == 0
    assert sum(w.stats.checkpoints.values()) == 4
    busy = [r.getMessage() for r in caplog.records]
    assert len(busy) == 2 and all(r.levelname == "WARNING" for r in caplog.records)
    for message in busy:
        match = re.fullmatch(
            r"bound checkpoint busy: a reader held the log for (\d+) ms \((\d+) frames\)", message
        )
        assert match is not None, message
        assert 300 <= int(match[1]) < 5000 and int(match[2]) > 16  # waited about 500 ms
    assert 300 <= busy_ms < 5000 and f"{busy_ms:.0f}" == re.findall(r"for (\d+) ms", busy[-1])[0]


def test_a_failing_checkpoint_is_counted_and_logged_and_the_writer_goes_on(
    make_writer: Callable[..., Writer], db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A write job that hands back an open cursor keeps a statement running on the writer's
    connection: SQLite refuses the checkpoint then ("database table is locked")."""
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = make_writer(wal_max_bytes=1, idle_checkpoint_seconds=3600)

    def open_cursor(c: sqlite3.Connection) -> sqlite3.Cursor:
        store.insert_event(c, {"event": "x"})
        store.insert_event(c, {"event": "y"})
        cur = c.execute("SELECT id FROM model_events")
        cur.fetchone()
        return cur

    cur = w.write(open_cursor)
    after_commits(w)  # changes nothing, so the log does not grow: no second try
    counts = {k: v for k, v in w.stats.checkpoints.items() if v}
    assert counts == {("bound", "error"): 1}
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "bound checkpoint failed: database table is locked")
    ]
    assert db.wal_size(db_path) > 1
    w.write(lambda c: cur.close())
    w.write(lambda c: store.insert_event(c, {"event": "z"}))
    after_commits(w)
    assert {k: v for k, v in w.stats.checkpoints.items() if v} == {
        ("bound", "error"): 1,
        ("bound", "ok"): 1,
    }
    assert db.wal_size(db_path) == 0


# -- Done: the one-shot signal each job's caller waits on ----------------------------------------
def test_done_is_a_one_shot_signal_that_wakes_every_waiter() -> None:
    done = Done()
    assert done.is_set() is False
    assert done.wait(0) is False
    t0 = time.monotonic()
    assert done.wait(0.05) is False
    assert time.monotonic() - t0 >= 0.04
    woke: list[tuple[str, bool]] = []

    def waiter(name: str, *args: float | None) -> None:
        woke.append((name, done.wait(*args)))

    threads = [
        threading.Thread(target=waiter, args=args, daemon=True)
        for args in (("no timeout",), ("None", None), ("30 s", 30.0))
    ]
    for t in threads:
        t.start()
    # A wait without a limit is still waiting after more than a second (and all three are
    # blocked on the lock by then: no event can say that they are); each must then pass
    # the lock on to the next.
    threads[0].join(1.1)
    assert woke == [] and done.is_set() is False
    assert all(t.is_alive() for t in threads)
    done.set()
    for t in threads:
        t.join(5)
        assert not t.is_alive()
    assert sorted(woke) == [("30 s", True), ("None", True), ("no timeout", True)]
    assert done.is_set() is True
    assert (done.wait(0), done.wait(), done.wait(0.01)) == (True, True, True)
    done.set()  # a second set changes nothing (the lock is not released twice)
    assert done.is_set() is True and done.wait(0) is True


# -- batches: the exact cut and the optional wait ------------------------------------------------
def test_a_batch_of_exactly_4096_rows_takes_no_further_job(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    seen: list[int] = []
    h = Held(make_writer(on_batch=lambda n, ms: seen.append(n)))
    h.hold()
    m = model("v0001")
    rec = records((0.1, 0.1))[0]
    h.submit("one", lambda: w_predict(h.writer, m, [rec] * 2048), queued=2048)
    h.submit("two", lambda: w_predict(h.writer, m, [rec] * 2048), queued=4096)
    h.submit("three", lambda: w_predict(h.writer, m, [rec] * 3), queued=4099)
    h.release()
    assert seen == [0, 4096, 3]  # at 4096 rows the batch is full: the third job waits
    assert (h.outcomes["one"], h.outcomes["two"], h.outcomes["three"]) == (2048, 2048, 3)
    assert h.writer.stats.batches == 3 and h.writer.stats.last_batch_rows == 3


def test_max_wait_holds_a_lone_job_for_the_whole_wait(
    make_writer: Callable[..., Writer],
) -> None:
    """A wait of exactly 1 s (the bound of `max_wait > 0`'s neighbours): one job, far from
    4,096 rows, is taken only once the full second has passed."""
    w = make_writer(max_wait_ms=1000)
    t0 = time.monotonic()
    assert w.write(lambda c: "waited") == "waited"
    assert 1.0 <= time.monotonic() - t0 < FAIL_FAST
    assert w.stats.batches == 1


# -- the writer thread's settings ----------------------------------------------------------------
def pools() -> dict[str, list[int]]:
    """num_threads of each loaded thread pool library, by user_api (threadpoolctl)."""
    out: dict[str, list[int]] = {}
    for info in threadpool_info():
        out.setdefault(info["user_api"], []).append(info["num_threads"])
    return out


def test_the_writer_thread_alone_scores_with_one_openmp_thread(
    make_writer: Callable[..., Writer],
) -> None:
    """OpenMP's thread count is a per-thread setting: the writer limits its own to 1 and
    leaves BLAS (a process-wide count, set to 2 here so that a limit of 1 shows) and every
    other thread alone."""
    with threadpool_limits(limits=2, user_api="blas"):
        before = pools()
        assert before["openmp"] and before["blas"] and set(before["blas"]) == {2}
        w = make_writer()
        inside = w.write(lambda c: pools())
        plain: list[dict[str, list[int]]] = []
        t = threading.Thread(target=lambda: plain.append(pools()))
        t.start()
        t.join(10)
        assert inside["openmp"] == [1] * len(before["openmp"])
        assert inside["blas"] == before["blas"]
        assert pools() == before  # this thread's own limits are unchanged
        # A new thread has OpenMP's default: this machine's core count, unless
        # OMP_NUM_THREADS says otherwise (then the limit of 1 may not show here).
        assert plain[0]["blas"] == before["blas"]
        # Another thread keeps OpenMP's default (the cores, or OMP_NUM_THREADS), as this one
        # does; the writer's limit of 1 shows wherever that default is above 1 (here: 2).
        assert plain[0]["openmp"] == before["openmp"]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, (2, db.DEFAULT_WAL_LIMIT)),
        ({"sync": "normal", "wal_max_bytes": 123_456}, (1, 123_456)),
    ],
    ids=["defaults", "normal-and-a-bound"],
)
def test_the_writer_connection_takes_its_sync_and_its_wal_bound(
    make_writer: Callable[..., Writer], kw: dict[str, Any], expected: tuple[int, int]
) -> None:
    w = make_writer(idle_checkpoint_seconds=3600, **kw)

    def pragmas(c: sqlite3.Connection) -> tuple[int, int]:
        sync = c.execute("PRAGMA synchronous").fetchone()[0]
        return sync, c.execute("PRAGMA journal_size_limit").fetchone()[0]

    assert w.write(pragmas) == expected


class RecordingWriter(Writer):
    """The real Writer; records the wait each call passes on, then waits so."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.waits: list[float] = []
        self.joins: list[float | None] = []

    def _submit(self, job: Any, rows: int, timeout: float) -> Any:
        self.waits.append(timeout)
        return super()._submit(job, rows, timeout)

    def join(self, timeout: float | None = None) -> None:
        self.joins.append(timeout)
        super().join(timeout)


def test_a_call_waits_30_s_and_stop_10_s_by_default(db_path: Path) -> None:
    w = RecordingWriter(db_path, clock=lambda: NOW)
    w.start()
    try:
        assert w.write(lambda c: 1) == 1
        assert len(w.predict(model("v0001"), records((0.1, 0.1)))) == 1
    finally:
        w.stop()
    assert w.waits == [30.0, 30.0] and w.joins == [10.0]
    assert not w.is_alive()


# -- one batch: what is measured, observed and logged ------------------------------------------
class StoppedClock:
    """A `time` for selfheal.writer: `monotonic()` stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_commit_ms_is_the_transaction_s_time_in_milliseconds(
    make_writer: Callable[..., Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    import selfheal.writer

    clock = StoppedClock()
    monkeypatch.setattr(selfheal.writer, "time", clock)
    seen: list[tuple[int, float]] = []
    w = make_writer(on_batch=lambda n, ms: seen.append((n, ms)), idle_checkpoint_seconds=3600)

    def takes_a_quarter_second(c: sqlite3.Connection) -> str:
        clock.now += 0.25  # time passes inside the transaction, from BEGIN to COMMIT
        return "done"

    assert w.write(takes_a_quarter_second) == "done"
    assert w.stats.last_commit_ms == 250.0
    assert (w.stats.batches, w.stats.commits, w.stats.rows, w.stats.last_batch_rows) == (1, 1, 0, 0)
    wait_until(lambda: len(seen) == 1)
    assert seen == [(0, 250.0)]


def test_a_failed_commit_is_not_observed(
    make_writer: Callable[..., Writer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    seen: list[tuple[Any, ...]] = []
    w = make_writer(on_batch=lambda *args: seen.append(args), idle_checkpoint_seconds=3600)

    def ends_the_transaction(c: sqlite3.Connection) -> None:
        c.execute("ROLLBACK")

    with pytest.raises(UnavailableError, match="no such savepoint"):
        w.write(ends_the_transaction)
    assert w.stats.last_error == "OperationalError: no such savepoint: job0"
    assert w.write(lambda c: 3) == 3
    assert w.stats.last_error is None and w.stats.failures == 1
    after_commits(w)
    wait_until(lambda: len(seen) >= 2)  # an observer runs after its waiters wake
    assert [len(args) for args in seen] == [2, 2] and [args[0] for args in seen] == [0, 0]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "group commit of 1 job(s) failed: no such savepoint: job0")
    ]


def test_a_refusal_is_not_logged_and_an_unexpected_failure_is(
    make_writer: Callable[..., Writer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = make_writer()
    refusal = ConflictError("already there", code="dup")

    def refused(c: sqlite3.Connection) -> None:
        raise refusal

    with pytest.raises(ConflictError) as err:
        w.write(refused)
    assert err.value is refusal and caplog.records == []

    def broken(c: sqlite3.Connection) -> None:
        raise ValueError("boom")

    with pytest.raises(UnavailableError, match="database write failed: boom"):
        w.write(broken)
    logged = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records]
    assert len(logged) == 1 and logged[0][:2] == ("ERROR", "write job failed")
    assert logged[0][2] is not None and isinstance(logged[0][2][1], ValueError)


def test_a_batch_of_write_jobs_alone_never_asks_for_the_shadow_model(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    asked: list[int] = []
    shadow = model("v0002", seed=5, flip=True)

    def provider() -> LoadedModel:
        asked.append(1)
        return shadow

    w = make_writer(shadow=provider)
    assert w.write(lambda c: 1) == 1
    assert asked == []
    w.predict(model("v0001"), records((0.1, 0.1)))
    assert asked == [1]
    assert [r["role"] for r in rows(db_path)] == ["production", "shadow"]


class ConfigProbe:
    """A model that answers 0.25 for every row and records scikit-learn's settings of the
    thread that calls it."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, bool]] = []

    def predict_proba(self, X: Any) -> Any:
        config = sklearn.get_config()
        self.seen.append((config["assume_finite"], config["skip_parameter_validation"]))
        return np.column_stack([np.full(len(X), 0.75), np.full(len(X), 0.25)])


def test_scoring_skips_scikit_learn_s_checks_of_validated_records(
    make_writer: Callable[..., Writer],
) -> None:
    """Records were validated against the schema, so scoring runs with scikit-learn's
    finiteness and parameter checks off: for this call only, the writer thread's own
    settings stay the defaults."""
    probe = ConfigProbe()
    m = LoadedModel(version="v0001", pipeline=probe, schema=SCHEMA, threshold=0.5, meta={})
    w = make_writer()
    results = w.predict(m, records((0.1, None), (0.2, 0.3)))
    assert [r["probability"] for r in results] == [0.25, 0.25]
    assert probe.seen == [(True, True)]

    def settings(c: sqlite3.Connection) -> tuple[bool, bool]:
        config = sklearn.get_config()
        return config["assume_finite"], config["skip_parameter_validation"]

    assert w.write(settings) == (False, False)


# -- the WAL bound: exact retry distance and the wait logged --------------------------------------
def test_after_a_busy_checkpoint_no_try_before_a_quarter_of_the_bound_more(
    make_writer: Callable[..., Writer], db_path: Path
) -> None:
    """With a 400,000-byte bound the next try waits for 100,000 bytes more: a commit that
    adds about 90,000 (more than a fifth of the bound, less than a quarter) tries nothing."""
    w = make_writer(wal_max_bytes=400_000, idle_checkpoint_seconds=3600)
    w.write(lambda c: c.execute("CREATE TABLE pad (x BLOB)"))
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM model_events").fetchone()  # holds a snapshot
        w.write(lambda c: c.execute("INSERT INTO pad VALUES (zeroblob(450000))"))
        after_commits(w)
        first = db.wal_size(db_path)
        assert first > 400_000 and w.stats.checkpoints[("bound", "busy")] == 1
        w.write(lambda c: c.execute("INSERT INTO pad VALUES (zeroblob(76000))"))
        after_commits(w)
        grown = db.wal_size(db_path) - first
        assert 400_000 // 5 < grown <= 400_000 // 4
        assert w.stats.checkpoints[("bound", "busy")] == 1
        assert sum(w.stats.checkpoints.values()) == 1
    finally:
        reader.execute("COMMIT")
        reader.close()


class Ticks:
    """A `time` for selfheal.db: each `monotonic()` reading is 0.75 s after the one before,
    so every checkpoint measures exactly 0.75 s."""

    def __init__(self) -> None:
        self.n = 0

    def monotonic(self) -> float:
        self.n += 1
        return 1000.0 + 0.75 * self.n


def test_a_busy_checkpoint_logs_the_wait_it_measured_in_milliseconds(
    make_writer: Callable[..., Writer],
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    monkeypatch.setattr(db, "time", Ticks())
    w = make_writer(wal_max_bytes=1, idle_checkpoint_seconds=3600)
    w.write(lambda c: store.insert_event(c, {"event": "a"}))
    after_commits(w)
    assert w.stats.checkpoints[("bound", "ok")] == 1 and w.stats.last_checkpoint_ms == 750.0
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM model_events").fetchone()  # holds a snapshot
        w.write(lambda c: store.insert_event(c, {"event": "b"}))
        after_commits(w)
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert w.stats.checkpoints[("bound", "busy")] == 1 and w.stats.last_checkpoint_ms == 750.0
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert re.fullmatch(
        r"bound checkpoint busy: a reader held the log for 750 ms \([1-9]\d* frames\)",
        record.getMessage(),
    )


# -- PostgreSQL: a connection the server ended is replaced (conftest's pg_cluster) ------------
@pytest.fixture
def make_pg_writer(pg_url: str) -> Iterator[Callable[..., Writer]]:
    """Writers on a new, empty database of the session's PostgreSQL cluster."""
    made: list[Writer] = []

    def make(**kw: Any) -> Writer:
        kw.setdefault("clock", lambda: NOW)
        kw.setdefault("idle_checkpoint_seconds", 3600)
        w = FailFastWriter(pg_url, **kw)
        w.start()
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


def backend_pid(c: Any) -> int:
    return int(c.execute("SELECT pg_backend_pid()").fetchone()[0])


def synchronous_commit(c: Any) -> str:
    return str(c.execute("SHOW synchronous_commit").fetchone()[0])


def test_a_writer_whose_postgres_session_ended_reconnects_with_its_settings(
    make_pg_writer: Callable[..., Writer], caplog: pytest.LogCaptureFixture
) -> None:
    """The server ends the writer's session inside a batch: that batch fails, the writer
    opens a new connection at once (with its SELFHEAL_SYNC), and the next call succeeds."""
    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = make_pg_writer(sync="normal")
    first = w.write(backend_pid)
    assert w.write(synchronous_commit) == "off"

    def ends_its_session(c: Any) -> None:
        c.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    with pytest.raises(UnavailableError) as err:
        w.write(ends_its_session)
    assert (err.value.code, err.value.message) == (
        "database_unavailable",
        "the database is unavailable (the connection is closed); nothing was logged, retry",
    )
    assert w.stats.failures == 1
    assert w.stats.last_error == "OperationalError: the connection is closed"
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "group commit of 1 job(s) failed: the connection is closed"),
        ("WARNING", "the writer reconnected to the database"),
    ]
    second = w.write(backend_pid)
    assert second != first
    assert w.write(synchronous_commit) == "off"
    assert w.stats.failures == 1 and w.stats.last_error is None and w.healthy


def test_a_writer_that_cannot_reconnect_yet_tries_again_after_the_next_failure(
    make_pg_writer: Callable[..., Writer],
    pg_cluster: Any,
    pg_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The writer's database is dropped under it (its session ends with it): the
    reconnection fails and is logged; once the database is back, the next batch reconnects
    first and commits (it used to fail once more on the closed connection)."""
    import psycopg

    caplog.set_level(logging.INFO, logger="selfheal.writer")
    w = make_pg_writer()
    first = w.write(backend_pid)
    name = pg_url.rsplit("/", 1)[1]

    def drops_its_database(c: Any) -> None:
        with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    with pytest.raises(UnavailableError, match=r"^the database is unavailable \(the connection"):
        w.write(drops_its_database)
    logged = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert logged[0] == ("ERROR", "group commit of 1 job(s) failed: the connection is closed")
    assert logged[1][0] == "ERROR" and len(logged) == 2
    prefix = f"the writer could not reconnect: cannot connect to PostgreSQL at {pg_url} ("
    assert logged[1][1].startswith(prefix)
    assert f'database "{name}" does not exist' in logged[1][1]
    assert logged[1][1].endswith(
        "; check SELFHEAL_DATABASE_URL (user, host, port, database name) and that the server runs"
    )
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    caplog.clear()
    assert w.write(backend_pid) != first  # the closed connection is replaced first
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "the writer reconnected to the database"),
    ]
    assert w.write(synchronous_commit) == "on" and w.stats.failures == 1
