"""selfheal.simulate against one real `python run.py` (module-scoped) and a tiny fake server
for the failure paths the real one does not produce on demand."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selfheal import db
from selfheal.datasets import generate
from selfheal.errors import SelfhealError
from selfheal.simulate import (
    Client,
    SimulationError,
    StatusLine,
    default_url,
    generate_predictions,
    health_summary,
    inject_drift,
    main,
    pending_path,
    production_traffic,
    run_monitor,
    send_labels,
    stats_summary,
    verify_installation,
)
from tests.conftest import PYTHON, ROOT, free_port, make_settings, subprocess_env
from tests.serving import Server

pytestmark = pytest.mark.e2e
TOKEN = "s3cret"


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(_trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("simulate") / "home"
    shutil.copytree(_trained_template, home)
    srv = Server(
        home,
        SELFHEAL_ADMIN_TOKEN=TOKEN,
        SELFHEAL_MONITOR_INTERVAL="3600",
        SELFHEAL_AUTO_RETRAIN="false",
    ).start()
    yield srv
    assert srv.stop() == 0, srv.log()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.base, timeout=30) as c:
        yield c


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings for main(): a private SELFHEAL_HOME (pending labels land there)."""
    home = tmp_path / "clihome"
    monkeypatch.setenv("SELFHEAL_HOME", str(home))
    return home


def newest(server: Server, n: int) -> list[dict[str, Any]]:
    conn = db.connect(server.home / "selfheal.db", readonly=True)
    try:
        rows = conn.execute(
            "SELECT p.id, p.features, p.model_version, l.label FROM predictions p "
            "LEFT JOIN labels l ON l.prediction_id = p.id ORDER BY p.seq DESC LIMIT ?",
            (n,),
        ).fetchall()
    finally:
        conn.close()
    return [
        {"id": r["id"], "label": r["label"], "version": r["model_version"], **json.loads(r[1])}
        for r in reversed(rows)
    ]


def count(server: Server, table: str = "predictions") -> int:
    conn = db.connect(server.home / "selfheal.db", readonly=True)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused


# -- traffic ---------------------------------------------------------------------------------
def test_predict_logs_every_row_and_reports_progress(server: Server, client: Client, tmp_path):
    before = count(server)
    lines: list[str] = []
    r = generate_predictions(client, 60, seed=3, batch=25, progress=lines.append, home=tmp_path)
    assert (r["sent"], r["ok"], r["failed"], r["labeled"]) == (60, 60, 0, 0)
    assert count(server) - before == 60
    assert r["versions"] == {"v0001": 60}
    assert 0 < r["mean_probability"] < 1 and 0 <= r["positive_rate"] <= 1
    assert r["elapsed"] > 0 and r["errors"] == [] and not r["stopped"]
    # n <= 500: one line per 50 records (after the batch that crosses it) and one at the end
    assert [ln.split(" predictions")[0] for ln in lines] == ["  50/60", "  60/60"]
    assert lines[-1].startswith("  60/60 predictions (100%), ") and lines[-1].endswith(" s")
    # the records are the synthetic world's, in order
    rows = newest(server, 60)
    expected = generate(60, seed=3)
    assert [row["age"] for row in rows] == expected["age"].tolist()
    assert [row["income"] for row in rows] == expected["income"].tolist()
    # labels not sent were kept for later
    assert r["pending_labels"] == 60
    kept = [json.loads(x) for x in pending_path(tmp_path).read_text().splitlines()]
    assert [k["label"] for k in kept] == expected["default"].tolist()
    assert [k["prediction_id"] for k in kept] == [row["id"] for row in rows]


@pytest.mark.parametrize("kind", ["covariate", "population", "concept"])
def test_drift_traffic_lands(server: Server, client: Client, kind: str) -> None:
    labels_before = count(server, "labels")
    lines: list[str] = []
    r = inject_drift(client, kind, n=200, seed=5, progress=lines.append)
    assert (r["ok"], r["failed"]) == (200, 0)
    rows = newest(server, 200)
    frame = generate(200, seed=5, drift=kind)
    assert [row["income"] for row in rows] == frame["income"].tolist()
    base = generate(200, seed=5)
    if kind == "covariate":  # applicants ~10 years older with 1.5x the income
        assert np.mean([row["age"] for row in rows]) > base["age"].mean() + 8
        assert r["labeled"] == 0 and count(server, "labels") == labels_before
    elif kind == "population":  # more high-risk profiles
        assert np.mean([row["credit_score"] for row in rows]) < base["credit_score"].mean() - 30
        assert r["labeled"] == 0
    else:  # concept: labels from the changed ground truth, sent by default, and said so
        assert r["labels"] is True and r["labeled"] == 200
        assert count(server, "labels") - labels_before == 200
        assert [row["label"] for row in rows] == frame["default"].tolist()
        assert any("note: concept drift" in ln and "--no-labels" in ln for ln in lines)


def test_concept_drift_labels_can_be_held_back(server: Server, client: Client, tmp_path):
    labels_before = count(server, "labels")
    r = inject_drift(client, "concept", n=40, seed=9, labels=False, progress=None, home=tmp_path)
    assert r["labeled"] == 0 and r["pending_labels"] == 40
    assert "concept drift without labels" in r["notes"][0]
    assert count(server, "labels") == labels_before


def test_invalid_drift_type(client: Client) -> None:
    with pytest.raises(SelfhealError) as e:
        inject_drift(client, "seasonal", n=10)
    assert e.value.code == "invalid_drift_type"
    assert "'seasonal'" in e.value.message
    assert "covariate, population, concept" in e.value.message
    with pytest.raises(SelfhealError, match="unknown drift type") as e2:
        generate_predictions(client, 10, drift="gradual", progress=None)
    assert e2.value.code == "invalid_drift_type"
    for bad in ({"batch": 0}, {"batch": 1001}, {"label_fraction": 1.5}):
        with pytest.raises(SelfhealError) as e3:
            generate_predictions(client, 10, progress=None, **bad)
        assert e3.value.code == "invalid_argument"


# -- labels ----------------------------------------------------------------------------------
def test_label_fraction_sends_some_and_keeps_the_rest(server: Server, client: Client, tmp_path):
    r = generate_predictions(
        client, 100, seed=11, labels=True, label_fraction=0.3, progress=None, home=tmp_path
    )
    assert (r["labeled"], r["pending_labels"]) == (30, 70)
    rows = newest(server, 100)
    assert sum(row["label"] is not None for row in rows) == 30
    sent = send_labels(client, tmp_path)
    assert sent["counts"] == {"created": 70} and sent["remaining"] == 0
    truth = generate(100, seed=11)["default"].tolist()
    assert [row["label"] for row in newest(server, 100)] == truth


def test_pending_labels_flow(server: Server, client: Client, tmp_path: Path) -> None:
    assert send_labels(client, tmp_path) == {
        "path": str(pending_path(tmp_path)),
        "sent": 0,
        "counts": {},
        "remaining": 0,
    }
    generate_predictions(client, 80, seed=21, progress=None, home=tmp_path)
    path = pending_path(tmp_path)
    assert path == tmp_path / "simulate" / "pending_labels.jsonl"
    assert len(path.read_text().splitlines()) == 80
    labels_before = count(server, "labels")

    first = send_labels(client, tmp_path, limit=30)
    assert first["sent"] == 30 and first["counts"] == {"created": 30}
    assert first["remaining"] == 50 and len(path.read_text().splitlines()) == 50
    assert count(server, "labels") - labels_before == 30

    # an id the server does not know stays; an unreadable line goes
    with path.open("a") as fh:
        fh.write(json.dumps({"prediction_id": "nope", "label": 1}) + "\n")
        fh.write("{not json\n")
    rest = send_labels(client, tmp_path)
    assert rest["counts"] == {"created": 50, "not_found": 1, "unreadable": 1}
    assert rest["remaining"] == 1
    assert [json.loads(x)["prediction_id"] for x in path.read_text().splitlines()] == ["nope"]
    assert count(server, "labels") - labels_before == 80
    truth = generate(80, seed=21)["default"].tolist()
    assert [row["label"] for row in newest(server, 80)] == truth

    path.write_text("")  # forgetting is deleting the line
    assert send_labels(client, tmp_path)["sent"] == 0
    with pytest.raises(SelfhealError, match="limit must be a positive integer"):
        send_labels(client, tmp_path, limit=0)


# -- summaries -------------------------------------------------------------------------------
def test_stats_summary_has_the_numbers(server: Server, client: Client) -> None:
    generate_predictions(client, 50, seed=31, labels=True, progress=None)
    _, stats = client.get("/monitoring/stats?window=500")
    text = stats_summary(client, window=500)
    c = stats["counts"]
    assert f"traffic:      {c['total']} predictions (production {c['production']}" in text
    assert f"{c['labels']} labels" in text
    w = stats["window"]
    assert f"newest {w['rows']} production predictions" in text
    assert f"positive rate {100 * w['positive_rate']:.1f}%" in text
    assert f"mean probability {w['mean_probability']:.3f}" in text
    assert f"labeled {w['labeled']}" in text and "versions v0001" in text
    assert f"F1 {stats['live']['f1']:.3f}" in text and f"n {stats['live']['n']}" in text
    assert "last retrain: none" in text


def test_health_summary_ok(server: Server, client: Client) -> None:
    ok, text = health_summary(client)
    assert ok is True
    lines = text.splitlines()
    assert lines[0].startswith(f"server:    {server.base}: ok (HTTP 200)")
    assert lines[1].startswith("model:     ok   v0001, threshold ")
    assert "holdout F1 0." in lines[1]
    assert lines[2] == f"database:  ok   {server.home / 'selfheal.db'}"
    assert lines[3].startswith("writer:    ok   alive, queue ")
    assert lines[4].startswith("monitor:   ok   ")
    assert lines[-1] == "healthy"


def test_verify_installation(server: Server, tmp_path: Path) -> None:
    settings = make_settings(server.home, port=server.port, admin_token=TOKEN)
    ok, lines = verify_installation(settings)
    assert ok is True, lines
    assert all(line.startswith("ok       ") for line in lines), lines
    text = "\n".join(lines)
    for needle in ("python 3.", "scikit-learn", "numpy", "pandas", "flask", "waitress"):
        assert needle in text
    n = len(list((ROOT / "migrations" / "sqlite").glob("[0-9][0-9][0-9][0-9]_*.sql")))
    assert "joblib" in text and f"migrations: {n}" in text
    assert f"schema version {n}" in text and "model v0001 in production" in text
    assert f"server answers on {server.base}" in text

    # a fresh machine: says what is missing and what to do; the server is only a warning
    empty = make_settings(tmp_path / "nothing")
    ok, lines = verify_installation(empty, url=dead_url(), timeout=2)
    assert ok is False
    missing = [ln for ln in lines if ln.startswith("missing")]
    assert len(missing) == 3 and all("make init" in ln for ln in missing)
    warnings = [ln for ln in lines if ln.startswith("warning")]
    assert "connection refused" in warnings[0] and "SELFHEAL_ADMIN_TOKEN" in warnings[1]
    assert not (tmp_path / "nothing").exists()  # checks only read


# -- the client --------------------------------------------------------------------------------
def test_unreachable_server_is_one_clear_line() -> None:
    url = dead_url()
    with pytest.raises(SimulationError) as e:
        Client(url, timeout=2).get("/health")
    assert e.value.code == "server_unreachable"
    assert isinstance(e.value, SelfhealError)
    assert str(e.value) == (
        f"cannot reach {url}: connection refused; start it with `make run` or `make start`"
    )
    with pytest.raises(SimulationError) as e2:
        generate_predictions(Client(url, timeout=2), 5, progress=None)
    assert str(e2.value).startswith(f"cannot reach {url}: connection refused")
    with pytest.raises(SimulationError) as e3:
        Client("ftp://example.org")
    assert e3.value.code == "invalid_url"


def test_client_keeps_one_connection_and_returns_errors(server: Server, client: Client) -> None:
    assert client.get("/health")[0] == 200
    conn = client._conn
    assert conn is not None
    status, body = client.post("/predict", {"age": 30})
    assert status == 422 and body["error"]["code"] == "validation_failed"
    assert client.get("/models")[0] == 200
    assert client._conn is conn  # one keep-alive connection throughout
    client.close()
    assert client.get("/model/info")[1]["version"] == "v0001"  # reconnects
    with pytest.raises(SimulationError) as e:
        client.expect("POST", "/predict", {"age": 30})
    assert e.value.code == "validation_failed"
    assert str(e.value).startswith("POST /predict answered 422 validation_failed: ")
    with pytest.raises(SimulationError) as e2:
        client.get("/docs")  # an HTML page
    assert e2.value.code == "bad_response" and "not JSON" in str(e2.value)


class _Fake(BaseHTTPRequestHandler):
    """Answers every request with `server.answer(handler)`; closes after each answer
    without saying so when `server.rude` (a stale keep-alive connection)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.body = json.loads(self.rfile.read(length)) if length else None
        self._answer()

    def do_GET(self) -> None:  # noqa: N802
        self.body = None
        self._answer()

    def _answer(self) -> None:
        srv: Any = self.server
        srv.calls += 1
        status, payload, delay = srv.answer(self)
        if delay:
            srv.release.wait(delay)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if srv.rude:
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[Any]:
    srv: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # a client that timed out and left
    srv.calls, srv.rude, srv.release = 0, False, threading.Event()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _predictions(handler: Any) -> list[dict[str, Any]]:
    return [
        {
            "prediction_id": f"p{handler.server.calls}-{i}",
            "probability": 0.75,
            "prediction": 1,
            "model_version": "v0009",
            "out_of_range": [],
        }
        for i in range(len(handler.body["instances"]))
    ]


def test_failed_batches_stop_the_run(fake: Any, cli_env: Path, capsys) -> None:
    error = {"error": {"code": "validation_failed", "message": "income: must be a number"}}
    fake.answer = lambda h: (422, error, 0)
    with Client(fake.base) as client:
        r = generate_predictions(client, 500, batch=50, progress=None)
    assert (r["sent"], r["ok"], r["failed"], r["stopped"]) == (150, 0, 150, True)
    assert fake.calls == 3
    assert r["errors"][0] == (
        "POST /predict answered 422 validation_failed: income: must be a number"
    )
    assert r["mean_probability"] is None
    assert main(["predict", "100", "--url", fake.base, "-q"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "selfheal: error: 100 of 100 predictions failed: POST /predict answered 422 "
        "validation_failed: income: must be a number\n"
    )


def test_overloaded_is_retried_and_stale_connections_reopened(fake: Any) -> None:
    answers: Iterator[tuple[int, Any, float]] = iter(
        [(503, {"error": {"code": "overloaded", "message": "busy"}}, 0)]
    )
    fake.answer = lambda h: next(answers, None) or (200, {"predictions": _predictions(h)}, 0)
    fake.rude = True  # every answer closes the connection without a Connection: close
    with Client(fake.base) as client:
        r = generate_predictions(client, 30, batch=10, progress=None)
    assert (r["ok"], r["failed"], r["versions"]) == (30, 0, {"v0009": 30})
    assert r["mean_probability"] == pytest.approx(0.75) and r["positive_rate"] == 1.0
    assert fake.calls == 4  # one 503 retried, three batches


def test_failed_labels_are_kept_for_later(fake: Any, cli_env: Path, capsys) -> None:
    def answer(h: Any) -> tuple[int, Any, float]:
        if h.path == "/predict":
            return 200, {"predictions": _predictions(h)}, 0
        return 503, {"error": {"code": "database_unavailable", "message": "disk full"}}, 0

    fake.answer = answer
    with Client(fake.base) as client:
        r = generate_predictions(client, 20, labels=True, progress=None, home=cli_env)
    assert (r["ok"], r["labeled"], r["pending_labels"]) == (20, 0, 20)
    assert r["errors"] == [
        "labels not sent: POST /monitoring/labels answered 503 database_unavailable: disk full"
    ]
    assert len(pending_path(cli_env).read_text().splitlines()) == 20
    assert main(["predict", "5", "--labels", "--url", fake.base, "-q"]) == 1
    out, err = capsys.readouterr()
    assert "5 ok, 0 failed" in out
    assert err == (
        "selfheal: error: labels not sent: POST /monitoring/labels answered 503 "
        "database_unavailable: disk full\n"
    )
    assert len(pending_path(cli_env).read_text().splitlines()) == 25


def test_default_url() -> None:
    assert default_url(make_settings(Path("x"))) == "http://127.0.0.1:8000"
    assert default_url(make_settings(Path("x"), host="0.0.0.0", port=9)) == "http://127.0.0.1:9"
    assert default_url(make_settings(Path("x"), host="::1")) == "http://[::1]:8000"


def test_slow_server_times_out(fake: Any) -> None:
    fake.answer = lambda h: (200, {}, 5)
    with pytest.raises(SimulationError) as e:
        Client(fake.base, timeout=0.3).get("/health")
    assert e.value.code == "server_timeout"
    assert "did not answer GET /health within 0.3 s" in str(e.value)


# -- the command line ---------------------------------------------------------------------------
def test_main_actions(server: Server, cli_env: Path, capsys) -> None:
    url = ["--url", server.base]
    assert main(["predict", "20", *url, "-q"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("sent 20 predictions (no drift, seed 0) in ")
    assert "20 ok, 0 failed" in out and "20 kept in" in out and err == ""
    assert len(pending_path(cli_env).read_text().splitlines()) == 20

    assert main(["labels", "--limit", "5", *url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sent 5 labels: 5 created; 15 left in ")
    assert main(["labels", *url]) == 0
    assert capsys.readouterr().out.startswith("sent 15 labels: 15 created; 0 left in ")
    assert main(["labels", *url]) == 0
    assert capsys.readouterr().out.startswith("no pending labels in ")

    assert main(["predict", "10", "--seed", "4", "--label-fraction", "0.5", *url]) == 0
    out, err = capsys.readouterr()
    # a short run on a stream that is not a terminal prints no progress (issue: quiet runs)
    assert "labels: 5 sent now; 5 kept in" in out and err == ""

    assert main(["stats", "--window", "100", *url]) == 0
    out = capsys.readouterr().out
    assert "newest 100 production predictions (window 100)" in out

    assert main(["health", *url]) == 0
    assert capsys.readouterr().out.rstrip().endswith("healthy")

    assert main(["drift", "population", "--n", "30", *url, "-q"]) == 0
    assert "population drift" in capsys.readouterr().out

    # --run-monitor needs the admin token: refused without it, one line
    assert main(["drift", "covariate", "--n", "30", "--run-monitor", *url, "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("selfheal: error: POST /monitoring/run answered 401 unauthorized: ")
    assert err.count("\n") == 1


def test_main_run_monitor_and_verify(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("SELFHEAL_HOME", str(server.home))
    monkeypatch.setenv("SELFHEAL_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("SELFHEAL_PORT", str(server.port))
    assert main(["drift", "covariate", "--n", "300", "--run-monitor", "-q", "--no-labels"]) == 0
    out = capsys.readouterr().out
    assert "sent 300 predictions (covariate drift, seed 1)" in out
    assert "monitor cycle: drift, drift share " in out and ", decision " in out
    assert main(["stats"]) == 0
    assert "drift:        last cycle " in capsys.readouterr().out
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("installation ok") and "missing" not in out


def test_main_errors_are_one_line(cli_env: Path, capsys) -> None:
    url = dead_url()
    cases = [
        (["health", "--url", url], 1, f"cannot reach {url}: connection refused; start it"),
        (["predict", "5", "--url", url], 1, f"cannot reach {url}: connection refused"),
        (["drift", "bogus", "--url", url], 2, "unknown drift type 'bogus'; use one of "),
        (["predict", "5", "--drift", "x", "--url", url], 2, "unknown drift type 'x'"),
        (["predict", "0"], 2, "argument N: expected an integer from 1 to 1000000, got '0'"),
        (["predict", "5", "--label-fraction", "2"], 2, "expected a number from 0 to 1"),
        (["predict", "5", "--url", "localhost:8000"], 2, "invalid server URL"),
        (["teleport"], 2, "argument ACTION: invalid choice: 'teleport'"),
        ([], 2, "the following arguments are required: ACTION"),
    ]
    for argv, code, needle in cases:
        assert main(argv) == code, argv
        out, err = capsys.readouterr()
        assert err.startswith("selfheal: error: ") and needle in err, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert out == ""
    assert main(["--help"]) == 0
    assert "predict" in capsys.readouterr().out


def test_module_runs_as_a_program(server: Server, tmp_path: Path) -> None:
    home = tmp_path / "subhome"
    proc = subprocess.run(
        [PYTHON, "-m", "selfheal.simulate", "predict", "30", "--url", server.base, "--labels"],
        cwd=ROOT,
        env=subprocess_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sent 30 predictions (no drift, seed 0)")
    assert "labels: 30 sent now" in proc.stdout
    assert proc.stderr == ""  # a pipe, and a short run: no progress lines at all


# -- any production model: records drawn from its reference sample (issue item 6) -------------
REGIONS = ["north", "south", "east", "west"]


def churn_csv(path: Path, n: int = 1200, seed: int = 7) -> Path:
    """A CSV unlike the credit data: `amount` 8% empty, whole-number `tenure_months`, a
    text category, an integer-code category (`plan_code`), a yes/no column, target yes/no."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(np.log(800), 0.5, n).round(2)
    tenure = rng.integers(1, 120, n)
    region = rng.choice(REGIONS, n, p=[0.4, 0.3, 0.2, 0.1])
    plan = rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15])
    card = rng.choice(["yes", "no"], n, p=[0.7, 0.3])
    risk = -1 + (amount - 800) / 600 - (tenure - 60) / 40 + (region == "east") * 0.8
    risk = risk + (plan == 3) * 0.7 - (card == "yes") * 0.5
    y = rng.random(n) < 1 / (1 + np.exp(-risk))
    lines = ["amount,tenure_months,region,plan_code,has_card,churned"]
    for i in range(n):
        cell = "" if rng.random() < 0.08 else str(amount[i])
        churned = "yes" if y[i] else "no"
        lines.append(f"{cell},{tenure[i]},{region[i]},{plan[i]},{card[i]},{churned}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def csv_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server whose v0001 was trained on `churn_csv`, with hard bounds on
    tenure_months (0 to 120) and closed region levels that include one never seen
    ("central"); the monitor window is the newest 500 rows."""
    from selfheal.home import Home, train_version

    root = tmp_path_factory.mktemp("csvmodel")
    schema = root / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "features": {
                    "tenure_months": {"type": "numeric", "min": 0, "max": 120},
                    "region": {
                        "type": "categorical",
                        "levels": [*REGIONS, "central"],
                        "closed": True,
                    },
                }
            }
        )
    )
    home = Home(make_settings(root / "home"))
    try:
        train_version(
            home,
            data=churn_csv(root / "churn.csv"),
            target="churned",
            positive="yes",
            schema_path=schema,
            categorical=["plan_code"],
            classifier="logreg",
            promote=True,
        )
    finally:
        home.close()
    srv = Server(
        root / "home",
        SELFHEAL_ADMIN_TOKEN=TOKEN,
        SELFHEAL_MONITOR_INTERVAL="3600",
        SELFHEAL_AUTO_RETRAIN="false",
        SELFHEAL_MONITOR_WINDOW="500",
    ).start()
    yield srv
    assert srv.stop() == 0, srv.log()


@pytest.fixture
def csv_client(csv_server: Server) -> Iterator[Client]:
    with Client(csv_server.base, timeout=30, token=TOKEN) as c:
        yield c


def reference_of(server: Server) -> Any:
    from selfheal.registry import Registry

    frame, _ = Registry(server.home / "registry").reference("v0001")
    return frame


def test_predict_for_a_csv_model_sends_its_reference_rows(
    csv_server: Server, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("SELFHEAL_HOME", str(csv_server.home))  # as `make generate-predictions`
    assert main(["predict", "400", "--seed", "2", "--url", csv_server.base, "-q"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("sent 400 predictions (no drift, seed 2) in ") and err == ""
    assert "400 ok, 0 failed" in out
    assert "  records: drawn from the reference sample of v0001 (1,200 rows)\n" in out
    assert "400 kept in" in out  # each reference row carries its own label
    rows = newest(csv_server, 400)
    ref = reference_of(csv_server)
    assert {k for k in rows[0] if k not in ("id", "label", "version")} == {
        "amount",
        "tenure_months",
        "region",
        "plan_code",
        "has_card",
    }
    # whole reference rows: missing values at the reference's share, codes and yes/no as is
    gaps = np.mean([row["amount"] is None for row in rows])
    assert abs(gaps - ref["amount"].isna().mean()) < 0.03 and gaps > 0
    assert {row["plan_code"] for row in rows} == {"1", "2", "3"}
    assert {row["has_card"] for row in rows} == {"yes", "no"}
    assert {row["region"] for row in rows} == set(REGIONS)
    kept = [json.loads(x) for x in pending_path(csv_server.home).read_text().splitlines()]
    assert [k["prediction_id"] for k in kept[-400:]] == [row["id"] for row in rows]


def test_covariate_drift_for_a_csv_model_moves_every_column(
    csv_server: Server, csv_client: Client
) -> None:
    population = production_traffic(csv_client, csv_server.home / "registry")
    assert population is not None and population.labels is not None
    r = inject_drift(csv_client, "covariate", n=500, seed=3, population=population)
    assert (r["ok"], r["failed"], r["labeled"]) == (500, 0, 0)
    rows = newest(csv_server, 500)
    ref = reference_of(csv_server)
    tenure = np.array([row["tenure_months"] for row in rows])
    sd = ref["tenure_months"].std(ddof=0)
    assert tenure.max() <= 120 and np.all(tenure == np.round(tenure))  # hard max, whole
    assert tenure.mean() > ref["tenure_months"].mean() + 0.6 * sd
    amount = [row["amount"] for row in rows if row["amount"] is not None]
    assert np.mean(amount) > ref["amount"].mean() + 0.9 * ref["amount"].std(ddof=0)
    assert abs(np.mean([row["amount"] is None for row in rows]) - 0.08) < 0.04
    # the closed region's declared but never seen level; the rarest level elsewhere
    assert 0.4 < np.mean([row["region"] == "central" for row in rows]) < 0.6
    assert np.mean([row["plan_code"] == "3" for row in rows]) > 0.5
    assert np.mean([row["has_card"] == "no" for row in rows]) > 0.55
    summary = run_monitor(csv_client)
    assert summary["status"] == "drift"
    assert set(summary["drifted_features"]) >= {
        "amount",
        "tenure_months",
        "region",
        "plan_code",
        "has_card",
    }


def test_population_and_concept_drift_for_a_csv_model(
    csv_server: Server, csv_client: Client
) -> None:
    population = production_traffic(csv_client, csv_server.home / "registry")
    assert population is not None and population.labels is not None
    base_rate = population.labels.mean()
    _, more = population.draw(500, seed=4, drift="population")
    assert more is not None and np.mean(more) > base_rate + 0.3

    labels_before = count(csv_server, "labels")
    r = inject_drift(csv_client, "concept", n=200, seed=5, population=population)
    assert (r["ok"], r["failed"], r["labeled"]) == (200, 0, 200)
    assert count(csv_server, "labels") - labels_before == 200
    records, truth = population.draw(200, seed=5)
    rows = newest(csv_server, 200)
    assert [row["tenure_months"] for row in rows] == [x["tenure_months"] for x in records]
    assert truth is not None and [row["label"] for row in rows] == [1 - y for y in truth]


def test_without_the_registry_records_come_from_the_schema(
    csv_server: Server, csv_client: Client, cli_env: Path, capsys
) -> None:
    population = production_traffic(csv_client, cli_env / "registry")
    assert population is not None and population.labels is None
    assert population.source == (
        "the schema of v0001 (training ranges and levels; no labels): the registry "
        f"{cli_env / 'registry'} does not hold v0001"
    )
    for drift in (None, "covariate"):
        r = generate_predictions(
            csv_client, 300, seed=6, drift=drift, progress=None, population=population
        )
        assert (r["ok"], r["failed"], r["pending_labels"]) == (300, 0, 0)
        rows = newest(csv_server, 300)
        assert all(0 <= row["tenure_months"] <= 120 for row in rows)
        assert {row["region"] for row in rows} <= {*REGIONS, "central"}
    for kw in ({"drift": "concept"}, {"drift": "population"}, {"labels": True}):
        with pytest.raises(SelfhealError) as e:
            generate_predictions(csv_client, 10, progress=None, population=population, **kw)
        assert e.value.code == "no_reference"
        what = f"{kw['drift']} drift" if "drift" in kw else "--labels"
        assert e.value.message.startswith(f"{what} needs the labels of the production model")
    # on the command line: a private SELFHEAL_HOME, one line, exit 2, nothing sent
    before = count(csv_server)
    assert main(["drift", "concept", "--url", csv_server.base]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("selfheal: error: concept drift needs the labels of the production")
    assert "run it with the server's SELFHEAL_HOME" in err and count(csv_server) == before
    assert main(["predict", "20", "--url", csv_server.base, "-q"]) == 0
    out = capsys.readouterr().out
    assert "20 ok, 0 failed" in out and "  records: drawn from the schema of v0001" in out
    assert "  note: records drawn from the schema carry no labels: none are kept" in out


# -- progress: in place on a terminal, silent when short (issue item 9) ------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_silent_for_a_short_run() -> None:
    for stream in (_Terminal(), io.StringIO()):
        clock = _Clock()
        status = StatusLine(stream, clock=clock)
        for t, line in ((0.2, "  50/100 predictions"), (1.0, "  100/100 predictions")):
            clock.now = 100 + t
            status(line)
        status.close()
        assert stream.getvalue() == ""


def test_progress_on_a_terminal_is_one_line_rewritten_in_place() -> None:
    stream, clock = _Terminal(), _Clock()
    status = StatusLine(stream, clock=clock)
    for t, line in ((0.5, "  100/1000 a"), (2.0, "  500/1000 abc"), (3.0, "  1000/1000 b")):
        clock.now = 100 + t
        status(line)
    assert stream.getvalue() == "\r500/1000 abc\r1000/1000 b "
    status.close()  # erased: the summary takes its place
    assert stream.getvalue().endswith("\r" + " " * 11 + "\r")
    assert "\n" not in stream.getvalue()
    kept = _Terminal()
    failing = StatusLine(kept, clock=clock, delay=0)
    failing("  300/1000 c")
    failing.close(keep=True)  # the error line follows the last count
    assert kept.getvalue() == "\r300/1000 c\n"


def test_progress_elsewhere_is_at_most_one_line_per_ten_seconds() -> None:
    stream, clock = io.StringIO(), _Clock()
    status = StatusLine(stream, clock=clock)
    for t in (1, 5, 9.9, 11, 15, 20.9, 22, 40):
        clock.now = 100 + t
        status(f"  at {t}")
    status.close()
    assert stream.getvalue() == "  at 11\n  at 22\n  at 40\n"
