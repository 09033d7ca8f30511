"""PostgreSQL as the database (`SELFHEAL_DATABASE_URL`), on a real throwaway cluster
(conftest's `pg_cluster`): migrations, the store's dialect, the leader lease, the registry's
coordination in the database, and the settings' errors. The store, registry and loop
tests run on both backends too (`trained_home_any`)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from selfheal import db, store
from selfheal.config import Settings
from selfheal.errors import ConfigError, UnavailableError
from selfheal.home import Home
from selfheal.leader import FileLease, PgLease
from selfheal.registry import PgCoordination, Registry
from tests.conftest import PYTHON, ROOT, make_settings, register_copy, subprocess_env

ROW = ("p1", "2026-01-01T00:00:00.000000Z", "v0001", "production", None, "{}", 0.7, 1, 0.5, 1.0)


def _prediction(pid: str) -> tuple[object, ...]:
    return (pid, *ROW[1:], None)


@pytest.fixture
def conn(home_settings: Settings):  # type: ignore[no-untyped-def]
    """A migrated connection on `backend` (both)."""
    c = db.open_db(home_settings.database)
    yield c
    c.close()


# -- migrations ---------------------------------------------------------------------------
def test_migrations_on_postgres_reach_the_latest_version_once(pg_url: str) -> None:
    c = db.connect(pg_url)
    assert db.schema_version(c) == 0
    files = db.migration_files(db.PG_MIGRATIONS_DIR)
    assert db.migrate(c) == [n for n, _ in files]
    assert db.migrate(c) == []  # a no-op the second time
    assert db.schema_version(c) == len(files) and db.pending_migrations(c) == 0
    tables = {
        r[0]
        for r in c.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert {"predictions", "labels", "model_events", "retrain_runs", "registry_pointers"} <= tables
    c.close()


def test_a_failing_postgres_migration_leaves_the_database_as_it_was(
    pg_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for _, path in db.migration_files(db.PG_MIGRATIONS_DIR):
        (folder / path.name).write_text(path.read_text())
    n = len(db.migration_files(folder))
    (folder / f"{n + 1:04d}_broken.sql").write_text(
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
    )
    c = db.connect(pg_url)
    with pytest.raises(UnavailableError, match=r"broken\.sql failed") as err:
        db.migrate(c, folder)
    assert err.value.code == "migration_failed"
    assert db.schema_version(c) == n  # the earlier files committed, the broken one did not
    assert c.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
    c.execute("UPDATE schema_migrations SET version = 999 WHERE version = ?", (n,))
    with pytest.raises(UnavailableError, match="newer than this code"):
        db.migrate(c)
    c.close()


def test_model_events_are_append_only_on_postgres(pg_url: str) -> None:
    c = db.open_db(pg_url)
    with db.transaction(c):
        store.insert_event(c, {"event": "promoted", "version": "v1", "reason": "r", "actor": "t"})
    for sql in ("UPDATE model_events SET reason = 'x'", "DELETE FROM model_events"):
        with pytest.raises(db.ERRORS, match="append-only"):
            c.execute(sql)
    with pytest.raises(db.ERRORS, match="append-only"):
        c.execute("TRUNCATE model_events")
    assert store.recent_events(c)[0]["reason"] == "r"
    c.close()


# -- the store on both backends ---------------------------------------------------------------
def test_labels_are_idempotent_and_conflicts_reported(conn: db.Connection) -> None:
    with db.transaction(conn):
        store.insert_predictions(conn, [_prediction("p1")])
    with db.transaction(conn):
        first = store.upsert_labels(conn, [("p1", 1), ("nope", 0)])
    with db.transaction(conn):
        again = store.upsert_labels(conn, [("p1", 1), ("p1", 0)])
    assert (first, again) == (["created", "not_found"], ["unchanged", "conflict"])


def test_ids_and_counts_and_rows_read_the_same_on_both_backends(conn: db.Connection) -> None:
    with db.transaction(conn):
        store.insert_predictions(conn, [_prediction(f"p{i}") for i in range(3)])
        run = store.start_run(
            conn, trigger="drift", evidence={"a": 1}, actor="t", base_version="v1"
        )
        store.insert_gate_results(
            conn,
            run,
            [
                {"name": g, "passed": ok, "values": {}, "thresholds": {}, "reason": g}
                for g, ok in (("data_quality", True), ("statistical", False))
            ],
        )
        store.upsert_labels(conn, [("p0", 1)])
    assert run == 1
    assert [g["gate"] for g in store.gate_results(conn, run)] == ["data_quality", "statistical"]
    assert [g["passed"] for g in store.gate_results(conn, run)] == [True, False]
    assert store.traffic_counts(conn) == {
        "total": 3,
        "production": 3,
        "external": 0,
        "shadow": 0,
        "labels": 1,
    }
    rows = store.recent_predictions(conn, limit=2)
    assert [r["id"] for r in rows] == ["p2", "p1"] and rows[0][1] == "p2"
    assert dict(rows[1])["probability"] == 0.7 and rows[1]["label"] is None


def test_two_processes_storing_the_same_label_never_fail(home_settings: Settings) -> None:
    """Two writers (two server processes) label the same prediction at once: one creates,
    the other sees it unchanged; nobody gets an integrity error."""
    a, b = db.open_db(home_settings.database), db.connect(home_settings.database)
    with db.transaction(a):
        store.insert_predictions(a, [_prediction("p1")])
    out: dict[str, list[str]] = {}
    barrier = threading.Barrier(2)

    def label(name: str, c: db.Connection) -> None:
        barrier.wait()
        with db.transaction(c):
            out[name] = store.upsert_labels(c, [("p1", 1)])

    threads = [threading.Thread(target=label, args=(n, c)) for n, c in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(out["a"] + out["b"]) == ["created", "unchanged"]
    a.close()
    b.close()


# -- settings and connection errors ------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u:pw@h/db", "must start with postgresql://"),
        ("postgresql://u:pw@h/", "names no database"),
        ("postgresql://u:pw@h", "names no database"),
        ("postgresql://u:pw@h:99999/db", "port is not a number"),
        ("postgresql://u:pw@h:x/db", "port is not a number"),
        ("postgresql://u:p w@h/db", "whitespace"),
    ],
)
def test_a_bad_database_url_is_refused_saying_what_is_wrong_without_echoing_it(
    url: str, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load(environ={"SELFHEAL_DATABASE_URL": url}, env_file="/dev/null")
    message = err.value.message
    assert message.startswith("SELFHEAL_DATABASE_URL is not valid: ") and says in message
    assert "pw" not in message and "p w" not in message


@pytest.mark.parametrize(
    "url",
    ["postgresql:///selfheal", "postgresql://u@/db?host=/var/run/postgresql", "postgres://h/d"],
)
def test_urls_libpq_accepts_are_accepted(url: str) -> None:
    """A socket (no host: libpq's default folder, or ?host=/dir) is a valid place."""
    s = Settings.load(environ={"SELFHEAL_DATABASE_URL": url}, env_file="/dev/null")
    assert s.postgres and s.database == url


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_unreachable_server_stops_start_up_in_one_line_without_the_password(
    tmp_path: Path, workers: str
) -> None:
    from tests.conftest import free_port

    url = f"postgresql://selfheal:hunter2@127.0.0.1:{free_port()}/selfheal"
    proc = subprocess.run(
        [PYTHON, "run.py"],
        cwd=ROOT,
        env=subprocess_env(tmp_path / "home", SELFHEAL_DATABASE_URL=url, SELFHEAL_WORKERS=workers),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("selfheal: error: cannot connect to PostgreSQL at postgresql://")
    assert "SELFHEAL_DATABASE_URL" in lines[0] and "hunter2" not in proc.stderr + proc.stdout


def test_several_workers_on_sqlite_are_refused_with_the_fix(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PYTHON, "run.py"],
        cwd=ROOT,
        env=subprocess_env(tmp_path / "home", SELFHEAL_WORKERS="2"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "SELFHEAL_WORKERS=2 needs PostgreSQL" in proc.stderr
    assert "SELFHEAL_DATABASE_URL" in proc.stderr and not (tmp_path / "home").exists()


# -- the leader lease -----------------------------------------------------------------------
def test_file_lease_has_one_holder_and_passes_on_when_released(tmp_path: Path) -> None:
    a, b = FileLease(tmp_path / "leader.lock"), FileLease(tmp_path / "leader.lock")
    assert a.holder() is None
    assert a.try_acquire() and not b.try_acquire()
    assert a.try_acquire()  # held: stays held
    holder = b.holder()
    assert holder is not None and holder["pid"] > 0 and holder["since"]
    a.release()
    assert b.holder() is None
    assert b.try_acquire() and not a.try_acquire()
    b.release()


def test_file_lease_of_a_killed_process_passes_to_the_next(tmp_path: Path) -> None:
    path = tmp_path / "leader.lock"
    script = (
        "import sys, time; sys.path.insert(0, sys.argv[2])\n"
        "from pathlib import Path; from selfheal.leader import FileLease\n"
        "l = FileLease(Path(sys.argv[1])); assert l.try_acquire(); print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [PYTHON, "-c", script, str(path), str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        me = FileLease(path)
        assert not me.try_acquire()
        assert me.holder()["pid"] == child.pid  # type: ignore[index]
        child.kill()
        child.wait(10)
        assert me.try_acquire()
        me.release()
    finally:
        child.kill()
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()


def test_pg_lease_has_one_holder_across_connections_and_names_it(pg_url: str) -> None:
    a, b = PgLease(pg_url), PgLease(pg_url)
    assert b.holder() is None
    assert a.try_acquire() and not b.try_acquire()
    assert a.try_acquire()
    holder = b.holder()
    assert holder is not None and holder["pid"] == a.holder()["pid"]  # type: ignore[index]
    assert holder["host"] and holder["since"]
    a._conn.raw.close()  # the leader's session ends (a crash): the lock goes with it
    assert b.try_acquire()
    assert not a.try_acquire()  # a notices it lost the lease
    b.release()
    a.release()


# -- the registry's pointers and allocation in PostgreSQL ---------------------------------------
def test_concurrent_registrations_on_two_hosts_get_unique_versions(
    trained_home_any: Home, backend: str
) -> None:
    """Two registries on the same folder, each with its own coordination (its own
    connection on PostgreSQL, as two hosts have): eight registrations, eight names."""
    home = trained_home_any
    if backend == "postgres":
        regs = [
            Registry(home.registry.root, None, PgCoordination(home.settings.database_url))
            for _ in range(2)
        ]
    else:
        regs = [Registry(home.registry.root) for _ in range(2)]
    names: list[str] = []
    lock = threading.Lock()

    def register(reg: Registry) -> None:
        for _ in range(4):
            v = register_copy(reg)
            with lock:
                names.append(v)

    threads = [threading.Thread(target=register, args=(r,)) for r in regs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(names) == [f"v{i:04d}" for i in range(2, 10)]
    regs[1].promote(names[0], actor="test")
    assert regs[0].production() == names[0]  # one pointer, seen by both
    for r in regs:
        r.coordination.close()


def test_home_on_postgres_keeps_no_pointer_file(trained_home_any: Home, backend: str) -> None:
    home = trained_home_any
    assert home.registry.production() == "v0001"
    assert home.registry.pointer_path.exists() is (backend == "sqlite")


def test_settings_name_the_database_without_its_password() -> None:
    s = make_settings(Path("/tmp/x"), database_url="postgresql://me:s3cret@db.example:5433/prod")
    assert s.database_label == "postgresql://me@db.example:5433/prod"
    assert s.public()["SELFHEAL_DATABASE_URL"] is True


# -- traffic totals: kept with the rows, exact after every kind of write ----------------------
def _counted(conn: db.Connection) -> dict[str, int]:
    """What the totals must equal: a full count (what the old read did)."""
    out = {
        role: int(
            conn.execute("SELECT COUNT(*) FROM predictions WHERE role = ?", (role,)).fetchone()[0]
        )
        for role in ("production", "external", "shadow")
    }
    out["labels"] = int(conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0])
    return {"total": out["production"] + out["external"] + out["shadow"], **out}


def test_traffic_totals_follow_inserts_prunes_cascades_and_rollbacks(conn: db.Connection) -> None:
    old, new = "2026-01-01T00:00:00.000000Z", "2026-06-01T00:00:00.000000Z"
    rows = []
    for i in range(6):
        role = ("production", "external", "production")[i % 3]
        rows.append(
            (f"p{i}", old if i < 3 else new, "v1", role, None, "{}", 0.5, 1, 0.5, 1.0, None)
        )
    rows.append(("s0", old, "v2", "shadow", "p0", "{}", 0.5, 1, 0.5, 1.0, None))
    with db.transaction(conn):
        store.insert_predictions(conn, rows)
        store.upsert_labels(conn, [("p0", 1), ("p1", 0), ("p4", 1)])
    assert (
        store.traffic_counts(conn)
        == _counted(conn)
        == {
            "total": 7,
            "production": 4,
            "external": 2,
            "shadow": 1,
            "labels": 3,
        }
    )
    with pytest.raises(RuntimeError), db.transaction(conn):  # a rolled-back batch counts 0
        store.insert_predictions(
            conn, [("px", new, "v1", "production", None, "{}", 0.5, 1, 0.5, 1.0, None)]
        )
        raise RuntimeError("abandon")
    assert store.traffic_counts(conn) == _counted(conn)
    with db.transaction(conn):  # deletes old rows, their labels and their shadow rows
        store.prune(conn, "2026-03-01T00:00:00.000000Z")
    assert (
        store.traffic_counts(conn)
        == _counted(conn)
        == {
            "total": 3,
            "production": 2,
            "external": 1,
            "shadow": 0,
            "labels": 1,
        }
    )
    with db.transaction(conn):  # a cascade from the parent row counts too
        conn.execute("DELETE FROM predictions WHERE id = 'p4'")
    assert store.traffic_counts(conn) == _counted(conn)
    assert store.count_predictions(conn) == 2 and store.count_predictions(conn, None) == 2


def test_migration_0005_seeds_the_totals_from_the_rows_already_logged(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    for n, path in db.migration_files():
        if n <= 4:
            (folder / path.name).write_text(path.read_text())
    c = db.connect(tmp_path / "s.db")
    db.migrate(c, folder)
    with db.transaction(c):
        store.insert_predictions(c, [_prediction(f"p{i}") for i in range(5)])
        c.execute("INSERT INTO labels VALUES ('p1', 1, 't')")
    db.migrate(c)  # 0005 and later
    assert (
        store.traffic_counts(c)
        == _counted(c)
        == {
            "total": 5,
            "production": 5,
            "external": 0,
            "shadow": 0,
            "labels": 1,
        }
    )
    c.close()


# -- text PostgreSQL cannot store is refused alike on both backends ---------------------------
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/monitoring/labels", {"labels": [{"prediction_id": "a\u0000b", "label": 1}]}),
        ("/model/rollback", {"reason": "x" * 50 + "\u0000"}),
        ("/predict", {"age": 30, "income": 5e4, "credit_score": 600, "employment_\u0000": 1}),
    ],
)
def test_nul_in_any_text_is_a_400_naming_it_on_both_backends(
    trained_home_any: Home, path: str, body: dict[str, object]
) -> None:
    """PostgreSQL's text cannot hold U+0000: it used to be a 503 database_unavailable on
    PostgreSQL (and stored as is on SQLite). Both backends now refuse it at the door."""
    import json

    from selfheal.service import Service
    from selfheal.web import create_app

    svc = Service(trained_home_any.settings.replace(admin_token="t")).start(monitor=False)
    try:
        client = create_app(svc).test_client()
        resp = client.post(
            path,
            data=json.dumps(body),
            content_type="application/json",
            headers={"Authorization": "Bearer t"},
        )
        assert resp.status_code == 400
        error = resp.get_json()["error"]
        assert error["code"] == "malformed_json" and "NUL character" in error["message"]
        assert store.traffic_counts(svc.read_conn())["labels"] == 0
    finally:
        svc.stop()


def test_rows_read_back_alike_on_both_backends(conn: db.Connection) -> None:
    """NaN is stored as NULL (SQLite's rule) and bools as 0/1, on both backends."""
    with db.transaction(conn):
        rid = store.insert_drift_report(
            conn,
            {"created_at": "t", "status": "ok", "dataset_drift": True, "drift_share": float("nan")},
            [
                {
                    "feature": "age",
                    "kind": "numeric",
                    "test": "ks",
                    "p_value": float("nan"),
                    "drifted": False,
                }
            ],
        )
    row = conn.execute("SELECT dataset_drift, drift_share FROM drift_reports").fetchone()
    assert (row[0], row[1]) == (1, None)
    feature = conn.execute(
        "SELECT p_value, drifted FROM drift_feature_results WHERE report_id = ?", (rid,)
    ).fetchone()
    assert (feature["p_value"], feature["drifted"]) == (None, 0)


@pytest.mark.parametrize("backend", ["postgres"])  # a server restart: PostgreSQL only
def test_after_a_postgres_restart_every_part_reconnects_on_its_first_use(
    pg_cluster: object, trained_home_any: Home, backend: str
) -> None:
    """The server crashes and comes back: the writer, the read connections, the registry's
    connection and the lease reconnect by themselves, without a failed request (a
    reviewer saw every request thread's first read fail with 503), and what was answered
    stays committed."""
    import json

    from selfheal.service import Service
    from selfheal.web import create_app
    from tests.test_e2e_scale import RECORD

    svc = Service(trained_home_any.settings).start()  # with the monitor and its lease
    client = create_app(svc).test_client()

    def post(path: str, body: object) -> tuple[int, dict[str, object]]:
        resp = client.post(path, data=json.dumps(body), content_type="application/json")
        return resp.status_code, resp.get_json()

    try:
        status, before = post("/predict", RECORD)
        assert status == 200 and svc.monitor.leader()["this_process"]
        pg_cluster.restart()  # type: ignore[attr-defined]
        # Once the server is back, the first request of each kind already succeeds: every
        # part finds its connection broken and sends its read or BEGIN again on a new one.
        status, answer = post("/predict", RECORD)
        assert status == 200, answer
        stats = client.get("/monitoring/stats")
        assert stats.status_code == 200, stats.get_json()
        status, labels = post(
            "/monitoring/labels",
            {"labels": [{"prediction_id": before["prediction_id"], "label": 1}]},
        )
        assert status == 200 and labels["counts"] == {"created": 1}
        assert svc.registry.production() == "v0001"
        assert svc.monitor.lead()  # the lease is taken again on its new connection
        health = client.get("/health")
        assert health.status_code == 200, health.get_json()
    finally:
        svc.stop()


@pytest.mark.parametrize("backend", ["postgres"])
def test_cli_status_reads_postgres_and_backup_points_at_pg_dump(
    trained_home_any: Home, backend: str
) -> None:
    env = subprocess_env(
        trained_home_any.settings.home_path,
        SELFHEAL_DATABASE_URL=trained_home_any.settings.database_url,
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, "-m", "selfheal", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert "v0001" in status.stdout and trained_home_any.settings.database_label in status.stdout
    backup = cli("backup")
    assert backup.returncode == 2 and backup.stderr.count("\n") == 1
    assert "pg_dump" in backup.stderr and "SELFHEAL_DATABASE_URL" in backup.stderr


def test_a_window_since_a_time_is_read_from_the_top_and_answers_as_a_full_filter(
    conn: db.Connection,
) -> None:
    """`since` bounds the scan by seq (the growth bench's 5M-row stint read), and the answer
    is still exactly the rows stamped at or after `since`, also when two writers' clocks
    stamped a few rows out of order."""
    from datetime import datetime, timedelta, timezone

    t0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
    stamps = [t0 + timedelta(seconds=i) for i in range(40)]
    stamps[25] = stamps[25] - timedelta(seconds=6)  # a second process's clock, 6 s behind
    rows = [
        (
            f"p{i}",
            db.iso(ts),
            "v1" if i % 3 else "v2",
            "production",
            None,
            "{}",
            0.5,
            1,
            0.5,
            1.0,
            None,
        )
        for i, ts in enumerate(stamps)
    ]
    with db.transaction(conn):
        store.insert_predictions(conn, rows)
    for since_s in (-5, 0, 21, 22, 30, 39, 40, 100):
        since = db.iso(t0 + timedelta(seconds=since_s))
        for version in ("v1", "v2"):
            got = [
                r["id"]
                for r in store.recent_predictions(conn, version=version, since=since, limit=8)
            ]
            want = [
                f"p{i}"
                for i in reversed(range(40))
                if rows[i][2] == version and rows[i][1] >= since
            ][:8]
            assert got == want, (since_s, version)
    assert store.seq_at(conn, db.iso(t0 + timedelta(seconds=100))) is None


def test_a_replay_never_writes_into_the_deployment_s_postgres(pg_url: str, tmp_path: Path) -> None:
    import pandas as pd

    from selfheal import datasets

    data = tmp_path / "s.csv"
    pd.concat([datasets.generate(700, seed=1), datasets.generate(300, seed=2)]).to_csv(
        data, index=False
    )
    env = subprocess_env(tmp_path / "unused", SELFHEAL_DATABASE_URL=pg_url)
    proc = subprocess.run(
        [
            PYTHON,
            "-m",
            "selfheal",
            "replay",
            "--data",
            str(data),
            "--target",
            "default",
            "--train-rows",
            "500",
            "--home",
            str(tmp_path / "replay"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "replay" / "selfheal.db").is_file()
    c = db.connect(pg_url)
    assert db.schema_version(c) == 0  # untouched: not even migrated
    c.close()


@pytest.mark.parametrize("backend", ["postgres"])  # the pool is PostgreSQL's
def test_retrain_threads_give_their_read_connections_back(
    trained_home_any: Home, backend: str
) -> None:
    """Each background retrain runs in a new thread that borrows a pooled read connection;
    they were never given back, and after a few retrains the leader's pool was empty
    (reads waited 30 s, then 503). A thread that ended gives its connection back."""
    from selfheal.service import Service

    svc = Service(trained_home_any.settings.replace(threads=2)).start(monitor=False)
    try:
        pool = svc._read_pool
        assert pool is not None
        for _ in range(12):  # far more threads than the pool's 2 + 4 connections
            t = threading.Thread(target=lambda: svc.read_conn().execute("SELECT 1").fetchone())
            t.start()
            t.join(30)
        assert svc.read_conn().execute("SELECT 1").fetchone()[0] == 1
        assert pool.lent <= 2  # this thread's, and at most the last ended thread's
    finally:
        svc.stop()


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_role_without_create_rights_serves_a_migrated_database_and_is_told_otherwise(
    pg_cluster: object, trained_home_any: Home, pg_url: str, backend: str
) -> None:
    admin = db.connect(pg_cluster.url())  # type: ignore[attr-defined]
    admin.execute("DROP ROLE IF EXISTS app_only")
    admin.execute("CREATE ROLE app_only LOGIN")
    admin.close()
    migrated = trained_home_any.settings.database_url
    for url in (migrated, pg_url):
        owner = db.connect(url)
        owner.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        owner.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app_only"
        )
        owner.close()
    as_app = lambda url: url.replace("postgresql://postgres@", "postgresql://app_only@")  # noqa: E731
    c = db.open_db(as_app(migrated))  # up to date: no CREATE needed
    assert db.pending_migrations(c) == 0
    c.close()
    with pytest.raises(UnavailableError) as err:
        db.open_db(as_app(pg_url))  # empty: this role cannot migrate it
    assert err.value.code == "migration_failed" and "\n" not in err.value.message
    assert "selfheal init" in err.value.message and "schema version 0 of" in err.value.message


@pytest.mark.parametrize("backend", ["postgres"])
def test_verify_reads_the_schema_and_the_production_model_from_postgres(
    trained_home_any: Home, backend: str
) -> None:
    from selfheal.simulate.verify import verify_installation

    s = trained_home_any.settings
    _, lines = verify_installation(s, url="http://127.0.0.1:9", timeout=0.5)
    text = "\n".join(lines)
    n = len(db.migration_files(db.PG_MIGRATIONS_DIR))
    assert f"ok       database {s.database_label}: schema version {n}" in text
    assert "ok       model v0001 in production; artifact sha256 verified" in text
