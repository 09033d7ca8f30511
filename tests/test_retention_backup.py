"""Retention (prune) and the online backup, on real SQLite files."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

from selfheal import db, store
from selfheal.db import iso, utcnow
from tests.conftest import PYTHON, ROOT, subprocess_env


def _row(pid: str, when: str, **kw: object) -> tuple[object, ...]:
    return (
        pid,
        when,
        "v0001",
        kw.get("role", "production"),
        kw.get("parent"),
        "{}",
        0.4,
        0,
        0.5,
        1.0,
        None,
    )


def test_prune_deletes_old_rows_with_their_labels_and_shadows(tmp_path: Path) -> None:
    conn = db.open_db(tmp_path / "s.db")
    old, new = iso(utcnow() - timedelta(days=40)), iso(utcnow())
    with db.transaction(conn):
        store.insert_predictions(
            conn,
            [
                _row("old", old),
                _row("new", new),
                _row("old-shadow", old, role="shadow", parent="old"),
            ],
        )
        store.upsert_labels(conn, [("old", 1), ("new", 0)])
        store.insert_event(
            conn,
            {
                "event": "promoted",
                "version": "v0001",
                "reason": "r",
                "actor": "test",
                "created_at": old,
            },
        )
        for when in (old, old, new):
            store.insert_drift_report(conn, {"created_at": when, "status": "ok"})
    with db.transaction(conn):
        pruned = store.prune(conn, iso(utcnow() - timedelta(days=30)))
    assert pruned == {"predictions": 2, "labels": 1, "drift_reports": 2}
    assert [r[0] for r in conn.execute("SELECT id FROM predictions")] == ["new"]
    assert conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM model_events").fetchone()[0] == 1  # audit kept


def test_monitor_applies_retention_each_cycle(trained_home: object) -> None:
    from selfheal.home import Home

    assert isinstance(trained_home, Home)
    home = trained_home
    with db.transaction(home.conn):
        store.insert_predictions(home.conn, [_row("ancient", iso(utcnow() - timedelta(days=9)))])
    home.settings = home.settings.replace(retention_days=7)
    _, monitor = home.loop()
    monitor.run_once(now=utcnow())
    assert home.conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 0


def test_online_backup_is_consistent_while_writes_go_on(tmp_path: Path) -> None:
    src = tmp_path / "s.db"
    conn = db.open_db(src)
    stop = threading.Event()

    def writer() -> None:
        w = db.connect(src)
        i = 0
        while not stop.is_set():
            with db.transaction(w):
                store.insert_predictions(w, [_row(f"p{i}", iso())])
            i += 1
        w.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        pages = db.backup(src, tmp_path / "backups" / "copy.db")
    finally:
        stop.set()
        t.join()
    assert pages > 0
    copy = sqlite3.connect(tmp_path / "backups" / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA user_version").fetchone()[0] == db.schema_version(conn)
    assert not list((tmp_path / "backups").glob("*.partial"))


def test_cli_backup_and_prune(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db.open_db(home / "selfheal.db").close()
    env = subprocess_env(home)
    target = tmp_path / "b.db"
    r = subprocess.run(
        [PYTHON, "-m", "selfheal", "backup", "--to", str(target)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and target.is_file() and "restore:" in r.stdout
    r = subprocess.run(
        [PYTHON, "-m", "selfheal", "prune", "--days", "30"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "0 predictions" in r.stdout, r.stderr
