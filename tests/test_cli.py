"""The CLI end to end, as a user runs it: a real subprocess on a temporary SELFHEAL_HOME."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PYTHON, ROOT, subprocess_env


def cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "selfheal", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env(home, SELFHEAL_BOOTSTRAP_ROWS="2000"),
    )


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    n = 1200
    region = rng.choice(["north", "south", "east"], n)
    amount = rng.normal(5000, 1500, n).round(2)
    years = rng.integers(0, 30, n)
    risk = 0.8 * (region == "south") + (amount - 5000) / 2000 - 0.05 * years
    outcome = np.where(rng.random(n) < 1 / (1 + np.exp(-risk)), "bad", "good")
    path = tmp_path_factory.mktemp("data") / "loans.csv"
    pd.DataFrame(
        {"loan amount": amount, "home-region": region, "years employed": years, "outcome": outcome}
    ).to_csv(path, index=False)
    return path


def test_cli_lifecycle(tmp_path: Path, csv_file: Path) -> None:
    home = tmp_path / "home"
    first = cli(home, "init")
    assert first.returncode == 0, first.stderr
    assert "trained and promoted v0001" in first.stdout
    again = cli(home, "init")
    assert again.returncode == 0 and "already initialised: v0001" in again.stdout

    trained = cli(
        home, "train", "--data", str(csv_file), "--target", "outcome", "--positive", "bad"
    )
    assert trained.returncode == 0, trained.stderr
    assert "registered v0002" in trained.stdout

    models = cli(home, "models")
    assert "v0001    production" in models.stdout and "v0002    candidate" in models.stdout

    # v0002 takes the CSV's fields, not the credit ones: every client would get 422, so
    # promoting it needs --force, and the refusal says what clients gain and lose.
    refused = cli(home, "promote", "v0002", "--reason", "CSV model")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "v0002 takes other fields than production v0001: clients would have to add " in (
        refused.stderr
    )
    assert "loan amount" in refused.stderr and "credit_score" in refused.stderr
    assert "--force" in refused.stderr
    promoted = cli(home, "promote", "v0002", "--reason", "CSV model", "--force")
    assert promoted.returncode == 0 and "promoted v0002 (previous: v0001)" in promoted.stdout
    assert "selfheal: warning: v0002 takes other fields" in promoted.stderr
    # Rolling back crosses the same change of fields: the same rule, the same --force.
    refused = cli(home, "rollback")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "v0001 takes other fields than production v0002: clients would have to add " in (
        refused.stderr
    )
    assert "credit_score" in refused.stderr and "roll back anyway" in refused.stderr
    rolled = cli(home, "rollback", "--force")
    assert rolled.returncode == 0 and "rolled back from v0002 to v0001" in rolled.stdout
    assert "selfheal: warning: v0001 takes other fields" in rolled.stderr

    status = cli(home, "status", "--json")
    info = json.loads(status.stdout)
    assert info["production"]["version"] == "v0001"
    assert [e["event"] for e in info["recent_events"]][:3] == [
        "rolled_back",
        "promoted",
        "registered",
    ]
    meta = json.loads((home / "registry" / "v0002" / "meta.json").read_text())
    feats = {f["name"]: f for f in meta["schema"]["features"]}
    assert [f["name"] for f in meta["schema"]["features"]] == [
        "loan amount",
        "home-region",
        "years employed",
    ]
    assert feats["home-region"]["type"] == "categorical"
    assert meta["schema"]["positive"] == "bad"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("promote",), "the following arguments are required: VERSION"),
        (("train", "--seed", "many"), "--seed: expected an integer from 0 to 4294967295"),
        (("train", "--classifier", "svm"), "invalid choice: 'svm'"),
        ((), "the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    r = cli(tmp_path / "home", *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("promote", "../etc"), 1, "invalid version name '../etc'"),
        (("promote", "v0042"), 1, "v0042 does not exist"),
        (("rollback",), 1, "no production model to roll back"),
        (("train", "--data", "missing.csv", "--target", "y"), 2, "missing.csv does not exist"),
        (("train", "--data", "x.csv"), 2, "--data needs --target"),
        (("train", "--schema", "nope.json"), 2, "schema file nope.json does not exist"),
    ],
)
def test_operational_errors_are_one_line(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    from selfheal.home import Home
    from tests.conftest import make_settings

    Home(make_settings(tmp_path / "home")).close()  # a home without a model
    r = cli(tmp_path / "home", *args)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith("selfheal: error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_setting_stops_with_the_variable_named(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path / "home", SELFHEAL_PORT="http")
    r = subprocess.run(
        [PYTHON, "-m", "selfheal", "status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    assert "SELFHEAL_PORT='http' is not valid: expected an integer from 1 to 65535" in r.stderr


def test_ambiguous_target_csv_is_explained(tmp_path: Path, csv_file: Path) -> None:
    r = cli(tmp_path / "home", "train", "--data", str(csv_file), "--target", "outcome")
    assert r.returncode == 2
    assert "ambiguous" in r.stderr and "--positive" in r.stderr


def test_monitor_once_prints_the_retrain_it_started_gate_by_gate(trained_home: Any) -> None:
    """`make monitor` used to print only `decision: retrain`; the retrain runs inside the
    cycle in the CLI process, so its outcome and every gate's verdict are printed."""
    from selfheal import datasets
    from selfheal.service import Service
    from tests.test_loop import send

    svc = Service(trained_home.settings)
    svc.start(monitor=False)
    try:
        send(svc, datasets.generate(1500, seed=12, drift="concept"))
    finally:
        svc.stop()
    out = cli(trained_home.settings.home_path, "monitor", "--once")
    assert "decision: retrain (trigger labeled_f1): trigger labeled_f1" in out.stdout
    status = re.search(r"^retrain 1: (promoted|rejected) v0002$", out.stdout, re.M)
    assert status is not None, out.stdout
    # The cycle did what it was asked, whatever the gates concluded: 0 (a failed retrain
    # would be 1). `selfheal retrain`, asked for a promotion, exits 3 on a rejection.
    assert out.returncode == 0, out.stderr
    verdicts = re.findall(r"^  (PASS|FAIL) (\w+)", out.stdout, re.M)
    assert [g for _, g in verdicts] == ["data_quality", "statistical", "stability", "consistency"]


@pytest.mark.parametrize(
    "command",
    [
        "models",
        "status",
        "promote v0001",
        "rollback",
        "retrain",
        "monitor --once",
        "shadow v0001",
        "report",
        "prune --days 3",
        "backup",
    ],
)
def test_read_only_commands_do_not_create_a_home(tmp_path: Path, command: str) -> None:
    """Only init, train, serve, demo and replay make a home; `prune` on a mistyped
    SELFHEAL_HOME made an empty one and reported success (and `backup` then backed it up)."""
    home = tmp_path / "mistyped"
    out = cli(home, *command.split())
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"selfheal: error: no selfheal home at {home}")
    assert "make init" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not home.exists()


def test_env_check_lists_every_unknown_and_invalid_setting(tmp_path: Path) -> None:
    """`selfheal env` refused to run while a bad variable was set, so the documented
    diagnosis could not work; `env --check` lists every problem, with its source."""
    env_file = tmp_path / ".env"
    env_file.write_text("SELFHEAL_COOLDOWN_SECONDS=-5\n")
    env = {
        **subprocess_env(tmp_path / "home"),
        "SELFHEAL_PROT": "8001",
        "SELFHEAL_PORT": "abc",
        "SELFHEAL_ENV_FILE": str(env_file),
    }
    out = subprocess.run(
        [PYTHON, "-m", "selfheal", "env", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("invalid: ") for line in lines)
    assert any("SELFHEAL_PROT" in x and "did you mean SELFHEAL_PORT?" in x for x in lines)
    assert any("SELFHEAL_PORT='abc'" in x and "(from the environment)" in x for x in lines)
    assert any("SELFHEAL_COOLDOWN_SECONDS" in x and f"(from {env_file})" in x for x in lines)
    clean = subprocess.run(
        [PYTHON, "-m", "selfheal", "env", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(tmp_path / "home"),
    )
    assert clean.returncode == 0 and clean.stdout.startswith("ok:")


def test_a_missing_dependency_is_one_line_with_the_fix(tmp_path: Path) -> None:
    """`python -m selfheal` from an interpreter without the dependencies (the system python
    after `make run`) said "unexpected ModuleNotFoundError ... please report it"."""
    code = (
        "import sys, runpy; sys.modules['pandas'] = None; sys.argv = ['selfheal', 'models'];"
        " runpy.run_module('selfheal', run_name='__main__')"
    )
    out = subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(tmp_path / "home"),
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("selfheal: error: the Python package 'pandas' is missing")
    assert "make install" in out.stderr and ".venv/bin/selfheal" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_hints_name_a_command_that_runs_here() -> None:
    """A hint printed by the CLI must run as printed: this interpreter's own `selfheal`
    script (or `python -m selfheal`), not a bare `selfheal` that is not on PATH."""
    out = subprocess.run(
        [PYTHON, "-c", "from selfheal.cli import command_name; print(command_name())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**subprocess_env(ROOT / "var-unused"), "PATH": "/usr/bin:/bin"},
    )
    name = out.stdout.strip()
    assert name != "selfheal"  # not on this PATH
    probe = subprocess.run(
        [*name.split(), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0 and "usage: selfheal" in probe.stdout


def test_train_promote_with_other_fields_needs_force(tmp_path: Path, csv_file: Path) -> None:
    home = tmp_path / "home"
    assert cli(home, "init").returncode == 0
    args = ["train", "--data", str(csv_file), "--target", "outcome", "--positive", "bad"]
    refused = cli(home, *args, "--promote")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "the new model takes other fields than production v0001" in refused.stderr
    assert "v0002" not in cli(home, "models").stdout  # refused before training
    forced = cli(home, *args, "--promote", "--force")
    assert forced.returncode == 0 and "registered v0002; promoted to production" in forced.stdout


def test_models_compares_every_version_on_the_same_newest_labeled_rows(
    trained_home: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make models` listed each version's own holdout F1 side by side, so a promotion
    looked like a regression. With labels, every version is also scored on the same newest
    labeled rows, labelled as such: a copy of v0001 with an inflated holdout F1 gets the
    same live F1 as v0001, because it is the same model on the same rows."""
    from selfheal import datasets
    from selfheal.cli import main
    from selfheal.home import compare_live
    from selfheal.performance import labeled_metrics
    from selfheal.service import Service
    from tests.conftest import register_copy
    from tests.test_loop import send

    meta = trained_home.registry.meta("v0001")
    inflated = {**meta["metrics"], "f1": 0.999}
    copy = register_copy(trained_home.registry, metrics=inflated)
    svc = Service(trained_home.settings)
    svc.start(monitor=False)
    try:
        frame = datasets.generate(300, seed=31)
        send(svc, frame)
    finally:
        svc.stop()

    n, live = compare_live(trained_home, ["v0001", copy])
    assert n == 300 and set(live) == {"v0001", copy}
    assert live["v0001"] == live[copy] and live["v0001"]["n"] == 300
    model = trained_home.registry.load("v0001")
    X = frame[list(datasets.FEATURES)].to_numpy(dtype=float)
    expected = labeled_metrics(frame["default"].to_numpy(), model.predict_proba(X), model.threshold)
    assert live["v0001"]["f1"] == pytest.approx(expected.f1)

    monkeypatch.setenv("SELFHEAL_HOME", str(trained_home.settings.home_path))
    capsys.readouterr()
    code = main(["models"])
    out = capsys.readouterr().out
    assert code == 0
    assert "LIVE: every version scored on the same 300 newest labeled rows" in out
    assert "LIVE F1" in out.splitlines()[1]
    row = next(line for line in out.splitlines() if line.startswith(copy))
    assert "0.999" in row and f"{expected.f1:.3f}" in row


def test_models_without_labels_shows_holdout_metrics_only(
    trained_home: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfheal.cli import main

    monkeypatch.setenv("SELFHEAL_HOME", str(trained_home.settings.home_path))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "LIVE" not in out and out.startswith("VERSION")
