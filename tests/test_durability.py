"""Durability and a bounded WAL: `SELFHEAL_SYNC` on every connection, reads that release
their snapshot, the writer's checkpoints, and the crash and full-disk behaviour they keep."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from selfheal import datasets, db, store
from selfheal.config import Settings
from selfheal.errors import ConfigError
from selfheal.home import Home
from selfheal.service import Service
from selfheal.web import create_app
from tests.conftest import make_settings
from tests.serving import Server

SYNCHRONOUS = {"full": 2, "normal": 1}  # what `PRAGMA synchronous` reports
GOOD = {"age": 35, "income": 52_000, "credit_score": 690, "employment_years": 6.5}


def records(n: int, seed: int) -> list[dict[str, float]]:
    frame = datasets.generate(n, seed=seed)
    return [{k: float(r[k]) for k in datasets.FEATURES} for _, r in frame.iterrows()]


def predict(client: Any, instances: list[dict[str, float]]) -> Any:
    return client.post(
        "/predict", data=json.dumps({"instances": instances}), content_type="application/json"
    )


@pytest.fixture
def quiet_service(trained_home: Home) -> Iterator[Service]:
    """A started Service whose writer never checkpoints on idleness, so that a test's own
    checkpoint cannot meet the writer's (SQLite runs one checkpoint at a time), and whose
    monitor never starts a retrain (its thread would read and write meanwhile)."""
    svc = Service(trained_home.settings.replace(admin_token="s3cret", auto_retrain=False))
    svc.writer.idle_checkpoint_seconds = 3600.0
    svc.start(monitor=False)
    yield svc
    svc.stop()


def test_sync_defaults_to_full_and_a_bad_value_names_the_variable(tmp_path: Path) -> None:
    assert Settings.load(environ={}, env_file=os.devnull).sync == "full"
    assert Settings.load(environ={"SELFHEAL_SYNC": "NORMAL"}, env_file=os.devnull).sync == "normal"
    with pytest.raises(ConfigError, match="SELFHEAL_SYNC='off'.*one of full, normal"):
        Settings.load(environ={"SELFHEAL_SYNC": "off"}, env_file=os.devnull)
    conn = db.connect(tmp_path / "s.db")  # a connection opened without settings is safe too
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == SYNCHRONOUS["full"]
    conn.close()


@pytest.mark.parametrize("mode", ["full", "normal"])
def test_every_connection_reports_the_configured_synchronous_mode(
    trained_home: Home, mode: str
) -> None:
    settings = trained_home.settings.replace(sync=mode, wal_max_mib=2)
    limit = 2 * 1024 * 1024

    def pragmas(conn: sqlite3.Connection) -> tuple[int, int]:
        return (
            conn.execute("PRAGMA synchronous").fetchone()[0],
            conn.execute("PRAGMA journal_size_limit").fetchone()[0],
        )

    # The CLI's path: `Home` writes the CLI's rows, `monitor --once`'s cycles and the
    # registry's events on its own connection.
    home = Home(settings)
    try:
        assert pragmas(home.conn) == (SYNCHRONOUS[mode], limit)
    finally:
        home.close()
    # The server's path: the writer thread's connection (predictions, labels, the monitor's
    # cycles, the registry's events) and the per-thread read connections.
    svc = Service(settings)
    svc.start(monitor=False)
    try:
        assert svc.writer.write(pragmas) == (SYNCHRONOUS[mode], limit)
        assert pragmas(svc.read_conn()) == (SYNCHRONOUS[mode], limit)
        other: list[tuple[int, int]] = []
        t = threading.Thread(target=lambda: other.append(pragmas(svc.read_conn())))
        t.start()
        t.join()
        assert other == [(SYNCHRONOUS[mode], limit)]
    finally:
        svc.stop()
    ro = db.connect(settings.db_path, readonly=True, sync=mode)
    assert ro.execute("PRAGMA synchronous").fetchone()[0] == SYNCHRONOUS[mode]
    ro.close()


def test_truncate_checkpoint_succeeds_while_read_connections_are_idle(
    quiet_service: Service,
) -> None:
    svc = quiet_service
    client = create_app(svc).test_client()
    auth = {"Authorization": "Bearer s3cret"}
    resp = predict(client, records(300, seed=151))
    assert resp.status_code == 200
    ids = [p["prediction_id"] for p in resp.get_json()["predictions"]]
    labels = {"labels": [{"prediction_id": i, "label": k % 2} for k, i in enumerate(ids)]}
    assert client.post("/monitoring/labels", json=labels).status_code == 200
    assert client.post("/monitoring/run", headers=auth).status_code == 200
    # Every read route, each on this thread's read connection (the test client runs the
    # app in the calling thread), the monitor's reads included.
    for path in ("/monitoring/stats", "/", "/metrics", "/monitoring/drift", "/health"):
        assert client.get(path).status_code == 200, path
    for path in ("/model/info", "/models"):
        assert client.get(path).status_code == 200, path
    assert not svc.read_conn().in_transaction

    other = db.connect(svc.settings.db_path)
    try:
        assert db.wal_size(svc.settings.db_path) > 0
        cp = db.checkpoint(other, "TRUNCATE", wait_ms=0)  # no waiting: nobody may hold a read
        assert not cp.busy
        assert db.wal_size(svc.settings.db_path) == 0

        # The control: a read transaction left open pins its snapshot, and the checkpoint
        # cannot reset the log behind it ...
        reader = svc.read_conn()
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM predictions").fetchall()
        assert predict(client, records(5, seed=152)).status_code == 200
        assert db.checkpoint(other, "TRUNCATE", wait_ms=0).busy
        # ... until the connection's next use, which ends it.
        assert svc.read_conn() is reader and not reader.in_transaction
        assert not db.checkpoint(other, "TRUNCATE", wait_ms=0).busy
    finally:
        other.close()


def test_writer_checkpoints_keep_the_wal_under_its_bound_while_readers_read(
    trained_home: Home,
) -> None:
    bound = 1024 * 1024
    svc = Service(trained_home.settings.replace(wal_max_mib=1))
    svc.writer.idle_checkpoint_seconds = 3600.0  # only the bound may checkpoint here
    svc.start(monitor=False)
    client = create_app(svc).test_client()
    stop = threading.Event()
    reads = [0, 0]
    errors: list[BaseException] = []

    def reader(i: int) -> None:  # operator reads without pause, as a dashboard loop would
        try:
            while not stop.is_set():
                conn = svc.read_conn()
                store.recent_predictions(conn, limit=200, roles=("production", "external"))
                store.traffic_counts(conn)
                reads[i] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        data = records(6000, seed=153)
        for start in range(0, len(data), 100):
            assert predict(client, data[start : start + 100]).status_code == 200
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        svc.stop()
    assert errors == [] and min(reads) > 0
    stats = svc.writer.stats
    assert stats.rows == 6000
    assert stats.checkpoints[("bound", "ok")] >= 2
    assert stats.checkpoints[("bound", "error")] == 0
    # Past the bound by one commit of 100 rows (~0.3 MiB), plus a quarter bound for each
    # try that readers kept busy (rare: GIL-bound readers in a loop can pin the log for
    # the writer's whole wait); SQLite's own checkpoint alone (every 1000 pages, ~4 MiB)
    # would have let it reach four times the bound.
    busy = stats.checkpoints[("bound", "busy")]
    assert bound < stats.wal_high_water < bound * (1 + 0.25 * busy) + 512 * 1024
    from tests.test_metrics import parse, samples

    fams = parse(svc.metrics.render())
    assert samples(fams["selfheal_wal_checkpoints"])[
        (("reason", "bound"), ("result", "ok"))
    ] == float(stats.checkpoints[("bound", "ok")])
    assert samples(fams["selfheal_wal_high_water_bytes"]) == {(): float(stats.wal_high_water)}
    assert () in samples(fams["selfheal_wal_bytes"])


def test_idle_writer_truncates_the_wal(trained_home: Home) -> None:
    svc = Service(trained_home.settings)
    svc.writer.idle_checkpoint_seconds = 0.05
    svc.start(monitor=False)
    try:
        assert predict(create_app(svc).test_client(), records(50, seed=154)).status_code == 200
        deadline = time.monotonic() + 10
        while svc.writer.stats.checkpoints[("idle", "ok")] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert svc.writer.stats.checkpoints[("idle", "ok")] == 1  # once: then nothing to do
        assert db.wal_size(svc.settings.db_path) == 0
    finally:
        svc.stop()


def test_full_disk_gives_503_and_recovers_once_space_is_freed(quiet_service: Service) -> None:
    """SQLite's page limit stands in for the disk: past it every write fails as on a full
    disk (SQLITE_FULL, "database or disk is full")."""
    svc = quiet_service
    client = create_app(svc).test_client()
    before = store.count_predictions(svc.read_conn())
    svc.writer.write(
        lambda c: c.execute(
            "PRAGMA max_page_count = " + str(c.execute("PRAGMA page_count").fetchone()[0])
        ).fetchall()
    )
    resp = predict(client, records(500, seed=155))
    assert resp.status_code == 503
    err = resp.get_json()["error"]
    assert err["code"] == "database_unavailable" and "full" in err["message"]
    assert store.count_predictions(svc.read_conn()) == before  # no false 200, no half batch
    svc.writer.write(lambda c: c.execute("PRAGMA max_page_count = 1073741823").fetchall())
    assert predict(client, records(500, seed=155)).status_code == 200
    assert store.count_predictions(svc.read_conn()) == before + 500


def test_kill_9_under_load_loses_no_acknowledged_row(
    tmp_path: Path, _trained_template: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(_trained_template, home)
    server = Server(home).start()
    answered: list[str] = []
    stop = threading.Event()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            while not stop.is_set():
                try:
                    conn.request(
                        "POST", "/predict", json.dumps(GOOD), {"Content-Type": "application/json"}
                    )
                    resp = conn.getresponse()
                    body = resp.read()
                except (OSError, http.client.HTTPException):
                    return  # the server is gone
                if resp.status == 200:
                    answered.append(json.loads(body)["prediction_id"])
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(answered) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGKILL)  # no shutdown hook runs
    server.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(15)
    assert len(answered) >= 300, server.log()
    conn = db.connect(home / "selfheal.db")  # recovers the WAL the killed process left
    try:
        found = store.prediction_ids_exist(conn, answered)
    finally:
        conn.close()
    assert found == set(answered)  # every 200 was committed before it was sent


def test_settings_for_tests_use_full_sync(tmp_path: Path) -> None:
    assert make_settings(tmp_path).sync == "full"
