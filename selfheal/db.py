"""Database connections and migrations: embedded SQLite, or PostgreSQL.

`SELFHEAL_DATABASE_URL` chooses: empty means the SQLite file under `SELFHEAL_HOME` (the
default, nothing to install); `postgresql://...` means PostgreSQL through psycopg 3
(selfheal/pg.py, the `postgres` extra). Functions here take a *target*, the SQLite path or
the PostgreSQL URL (`Settings.database`), and give connections with the same surface, so
that the store's SQL runs unchanged on both. Migrations are numbered per backend:
`migrations/sqlite/` (tracked by `PRAGMA user_version`) and `migrations/postgres/` (tracked
in the `schema_migrations` table, applied under an advisory lock).

The rest of this note is about SQLite.

Connections use WAL (readers never block the single writer), foreign keys, a busy timeout and
`sqlite3.Row` rows. Migrations are numbered `NNNN_name.sql` files applied in order, each in
one explicit transaction together with its `PRAGMA user_version` bump, so a failing migration
leaves the database exactly as it was.

Durability (`SELFHEAL_SYNC`, docs/architecture.md): every connection sets `synchronous`
itself. `full` (the default) fsyncs the WAL at every commit, so a committed row survives a
power loss; `normal` fsyncs only at checkpoints, so the last commits survive a process crash
but may roll back after an OS crash or a power loss. Connections are in autocommit mode and
read helpers fetch their rows at once: a read holds its WAL snapshot only while its statement
runs, which lets a checkpoint reset the log (`checkpoint`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from selfheal.errors import UnavailableError

MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "migrations"
MIGRATIONS_DIR = MIGRATIONS_ROOT / "sqlite"
PG_MIGRATIONS_DIR = MIGRATIONS_ROOT / "postgres"
PG_SCHEMES = ("postgresql://", "postgres://")
PG_MIGRATION_LOCK = 7_349_120_001  # pg_advisory_xact_lock key: one migrating process at a time

# What a failed statement raises, on either backend: `except db.ERRORS`. selfheal/pg.py
# adds psycopg.Error when PostgreSQL is in use (psycopg is an optional extra).
ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)

# sqlite3.Connection or pg.PgConnection: execute / executemany / in_transaction / rollback /
# close, with rows that index by position and by column name (sqlite3.Row or pg.Row).
Connection = Any
Row = Any
Target = Path | str  # the SQLite file, or a postgresql:// URL


def is_postgres(target: Target) -> bool:
    return isinstance(target, str) and target.startswith(PG_SCHEMES)


def redact(url: str) -> str:
    """A database URL without its password and query string (which may hold one), for
    messages and logs: postgresql://user@host:port/dbname."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
    except ValueError:
        return "postgresql://<unparseable>"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def dialect(conn: Connection) -> str:
    """'sqlite' or 'postgres'."""
    return getattr(conn, "dialect", "sqlite")


_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 10_000
SYNC_MODES = {"full": 2, "normal": 1}  # SELFHEAL_SYNC -> what `PRAGMA synchronous` reports
DEFAULT_WAL_LIMIT = 16 * 1024 * 1024  # SELFHEAL_WAL_MAX_MIB's default, in bytes


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime | None = None) -> str:
    """ISO-8601 UTC text with microseconds, sortable as a string."""
    ts = ts or utcnow()
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """The inverse of `iso`: an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def connect(
    path: Target,
    *,
    readonly: bool = False,
    sync: str = "full",
    wal_limit: int = DEFAULT_WAL_LIMIT,
) -> Connection:
    """Open a connection in autocommit mode; callers open transactions explicitly.

    A `postgresql://` target gives a `pg.PgConnection` (`readonly` and `wal_limit` are
    SQLite's; PostgreSQL manages its own WAL).

    `sync` is `SELFHEAL_SYNC` (full | normal), set on every connection, read-only ones
    included, so that no connection of the project runs with another mode. `wal_limit`
    (bytes, `SELFHEAL_WAL_MAX_MIB`) is SQLite's `journal_size_limit`: the size the -wal file
    is truncated back to after a checkpoint resets the log.
    """
    if sync not in SYNC_MODES:
        raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
    if is_postgres(path):
        from selfheal import pg

        return pg.connect(str(path), sync=sync)
    path = Path(path)
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA journal_size_limit = {int(wal_limit)}")
        conn.execute(f"PRAGMA synchronous = {sync.upper()}")
    except sqlite3.Error as exc:
        raise UnavailableError(
            f"cannot open database {path}: {exc}; check that SELFHEAL_HOME is writable",
            code="database_unavailable",
        ) from None
    return conn


def wal_path(db_path: Path | str) -> Path:
    return Path(f"{db_path}-wal")


def wal_size(db_path: Target) -> int:
    """Bytes of the -wal file (0 when there is none, and on PostgreSQL): one stat, cheap
    enough per commit."""
    if is_postgres(db_path):
        return 0
    try:
        return os.stat(wal_path(db_path)).st_size
    except FileNotFoundError:
        return 0


@dataclass(frozen=True)
class Checkpoint:
    """What `PRAGMA wal_checkpoint` answered: `busy` is true when a reader or another
    writer kept it from finishing (the log was then not reset), `log_frames` the frames in
    the log, `checkpointed` how many of them are in the database file (both 0 after a
    TRUNCATE that emptied the log)."""

    mode: str
    busy: bool
    log_frames: int
    checkpointed: int
    seconds: float


def checkpoint(conn: Connection, mode: str = "TRUNCATE", *, wait_ms: int) -> Checkpoint:
    """Run `PRAGMA wal_checkpoint(mode)`, waiting at most about `wait_ms` for readers.

    RESTART and TRUNCATE copy every frame into the database file and then wait (the busy
    handler) until no reader uses the log, so that the next commit writes from its start;
    TRUNCATE also cuts the file to zero bytes. Readers that start meanwhile read the
    database file, so the wait ends once the statements running now have finished. The busy
    timeout is lowered for the call, so that a slow reader costs the caller `wait_ms` at
    most, never the full `BUSY_TIMEOUT_MS`. Must not run inside a transaction.
    """
    mode = mode.upper()
    if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"checkpoint mode must be PASSIVE, FULL, RESTART or TRUNCATE: {mode!r}")
    if dialect(conn) == "postgres":  # the server checkpoints its own WAL
        return Checkpoint(mode=mode, busy=False, log_frames=0, checkpointed=0, seconds=0.0)
    t0 = time.monotonic()
    conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    try:
        busy, log_frames, done = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return Checkpoint(
        mode=mode,
        busy=bool(busy),
        log_frames=int(log_frames),
        checkpointed=int(done),
        seconds=time.monotonic() - t0,
    )


@contextmanager
def transaction(conn: Connection, *, immediate: bool = True) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # PostgreSQL may have ended it already (a broken link)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        raise UnavailableError(
            f"migrations folder {directory} is missing; run selfheal from its checkout",
            code="migrations_missing",
        )
    found: list[tuple[int, Path]] = []
    for p in sorted(directory.glob("*.sql")):
        m = _NAME.match(p.name)
        if not m:
            raise UnavailableError(
                f"migration file name {p.name!r} must look like 0002_add_table.sql",
                code="migrations_invalid",
            )
        found.append((int(m.group(1)), p))
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise UnavailableError(
            f"migrations in {directory} must be numbered 0001, 0002, ... without gaps; "
            f"found {numbers}",
            code="migrations_invalid",
        )
    return found


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (triggers with inner `;` stay whole)."""
    statements: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at end of migration: {buf.strip()[:80]!r}")
    return statements


def schema_version(conn: Connection) -> int:
    if dialect(conn) == "postgres":
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
            return 0
        return int(
            conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
        )
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: Connection, directory: Path | None = None) -> list[int]:
    """Apply the pending migrations in order; return the numbers applied.

    Each file runs inside BEGIN IMMEDIATE ... COMMIT with its user_version bump, so a
    failure rolls the file back completely and the version stays where it was. Running it
    again is a no-op; a database newer than the code is refused.
    """
    if dialect(conn) == "postgres":
        return _migrate_postgres(conn, directory or PG_MIGRATIONS_DIR)
    files = migration_files(directory or MIGRATIONS_DIR)
    applied: list[int] = []
    current = schema_version(conn)
    if current > len(files):
        raise UnavailableError(
            f"database schema version {current} is newer than this code knows "
            f"({len(files)}); upgrade selfheal",
            code="database_too_new",
        )
    for number, path in files:
        if number <= current:
            continue
        statements = split_statements(path.read_text(encoding="utf-8"))
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check inside the lock: another process may have migrated meanwhile.
            if schema_version(conn) >= number:
                conn.execute("ROLLBACK")
                continue
            for stmt in statements:
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise UnavailableError(
                    f"migration {path.name} failed: {exc}; the database was left at "
                    f"version {number - 1}",
                    code="migration_failed",
                ) from None
            raise
        conn.execute("COMMIT")
        applied.append(number)
    return applied


def _migrate_postgres(conn: Connection, directory: Path) -> list[int]:
    """PostgreSQL: each pending file and its `schema_migrations` row in one transaction
    (PostgreSQL's DDL is transactional), under a transaction-level advisory lock so that
    processes starting together migrate one after the other."""
    files = migration_files(directory)
    raw = conn.raw  # a whole file at once: psycopg's simple protocol takes a script
    current = schema_version(conn)
    if current >= len(files):  # nothing to do: a role without CREATE rights may serve
        if current > len(files):
            raise UnavailableError(
                f"database schema version {current} is newer than this code knows "
                f"({len(files)}); upgrade selfheal",
                code="database_too_new",
            )
        return []
    try:
        raw.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
    except ERRORS as exc:
        raise _cannot_migrate(current, len(files), exc) from None
    applied: list[int] = []
    for number, path in files:
        if number <= current:
            continue
        script = path.read_text(encoding="utf-8")
        raw.execute("BEGIN")
        try:
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
            if schema_version(conn) >= number:
                raw.execute("ROLLBACK")
                continue
            raw.execute(script.encode("utf-8"))
            raw.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (number, path.name, iso()),
            )
        except BaseException as exc:
            if conn.in_transaction:
                raw.execute("ROLLBACK")
            if isinstance(exc, ERRORS):
                if getattr(exc, "sqlstate", None) == "42501":  # insufficient_privilege
                    raise _cannot_migrate(number - 1, len(files), exc) from None
                reason = " ".join(str(exc).split())
                raise UnavailableError(
                    f"migration postgres/{path.name} failed: {reason}; the database was "
                    f"left at version {number - 1}",
                    code="migration_failed",
                ) from None
            raise
        raw.execute("COMMIT")
        applied.append(number)
    return applied


def _cannot_migrate(current: int, latest: int, exc: BaseException) -> UnavailableError:
    reason = " ".join(str(exc).split())
    return UnavailableError(
        f"the database is at schema version {current} of {latest} and this role cannot "
        f"migrate it ({reason}); run `selfheal init` once with SELFHEAL_DATABASE_URL naming "
        "a role that may create tables, then serve with this one",
        code="migration_failed",
    )


def pending_migrations(conn: Connection) -> int:
    """How many of this code's migrations the database has not applied yet."""
    directory = PG_MIGRATIONS_DIR if dialect(conn) == "postgres" else MIGRATIONS_DIR
    return max(0, len(migration_files(directory)) - schema_version(conn))


def open_db(path: Target, *, sync: str = "full", wal_limit: int = DEFAULT_WAL_LIMIT) -> Connection:
    """Connect (see `connect`) and bring the schema up to date; a migration that fails
    closes the connection before its error propagates."""
    conn = connect(path, sync=sync, wal_limit=wal_limit)
    try:
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def backup(source: Path | str, target: Path | str) -> int:
    """Copy a live database with SQLite's online backup API; return the pages copied.

    Safe while the server writes: the backup is a consistent snapshot. The copy is written
    next to `target` and renamed into place, so a failed backup never leaves half a file.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise UnavailableError(
            f"database {source} does not exist; nothing to back up", code="database_unavailable"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    src = connect(source, readonly=True)
    try:
        dst = sqlite3.connect(tmp)
        try:
            dst.execute("PRAGMA synchronous = FULL")  # a backup is for the bad day
            src.backup(dst)
            pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()
    tmp.replace(target)
    return pages
