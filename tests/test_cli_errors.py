"""Every CLI command with bad input: the documented exit code, one line on stderr, never a
traceback and never "please report it" (that line is for bugs only).

The commands come from the argparse parser, so a new command fails
`test_every_command_has_a_bad_input_case` until it has a case below. Most cases run
`selfheal.cli.main` in this process; a few run the real CLI in a subprocess, where Python's
fallback log handler (the one that printed `train --challenge`'s traceback) is active.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selfheal import cli, datasets
from selfheal.cli import EXIT_FAILED, EXIT_OK, EXIT_REJECTED, EXIT_USAGE
from selfheal.home import Home
from tests.conftest import PYTHON, ROOT, make_settings, register_copy, subprocess_env


def parser_commands() -> list[str]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Input files: a good credit CSV and some bad ones."""
    d = tmp_path_factory.mktemp("inputs")
    good = datasets.generate(500, seed=1)
    good.to_csv(d / "good.csv", index=False)
    noise = good.assign(default=np.random.default_rng(0).permutation(good["default"].to_numpy()))
    noise.to_csv(d / "noise.csv", index=False)
    (d / "ragged.csv").write_text("a,b,y\n1,2,0\n3,4,5,6\n")
    (d / "binary.csv").write_bytes(b"\x00\x01\x02")
    (d / "bad.json").write_text("{bad")
    (d / "a_file").write_text("not a folder\n")
    datasets.generate(40_000, seed=2).to_csv(d / "long.csv", index=False)
    return {
        "good": str(d / "good.csv"),
        "long": str(d / "long.csv"),
        "noise": str(d / "noise.csv"),
        "ragged": str(d / "ragged.csv"),
        "binary": str(d / "binary.csv"),
        "schema": str(d / "bad.json"),
        "missing": str(d / "missing.csv"),
        "file": str(d / "a_file"),
        "dir": str(d),
    }


# (command line, home, exit code, a fragment of the one stderr line). Homes: "none" (no
# SELFHEAL_HOME folder yet), "empty" (a migrated database, no model), "trained" (v0001
# serves, no traffic), "file" (SELFHEAL_HOME is a file). {name} is a path from the `files`
# fixture.
NO_HOME = "no selfheal home"
BAD_INPUT: dict[str, list[tuple[str, str, int, str]]] = {
    "init": [("init", "file", EXIT_USAGE, "cannot be used as a folder")],
    "train": [
        ("train --data {missing} --target y", "none", EXIT_USAGE, "does not exist"),
        ("train --data {ragged} --target y", "none", EXIT_USAGE, "has 4 fields but"),
        ("train --data {binary} --target y", "none", EXIT_USAGE, "NUL bytes"),
        ("train --data {dir} --target y", "none", EXIT_USAGE, "is a folder"),
        ("train --data {good} --target nope", "none", EXIT_USAGE, "'nope'"),
        ("train --data {good}", "none", EXIT_USAGE, "--data needs --target"),
        ("train --schema {schema}", "none", EXIT_USAGE, "is not valid JSON"),
        ("train --rows 0", "none", EXIT_USAGE, "--rows: expected an integer from 1 to"),
        ("train --rows 99999999999999999", "none", EXIT_USAGE, "from 1 to 10000000, got"),
        ("train --seed -1", "none", EXIT_USAGE, "--seed: expected an integer from 0"),
        ("train --classifier svm", "none", EXIT_USAGE, "invalid choice: 'svm'"),
        ("train --challenge", "none", EXIT_FAILED, "needs a production model"),
        # A first model on labels shuffled at random falls below the floors: the gates say no.
        ("train --data {noise} --target default", "none", EXIT_REJECTED, "registered as rejected"),
        # With production but no labeled traffic: test_bad_input_in_a_real_process_is_one_line
    ],
    "models": [("models", "none", EXIT_FAILED, NO_HOME)],
    "promote": [
        ("promote v0001", "none", EXIT_FAILED, NO_HOME),
        ("promote v0099", "trained", EXIT_FAILED, "v0099 does not exist"),
        ("promote ../etc", "trained", EXIT_FAILED, "invalid version name '../etc'"),
        ("promote v0001", "trained", EXIT_FAILED, "already in production"),
        ("promote", "trained", EXIT_USAGE, "required: VERSION"),
    ],
    "rollback": [
        ("rollback", "none", EXIT_FAILED, NO_HOME),
        ("rollback", "empty", EXIT_FAILED, "no production model to roll back"),
        ("rollback", "trained", EXIT_FAILED, "no previous production version"),
        ("rollback --to v0099", "trained", EXIT_FAILED, "v0099 does not exist"),
    ],
    "retrain": [
        ("retrain", "none", EXIT_FAILED, NO_HOME),
        ("retrain", "empty", EXIT_FAILED, "no production model to retrain from"),
    ],
    "monitor": [
        ("monitor --once", "none", EXIT_FAILED, NO_HOME),
        ("monitor --once", "empty", EXIT_FAILED, "no production model to monitor"),
        ("monitor", "trained", EXIT_USAGE, "required: --once"),
    ],
    "shadow": [
        ("shadow v0001", "none", EXIT_FAILED, NO_HOME),
        ("shadow", "trained", EXIT_USAGE, "give a VERSION to shadow, or --stop"),
        ("shadow v0099", "trained", EXIT_FAILED, "v0099 does not exist"),
    ],
    "report": [
        ("report", "none", EXIT_FAILED, NO_HOME),
        ("report", "empty", EXIT_FAILED, "no production model to report on"),
        ("report", "trained", EXIT_FAILED, "no traffic in the window yet"),
    ],
    "replay": [
        ("replay --data {missing} --target default", "none", EXIT_USAGE, "does not exist"),
        ("replay --data {good} --target default", "none", EXIT_USAGE, "leaves nothing"),
        (
            "replay --data {good} --target default --train-rows 300 --batch 0",
            "none",
            EXIT_USAGE,
            "--batch: expected an integer from 1 to 100000, got '0'",
        ),
        (
            "replay --data {good} --target default --train-rows 100",
            "none",
            EXIT_USAGE,
            "--train-rows: expected an integer from 200 to 10000000",
        ),
        (
            "replay --data {long} --target default --train-rows 300 --seconds-per-row 86400",
            "none",
            EXIT_USAGE,
            "spans 109 years of injected time, more than the 100 allowed",
        ),
        (
            "replay --data {good} --target default --train-rows 300 --home {file}",
            "none",
            EXIT_USAGE,
            "cannot be used as a folder",
        ),
    ],
    "prune": [
        ("prune --days 3", "none", EXIT_FAILED, NO_HOME),
        ("prune --days nan", "trained", EXIT_USAGE, "--days: expected a number from 0 to 36500"),
        ("prune --days -1", "trained", EXIT_USAGE, "--days: expected a number from 0 to 36500"),
        ("prune --days 1e400", "trained", EXIT_USAGE, "got '1e400'"),
        ("prune --days soon", "trained", EXIT_USAGE, "got 'soon'"),
    ],
    "backup": [
        ("backup", "none", EXIT_FAILED, NO_HOME),
        ("backup --to {dir}", "none", EXIT_FAILED, NO_HOME),
    ],
    "status": [("status", "none", EXIT_FAILED, NO_HOME)],
    "serve": [("serve now", "none", EXIT_USAGE, "unrecognized arguments: now")],
    "simulate": [
        ("simulate predict 5 --url bogus", "none", EXIT_USAGE, "invalid server URL 'bogus'"),
        ("simulate health --url http://127.0.0.1:1", "none", EXIT_FAILED, "cannot reach"),
        (
            "simulate predict 99999999999999999999 --url http://127.0.0.1:1",
            "none",
            EXIT_USAGE,
            "argument N: expected an integer from 1 to 1000000",
        ),
    ],
    "demo": [("demo now", "none", EXIT_USAGE, "unrecognized arguments: now")],
    "env": [("env now", "none", EXIT_USAGE, "unrecognized arguments: now")],
}

CASES = [
    pytest.param(line, home, code, fragment, id=f"{line} [{home}]")
    for cases in BAD_INPUT.values()
    for line, home, code, fragment in cases
]


def run(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`selfheal ARGV` in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capfd.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, expected: int, fragment: str) -> None:
    assert code == expected != EXIT_OK, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("selfheal") and ": error: " in lines[0], err
    assert fragment in lines[0], err
    assert "Traceback" not in out + err
    assert "please report it" not in out + err


@pytest.fixture
def homes(
    tmp_path: Path, files: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    """Home folders by kind; "trained" is only made when asked for (it copies a home)."""
    yield {
        "none": tmp_path / "home",
        "empty": lambda: empty_home(tmp_path / "empty"),
        "file": Path(files["file"]),
        "trained": lambda: request.getfixturevalue("trained_home").settings.home_path,
    }


def empty_home(path: Path) -> Path:
    """A migrated database and no model, as `Home` leaves it."""
    Home(make_settings(path)).close()
    return path


def home_path(homes: dict[str, Any], kind: str) -> Path:
    value = homes[kind]
    return Path(value() if callable(value) else value)


def test_every_command_has_a_bad_input_case() -> None:
    assert sorted(BAD_INPUT) == parser_commands()


@pytest.mark.parametrize(("line", "home", "code", "fragment"), CASES)
def test_bad_input_is_one_line_with_the_documented_exit_code(
    line: str,
    home: str,
    code: int,
    fragment: str,
    files: dict[str, str],
    homes: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = home_path(homes, home)
    monkeypatch.setenv("SELFHEAL_HOME", str(path))
    got, out, err = run(line.format(**files).split(), capfd)
    assert_one_line_error(got, out, err, code, fragment.format(**files))
    if fragment == NO_HOME:  # refused, and not created empty either
        assert not path.exists()


# A valid command line for each command that needs arguments.
VALID = {
    "promote": ["promote", "v0001"],
    "monitor": ["monitor", "--once"],
    "replay": ["replay", "--data", "x.csv", "--target", "y"],
    "prune": ["prune", "--days", "1"],
    "shadow": ["shadow", "--stop"],
    "simulate": ["simulate", "health"],
}


@pytest.mark.parametrize("command", parser_commands())
def test_an_unknown_option_is_one_line_exit_2(
    command: str, capfd: pytest.CaptureFixture[str]
) -> None:
    got, out, err = run([*VALID.get(command, [command]), "--no-such-option"], capfd)
    assert_one_line_error(got, out, err, EXIT_USAGE, "--no-such-option")


@pytest.mark.parametrize("command", [c for c in parser_commands() if c != "env"])
def test_a_bad_setting_stops_every_command_with_one_line(
    command: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`env` is the exception: it diagnoses the settings (tests/test_cli.py)."""
    monkeypatch.setenv("SELFHEAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SELFHEAL_PORT", "http")
    got, out, err = run(VALID.get(command, [command]), capfd)
    assert_one_line_error(got, out, err, EXIT_USAGE, "SELFHEAL_PORT='http' is not valid")
    assert not (tmp_path / "home").exists()


def cli_subprocess(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "selfheal", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(home),
    )


@pytest.mark.parametrize(
    ("args", "home", "code", "fragment"),
    [
        # The reported bug: the healer logged the failed run with its traceback, and with no
        # handler configured Python's fallback printed it before the result.
        pytest.param(
            ("train", "--challenge", "--rows", "1000"),
            "trained",
            EXIT_FAILED,
            "challenge 1 failed: need at least 100 labeled live rows",
            id="train-challenge-without-labels",
        ),
        pytest.param(
            ("monitor", "--once"),
            "empty",
            EXIT_FAILED,
            "no production model to monitor",
            id="monitor-without-a-model",
        ),
        pytest.param(
            ("init",), "file", EXIT_USAGE, "cannot be used as a folder", id="init-home-is-a-file"
        ),
    ],
)
def test_bad_input_in_a_real_process_is_one_line(
    args: tuple[str, ...], home: str, code: int, fragment: str, homes: dict[str, Any]
) -> None:
    r = cli_subprocess(home_path(homes, home), *args)
    assert_one_line_error(r.returncode, r.stdout, r.stderr, code, fragment)


def test_a_logged_bug_is_one_line_that_asks_for_a_report(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The one line the CLI prints for the core's log records: an expected failure (a
    SelfhealError) is its message, anything else is a bug."""
    from selfheal.errors import DataError

    log = logging.getLogger("selfheal.test_cli_errors")
    handler = cli.OneLineLog()
    log.addHandler(handler)
    try:
        try:
            {}["missing"]
        except KeyError:
            log.exception("retrain 7 failed")
        try:
            raise DataError("too few rows\n of class 1")
        except DataError:
            log.exception("monitor cycle failed")
        log.warning("probation of %s expired", "v0002")
        log.info("not shown")
    finally:
        log.removeHandler(handler)
    assert capfd.readouterr().err.splitlines() == [
        "selfheal: error: retrain 7 failed: unexpected KeyError: 'missing'; "
        "please report it with the command you ran",
        "selfheal: error: monitor cycle failed: too few rows of class 1",
        "selfheal: warning: probation of v0002 expired",
    ]


def labeled_traffic(home: Home, n: int = 1500) -> None:
    """Score and label `n` rows through the service, as clients would."""
    from selfheal.service import Service
    from tests.test_loop import send

    svc = Service(home.settings)
    svc.start(monitor=False)
    try:
        send(svc, datasets.generate(n, seed=12))
    finally:
        svc.stop()


def test_rejections_exit_3_for_retrain_and_train_challenge_alike(
    trained_home: Home,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`retrain` used to exit 0 on a rejection while `train --challenge` exited 1: both say 3,
    the gates said no, with the verdicts on stdout and nothing on stderr."""
    labeled_traffic(trained_home)
    monkeypatch.setenv("SELFHEAL_HOME", str(trained_home.settings.home_path))
    shuffled = tmp_path / "shuffled.csv"
    frame = datasets.generate(3000, seed=5)
    frame["default"] = np.random.default_rng(0).permutation(frame["default"].to_numpy())
    frame.to_csv(shuffled, index=False)

    challenged = run(
        ["train", "--challenge", "--data", str(shuffled), "--target", "default"], capfd
    )
    retrained = run(["retrain"], capfd)

    for (code, out, err), run_id in ((challenged, 1), (retrained, 2)):
        assert code == EXIT_REJECTED, (out, err)
        assert f"retrain {run_id}: rejected v000{run_id + 1}" in out
        assert "  FAIL statistical" in out and err == ""
    assert trained_home.registry.production() == "v0001"


def test_promoting_a_rejected_version_exits_3(
    trained_home: Home, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected = register_copy(trained_home.registry, status="rejected")
    monkeypatch.setenv("SELFHEAL_HOME", str(trained_home.settings.home_path))
    got, out, err = run(["promote", rejected], capfd)
    assert_one_line_error(got, out, err, EXIT_REJECTED, f"{rejected} was rejected")
    got, out, err = run(["rollback", "--to", rejected], capfd)
    assert_one_line_error(got, out, err, EXIT_REJECTED, rejected)


def test_command_name_is_what_runs_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hints name the CLI as it runs in the user's situation: `selfheal` only when that is
    this interpreter's script on PATH, else the venv's script path (after `make run`, whose
    venv is not activated)."""
    from selfheal.errors import cli, command_name

    bindir = Path(sys.executable).parent
    monkeypatch.setenv("PATH", str(tmp_path))  # no selfheal on PATH
    name = command_name()
    assert name != "selfheal" and name.endswith("selfheal")
    assert (Path.cwd() / name).exists() or Path(name).exists() or name.endswith("-m selfheal")
    assert cli("init") == f"{name} init"
    monkeypatch.setenv("PATH", str(bindir))
    if (bindir / "selfheal").exists():
        assert command_name() == "selfheal"


def numeric_options() -> list[tuple[list[str], str, Any]]:
    """Every option or argument of every command (and `simulate` action) that takes a
    number: (the command line before it, its name, its argparse type)."""
    from selfheal import simulate

    found: list[tuple[list[str], str, Any]] = []
    for prefix, parser in [([], cli.build_parser()), (["simulate"], simulate.build_parser())]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for command, subparser in sub.choices.items():
            for action in subparser._actions:
                if action.type is None or action.type is str:
                    continue
                name = action.option_strings[0] if action.option_strings else action.dest
                found.append(([*prefix, command], name, action.type))
    return found


def test_every_numeric_option_has_a_range() -> None:
    """A bare `type=int` let `train --rows 99999999999999999` reach numpy as a MemoryError
    and `simulate predict 99999999999999999999` as a ValueError, both "please report it".
    Every numeric option is bounded, and its --help states the range."""
    options = numeric_options()
    names = {(" ".join(line), name) for line, name, _ in options}
    assert {("train", "--rows"), ("train", "--seed"), ("prune", "--days")} <= names
    assert {("simulate predict", "n"), ("simulate predict", "--seed")} <= names
    for line, name, kind in options:
        assert kind not in (int, float), f"{' '.join(line)} {name} has no range"
        for bad in ("9" * 30, "-" + "9" * 30, "nan", "inf", "-inf", "x"):
            with pytest.raises(argparse.ArgumentTypeError, match=r"expected .* got "):
                kind(bad)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--seed", "4294967296"], "--seed: expected an integer from 0 to 4294967295"),
        (["replay", "--data", "x.csv", "--target", "y", "--segment", "0"], "--segment: "),
        (["replay", "--data", "x.csv", "--target", "y", "--label-delay", "-1"], "--label-delay"),
        (["replay", "--data", "x.csv", "--target", "y", "--seconds-per-row", "0"], "greater than"),
        (["simulate", "predict", "5", "--seed", "-1"], "--seed: expected an integer from 0"),
        (["simulate", "drift", "covariate", "--n", "1000001"], "--n: expected an integer"),
        (["simulate", "labels", "--limit", "0"], "--limit: expected an integer from 1"),
        (["simulate", "stats", "--window", "1000001"], "--window: expected an integer from 1"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error_naming_the_option(
    argv: list[str], fragment: str, capfd: pytest.CaptureFixture[str]
) -> None:
    got, out, err = run(argv, capfd)
    assert_one_line_error(got, out, err, EXIT_USAGE, fragment)


def test_replay_minimum_training_rows_is_the_replays() -> None:
    from selfheal.replay import MIN_TRAIN_ROWS

    assert cli.MIN_REPLAY_TRAIN_ROWS == MIN_TRAIN_ROWS


@pytest.mark.parametrize(
    "target",
    [
        "{home}/selfheal.db",
        "{home}/../home/selfheal.db",
        "{home}/selfheal.db-wal",
        "{link}",
        "{home}/registry",
        "{home}/registry/v0001/copy.db",
    ],
)
def test_backup_refuses_the_live_database_and_the_registry(
    target: str,
    trained_home: Home,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`backup --to $SELFHEAL_HOME/selfheal.db` copied the database onto itself and said it
    succeeded; a backup into the registry folder littered the model store."""
    home = trained_home.settings.home_path
    link = tmp_path / "link.db"
    link.symlink_to(home / "selfheal.db")
    before = (home / "selfheal.db").read_bytes()
    monkeypatch.setenv("SELFHEAL_HOME", str(home))
    got, out, err = run(["backup", "--to", target.format(home=home, link=link)], capfd)
    where = "model registry" if "registry" in target else "is the live database"
    assert_one_line_error(got, out, err, EXIT_USAGE, where)
    assert (home / "selfheal.db").read_bytes() == before
    assert not list(home.rglob("*.partial")) and not list((home / "registry").glob("*.db"))


def test_backup_into_the_home_folder_is_fine(
    trained_home: Home, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = trained_home.settings.home_path
    monkeypatch.setenv("SELFHEAL_HOME", str(home))
    got, out, err = run(["backup", "--to", str(home)], capfd)
    assert got == EXIT_OK and err == "", err
    assert len(list(home.glob("selfheal-*.db"))) == 1


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "settings file {file} (SELFHEAL_ENV_FILE) does not exist"),
        (b"SELFHEAL_PORT=8001\n# caf\xe9\n", "settings file {file} is not UTF-8 text"),
    ],
)
def test_a_bad_env_file_stops_every_command_with_one_line(
    content: bytes | None,
    fragment: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A named SELFHEAL_ENV_FILE that does not exist fell back to the defaults in silence;
    one in Latin-1 was "unexpected UnicodeDecodeError ... please report it"."""
    env_file = tmp_path / "settings.env"
    if content is not None:
        env_file.write_bytes(content)
    monkeypatch.setenv("SELFHEAL_ENV_FILE", str(env_file))
    monkeypatch.setenv("SELFHEAL_HOME", str(tmp_path / "home"))
    got, out, err = run(["status"], capfd)
    assert_one_line_error(got, out, err, EXIT_USAGE, fragment.format(file=env_file))
    got, out, err = run(["env", "--check"], capfd)
    assert got == EXIT_USAGE and fragment.format(file=env_file) in out
    assert not (tmp_path / "home").exists()
