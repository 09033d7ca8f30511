"""The whole loop through a real run.py, and the Makefile's simulation targets."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from selfheal.demo import Demo, _free_port
from tests.conftest import ROOT, subprocess_env
from tests.serving import Server

pytestmark = pytest.mark.e2e


def test_demo_heals_rejects_and_rolls_back_through_run_py(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Demo(tmp_path / "home", _free_port())
    try:
        demo.run()
    finally:
        assert demo.stop() == 0
    out = capsys.readouterr().out
    for step in range(1, 7):
        assert f"== {step}." in out
    conn = sqlite3.connect(tmp_path / "home" / "selfheal.db")
    runs = conn.execute(
        "SELECT trigger, status, candidate_version FROM retrain_runs ORDER BY id"
    ).fetchall()
    assert runs[0][0] == "labeled_f1" and runs[0][1] == "promoted"
    assert ("challenge", "rejected") in [(t, s) for t, s, _ in runs]
    failed = conn.execute(
        "SELECT gate FROM gate_results g JOIN retrain_runs r ON r.id = g.run_id"
        " WHERE r.trigger = 'challenge' AND g.passed = 0"
    ).fetchall()
    assert ("statistical",) in failed
    events = [e for (e,) in conn.execute("SELECT event FROM model_events ORDER BY id")]
    assert events.index("promoted") < events.index("rejected") < events.index("rolled_back")
    pointer = (tmp_path / "home" / "registry" / "production.json").read_text()
    assert '"version": "v0001"' in pointer


def make(target: str, home: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(home, SELFHEAL_PORT=str(port), SELFHEAL_ADMIN_TOKEN="t0ken")
    return subprocess.run(
        ["make", "-s", target, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_makefile_simulation_targets_against_run_py(
    tmp_path: Path, _trained_template: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(_trained_template, home)
    server = Server(home, SELFHEAL_ADMIN_TOKEN="t0ken").start()
    try:
        r = make("generate-predictions", home, server.port, "N=40")
        assert r.returncode == 0, r.stderr
        r = make("inject-drift", home, server.port, "TYPE=covariate", "N=30")
        assert r.returncode == 0, r.stderr
        r = make("inject-drift", home, server.port, "TYPE=concept", "N=30")
        assert r.returncode == 0, r.stderr
        r = make("send-labels", home, server.port)
        assert r.returncode == 0, r.stderr
        stats = make("stats", home, server.port)
        assert stats.returncode == 0 and "100" in stats.stdout, stats.stdout
        health = make("health", home, server.port)
        assert health.returncode == 0, health.stdout + health.stderr
        verify = make("verify", home, server.port)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        assert server.stop() == 0
    conn = sqlite3.connect(home / "selfheal.db")
    assert (
        conn.execute("SELECT COUNT(*) FROM predictions WHERE role = 'production'").fetchone()[0]
        == 100
    )
    assert conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 100
    down = make("health", home, server.port)
    assert down.returncode != 0 and "cannot reach" in down.stderr
