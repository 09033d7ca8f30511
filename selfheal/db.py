"""SQLite connections and migrations.

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

from selfheal.errors import UnavailableError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
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
    path: Path | str,
    *,
    readonly: bool = False,
    sync: str = "full",
    wal_limit: int = DEFAULT_WAL_LIMIT,
) -> sqlite3.Connection:
    """Open a connection in autocommit mode; callers open transactions explicitly.

    `sync` is `SELFHEAL_SYNC` (full | normal), set on every connection, read-only ones
    included, so that no connection of the project runs with another mode. `wal_limit`
    (bytes, `SELFHEAL_WAL_MAX_MIB`) is SQLite's `journal_size_limit`: the size the -wal file
    is truncated back to after a checkpoint resets the log.
    """
    path = Path(path)
    if sync not in SYNC_MODES:
        raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
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


def wal_size(db_path: Path | str) -> int:
    """Bytes of the -wal file (0 when there is none): one stat, cheap enough per commit."""
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


def checkpoint(conn: sqlite3.Connection, mode: str = "TRUNCATE", *, wait_ms: int) -> Checkpoint:
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
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
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


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply the pending migrations in order; return the numbers applied.

    Each file runs inside BEGIN IMMEDIATE ... COMMIT with its user_version bump, so a
    failure rolls the file back completely and the version stays where it was. Running it
    again is a no-op; a database newer than the code is refused.
    """
    files = migration_files(directory)
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


def open_db(
    path: Path | str, *, sync: str = "full", wal_limit: int = DEFAULT_WAL_LIMIT
) -> sqlite3.Connection:
    """Connect (see `connect`) and bring the schema up to date."""
    conn = connect(path, sync=sync, wal_limit=wal_limit)
    migrate(conn)
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
