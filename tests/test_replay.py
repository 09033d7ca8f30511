"""`selfheal replay`: a labeled stream through the real service, monitor and healer with an
injected clock. These tests check the mechanics (row accounting, the frozen reference, the
clock, events, determinism, the CLI); whether healing happens is the policy's business and
is tested with it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from selfheal import cli, datasets, db, store
from selfheal.config import Settings
from selfheal.errors import DataError
from selfheal.home import Home
from selfheal.registry import Registry
from selfheal.replay import DEFAULT_START, ReplayResult, replay
from tests.conftest import PYTHON, ROOT, make_settings, subprocess_env

N_ROWS, TRAIN_ROWS, CHANGE = 3000, 1000, 1600
BLANKS = (1234, 2345, 2999)  # income left empty: v0001 never saw a missing income
KINDS = {
    "trigger",
    "retrain",
    "gate",
    "promoted",
    "rejected",
    "failed",
    "rolled_back",
    "probation",
    "monitor_error",
}
# logreg keeps retrains fast; the latency check of the consistency gate is the loop's only
# wall-clock input, so it is opened wide wherever two runs are compared.
LATENCY = 1000.0


@pytest.fixture(scope="module")
def stream_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded credit data with an abrupt concept change at row 1600 (the ground truth
    itself changes: datasets.generate(drift="concept")) and three blank incomes."""
    frame = pd.concat(
        [
            datasets.generate(CHANGE, seed=1),
            datasets.generate(N_ROWS - CHANGE, seed=2, drift="concept"),
        ],
        ignore_index=True,
    )
    frame["income"] = frame["income"].astype(object)
    frame.loc[list(BLANKS), "income"] = None
    path = tmp_path_factory.mktemp("stream") / "stream.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def replayed(
    stream_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ReplayResult, Settings]:
    settings = make_settings(
        tmp_path_factory.mktemp("replay") / "home", gate_max_latency_ratio=LATENCY
    )
    result = replay(
        datasets.read_csv(stream_csv), "default", settings=settings, classifier="logreg"
    )
    return result, settings


def test_replay_accounts_for_every_row(replayed: tuple[ReplayResult, Settings]) -> None:
    r, _ = replayed
    n = N_ROWS - TRAIN_ROWS
    assert (r.train_rows, r.n_stream) == (TRAIN_ROWS, n)
    for arr in (r.y, r.served, r.served_pred, r.frozen, r.frozen_pred):
        assert len(arr) == n
    assert len(r.versions) == n
    assert r.y.dtype == np.int64 and r.served.dtype == np.float64
    # The blank incomes are refused, as /predict would answer 422; every other row served.
    refused = [b - TRAIN_ROWS for b in BLANKS]
    assert r.refused == 3 and r.refused_reasons == {"null": 3}
    assert np.flatnonzero(~r.answered).tolist() == refused
    assert np.isnan(r.frozen[refused]).all() and (r.served_pred[refused] == -1).all()
    ok = r.answered
    assert ((r.served[ok] >= 0) & (r.served[ok] <= 1)).all()
    assert set(r.served_pred[ok].tolist()) <= {0, 1} and all(
        r.versions[i] for i in np.flatnonzero(ok)
    )
    assert r.versions[0] == "v0001"
    # Segments tile the stream.
    assert sum(s["n"] for s in r.segments) == n
    assert [s["start_row"] for s in r.segments] == [1000, 2000]
    assert [s["end_row"] for s in r.segments] == [2000, 3000]
    assert sum(s["refused"] for s in r.segments) == 3
    assert r.segments[0]["versions"][0] == "v0001"
    for s in r.segments:
        for k in ("served_auc", "served_f1", "frozen_auc", "frozen_f1"):
            assert s[k] is None or 0.0 <= s[k] <= 1.0


def test_frozen_is_the_first_models_own_probabilities(
    replayed: tuple[ReplayResult, Settings], stream_csv: Path
) -> None:
    r, settings = replayed
    first = Registry(settings.registry_path).load("v0001")
    frame = datasets.load_csv(stream_csv, target="default").features.iloc[TRAIN_ROWS:]
    ok = r.answered
    expected = first.predict_proba(first.schema.frame_to_matrix(frame[ok]))
    np.testing.assert_allclose(r.frozen[ok], expected, rtol=0, atol=1e-12)
    assert (r.frozen_pred[ok] == (expected >= first.threshold)).all()
    # Until the first promotion the service serves v0001 itself.
    until = next((i for i, v in enumerate(r.versions) if v not in ("v0001", "")), len(r.versions))
    served = r.served[:until][ok[:until]]
    np.testing.assert_allclose(served, r.frozen[:until][ok[:until]], rtol=0, atol=1e-12)


def test_the_injected_clock_stamps_predictions_labels_and_cycles(
    replayed: tuple[ReplayResult, Settings],
) -> None:
    r, settings = replayed
    conn = db.connect(settings.db_path)
    try:
        rows = store.recent_predictions(conn, limit=None)
        assert len(rows) == r.n_stream - r.refused
        newest, oldest = rows[0]["created_at"], rows[-1]["created_at"]
        assert oldest == db.iso(DEFAULT_START + timedelta(seconds=100))  # end of batch 1
        assert newest == db.iso(DEFAULT_START + timedelta(seconds=r.n_stream))
        assert all(row["label"] is not None for row in rows)  # every label was posted
        reports = sorted(store.recent_reports(conn, 10_000), key=lambda x: x["id"])
        assert [x["created_at"] for x in reports] == [c["time"] for c in r.cycles]
        # One cycle per batch (60 s interval, 100 s of injected time per batch).
        assert [c["row"] for c in r.cycles] == list(range(1100, 3001, 100))
        runs = store.recent_runs(conn, 1000)
    finally:
        conn.close()
    assert r.count("retrain") == len(runs)


def test_events_have_rows_in_range_and_in_order(
    replayed: tuple[ReplayResult, Settings],
) -> None:
    r, _ = replayed
    assert r.events[0]["kind"] == "promoted" and r.events[0]["version"] == "v0001"
    assert r.events[0]["row"] == TRAIN_ROWS
    rows = [e["row"] for e in r.events]
    assert rows == sorted(rows)
    assert all(TRAIN_ROWS <= row <= N_ROWS for row in rows)
    assert {e["kind"] for e in r.events} <= KINDS
    assert all({"row", "kind", "version", "detail"} <= set(e) for e in r.events)
    cycle_rows = {c["row"] for c in r.cycles}
    assert all(e["row"] in cycle_rows for e in r.events[1:])  # decisions happen in cycles
    for ep in r.recoveries:
        assert TRAIN_ROWS < ep["began_row"] <= N_ROWS
        if ep["recovered_row"] is not None:
            assert ep["rows"] == ep["recovered_row"] - ep["began_row"] > 0
    s = r.summary()
    assert s["retrains"] == r.count("retrain") and s["rollbacks"] == r.count("rolled_back")
    assert s["promotions"] == r.count("promoted") - 1


def test_to_dict_is_json_without_nan(replayed: tuple[ReplayResult, Settings]) -> None:
    r, _ = replayed
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["stream"]["first_row"] == TRAIN_ROWS
    assert d["stream"]["served"][BLANKS[0] - TRAIN_ROWS] is None
    assert len(d["stream"]["served"]) == r.n_stream
    assert d["summary"]["refused"] == 3


def test_replay_refuses_a_home_in_use(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    Home(settings).close()  # a migrated database
    with pytest.raises(DataError, match="already holds a selfheal database"):
        replay(datasets.generate(500, seed=1), "default", settings=settings, train_rows=300)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train_rows": 100}, "--train-rows must be at least 200"),
        ({"train_rows": 1500}, "--train-rows 1500 leaves nothing to replay"),
        ({"batch": 0}, "--batch must be at least 1"),
        ({"label_delay": -1}, "--label-delay must be 0 or more"),
        ({"seconds_per_row": 0.0}, "--seconds-per-row must be a number greater than 0"),
        ({"segment": 0}, "--segment must be at least 1"),
    ],
)
def test_replay_arguments_are_checked_first(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    settings = make_settings(tmp_path / "home")
    with pytest.raises(DataError, match=message):
        replay(datasets.generate(1500, seed=1), "default", settings=settings, **kwargs)
    assert not settings.db_path.exists()


# -- the CLI ------------------------------------------------------------------------------


def test_cli_replay_json_and_report_match_the_library(
    tmp_path: Path, stream_csv: Path, replayed: tuple[ReplayResult, Settings]
) -> None:
    """A second run, in another process, gives the same answers: the replay is
    deterministic for the same input and settings."""
    home, report = tmp_path / "kept", tmp_path / "replay.html"
    env = subprocess_env(home, SELFHEAL_GATE_MAX_LATENCY_RATIO=str(LATENCY))
    args = ["--data", str(stream_csv), "--target", "default", "--classifier", "logreg"]
    proc = subprocess.run(
        [PYTHON, "-m", "selfheal", "replay", *args, "--json", "--report", str(report)]
        + ["--home", str(home)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not a TTY: no progress bar
    data = json.loads(proc.stdout)
    r, _ = replayed
    served = np.array([np.nan if v is None else v for v in data["stream"]["served"]])
    np.testing.assert_allclose(served, r.served, rtol=0, atol=1e-9)
    assert data["stream"]["versions"] == [v or None for v in r.versions]
    assert [(e["row"], e["kind"], e["version"]) for e in data["events"]] == [
        (e["row"], e["kind"], e["version"]) for e in r.events
    ]
    assert data["source"] == str(stream_csv) and data["summary"]["refused"] == 3
    page = report.read_text()
    assert "<svg" in page and 'data-chart="replay_auc"' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert (home / "selfheal.db").exists() and (home / "registry" / "v0001").is_dir()


@pytest.fixture
def short_csv(stream_csv: Path, tmp_path: Path) -> Path:
    path = tmp_path / "short.csv"
    pd.read_csv(stream_csv).iloc[:1400].to_csv(path, index=False)
    return path


def test_cli_replay_prints_segments_events_and_a_summary(
    short_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["replay", "--data", str(short_csv), "--target", "default", "--classifier", "logreg"]
        + ["--segment", "200"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    assert "SERVED AUC" in out and "FROZEN F1" in out
    assert "1000-1199" in out and "1200-1399" in out
    assert "promoted" in out and "replay: first model" in out
    assert "1400 rows (400 streamed): 1 refused, 4 monitor cycles" in out
    assert "home: a temporary folder, removed" in out


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFHEAL_HOME", str(tmp_path / "home"))
    yield tmp_path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "missing.csv", "--target", "default"], "missing.csv does not exist"),
        (["--target", "nope"], "target column 'nope' is not in"),
        (["--target", "default", "--train-rows", "5000"], "--train-rows 5000 leaves nothing"),
        # refused by the option's declared range (argparse), before replay runs
        (
            ["--target", "default", "--train-rows", "10"],
            "--train-rows: expected an integer from 200",
        ),
        (["--target", "default", "--batch", "0"], "--batch: expected an integer from 1"),
        (["--target", "default", "--report", "no/such/dir/r.html"], "folder no/such/dir"),
    ],
)
def test_cli_replay_bad_input_exits_2_with_one_line(
    in_tmp: Path,
    short_csv: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    args = extra if "--data" in extra else ["--data", str(short_csv), *extra]
    try:
        code = cli.main(["replay", *args])
    except SystemExit as exc:  # argparse's usage errors end the process, with exit 2
        code = exc.code
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(("selfheal: error: ", "selfheal replay: error: ")), err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (in_tmp / "home").exists()
