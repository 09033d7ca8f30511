"""End to end through a real `python run.py` subprocess on a free loopback port."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from selfheal import db
from selfheal.registry import Registry
from tests.conftest import PYTHON, ROOT, register_copy, subprocess_env
from tests.serving import Server

pytestmark = pytest.mark.e2e
GOOD = {"age": 35, "income": 52_000, "credit_score": 690, "employment_years": 6.5}


@pytest.fixture
def home_with_two_versions(tmp_path: Path, _trained_template: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(_trained_template, home)
    reg = Registry(home / "registry")
    reg.promote(register_copy(reg), actor="test")  # v0002 serves, v0001 is the previous
    return home


def count_rows(home: Path) -> int:
    conn = db.connect(home / "selfheal.db")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
    finally:
        conn.close()


def test_serve_label_rollback_while_serving_and_clean_exit(home_with_two_versions: Path) -> None:
    home = home_with_two_versions
    server = Server(home, SELFHEAL_MODEL_POLL_SECONDS="0.2").start()
    ok = 0
    try:
        status, body = server.request("POST", "/predict", GOOD)
        assert status == 200 and body["model_version"] == "v0002", body
        ok += 1
        status, lab = server.request(
            "POST", "/monitoring/labels", {"prediction_id": body["prediction_id"], "label": 1}
        )
        assert status == 201 and lab["status"] == "created"

        rolled = subprocess.run(
            [PYTHON, "-m", "selfheal", "rollback", "--reason", "e2e"],
            cwd=ROOT,
            env=subprocess_env(home),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rolled.returncode == 0, rolled.stderr
        t0 = time.monotonic()
        version = None
        while time.monotonic() - t0 < 2.0:
            status, body = server.request("POST", "/predict", GOOD)
            assert status == 200
            ok += 1
            version = body["model_version"]
            if version == "v0001":
                break
            time.sleep(0.05)
        assert version == "v0001", "the rollback was not picked up within 2 s"
        status, info = server.request("GET", "/model/info")
        assert info["version"] == "v0001" and info["promoted_by"] == "cli"
    finally:
        code = server.stop()
    assert code == 0, server.log()
    assert "stopped after" in server.log()
    assert count_rows(home) == ok


def test_concurrent_clients_get_no_errors_and_every_200_is_a_row(
    tmp_path: Path, _trained_template: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(_trained_template, home)
    server = Server(home).start()
    statuses: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    body = json.dumps(GOOD)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        mine = []
        try:
            for _ in range(200):
                conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                payload = resp.read()
                mine.append(resp.status)
                if resp.status != 200:
                    errors.append(payload.decode()[:200])
        except Exception as exc:  # any transport error fails the test below
            errors.append(repr(exc))
        finally:
            conn.close()
            with lock:
                statuses.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        code = server.stop()
    assert errors == []
    assert statuses.count(200) == 16 * 200
    assert code == 0
    assert count_rows(home) == 16 * 200
    assert "database is locked" not in server.log()


def test_sigterm_under_load_loses_no_answered_row(tmp_path: Path, _trained_template: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(_trained_template, home)
    server = Server(home).start()
    answered: list[int] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                conn.request(
                    "POST", "/predict", json.dumps(GOOD), {"Content-Type": "application/json"}
                )
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    answered.append(1)
                conn.close()
            except (OSError, http.client.HTTPException):
                return  # the server went away (maybe mid-answer): expected during shutdown

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    code = server.stop()
    elapsed = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(15)
    assert code == 0 and elapsed < 10, server.log()
    assert len(answered) > 0
    assert count_rows(home) >= len(answered)  # every 200 was committed before it was sent
