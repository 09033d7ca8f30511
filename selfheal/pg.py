"""PostgreSQL connections that speak the store's dialect (`SELFHEAL_DATABASE_URL`).

selfheal's SQL (selfheal/store.py) is written once, in the subset both SQLite and PostgreSQL
understand, with `?` placeholders. `PgConnection` wraps a psycopg 3 connection so that the
store, the writer and the loop use it as they use a `db.Connection`:

* `execute` / `executemany` translate `?` to psycopg's `%s` (and a literal `%` to `%%`), and
  `BEGIN IMMEDIATE` to `BEGIN`; the translation is cached per statement text;
* rows index by position and by column name, and `dict(row)` works (`Row`), as with
  `db.Row`;
* a Python bool is sent as the integer 0/1 the INTEGER flag columns hold, and a float NaN
  as NULL (what SQLite stores for it);
* the connection is in autocommit mode and transactions are opened explicitly, as the
  SQLite connections are (`db.transaction`, the writer's group commit).

Requires the `postgres` extra (`pip install -e '.[postgres]'`: psycopg 3 and psycopg_pool).
Errors raised by psycopg are `psycopg.Error`; `db.ERRORS` names both drivers' base errors.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

try:
    import psycopg
    from psycopg import pq
    from psycopg.adapt import Dumper
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - the extra is installed in dev and CI
    raise ImportError(
        "SELFHEAL_DATABASE_URL points at PostgreSQL, which needs the postgres extra: "
        "pip install -e '.[postgres]' (psycopg 3 and psycopg_pool)"
    ) from exc

from selfheal import db
from selfheal.db import redact
from selfheal.errors import UnavailableError

if psycopg.Error not in db.ERRORS:  # `except db.ERRORS` now catches psycopg's errors too
    db.ERRORS = (*db.ERRORS, psycopg.Error)

CONNECT_TIMEOUT_S = 5
GET_TIMEOUT_S = 5.0  # a request waits this long for a read connection, then 503


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The store's SQLite-flavoured statement in psycopg's paramstyle."""
    stripped = sql.lstrip()
    if stripped.upper().startswith("BEGIN IMMEDIATE"):
        return "BEGIN"
    return sql.replace("%", "%%").replace("?", "%s")


class Row:
    """One result row: `row[0]`, `row["name"]`, `dict(row)`, `row.keys()` and iteration over
    the values, as `db.Row` offers."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._index == other._index and tuple(self._values) == tuple(other._values)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values, strict=False))!r})"


def _row_factory(cursor: Any) -> Any:
    names = [d.name for d in (cursor.description or ())]
    index = {name: i for i, name in reversed(list(enumerate(names)))}  # first name wins

    def make(values: Sequence[Any]) -> Row:
        return Row(index, values)

    return make


def _nan_to_null(params: Sequence[Any]) -> Sequence[Any]:
    """SQLite stores a float NaN as NULL; PostgreSQL would keep 'NaN', and a NaN read back
    would then reach a JSON answer. Bind NULL on both, so reads agree."""
    for v in params:
        if type(v) is float and v != v:
            return [None if (type(x) is float and x != x) else x for x in params]
    return params


class _BoolAsInt(Dumper):
    """Python bools into the INTEGER 0/1 columns, as sqlite3 stores them."""

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


_RETRYABLE = ("SELECT", "WITH", "BEGIN")


class PgConnection:
    """A psycopg connection with the `db.Connection` surface the store uses.

    A connection the server closed (a restart, a failover) is replaced on its next use: a
    read (`SELECT`/`WITH`) or a `BEGIN` sent outside a transaction that fails because the
    connection broke is sent again once on a new connection. Nothing else is repeated: a
    write outside a transaction may have committed before the link broke, and a
    transaction's statements belong to the transaction that was lost."""

    dialect = "postgres"

    def __init__(
        self,
        raw: psycopg.Connection[Any],
        pool: ConnectionPool | None = None,
        reopen: Any = None,
    ) -> None:
        self.raw = raw
        self.pool = pool
        self._reopen = reopen  # () -> a new raw connection (not pooled connections)

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        query, params = translate(sql), _nan_to_null(parameters)
        idle = self.raw.info.transaction_status == pq.TransactionStatus.IDLE
        try:
            return self.raw.execute(query, params)
        except psycopg.OperationalError:
            if not (idle and self.raw.broken and sql.lstrip().upper().startswith(_RETRYABLE)):
                raise
            if not self._replace():
                raise
            return self.raw.execute(query, params)

    def _replace(self) -> bool:
        """Swap in a new connection for a broken one; False when none can be had."""
        try:
            if self.pool is not None:
                old, self.raw = self.raw, self.pool.getconn(timeout=CONNECT_TIMEOUT_S)
                self.pool.putconn(old)  # the pool discards a broken connection
            elif self._reopen is not None:
                old, self.raw = self.raw, self._reopen()
                old.close()
            else:
                return False
        except Exception:  # down still: the caller sees the original error
            return False
        return True

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Any:
        cur = self.raw.cursor()
        cur.executemany(translate(sql), [_nan_to_null(p) for p in seq])
        return cur

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    @property
    def usable(self) -> bool:
        """False once the server closed the connection or it broke: get a new one."""
        return not self.raw.closed and not self.raw.broken

    def rollback(self) -> None:
        self.raw.rollback()

    def commit(self) -> None:
        self.raw.commit()

    def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            if self.in_transaction and self.usable:
                self.raw.rollback()
            pool.putconn(self.raw)
        else:
            self.raw.close()


def configure(raw: psycopg.Connection[Any]) -> None:
    """Settings every selfheal connection gets (also the pool's `configure` callback)."""
    raw.autocommit = True
    raw.row_factory = _row_factory
    oid = raw.adapters.types["int4"].oid
    dumper = type("BoolAsInt", (_BoolAsInt,), {"oid": oid})
    raw.adapters.register_dumper(bool, dumper)


def _unavailable(url: str, exc: BaseException) -> UnavailableError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.replace(url, redact(url))
    return UnavailableError(
        f"cannot connect to PostgreSQL at {redact(url)} ({text}); check "
        "SELFHEAL_DATABASE_URL (user, host, port, database name) and that the server runs",
        code="database_unavailable",
    )


def connect(url: str, *, sync: str = "full", retry: bool = True, **options: Any) -> PgConnection:
    """A connection of its own (the writer's, the CLI's, the leader lease's).

    `sync` is `SELFHEAL_SYNC`: `full` keeps PostgreSQL's `synchronous_commit = on` (a commit
    returns after its WAL is flushed); `normal` sets it to `off` for this connection, the
    same trade as SQLite's NORMAL (a crash of the server may lose the last commits, never
    corrupt). `retry` lets the connection replace itself once it broke (see `PgConnection`);
    a connection that holds session state (the leader lease's advisory lock) must not.
    `options` are libpq connection parameters (application_name, keepalives)."""

    def open_raw() -> psycopg.Connection[Any]:
        raw = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True, **options)
        configure(raw)
        if sync == "normal":
            raw.execute("SET synchronous_commit = off")
        return raw

    try:
        return PgConnection(open_raw(), reopen=open_raw if retry else None)
    except psycopg.Error as exc:
        raise _unavailable(url, exc) from None


class ReadPool:
    """psycopg_pool's pool behind the per-thread read connections of a server process.

    Each request thread keeps the connection it borrowed (`get`), as the SQLite reads do,
    and gives it back when it broke (a restarted server), so that the next `get` borrows a
    healthy one. `max_size` bounds this process's read connections."""

    def __init__(self, url: str, *, max_size: int, sync: str = "full") -> None:
        self.url = url
        self._local = threading.local()
        # thread -> the connection it keeps: given back when the thread has ended (a retrain
        # thread), and closed with the pool, whichever thread holds it.
        self._lent: dict[threading.Thread, PgConnection] = {}
        self._lent_lock = threading.Lock()

        def setup(raw: psycopg.Connection[Any]) -> None:
            configure(raw)
            if sync == "normal":
                raw.execute("SET synchronous_commit = off")

        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, max_size),
            kwargs={"connect_timeout": CONNECT_TIMEOUT_S, "autocommit": True},
            configure=setup,
            open=False,
            name="selfheal-read",
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
        except psycopg.Error as exc:
            self.pool.close()
            raise _unavailable(url, exc) from None
        except Exception as exc:  # PoolTimeout: the server did not answer in time
            self.pool.close()
            raise _unavailable(url, exc) from None

    def get(self) -> PgConnection:
        conn: PgConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.usable:
            if conn.in_transaction:
                conn.rollback()
            return conn
        if conn is not None:
            conn.close()
        self._reclaim()
        try:
            raw = self.pool.getconn(timeout=GET_TIMEOUT_S)
        except Exception as exc:
            raise UnavailableError(
                f"no PostgreSQL read connection within {GET_TIMEOUT_S:.0f} s "
                f"({type(exc).__name__}); the server at {redact(self.url)} is down or "
                "max_connections is reached: retry",
                code="database_unavailable",
            ) from None
        conn = PgConnection(raw, self.pool)
        self._local.conn = conn
        with self._lent_lock:
            self._lent[threading.current_thread()] = conn
        return conn

    def _reclaim(self) -> None:
        """Give back the connections of threads that have ended (each background retrain
        runs in a new thread: without this, every retrain kept one until the pool ran dry)."""
        with self._lent_lock:
            dead = [t for t in self._lent if not t.is_alive()]
            conns = [self._lent.pop(t) for t in dead]
        for conn in conns:
            try:
                conn.close()
            except Exception:  # broken: the pool drops it
                pass

    @property
    def lent(self) -> int:
        """Connections request and worker threads keep now."""
        with self._lent_lock:
            return len(self._lent)

    def close(self) -> None:
        """Close every connection, also those request threads still keep (at shutdown)."""
        with self._lent_lock:
            lent, self._lent = list(self._lent.values()), {}
        for conn in lent:
            conn.pool = None
            try:
                conn.raw.close()
            except Exception:  # broken already
                pass
        self.pool.close()
