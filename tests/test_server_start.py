"""`python run.py` start-up failures, in a real process: one line on stderr naming the
setting to fix, the documented exit code (2 invalid settings, 1 start-up failed), never a
traceback (waitress printed stacked ones for a host it could not resolve)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from selfheal.home import Home
from tests.conftest import PYTHON, ROOT, free_port, subprocess_env


def start(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "run.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(home, **{"SELFHEAL_MONITOR_ENABLED": "false", **env}),
    )


def assert_one_line(out: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    lines = [x for x in out.stderr.splitlines() if " INFO " not in x]
    assert out.returncode == code, out.stderr
    assert len(lines) == 1 and lines[0].startswith("selfheal: error: "), out.stderr
    assert "Traceback" not in out.stderr and "please report it" not in out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("host", ["no such host", "256.1.1.1", "\udcff"])
def test_a_host_that_is_no_address_stops_start_up_as_a_bad_setting(
    host: str, tmp_path: Path
) -> None:
    out = start(tmp_path / "home", SELFHEAL_HOST=host)
    assert_one_line(out, 2, "SELFHEAL_HOST=", "is not valid")
    assert not (tmp_path / "home").exists()


def test_a_port_in_use_is_one_line_naming_selfheal_port(trained_home: Home) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        out = start(trained_home.settings.home_path, SELFHEAL_PORT=str(port))
    assert_one_line(
        out, 1, f"cannot listen on 127.0.0.1:{port}", "Address already in use", "SELFHEAL_PORT"
    )


def test_the_port_is_bound_before_any_thread_starts(trained_home: Home) -> None:
    """`make run` on a port in use used to run a monitor cycle (and load the model twice)
    before it said so: the server binds first, then starts its threads."""
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        out = start(
            trained_home.settings.home_path,
            SELFHEAL_PORT=str(port),
            SELFHEAL_MONITOR_ENABLED="true",
            SELFHEAL_MONITOR_INTERVAL="0.05",
        )
    assert out.returncode == 1, out.stderr
    assert "monitor cycle" not in out.stderr and "model loaded" not in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("nosuchhost.invalid", "does not resolve"),  # RFC 6761: never resolves
        ("192.0.2.1", "Cannot assign requested address"),  # RFC 5737 TEST-NET-1: not ours
    ],
)
def test_a_host_it_cannot_bind_is_one_line_naming_selfheal_host(
    host: str, reason: str, trained_home: Home
) -> None:
    out = start(trained_home.settings.home_path, SELFHEAL_HOST=host, SELFHEAL_PORT="18999")
    assert_one_line(out, 1, f"cannot listen on {host}:18999", reason, "set SELFHEAL_HOST")
