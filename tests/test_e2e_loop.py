"""The whole loop through a real run.py, and the Makefile's simulation targets."""

from __future__ import annotations

import json
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
    for step in range(1, 10):
        assert f"== {step}." in out
    conn = sqlite3.connect(tmp_path / "home" / "selfheal.db")
    # Covariate drift: the inputs drift in two cycles in a row, the retrain that follows is
    # printed with its gate verdicts, and production stays.
    cycles = conn.execute(
        "SELECT status, decision, trigger FROM drift_reports ORDER BY id"
    ).fetchall()
    assert cycles[:3] == [
        ("ok", "none", None),
        ("drift", "none", None),
        ("drift", "retrain", "drift"),
    ]
    assert "one drifting cycle is not a trigger yet" in out
    runs = conn.execute(
        "SELECT id, trigger, status, candidate_version FROM retrain_runs ORDER BY id"
    ).fetchall()
    assert [(t, s) for _, t, s, _ in runs] == [
        ("drift", "rejected"),
        ("labeled_f1", "promoted"),
        ("labeled_f1", "promoted"),
        ("challenge", "rejected"),
    ]
    assert "retrain 1 (drift): rejected v0002" in out and "FAIL statistical" in out
    assert "production stays v0001" in out
    # Concept drift: inside the cooldown, new labels after the rejection retrain at once.
    assert "inside the cooldown, but 1000 new labels since run 1 (rejected)" in out
    healed = runs[1][3]
    # The old relationship returns: the probation verdict rolls back by itself.
    probation = conn.execute(
        "SELECT version, previous_version, status, result FROM probations ORDER BY id"
    ).fetchone()
    assert probation[:3] == (healed, "v0001", "rolled_back")
    verdict = json.loads(probation[3])
    assert verdict["n"] == 200 and verdict["f1_previous"] - verdict["f1_new"] > 0.05
    assert f"probation of {healed}: rolled_back" in out
    # The new relationship returns: a labeled collapse beats the cooldown after a rollback.
    assert "inside the cooldown, but labeled F1 collapsed beyond noise" in out
    failed = conn.execute(
        "SELECT gate FROM gate_results g JOIN retrain_runs r ON r.id = g.run_id"
        " WHERE r.trigger = 'challenge' AND g.passed = 0"
    ).fetchall()
    assert ("statistical",) in failed
    events = [
        (e, v, a)
        for e, v, a in conn.execute("SELECT event, version, actor FROM model_events ORDER BY id")
    ]
    assert [x for x in events if x[0] in ("promoted", "rolled_back", "rejected")] == [
        ("promoted", "v0001", "init"),
        ("rejected", "v0002", "monitor"),
        ("promoted", healed, "monitor"),
        ("rolled_back", "v0001", "monitor"),
        ("promoted", runs[2][3], "monitor"),
        ("rejected", runs[3][3], "cli"),
        ("rolled_back", "v0001", "cli"),
    ]
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
