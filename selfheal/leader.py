"""The leader lease: exactly one process of a deployment runs the monitor and the healer.

Every `run.py` process (and every gunicorn worker) serves predictions; only the holder of the
lease runs monitor cycles, retrains, probations and the pruning. A follower tries to take
the lease before each of its monitor ticks, so when the leader dies another process takes
over within one monitor interval.

* SQLite (one host): an flock(2) on `SELFHEAL_HOME/leader.lock`. The kernel releases it when
  the holder's process ends, however it ends.
* PostgreSQL (one host or many): `pg_try_advisory_lock` on a connection kept for the lease.
  The server releases it when that session ends: a process that dies, or whose host or
  network goes away, loses it once PostgreSQL notices the connection is gone (TCP
  keepalives bound that; `keepalives_idle` is set on the lease's connection).

Both write who holds the lease (host, pid, since) where every process can read it, for
`/health`: the lock file's text, or the lease connection's `application_name`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from selfheal.config import Settings
from selfheal.db import iso

log = logging.getLogger("selfheal.leader")

PG_LEASE_KEY = 7_349_120_004  # pg_try_advisory_lock key of the monitor lease
_APP_PREFIX = "selfheal-leader "


def identity() -> dict[str, Any]:
    """This process as `/health` names it."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


class FileLease:
    """The lease on one host: an flock on a file next to the SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fh is not None

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True while this process holds it."""
        with self._lock:
            if self._fh is not None:
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = self.path.open("a+")
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                return False
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({**identity(), "since": iso()}) + "\n")
            fh.flush()
            self._fh = fh
            return True

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lease now (None: nobody)."""
        if self.held:
            return self._read()
        try:
            with self.path.open("a+") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    return self._read()  # locked: the text names the holder
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                return None
        except OSError:
            return None

    def _read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def release(self) -> None:
        with self._lock:
            if self._fh is not None:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
                self._fh.close()
                self._fh = None


class PgLease:
    """The lease across hosts: a session-level advisory lock on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None
        self._held = False
        self._lock = threading.Lock()
        self._me = identity()
        self._since = ""

    @property
    def held(self) -> bool:
        return self._held

    def _connect(self) -> Any:
        from selfheal import pg

        # Keepalives: a leader whose host vanished loses the lease in about 25 s, once
        # PostgreSQL has seen its connection die, not after the kernel's two hours.
        app = f"{_APP_PREFIX}{self._me['pid']}@{self._me['host']}"[:63]
        return pg.connect(
            self.url,
            retry=False,  # the lock is this session's: a new session would not hold it
            application_name=app,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )

    def try_acquire(self) -> bool:
        with self._lock:
            if self._held and self._conn is not None and self._conn.usable:
                try:  # a cheap round trip: a server that went away ends the lease
                    self._conn.execute("SELECT 1").fetchone()
                    return True
                except Exception:
                    log.warning("lost the leader lease: its connection broke")
                    self._drop()
            self._drop()
            since = iso()
            conn = None
            try:
                conn = self._connect()
                got = conn.execute("SELECT pg_try_advisory_lock(?)", (PG_LEASE_KEY,)).fetchone()
            except Exception as exc:
                log.warning("cannot try the leader lease: %s", exc)
                if conn is not None:
                    conn.close()
                return False
            if not got[0]:
                conn.close()
                return False
            try:  # what followers read: the session's start, not this process's clock
                started = conn.execute(
                    "SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
                ).fetchone()[0]
                since = iso(started)
            except Exception:
                pass
            self._conn, self._held, self._since = conn, True, since
            return True

    def holder(self) -> dict[str, Any] | None:
        if self._held:
            return {**self._me, "since": self._since}
        from selfheal import pg

        try:
            conn = pg.connect(self.url)
        except Exception:
            return None
        try:
            row = conn.execute(
                "SELECT a.application_name, a.backend_start FROM pg_locks l"
                " JOIN pg_stat_activity a"
                " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                " AND l.classid = ? AND l.objid = ? AND l.objsubid = 1",
                (PG_LEASE_KEY >> 32, PG_LEASE_KEY & 0xFFFFFFFF),
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        pid, _, host = str(row[0])[len(_APP_PREFIX) :].partition("@")
        return {
            "host": host,
            "pid": int(pid) if pid.isdigit() else pid,
            "since": iso(row[1]) if row[1] is not None else None,
        }

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn, self._held = None, False

    def release(self) -> None:
        with self._lock:
            self._drop()


def lease_for(settings: Settings) -> FileLease | PgLease:
    """The lease of the deployment `settings` describe."""
    if settings.postgres:
        return PgLease(settings.database_url)
    return FileLease(settings.home_path / "leader.lock")
