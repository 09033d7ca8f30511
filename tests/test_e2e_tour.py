"""The README's "A 2-minute tour", played as written: its `make` commands against a real
server started by `make start` on a free loopback port, in a temporary SELFHEAL_HOME.

The commands are read from the README, so the tour cannot drift from what this test runs;
each step is checked against what the README's comment says it does. The traffic is
seeded and the server's monitor thread idles (the tour exports a one-hour interval), so
only the tour's own `make monitor` cycles act and the story is the same on every run.
`make` runs with the venv's install stamp assumed up to date (`--assume-old`), so it never
reinstalls, and with PY set to the interpreter running the tests.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON, ROOT, free_port, subprocess_env

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
RUNTIME_STAMP = ".venv/.installed-runtime"  # the Makefile's $(VENV)/.installed-runtime


def readme_blocks() -> list[str]:
    """The ```bash blocks of the README's "A 2-minute tour" section."""
    text = README.read_text()
    section = text.split("\n## A 2-minute tour\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def tour_commands() -> list[list[str]]:
    return [
        argv
        for line in readme_blocks()[0].splitlines()
        if (argv := shlex.split(line, comments=True))
    ]


def audit_queries() -> list[str]:
    """The SQL of the README's `sqlite3 var/selfheal.db "..."` audit-trail lines."""
    return [shlex.split(line)[2] for line in readme_blocks()[1].splitlines() if line.strip()]


class Tour:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.env = subprocess_env(
            home, SELFHEAL_PORT=str(self.port), SELFHEAL_MONITOR_INTERVAL="3600"
        )
        for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # when the suite runs under make
            self.env.pop(k, None)
        self.timings: list[tuple[str, float]] = []
        self.served: list[tuple[float, str]] = []
        self.done = threading.Event()
        self.watcher: threading.Thread | None = None

    def make(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        t0 = time.monotonic()
        r = subprocess.run(
            ["make", f"--assume-old={RUNTIME_STAMP}", f"PY={PYTHON}", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        self.timings.append((" ".join(["make", *args]), time.monotonic() - t0))
        assert r.returncode == 0, self.explain(r)
        return r

    def explain(self, r: subprocess.CompletedProcess[str]) -> str:
        log = self.home / "logs" / "selfheal.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no server log)"
        return (
            f"{r.args} exited {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
            f"\n--- server log\n{tail}"
        )

    def get(self, path: str) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                status, body = exc.code, exc.read()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    def watch(self) -> None:
        """Poll /model/info every 0.1 s from now on: (wall-clock time, version served)."""

        def poll() -> None:
            while not self.done.is_set():
                try:
                    self.served.append((time.time(), self.get("/model/info")[1]["version"]))
                except (OSError, KeyError, TypeError):  # stopping, or swapping
                    pass
                self.done.wait(0.1)

        self.watcher = threading.Thread(target=poll, daemon=True)
        self.watcher.start()

    def unwatch(self) -> None:
        self.done.set()
        if self.watcher is not None:
            self.watcher.join(15)

    def first_served(self, version: str, after: float, timeout: float = 5.0) -> float:
        """The first time the watcher saw `version` served at or after `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            times = [t for t, v in list(self.served) if v == version and t >= after]
            if times:
                return min(times)
            time.sleep(0.05)
        raise AssertionError(f"{version} not served within {timeout} s: {self.served[-20:]}")

    def event_time(self, event: str, version: str) -> float:
        """When the newest `event` of `version` was recorded (the registry's write)."""
        conn = self.db()
        try:
            (at,) = conn.execute(
                "SELECT created_at FROM model_events WHERE event = ? AND version = ?"
                " ORDER BY id DESC LIMIT 1",
                (event, version),
            ).fetchone()
        finally:
            conn.close()
        return datetime.fromisoformat(str(at).replace("Z", "+00:00")).timestamp()

    def pid(self) -> int | None:
        path = self.home / "selfheal.pid"
        return int(path.read_text()) if path.exists() else None

    def kill_leftover(self) -> None:
        """After a failure: stop the server this test started, by the pid `make start` wrote."""
        pid = self.pid()
        if pid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.home / 'selfheal.db'}?mode=ro", uri=True)


def runs(tour: Tour) -> list[tuple[int, str, str, str | None]]:
    conn = tour.db()
    try:
        return conn.execute(
            "SELECT id, trigger, status, candidate_version FROM retrain_runs ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def gates(tour: Tour, run_id: int) -> dict[str, int]:
    conn = tour.db()
    try:
        rows = conn.execute("SELECT gate, passed FROM gate_results WHERE run_id = ?", (run_id,))
        return {str(g): int(p) for g, p in rows}
    finally:
        conn.close()


def test_readme_tour_plays_out_as_written_against_a_real_server(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    commands = tour_commands()
    assert [a[1] if a[0] == "make" else a[0] for a in commands] == [
        "export",
        "export",
        "start",
        "generate-predictions",
        "stats",
        "inject-drift",
        "monitor",
        "open",
        "inject-drift",
        "monitor",
        "models",
        "rollback",
        "stop",
    ], "the README tour changed: update this test with it"
    tour = Tour(tmp_path / "home")
    drift = None  # the TYPE of the latest inject-drift
    baseline = 0  # N of generate-predictions
    promoted = None
    t_start = time.monotonic()
    try:
        for argv in commands:
            if argv[0] == "export":
                key, value = argv[1].split("=", 1)
                tour.env[key] = value
                continue
            if argv[0] == "open":  # the dashboard: on our port, the drift report linked
                path = argv[1].split("127.0.0.1:8000", 1)[1]
                status, page = tour.get(path)
                assert status == 200 and 'href="/reports/drift/latest"' in page, page[:500]
                status, report = tour.get("/reports/drift/latest")
                assert status == 200 and "<html" in report.lower()
                continue
            assert argv[0] == "make", argv
            target, args = argv[1], argv[2:]
            opts = dict(a.split("=", 1) for a in args)
            out = tour.make(argv[1:]).stdout

            if target == "start":  # serves in the background; first start trains v0001
                assert "started pid" in out and tour.pid() is not None
                assert tour.get("/model/info")[1]["version"] == "v0001"
                health = tour.get("/health")[1]
                assert health["monitor"]["interval_seconds"] == 3600, health["monitor"]
                tour.watch()
            elif target == "generate-predictions":  # realistic traffic with labels
                baseline = int(opts["N"])
                assert f"{baseline} ok, 0 failed" in out, out
                assert f"labels: {baseline} sent now" in out, out
            elif target == "stats":  # traffic, latency, live F1
                traffic = rf"traffic: +{baseline} predictions .*, {baseline} labels"
                assert re.search(traffic, out), out
                assert re.search(r"latency p50 [\d.]+ ms", out), out
                assert re.search(rf"live: +n {baseline} +F1 0\.\d{{3}}", out), out
            elif target == "inject-drift":
                drift = opts["TYPE"]
                n = int(opts["N"])
                assert f"{n} ok, 0 failed" in out and f"({drift} drift, " in out, out
                if drift == "concept":  # labels included
                    assert f"labels: {n} sent now" in out, out
            elif target == "monitor" and drift == "covariate":
                # age and income drift; estimated F1 drops -> retrain v0002, rejected
                assert "status drift" in out and "dataset drift True" in out, out
                drifted = re.search(r"drifted: (.*)", out)
                assert drifted and {"age", "income"} <= set(drifted[1].split(", ")), out
                assert "decision: retrain (trigger estimated_f1)" in out, out
                assert runs(tour) == [(1, "estimated_f1", "rejected", "v0002")]
                assert gates(tour, 1)["statistical"] == 0
            elif target == "monitor" and drift == "concept":
                # labeled F1 drops -> retrain -> four gates
                live = re.search(r"F1: live ([\d.]+) on (\d+) labels", out)
                holdout = re.search(r"holdout ([\d.]+)", out)
                assert live and holdout and float(live[1]) < float(holdout[1]) - 0.05, out
                assert "decision: retrain (trigger labeled_f1)" in out, out
                run_id, trigger, outcome, promoted = runs(tour)[-1]
                assert (trigger, outcome) == ("labeled_f1", "promoted"), runs(tour)
                assert gates(tour, run_id) == {
                    "data_quality": 1,
                    "statistical": 1,
                    "stability": 1,
                    "consistency": 1,
                }
                assert promoted is not None and int(promoted[1:]) >= 2
                # The CLI promoted it; the server follows within a second or two.
                promoted_at = tour.event_time("promoted", promoted)
                swap = tour.first_served(promoted, after=promoted_at) - promoted_at
                tour.timings.append(("server swap after the promotion was recorded", swap))
                assert swap < 2.0, tour.served[-40:]
            elif target == "models":  # v0003 promoted; v0002 rejected, with the reasons
                status_of: dict[str, tuple[str, str]] = {}
                row = None
                for line in out.splitlines():
                    if m := re.match(r"(v\d{4}) +(\w+)", line):
                        row = m[1]
                        status_of[row] = (m[2], line)
                    elif row is not None and line.startswith("    "):  # a wrapped reason
                        text = f"{status_of[row][1]} {line.strip()}"
                        status_of[row] = (status_of[row][0], text)
                assert promoted == "v0003", runs(tour)
                assert status_of["v0003"][0] == "production", out
                assert status_of["v0002"][0] == "rejected", out
                assert "rejected by statistical" in status_of["v0002"][1], out
                assert status_of["v0001"][0] == "archived", out
            elif target == "rollback":  # back to v0001; the server swaps within a second
                assert f"rolled back from {promoted} to v0001" in out, out
                rolled_back = tour.event_time("rolled_back", "v0001")
                swap = tour.first_served("v0001", after=rolled_back) - rolled_back
                tour.timings.append(("server swap after the rollback was recorded", swap))
                assert swap < 2.0, tour.served[-40:]
            elif target == "stop":  # graceful: drains writes, exits 0
                assert "stopped pid" in out and tour.pid() is None, out
                log = (tour.home / "logs" / "selfheal.log").read_text()
                assert "stopped after" in log and "Traceback" not in log, log[-2000:]
            else:
                raise AssertionError(f"no check for README tour step {argv}")
    finally:
        tour.unwatch()
        tour.kill_leftover()
        total = time.monotonic() - t_start
        print("\n".join(f"{s:6.1f} s  {c}" for c, s in [*tour.timings, ("total", total)]))

    # Every step is in the audit trail: the README's queries, on this home.
    conn = tour.db()
    try:
        events, retrains, gate_rows = (conn.execute(q).fetchall() for q in audit_queries())
    finally:
        conn.close()
    assert [(e, v, a) for _, e, v, a, _ in events if e in ("promoted", "rolled_back")] == [
        ("promoted", "v0001", "init"),
        ("promoted", "v0003", "monitor"),
        ("rolled_back", "v0001", "cli"),
    ]
    assert [(t, s) for _, t, s, _ in retrains] == [
        ("estimated_f1", "rejected"),
        ("labeled_f1", "promoted"),
    ]
    assert len(gate_rows) == 8 and all(reason for *_, reason in gate_rows)
