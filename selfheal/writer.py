"""The pipeline thread: it scores as well as writes. It is the server's only SQLite writer
and also the only place where live requests are scored: `/predict` records are scored here, in
micro-batches, by the production model (and the shadow model, if any), in the same pass that
logs them.

Request threads hand it work and wait:

* a **predict job** (validated records + the model handle they were validated against): the
  thread scores every queued record of one model in a single `predict_proba` call, inserts the
  rows, commits, and only then wakes the requests. A 200 therefore means "committed".
* a **write job** (a function of a connection): labels, events, reports. It runs inside the
  same transaction under a SAVEPOINT, so one failing job cannot undo the others.

Batches form from whatever queued up while the previous batch was being scored and committed
(group commit), so no fixed wait is needed; `batch_max_wait_ms` can add one. A queue bounded by
`max_queue` turns overload into a 503 instead of unbounded memory.

The thread also keeps the WAL bounded. SQLite's own checkpoint after a commit (PASSIVE) copies
frames into the database but resets the log only when no reader is using it at that instant;
under steady reads beside steady writes that moment may never come, and the -wal file grows
without end. So after a commit that leaves the file above `wal_max_bytes`, and after
`IDLE_CHECKPOINT_SECONDS` without work, the writer runs `wal_checkpoint(TRUNCATE)`, which waits
(at most `CHECKPOINT_WAIT_MS`) for the statements running now and leaves an empty log. Read
connections hold a snapshot only while a statement runs (docs/architecture.md), so that wait
is short; when it is not (a busy result), the next try comes after another quarter of the
bound was written. Results are counted in `WriterStats.checkpoints` for `/metrics`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sklearn import config_context
from threadpoolctl import threadpool_limits

from selfheal import db, store
from selfheal.errors import NoModelError, SelfhealError, UnavailableError, cli
from selfheal.registry import LoadedModel
from selfheal.schema import Validated

log = logging.getLogger("selfheal.writer")
MAX_ROWS_PER_BATCH = 4096
IDLE_CHECKPOINT_SECONDS = 1.0  # no work for this long after a commit: a quiet moment
CHECKPOINT_WAIT_MS = 500  # longest a checkpoint waits for readers (theirs take milliseconds)
CHECKPOINT_REASONS = ("bound", "idle")
CHECKPOINT_RESULTS = ("ok", "busy", "error")


class Done:
    """A one-shot signal with `threading.Event`'s `set`/`wait`/`is_set`, built on one lock
    taken at creation and released by `set`. An Event builds a Condition per job and a
    waiter lock per wait; under a 32-thread load that hand-off was about a tenth of the
    server's GIL time (docs/performance.md). `set` is called once, by the writer."""

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._lock.release()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """True once `set` was called, False after `timeout` seconds (None: no limit)."""
        if self._set:
            return True
        if self._lock.acquire(timeout=-1 if timeout is None else timeout):
            self._lock.release()  # a later wait returns at once too
            return True
        return False


@dataclass(eq=False)  # jobs are compared by identity (queue membership, removal)
class _Job:
    done: Done = field(default_factory=Done)
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class PredictJob(_Job):
    model: LoadedModel | None = None
    records: Sequence[Validated] = ()
    started: float = 0.0  # time.monotonic() when the request arrived
    role: str = "production"


@dataclass(eq=False)
class WriteJob(_Job):
    fn: Callable[[db.Connection], Any] | None = None


@dataclass
class WriterStats:
    batches: int = 0
    rows: int = 0
    commits: int = 0
    failures: int = 0
    last_batch_rows: int = 0
    last_commit_ms: float = 0.0
    last_error: str | None = None
    # (reason, result) -> count; every key exists from the start, so a reader on another
    # thread (the /metrics scrape) can copy the dict while the writer updates it.
    checkpoints: dict[tuple[str, str], int] = field(
        default_factory=lambda: {(r, o): 0 for r in CHECKPOINT_REASONS for o in CHECKPOINT_RESULTS}
    )
    last_checkpoint_ms: float = 0.0
    wal_high_water: int = 0  # largest -wal file size seen after a commit, bytes


class Writer(threading.Thread):
    """Scores and writes: the thread that scores `/predict` batches (production and shadow
    model) and commits them, with every other write of the server, in group transactions."""

    def __init__(
        self,
        db_path: db.Target,
        *,
        max_queue: int = 10_000,
        max_wait_ms: float = 0.0,
        shadow: Callable[[], LoadedModel | None] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        sync: str = "full",
        wal_max_bytes: int = db.DEFAULT_WAL_LIMIT,
        idle_checkpoint_seconds: float = IDLE_CHECKPOINT_SECONDS,
    ) -> None:
        """`clock` gives the time stamped on predictions (default: the wall clock); a
        replay injects its own, as `monitor.run_once(now=...)` does for cycles. `db_path` is
        the SQLite file or the PostgreSQL URL (`Settings.database`). `sync` is
        `SELFHEAL_SYNC`; `wal_max_bytes` is `SELFHEAL_WAL_MAX_MIB` in bytes (SQLite only)."""
        super().__init__(name="selfheal-writer", daemon=True)
        self.db_path = db_path
        self.max_queue = max_queue
        self.max_wait = max_wait_ms / 1000.0
        self.sync = sync
        self.wal_max_bytes = wal_max_bytes
        self.idle_checkpoint_seconds = idle_checkpoint_seconds
        self._dirty = False  # a commit since the last complete checkpoint
        # After a busy bound checkpoint, the next waits until the file grew by another quarter
        # of the bound: a reader that keeps the log busy costs the writer one wait per
        # quarter bound written, never one per commit.
        self._retry_above = 0
        self._shadow = shadow
        self._on_batch = on_batch
        self._clock = clock
        self._queue: deque[_Job] = deque()
        self._queued_rows = 0
        self._cv = threading.Condition()
        self._stopping = False
        self.stats = WriterStats()
        self._conn: db.Connection | None = None

    # -- request side -----------------------------------------------------------------
    @property
    def depth(self) -> int:
        return self._queued_rows

    @property
    def healthy(self) -> bool:
        return self.is_alive() and not self._stopping

    def _submit(self, job: _Job, rows: int, timeout: float) -> Any:
        with self._cv:
            if self._stopping or not self.is_alive():
                raise UnavailableError(
                    "the service is shutting down; retry shortly", code="shutting_down"
                )
            if self._queued_rows + rows > self.max_queue:
                raise UnavailableError(
                    f"the scoring queue is full ({self._queued_rows} records waiting, limit "
                    f"SELFHEAL_MAX_QUEUE={self.max_queue}); retry with backoff",
                    code="overloaded",
                )
            self._queue.append(job)
            self._queued_rows += rows
            self._cv.notify()
        if not job.done.wait(timeout):
            with self._cv:
                queued = job in self._queue
                if queued:  # withdraw it, so that a retry cannot log the rows twice
                    self._queue.remove(job)
                    self._queued_rows -= rows
            if queued:
                raise UnavailableError(
                    f"the database did not take the write within {timeout:.0f} s; nothing "
                    "was logged, retry",
                    code="database_unavailable",
                )
            # Already in a transaction: SQLite's busy timeout bounds how long that can take.
            if not job.done.wait(timeout):
                raise UnavailableError(
                    f"the database did not commit within {2 * timeout:.0f} s; the write may "
                    "still land, check before retrying",
                    code="database_unavailable",
                )
        if job.error is not None:
            raise job.error
        return job.result

    def predict(
        self,
        model: LoadedModel,
        records: Sequence[Validated],
        *,
        started: float | None = None,
        role: str = "production",
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Score and log `records`; return one result per record once committed."""
        job = PredictJob(
            model=model,
            records=records,
            role=role,
            started=time.monotonic() if started is None else started,
        )
        result: list[dict[str, Any]] = self._submit(job, len(records), timeout)
        return result

    def write(self, fn: Callable[[db.Connection], Any], timeout: float = 30.0) -> Any:
        """Run `fn(conn)` inside the next group transaction; return its result."""
        return self._submit(WriteJob(fn=fn), 1, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish every queued job, then end the thread."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self.is_alive():
            self.join(timeout)

    # -- the thread -------------------------------------------------------------------
    def run(self) -> None:
        # One OpenMP thread for scoring, in this thread only (OpenMP's thread count is a
        # per-thread setting): a batch of tens of rows is too small to share, and spinning
        # up a team per tree of a gradient-boosting model cost more than the trees
        # (docs/performance.md). Retraining in its own thread keeps every core.
        threadpool_limits(limits=1, user_api="openmp")
        self._conn = db.connect(self.db_path, sync=self.sync, wal_limit=self.wal_max_bytes)
        try:
            while True:
                quiet = False
                jobs: list[_Job] = []
                with self._cv:
                    while not self._queue and not self._stopping:
                        if not self._dirty:
                            self._cv.wait()
                        elif not self._cv.wait(self.idle_checkpoint_seconds):
                            quiet = not self._queue and not self._stopping
                            break
                    if not quiet:
                        if not self._queue and self._stopping:
                            return
                        jobs = self._take()
                if quiet:
                    self._checkpoint("idle")
                else:
                    self._process(jobs)
        finally:
            self._conn.close()

    def _reconnect_if_broken(self) -> None:
        """PostgreSQL: a connection the server closed (a restart, a failover) stays broken;
        open a new one so that the next batch can commit. Called after a failed batch and
        before each batch. SQLite files do not break so."""
        conn = self._conn
        if conn is None or getattr(conn, "usable", True):
            return
        try:
            conn.close()
        except Exception:  # already broken: nothing to release
            pass
        try:
            self._conn = db.connect(self.db_path, sync=self.sync, wal_limit=self.wal_max_bytes)
            log.warning("the writer reconnected to the database")
        except Exception as exc:  # down still: the next failing batch tries again
            log.error("the writer could not reconnect: %s", exc)

    def _take(self) -> list[_Job]:
        """Pop the next batch (under `_cv`), after the optional wait for it to fill."""
        if self.max_wait > 0 and not self._stopping:
            deadline = time.monotonic() + self.max_wait
            while self._queued_rows < MAX_ROWS_PER_BATCH:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
        jobs: list[_Job] = []
        rows = 0
        while self._queue and rows < MAX_ROWS_PER_BATCH:
            job = self._queue.popleft()
            n = len(job.records) if isinstance(job, PredictJob) else 1
            rows += n
            jobs.append(job)
        self._queued_rows -= rows
        return jobs

    # -- the WAL bound ---------------------------------------------------------------------
    def _after_commit(self) -> None:
        """After a commit: note the WAL size, and checkpoint when it passed the bound."""
        self._dirty = True
        size = db.wal_size(self.db_path)
        if size > self.stats.wal_high_water:
            self.stats.wal_high_water = size
        if size > max(self.wal_max_bytes, self._retry_above):
            if self._checkpoint("bound") != "ok":
                self._retry_above = size + self.wal_max_bytes // 4

    def _checkpoint(self, reason: str) -> str:
        """TRUNCATE checkpoint on the writer's connection (outside any transaction); a
        failure is counted and logged, never raised: the writer keeps serving."""
        assert self._conn is not None
        try:
            cp = db.checkpoint(self._conn, "TRUNCATE", wait_ms=CHECKPOINT_WAIT_MS)
        except db.ERRORS as exc:
            result = "error"
            log.warning("%s checkpoint failed: %s", reason, exc)
        else:
            result = "busy" if cp.busy else "ok"
            self.stats.last_checkpoint_ms = cp.seconds * 1000.0
            if cp.busy:
                log.warning(
                    "%s checkpoint busy: a reader held the log for %.0f ms (%d frames)",
                    reason,
                    cp.seconds * 1000.0,
                    cp.log_frames,
                )
        self.stats.checkpoints[(reason, result)] += 1
        if result == "ok":
            self._dirty = False
            self._retry_above = 0
        return result

    def _score(self, jobs: list[PredictJob]) -> list[tuple[Any, ...]]:
        """Score jobs grouped by model (one predict_proba per model) and build rows."""
        rows: list[tuple[Any, ...]] = []
        by_model: dict[int, list[PredictJob]] = {}
        for job in jobs:
            by_model.setdefault(id(job.model), []).append(job)
        shadow = self._shadow() if self._shadow else None
        for group in by_model.values():
            model = group[0].model
            if model is None:
                for job in group:
                    job.error = NoModelError(
                        f"no production model is loaded; run `{cli('init')}` or promote a version"
                    )
                continue
            rows.extend(self._score_group(model, group, shadow))
        return rows

    def _score_group(
        self, model: LoadedModel, group: list[PredictJob], shadow: LoadedModel | None
    ) -> list[tuple[Any, ...]]:
        """One predict_proba for every record of `group` (and of the shadow model, when it
        takes the same features); each job gets its answers, and the rows to insert are
        returned. A model that fails to score fails its jobs, never the writer."""
        records = [r for job in group for r in job.records]
        try:
            X = model.schema.to_matrix([r.values for r in records])
            # Records were validated against the schema: skip sklearn's re-checks.
            with config_context(assume_finite=True, skip_parameter_validation=True):
                proba = model.predict_proba(X)
        except Exception as exc:  # a broken model must not kill the writer
            log.exception("scoring failed with %s", model.version)
            for job in group:
                job.error = UnavailableError(
                    f"model {model.version} failed to score: {type(exc).__name__}",
                    code="scoring_failed",
                )
            return []
        shadow_proba = None
        if (
            shadow is not None
            and shadow.version != model.version
            and shadow.schema.names == model.schema.names
        ):
            try:
                shadow_proba = shadow.predict_proba(X)
            except Exception:  # shadow trouble never reaches the caller
                log.exception("shadow scoring failed with %s", shadow.version)
        now = db.iso(self._clock() if self._clock is not None else None)
        scored = time.monotonic()
        rows: list[tuple[Any, ...]] = []
        version, threshold = model.version, model.threshold
        probabilities = proba.tolist()  # Python floats, as float(proba[i]) gives
        shadow_probabilities = shadow_proba.tolist() if shadow_proba is not None else None
        i = 0
        for job in group:
            results = []
            latency = round((scored - job.started) * 1000.0, 3)
            role = job.role
            for rec in job.records:
                p = probabilities[i]
                pid = store.new_id()
                pred = int(p >= threshold)
                features = store.dumps(rec.record)
                oor = json.dumps(list(rec.out_of_range)) if rec.out_of_range else None
                rows.append(
                    (pid, now, version, role, None, features, p, pred, threshold, latency, oor)
                )
                if shadow_probabilities is not None and shadow is not None:
                    sp = shadow_probabilities[i]
                    rows.append(
                        (store.new_id(), now, shadow.version, "shadow", pid, features, sp)
                        + (int(sp >= shadow.threshold), shadow.threshold, None, oor)
                    )
                results.append(
                    {
                        "prediction_id": pid,
                        "probability": p,
                        "prediction": pred,
                        "model_version": version,
                        "out_of_range": list(rec.out_of_range),
                    }
                )
                i += 1
            job.result = results
        return rows

    def _process(self, jobs: list[_Job]) -> None:
        # A connection left broken by an outage (its reconnection failed then) is replaced
        # before this batch, so that the first batch after the server is back commits.
        self._reconnect_if_broken()
        assert self._conn is not None
        conn = self._conn
        committed: tuple[int, float] | None = None
        predict_jobs = [j for j in jobs if isinstance(j, PredictJob)]
        write_jobs = [j for j in jobs if isinstance(j, WriteJob)]
        try:
            rows = self._score(predict_jobs) if predict_jobs else []
            t0 = time.monotonic()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    store.insert_predictions(conn, rows)
                for k, wj in enumerate(write_jobs):
                    conn.execute(f"SAVEPOINT job{k}")
                    try:
                        assert wj.fn is not None
                        wj.result = wj.fn(conn)
                        conn.execute(f"RELEASE job{k}")
                    except Exception as exc:
                        conn.execute(f"ROLLBACK TO job{k}")
                        conn.execute(f"RELEASE job{k}")
                        wj.error = (
                            exc
                            if isinstance(exc, SelfhealError)
                            else UnavailableError(
                                f"database write failed: {exc}", code="database_unavailable"
                            )
                        )
                        if not isinstance(exc, SelfhealError):
                            log.exception("write job failed")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            commit_ms = (time.monotonic() - t0) * 1000.0
            n_pred = sum(len(j.records) for j in predict_jobs if j.error is None)
            self.stats.batches += 1
            self.stats.commits += 1
            self.stats.rows += n_pred
            self.stats.last_batch_rows = n_pred
            self.stats.last_commit_ms = commit_ms
            self.stats.last_error = None
            committed = (n_pred, commit_ms)
        except Exception as exc:
            log.error("group commit of %d job(s) failed: %s", len(jobs), exc)
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            err = UnavailableError(
                f"the database is unavailable ({exc}); nothing was logged, retry",
                code="database_unavailable",
            )
            for j in jobs:
                j.error = err
                j.result = None
            self._reconnect_if_broken()
        finally:
            for j in jobs:
                j.done.set()
        # Observers run after the waiters are released, outside the commit's error
        # handling: a failing metrics hook must never turn a committed batch into a 503.
        if committed is not None and self._on_batch is not None:
            try:
                self._on_batch(*committed)
            except Exception:
                log.exception("batch observer failed")
        if committed is not None:
            self._after_commit()
