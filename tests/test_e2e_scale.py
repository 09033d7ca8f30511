"""Several processes, one truth: two real `run.py` processes on one PostgreSQL database and
one registry folder, under 16 concurrent clients, one of them SIGKILLed (issue 12).

Checked: every answered prediction is in the database; exactly one process leads and the
survivor takes the lease within a monitor interval of the leader's death; a promotion made
by the CLI reaches both processes; no "database is locked" and no deadlock in the logs."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from selfheal import datasets, db
from tests.conftest import PYTHON, ROOT, subprocess_env
from tests.serving import Server

RECORD = {
    k: float(v) for k, v in datasets.generate(1, seed=3)[list(datasets.FEATURES)].iloc[0].items()
}


def _leader(server: Server) -> bool:
    status, body = server.request("GET", "/health", timeout=10)
    return bool(body["monitor"]["leader"]["this_process"])


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


def test_two_processes_share_one_database_and_survive_the_leader_s_death(
    pg_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        "SELFHEAL_DATABASE_URL": pg_url,
        "SELFHEAL_MONITOR_INTERVAL": "1",
        "SELFHEAL_MODEL_POLL_SECONDS": "0.2",
        "SELFHEAL_BOOTSTRAP_ROWS": "2000",
        "SELFHEAL_THREADS": "8",
    }
    a = Server(home, **env).start(timeout=120)  # bootstraps v0001, takes the lease
    b = Server(home, **env).start(timeout=120)
    servers = [a, b]
    try:
        assert _leader(a) and not _leader(b)
        holder = b.request("GET", "/health")[1]["monitor"]["leader"]["holder"]
        assert holder["pid"] == a.proc.pid  # type: ignore[union-attr]

        # A promotion by the CLI (another process again) reaches both servers.
        cli_env = subprocess_env(home, **env)
        train = subprocess.run(
            [PYTHON, "-m", "selfheal", "train", "--rows", "1500", "--seed", "9"],
            cwd=ROOT,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert train.returncode == 0, train.stderr
        promote = subprocess.run(
            [PYTHON, "-m", "selfheal", "promote", "v0002", "--reason", "scale test"],
            cwd=ROOT,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert promote.returncode == 0, promote.stderr
        for s in servers:
            _wait(
                lambda s=s: s.request("GET", "/health")[1]["model"]["version"] == "v0002",
                10,
                f"{s.base} serving v0002",
            )

        # 16 clients on both servers; the leader is SIGKILLed while they run.
        answered: list[str] = []
        refused: list[int] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(k: int) -> None:
            n = 0
            while not stop.is_set():
                target = servers[(k + n) % 2]
                n += 1
                try:
                    status, body = target.request("POST", "/predict", RECORD, timeout=10)
                except (OSError, http.client.HTTPException):
                    continue  # the killed process, maybe mid-answer: nothing was promised
                with lock:
                    if status == 200:
                        answered.append(body["prediction_id"])
                    else:
                        refused.append(status)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        os.kill(a.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        a.proc.wait(10)  # type: ignore[union-attr]
        killed_at = time.monotonic()
        _wait(lambda: _leader(b), 5.0, "the survivor leading")
        took_over = time.monotonic() - killed_at
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(30)

        assert took_over < 2.5  # within one monitor interval (1 s) and a cycle's slack
        assert len(answered) > 100 and refused == []
        conn = db.connect(pg_url)
        try:
            stored = {
                r[0]
                for r in conn.execute(
                    "SELECT id FROM predictions WHERE id = ANY(?)", (answered,)
                ).fetchall()
            }
        finally:
            conn.close()
        assert stored == set(answered)  # every 200 was committed, also the killed one's
        cycles_by_b = b.request("GET", "/health")[1]["monitor"]["cycles"]
        _wait(
            lambda: b.request("GET", "/health")[1]["monitor"]["cycles"] > cycles_by_b,
            5,
            "the survivor running monitor cycles",
        )
        logs = a.log() + b.log()
        assert "database is locked" not in logs and "deadlock" not in logs.lower()
        assert b.stop() == 0
    finally:
        for s in servers:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait(10)


@pytest.mark.parametrize("workers", ["2"])
def test_workers_share_one_port_on_postgres(pg_url: str, tmp_path: Path, workers: str) -> None:
    """SELFHEAL_WORKERS=2: gunicorn's two worker processes answer on one port, one of them
    leads, and SIGTERM drains both (every answered prediction committed, exit 0)."""
    server = Server(
        tmp_path / "home",
        SELFHEAL_DATABASE_URL=pg_url,
        SELFHEAL_WORKERS=workers,
        SELFHEAL_THREADS="4",
        SELFHEAL_BOOTSTRAP_ROWS="2000",
    ).start(timeout=120)
    try:
        pids: set[int] = set()
        leaders: set[int] = set()
        ids = []
        for _ in range(60):
            status, body = server.request("POST", "/predict", RECORD)
            assert status == 200
            ids.append(body["prediction_id"])
            health = server.request("GET", "/health")[1]
            holder = health["monitor"]["leader"]["holder"]
            leaders.add(holder["pid"])
            if health["monitor"]["leader"]["this_process"]:
                pids.add(holder["pid"])
        assert len(leaders) == 1  # both workers name the same leader
        assert server.stop() == 0
        conn = db.connect(pg_url)
        try:
            n = conn.execute("SELECT COUNT(*) FROM predictions WHERE id = ANY(?)", (ids,))
            assert n.fetchone()[0] == len(ids)
        finally:
            conn.close()
        assert "Booting worker" in server.log() and server.log().count("Booting worker") >= 2
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)
