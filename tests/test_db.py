from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from selfheal import db, store
from selfheal.errors import UnavailableError


def _copy_migrations(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    d.mkdir()
    for _, p in db.migration_files():
        (d / p.name).write_text(p.read_text())
    return d


def test_migrate_fresh_database_reaches_latest_version(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "s.db")
    applied = db.migrate(conn)
    assert applied == list(range(1, len(db.migration_files()) + 1))
    assert db.schema_version(conn) == len(applied)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"predictions", "labels", "model_events", "retrain_runs"} <= tables


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "s.db")
    db.migrate(conn)
    before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert db.migrate(conn) == []
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before


def test_failing_migration_leaves_database_unchanged(tmp_path: Path) -> None:
    d = _copy_migrations(tmp_path)
    conn = db.connect(tmp_path / "s.db")
    db.migrate(conn, d)
    version = db.schema_version(conn)
    bad = d / f"{version + 1:04d}_broken.sql"
    bad.write_text("CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n")
    with pytest.raises(UnavailableError, match="broken.sql failed") as err:
        db.migrate(conn, d)
    assert err.value.code == "migration_failed"
    assert db.schema_version(conn) == version
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in names


def test_migration_with_trigger_body_is_split_correctly() -> None:
    sql = (
        "CREATE TABLE t (x);\nCREATE TRIGGER tr BEFORE DELETE ON t\nBEGIN\n"
        "  SELECT RAISE(ABORT, 'no');\nEND;\n-- trailing comment\n"
    )
    assert len(db.split_statements(sql)) == 2


def test_migration_numbering_gap_is_refused(tmp_path: Path) -> None:
    d = _copy_migrations(tmp_path)
    (d / "0009_late.sql").write_text("SELECT 1;")
    with pytest.raises(UnavailableError, match="without gaps"):
        db.migrate(db.connect(tmp_path / "s.db"), d)


def test_database_newer_than_code_is_refused(tmp_path: Path) -> None:
    conn = db.open_db(tmp_path / "s.db")
    conn.execute("PRAGMA user_version = 999")
    with pytest.raises(UnavailableError, match="newer than this code"):
        db.migrate(conn)


def test_connection_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    conn = db.open_db(tmp_path / "s.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_MS
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO labels (prediction_id, label, created_at) VALUES ('x', 1, 't')")


def test_model_events_are_append_only(tmp_path: Path) -> None:
    conn = db.open_db(tmp_path / "s.db")
    with db.transaction(conn):
        store.insert_event(
            conn, {"event": "promoted", "version": "v0001", "reason": "r", "actor": "test"}
        )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE model_events SET reason = 'changed'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM model_events")
    assert store.recent_events(conn)[0]["reason"] == "r"


def test_labels_are_idempotent_and_conflicts_reported(tmp_path: Path) -> None:
    conn = db.open_db(tmp_path / "s.db")
    row = ("p1", db.iso(), "v0001", "production", None, "{}", 0.7, 1, 0.5, 1.0, None)
    with db.transaction(conn):
        store.insert_predictions(conn, [row])
    with db.transaction(conn):
        first = store.upsert_labels(conn, [("p1", 1), ("nope", 0)])
    with db.transaction(conn):
        again = store.upsert_labels(conn, [("p1", 1), ("p1", 0)])
    assert first == ["created", "not_found"]
    assert again == ["unchanged", "conflict"]


def test_new_ids_are_uuid7_laid_out_and_sort_by_time() -> None:
    """Prediction ids: 32 hex digits of a UUID version 7 (RFC 9562): the first 48 bits are
    the millisecond, so ids made later sort later and the unique index grows at its edge;
    74 random bits keep them apart within a millisecond."""
    new_id = store.new_id
    t_ns = 1_764_460_800_123_456_789  # 2025-11-30T00:00:00.123456789Z
    pid = new_id(t_ns)
    assert len(pid) == 32 and pid == pid.lower() and int(pid, 16) >= 0
    parsed = uuid.UUID(hex=pid)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert int(pid[:12], 16) == t_ns // 1_000_000
    later = new_id(t_ns + 1_000_000)  # one millisecond later
    assert later > pid and int(later[:12], 16) == t_ns // 1_000_000 + 1
    same_ms = {new_id(t_ns) for _ in range(20_000)}
    assert len(same_ms) == 20_000
    assert all(p[:12] == pid[:12] for p in same_ms)
    assert len({p[13:] for p in same_ms}) == 20_000  # the random part differs, not the time
    now = new_id()
    assert abs(int(now[:12], 16) - time.time_ns() // 1_000_000) < 5_000
