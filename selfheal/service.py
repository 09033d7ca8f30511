"""The running service: model holder with hot swap, writer, read connections, lifecycle.

`Service` owns every thread of the process except waitress' own: the pipeline/writer thread,
the model watcher (picks up promotions made by other processes within
`SELFHEAL_MODEL_POLL_SECONDS`) and, once started, the monitor. The serving model is an
immutable `LoadedModel`; a swap replaces the reference, so in-flight requests finish on the
model they were validated against.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from selfheal import db, prometheus, store
from selfheal.bootstrap import ensure_production
from selfheal.config import Settings
from selfheal.errors import SelfhealError
from selfheal.leader import lease_for
from selfheal.loop import build_loop, open_registry
from selfheal.registry import LoadedModel, Registry
from selfheal.writer import Writer

log = logging.getLogger("selfheal.service")


class ModelHolder:
    """The current production model (and an optional shadow), swapped atomically."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.current: LoadedModel | None = None
        self.shadow: LoadedModel | None = None
        self.error: str | None = None
        self.loaded_at: float | None = None
        self._stamp: tuple[object, ...] | None = None
        self._lock = threading.Lock()

    def _pointer_stamp(self) -> tuple[object, ...]:
        """What changes when a pointer changes (files, or PostgreSQL rows)."""
        return self.registry.coordination.stamp()

    def refresh(self, *, force: bool = False) -> bool:
        """Load the pointer's version if it changed. Returns True when the model swapped.
        A version that fails verification is refused and the old model keeps serving."""
        with self._lock:
            stamp = self._pointer_stamp()
            if stamp == self._stamp and not force:
                return False
            try:
                self._refresh_shadow()
                version = self.registry.production()
                if version is None:
                    self.current, self.error = None, "no production model"
                    self._stamp = stamp
                    return False
                if self.current is not None and self.current.version == version:
                    self._stamp, self.error = stamp, None
                    return False
                model = self.registry.serving(version)
            except Exception as exc:  # unpickling can fail in many ways: keep serving
                message = (
                    exc.message
                    if isinstance(exc, SelfhealError)
                    else (f"cannot load the production model: {type(exc).__name__}: {exc}")
                )
                self.error = message
                self._stamp = stamp
                log.error("cannot load the production model: %s", message)
                return False
            previous = self.current.version if self.current else None
            self.current, self.error, self._stamp = model, None, stamp
            self.loaded_at = time.time()
        if previous is None:
            log.info("model loaded: %s", version)
        else:
            log.info("promotion seen: %s -> %s", previous, version)
        return True

    def _refresh_shadow(self) -> None:
        version = self.registry.shadow()
        if version is None:
            self.shadow = None
        elif self.shadow is None or self.shadow.version != version:
            try:
                self.shadow = self.registry.serving(version)
                log.info("shadow scoring: %s", version)
            except SelfhealError as exc:
                self.shadow = None
                log.error("cannot load shadow model %s: %s", version, exc.message)


class Service:
    """Owns a server process's parts and threads: the model holder and its watcher thread
    (hot swap within SELFHEAL_MODEL_POLL_SECONDS of a promotion by another process), the
    writer thread (the process's only SQLite writer), the healing loop (`selfheal.loop`:
    registry, healer, monitor thread), per-thread read connections and the metrics.

    Constructing it migrates the database and bootstraps a first model if none serves;
    `start` loads the model and starts the threads; `stop` stops
    the monitor (waiting for a retrain in flight), drains the writer's queue and joins the
    watcher. The web app (`selfheal.web.create_app`) reaches it through
    `current_app.extensions["selfheal"]`.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        """`clock` (default: the wall clock) stamps logged predictions and registry
        events; `selfheal replay` injects one so that a stream's time is its own."""
        self.settings = settings
        self.clock = clock
        self.started_at = time.time()
        self._local = threading.local()
        self._stop = threading.Event()
        created = ensure_production(settings, actor="init")  # migrates
        if created:
            log.info("bootstrapped %s on synthetic credit data", created)
        self.registry = open_registry(settings, self.record_event)
        self.models = ModelHolder(self.registry)
        self.metrics = prometheus.build_registry(
            queue_depth=lambda: self.writer.depth,
            production=self.registry.pointer,
            audit=lambda: store.audit_counts(self.read_conn()),
        )
        # PostgreSQL: this process's read connections come from psycopg_pool's pool, one
        # per request thread at most (plus the monitor's and a retrain's).
        self._read_pool = None
        if settings.postgres:
            from selfheal.pg import ReadPool

            self._read_pool = ReadPool(
                settings.database_url, max_size=settings.threads + 4, sync=settings.sync
            )
        self.writer = Writer(
            settings.database,
            max_queue=settings.max_queue,
            max_wait_ms=settings.batch_max_wait_ms,
            shadow=lambda: self.models.shadow,
            on_batch=lambda rows, ms: self.metrics.observe_batch(rows, ms / 1000.0),
            clock=clock,
            sync=settings.sync,
            wal_max_bytes=settings.wal_max_bytes,
        )
        prometheus.add_storage_metrics(
            self.metrics,
            wal_bytes=lambda: db.wal_size(settings.database),
            wal_high_water=lambda: self.writer.stats.wal_high_water,
            checkpoints=lambda: self.writer.stats.checkpoints,
        )
        self._watcher = threading.Thread(
            target=self._watch, name="selfheal-model-watcher", daemon=True
        )
        loop = build_loop(
            settings,
            self.registry,
            read_conn=self.read_conn,
            write=self.writer.write,
            background_retrain=True,
            on_swap=self._swap,
            on_cycle=self.metrics.observe_cycle,
        )
        self.healer, self.monitor = loop.healer, loop.monitor
        # One process of a deployment runs the monitor and the healer: the lease holder.
        self.monitor.lease = lease_for(settings)
        self.monitor.on_lead = self._on_lead

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, *, monitor: bool | None = None) -> Service:
        """Start the writer and watcher, and the monitor thread when enabled."""
        self.models.refresh(force=True)
        self.writer.start()
        self._watcher.start()
        if self.settings.monitor_enabled if monitor is None else monitor:
            self.monitor.start()  # takes the lease if free: then `_on_lead` runs
        else:
            self.monitor.lease = None  # no monitor thread: cycles run only when asked
            self._on_lead()
        return self

    def _on_lead(self) -> None:
        """This process became the leader: runs still 'running' were cut short by the
        previous leader's end (a crash or a stop), so they are recorded as failed."""
        stale = self.healer.reap_interrupted()
        if stale:
            log.warning("marked %d interrupted retrain run(s) as failed", stale)

    def stop(self) -> None:
        self._stop.set()
        self.monitor.stop()  # also waits for a retrain in flight, which needs the writer
        self.writer.stop()
        if self._watcher.is_alive():
            self._watcher.join(5)
        if self._read_pool is not None:
            self._read_pool.close()
        self.registry.coordination.close()

    def _swap(self) -> None:
        self.models.refresh(force=True)

    def _watch(self) -> None:
        failing = False
        while not self._stop.wait(self.settings.model_poll_seconds):
            try:
                self.models.refresh()
            except db.ERRORS as exc:  # the database is down: say so once, not every poll
                if not failing:
                    log.warning("model watcher cannot read the production pointer: %s", exc)
                failing = True
                continue
            except Exception:  # the watcher must survive anything
                log.exception("model watcher iteration failed")
            if failing:
                log.info("model watcher reads the production pointer again")
            failing = False

    # -- database access -------------------------------------------------------------------
    def read_conn(self) -> db.Connection:
        """A per-thread read connection (WAL lets reads run beside the writer).

        It is in autocommit mode and every read helper fetches its rows at once, so its WAL
        snapshot lasts only while a statement runs and the writer's checkpoint can reset
        the log between queries. A transaction left open (an explicit BEGIN on a read
        path) would hold its snapshot until the thread's next request: it is ended here."""
        if self._read_pool is not None:  # PostgreSQL: this thread's pooled connection
            return self._read_pool.get()
        conn: db.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            s = self.settings
            conn = db.connect(s.db_path, sync=s.sync, wal_limit=s.wal_max_bytes)
            self._local.conn = conn
        elif conn.in_transaction:
            log.warning("a read connection was left in a transaction; rolled back")
            conn.rollback()
        return conn

    def record_event(self, event: dict[str, Any]) -> None:
        """Registry events go through the writer, the only writer of this process.

        The registry calls this after its change is on disk: a database that cannot take
        the audit row must not make a promotion that happened look failed (the API would
        answer 503 and the healer would abandon probation). The event is logged instead."""
        if self.clock is not None:  # the cooldown reads rollback times: one clock for all
            event = {**event, "created_at": db.iso(self.clock())}
        try:
            self.writer.write(lambda conn: store.insert_event(conn, event))
        except SelfhealError as exc:
            log.error(
                "audit event not recorded (%s): %s",
                exc.message,
                {
                    k: event.get(k)
                    for k in ("event", "version", "previous_version", "actor", "reason")
                },
            )
