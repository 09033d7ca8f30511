"""HTTP serving benchmark: `run.py` (selfheal) against a bare Flask endpoint on the same model
and against the framework's ceiling.

What it does:

1. starts ``run.py`` on a free loopback port with a fresh temporary ``SELFHEAL_HOME`` (it
   bootstraps the model) and waits for ``GET /health``;
2. starts one or more **bare** endpoints (this file with ``--serve-bare``): Flask + waitress with
   the same thread count, the SAME model loaded from that home's registry, and a
   ``POST /predict`` that parses the JSON, builds a 1-row float64 array, calls ``predict_proba``
   and returns the probability (no validation, no logging, no database);
3. drives each server in turn with ``--clients`` concurrent keep-alive connections for
   ``--warmup`` + ``--seconds`` seconds. The load generator is a separate process (this file
   with ``--client``): one thread, non-blocking sockets and pre-built requests, a closed loop
   (each connection sends its next request as soon as the previous answer is complete), so the
   client's GIL never serialises the servers and its CPU cost stays small. The client measures
   its own CPU, the server's CPU (``/proc/PID/stat``) and the whole machine's busy time
   (``/proc/stat``) over the measured window;
4. repeats this for ``--rounds`` rounds, alternating the order (A B C, C B A, ...) and reports
   medians: requests/s, p50 and p99 latency, and the ratios selfheal/ceiling and selfheal/bare;
5. checks that the production rows in SQLite equal the number of 200 responses selfheal gave
   (every 200 means "committed"); a mismatch exits 1;
6. stops every server with SIGTERM; selfheal must exit 0.

Records are random but realistic (the bootstrap data's distributions, seeded by ``--seed``).

Usage::

    .venv/bin/python bench/http_bench.py                      # default settings, ~80-100 s
    .venv/bin/python bench/http_bench.py --quick              # smoke run, ~35 s
    .venv/bin/python bench/http_bench.py --selfheal default --selfheal threads=8,wait=2,omp=1

``--bare``, ``--ceiling`` and ``--selfheal`` take a side spec, repeatable: ``default`` or
comma-separated ``threads=N`` (waitress threads), ``omp=N`` (OMP_NUM_THREADS) and, for
selfheal only, ``wait=MS`` (SELFHEAL_BATCH_MAX_WAIT_MS) and ``sync=full|normal``
(SELFHEAL_SYNC). ``switch=MS`` is an experiment: the server starts with
``sys.setswitchinterval(MS / 1000)`` (run.py itself unchanged). Defaults: bare ``default`` and
``omp=1``, ceiling ``default``, selfheal ``default``. The machine's other load moves absolute
figures; compare the ratios, which are measured alternately in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import resource
import selectors
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
N_RECORDS = 2048
STATUS_SAMPLE_EVERY = 61  # parse every 61st 200 body to check its fields
DRAIN_SECONDS = 35.0  # selfheal answers 503 after 30 s at the latest


# ------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------


def make_records(seed: int, n: int = N_RECORDS) -> list[dict[str, float]]:
    """Credit applicants drawn like the bootstrap data (see selfheal/datasets.py)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        age = min(max(round(rng.gauss(42, 12)), 18), 90)
        income = min(max(rng.lognormvariate(10.859, 0.45), 5_000.0), 1_000_000.0)
        score = min(max(round(rng.gauss(680, 70)), 300), 850)
        emp = min(rng.gammavariate(2.0, 3.5), max(min(age - 16, 50), 0))
        out.append(
            {
                "age": age,
                "income": round(income, 2),
                "credit_score": score,
                "employment_years": round(emp, 1),
            }
        )
    return out


def make_requests(port: int, seed: int) -> list[bytes]:
    reqs = []
    for rec in make_records(seed):
        body = json.dumps(rec).encode()
        head = (
            f"POST /predict HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        reqs.append(head + body)
    return reqs


# ------------------------------------------------------------------------------------------
# The bare endpoint (--serve-bare)
# ------------------------------------------------------------------------------------------


def serve_bare(home: Path, port: int, threads: int, switch_ms: float | None = None) -> int:
    """Flask + waitress + the production model of `home`; nothing else."""
    if switch_ms is not None:
        sys.setswitchinterval(switch_ms / 1000.0)
    import numpy as np
    from flask import Flask, request

    sys.path.insert(0, str(ROOT))
    from selfheal.registry import Registry

    registry = Registry(home / "registry")
    version = registry.production()
    deadline = time.monotonic() + 180  # started beside run.py, which is bootstrapping the model
    while version is None and time.monotonic() < deadline:
        time.sleep(0.2)
        version = registry.production()
    if version is None:
        sys.stderr.write(f"bare: no production model in {home / 'registry'}\n")
        return 2
    model = registry.load(version)
    app = Flask("bare")

    @app.post("/predict")
    def predict() -> dict[str, float]:
        d = request.get_json(force=True)
        X = np.array(
            [[d["age"], d["income"], d["credit_score"], d["employment_years"]]], dtype=np.float64
        )
        return {"probability": float(model.predict_proba(X)[0])}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return _serve(app, port, threads, "bare")


# The constant answer of the ceiling side: selfheal's answer to one record, in its shape.
CEILING_ANSWER = {
    "prediction_id": "0" * 32,
    "probability": 0.25,
    "prediction": 0,
    "model_version": "v0001",
    "out_of_range": [],
}


def serve_ceiling(port: int, threads: int, switch_ms: float | None = None) -> int:
    """Flask + waitress, parse the JSON body (standard json), return a constant prediction."""
    if switch_ms is not None:
        sys.setswitchinterval(switch_ms / 1000.0)
    from flask import Flask, Response, request

    app = Flask("ceiling")

    @app.post("/predict")
    def predict() -> Response:
        d = json.loads(request.get_data(cache=False))
        if not isinstance(d, dict):
            return Response(b'{"error": "not an object"}', 400, mimetype="application/json")
        return Response(json.dumps(CEILING_ANSWER), mimetype="application/json")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return _serve(app, port, threads, "ceiling")


def _serve(app: Any, port: int, threads: int, ident: str) -> int:
    """Run `app` on waitress until SIGTERM/SIGINT; 0 on a clean stop."""
    from waitress import create_server

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = create_server(
        app,
        host=HOST,
        port=port,
        threads=threads,
        ident=ident,
        channel_timeout=30,
        connection_limit=1000,
    )
    try:
        server.run()  # waitress turns SystemExit into a shutdown and returns
    except SystemExit:
        pass
    finally:
        try:
            server.close()
        except Exception:
            pass
    return 0


# ------------------------------------------------------------------------------------------
# The load generator (--client)
# ------------------------------------------------------------------------------------------


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid`, in seconds (0.0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot."""
    try:
        with open("/proc/stat", "rb") as f:
            parts = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return 0, 0
    total = sum(parts)
    return total - parts[3] - parts[4], total


def _self_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (NumPy's default) of an already sorted list."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass
class _Conn:
    sock: socket.socket
    next_req: int
    out: bytes = b""
    buf: bytearray = field(default_factory=bytearray)
    t0: float = 0.0


def run_client(
    port: int, clients: int, seconds: float, warmup: float, seed: int, server_pid: int
) -> dict[str, Any]:
    """Closed-loop keep-alive load; returns counts, latencies and CPU over the window."""
    reqs = make_requests(port, seed)
    sel = selectors.DefaultSelector()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    bad_bodies = 0
    in_window = 0
    sampled = 0

    def connect(idx: int) -> _Conn:
        s = socket.create_connection((HOST, port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        return _Conn(sock=s, next_req=idx)

    def send(c: _Conn, now: float) -> None:
        c.out = reqs[c.next_req % len(reqs)]
        c.next_req += clients
        c.t0 = now
        c.buf.clear()
        sel.register(c.sock, selectors.EVENT_WRITE, c)

    start = time.perf_counter()
    warm_end = start + warmup
    end = warm_end + seconds
    snap0: tuple[float, float, tuple[int, int], float] | None = None
    snap1: tuple[float, float, tuple[int, int], float] | None = None
    conns = [connect(i) for i in range(clients)]
    now = time.perf_counter()
    for c in conns:
        send(c, now)
    open_conns = len(conns)

    def fail(c: _Conn, what: str, now: float) -> None:
        nonlocal open_conns
        errors[what] = errors.get(what, 0) + 1
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        if now < end:
            fresh = connect(c.next_req)
            send(fresh, now)
        else:
            open_conns -= 1

    while open_conns:
        now = time.perf_counter()
        if snap0 is None and now >= warm_end:
            snap0 = (now, _self_cpu_seconds(), _machine_ticks(), _proc_cpu_seconds(server_pid))
        if snap1 is None and now >= end:
            snap1 = (now, _self_cpu_seconds(), _machine_ticks(), _proc_cpu_seconds(server_pid))
        if now > end + DRAIN_SECONDS:
            errors["no_answer_at_end"] = open_conns
            break
        for key, events in sel.select(timeout=0.02):
            c: _Conn = key.data
            now = time.perf_counter()
            if events & selectors.EVENT_WRITE:
                try:
                    n = c.sock.send(c.out)
                except OSError:
                    fail(c, "send_error", now)
                    continue
                c.out = c.out[n:]
                if not c.out:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                fail(c, "recv_error", now)
                continue
            if not data:
                fail(c, "closed_by_server", now)
                continue
            c.buf += data
            head_end = c.buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            lines = bytes(c.buf[:head_end]).split(b"\r\n")
            length = -1
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length < 0:
                fail(c, "no_content_length", now)
                continue
            if len(c.buf) < head_end + 4 + length:
                continue
            status = int(lines[0].split(b" ", 2)[1])
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                sampled += 1
                if sampled % STATUS_SAMPLE_EVERY == 1:
                    body = json.loads(bytes(c.buf[head_end + 4 : head_end + 4 + length]))
                    if not 0.0 <= float(body.get("probability", -1)) <= 1.0:
                        bad_bodies += 1
            if warm_end <= now < end:
                in_window += 1
                latencies.append(now - c.t0)
            sel.unregister(c.sock)
            if now < end and not close:
                send(c, now)
            elif now < end:
                c.sock.close()
                fresh = connect(c.next_req)
                send(fresh, now)
            else:
                c.sock.close()
                open_conns -= 1
    now = time.perf_counter()
    if snap0 is None:
        snap0 = (now, _self_cpu_seconds(), _machine_ticks(), _proc_cpu_seconds(server_pid))
    if snap1 is None:
        snap1 = (now, _self_cpu_seconds(), _machine_ticks(), _proc_cpu_seconds(server_pid))
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    wall = snap1[0] - snap0[0]
    busy = snap1[2][0] - snap0[2][0]
    total = snap1[2][1] - snap0[2][1]
    latencies.sort()
    return {
        "window_s": wall,
        "ok_in_window": in_window,
        "rps": in_window / wall if wall > 0 else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000.0,
        "p99_ms": percentile(latencies, 99) * 1000.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors,
        "bad_bodies": bad_bodies,
        "client_cpu_s": snap1[1] - snap0[1],
        "server_cpu_s": snap1[3] - snap0[3],
        "machine_busy_cores": (busy / total) * (os.cpu_count() or 1) if total > 0 else 0.0,
    }


# ------------------------------------------------------------------------------------------
# Orchestration
# ------------------------------------------------------------------------------------------


@dataclass
class Side:
    kind: str  # "bare" | "ceiling" | "selfheal"
    threads: int
    omp: int | None = None
    wait_ms: float | None = None
    switch_ms: float | None = None  # experiment: sys.setswitchinterval in the server
    sync: str | None = None  # selfheal only: SELFHEAL_SYNC (full | normal); None = default
    port: int = 0
    home: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def label(self) -> str:
        parts = [self.kind, f"threads={self.threads}"]
        if self.omp is not None:
            parts.append(f"OMP={self.omp}")
        if self.kind == "selfheal":
            parts.append(f"wait={self.wait_ms if self.wait_ms is not None else 0:g}ms")
            if self.sync is not None:
                parts.append(f"sync={self.sync}")
        if self.switch_ms is not None:
            parts.append(f"switch={self.switch_ms:g}ms")
        return " ".join(parts)


def parse_side(kind: str, spec: str, default_threads: int, default_wait: float | None) -> Side:
    side = Side(kind=kind, threads=default_threads, wait_ms=default_wait)
    if spec.strip() in ("", "default"):
        return side
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise SystemExit(f"bad {kind} spec {spec!r}: expected key=value items")
        if key == "threads":
            side.threads = int(value)
        elif key == "omp":
            side.omp = None if value in ("", "default") else int(value)
        elif key == "wait" and kind == "selfheal":
            side.wait_ms = float(value)
        elif key == "switch":
            side.switch_ms = float(value)
        elif key == "sync" and kind == "selfheal":
            if value not in ("full", "normal"):
                raise SystemExit(f"bad {kind} spec {spec!r}: sync must be full or normal")
            side.sync = value
        else:
            raise SystemExit(f"bad {kind} spec {spec!r}: unknown key {key!r}")
    return side


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def child_env(side: Side) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFHEAL_")}
    env.pop("OMP_NUM_THREADS", None)
    if side.omp is not None:
        env["OMP_NUM_THREADS"] = str(side.omp)
    env["PYTHONUNBUFFERED"] = "1"
    env["SELFHEAL_ENV_FILE"] = "/dev/null"
    if side.kind == "selfheal":
        assert side.home is not None
        env.update(
            SELFHEAL_HOME=str(side.home),
            SELFHEAL_HOST=HOST,
            SELFHEAL_PORT=str(side.port),
            SELFHEAL_THREADS=str(side.threads),
            SELFHEAL_LOG_LEVEL="INFO",
        )
        if side.wait_ms is not None:
            env["SELFHEAL_BATCH_MAX_WAIT_MS"] = str(side.wait_ms)
        if side.sync is not None:
            env["SELFHEAL_SYNC"] = side.sync
    return env


def launch(side: Side, tmp: Path, index: int, model_home: Path | None) -> None:
    side.port = free_port()
    side.log = tmp / f"{side.kind}-{index}.log"
    if side.kind == "selfheal":
        side.home = tmp / f"home-{index}"
        cmd = [sys.executable, str(ROOT / "run.py")]
        if side.switch_ms is not None:  # run.py unchanged, only the GIL switch interval differs
            cmd = [
                sys.executable,
                "-c",
                f"import runpy, sys; sys.setswitchinterval({side.switch_ms / 1000.0!r}); "
                "sys.argv = ['run.py']; runpy.run_path('run.py', run_name='__main__')",
            ]
    elif side.kind == "ceiling":
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-ceiling",
            "--port",
            str(side.port),
            "--threads",
            str(side.threads),
        ]
        if side.switch_ms is not None:
            cmd += ["--switch-ms", str(side.switch_ms)]
    else:
        assert model_home is not None
        side.home = model_home
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-bare",
            "--home",
            str(model_home),
            "--port",
            str(side.port),
            "--threads",
            str(side.threads),
        ]
        if side.switch_ms is not None:
            cmd += ["--switch-ms", str(side.switch_ms)]
    with open(side.log, "wb") as log:
        side.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=child_env(side), stdout=log, stderr=subprocess.STDOUT
        )


def wait_healthy(side: Side, timeout: float = 180.0) -> None:
    assert side.proc is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if side.proc.poll() is not None:
            raise RuntimeError(f"{side.label} exited with {side.proc.returncode}:\n{tail(side)}")
        try:
            conn = http.client.HTTPConnection(HOST, side.port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{side.label} not healthy within {timeout:g} s:\n{tail(side)}")


def tail(side: Side, n: int = 15) -> str:
    if side.log is None or not side.log.exists():
        return ""
    return "\n".join(side.log.read_text(errors="replace").splitlines()[-n:])


def stop(side: Side) -> None:
    if side.proc is None or side.proc.poll() is not None:
        side.exit_code = None if side.proc is None else side.proc.returncode
        return
    side.proc.send_signal(signal.SIGTERM)
    try:
        side.exit_code = side.proc.wait(30)
    except subprocess.TimeoutExpired:
        side.proc.kill()
        side.proc.wait(10)
        side.exit_code = -9


def writer_stats(side: Side) -> tuple[int, int]:
    """(batches, rows) committed so far by selfheal's pipeline thread, from GET /health."""
    conn = http.client.HTTPConnection(HOST, side.port, timeout=10)
    try:
        conn.request("GET", "/health")
        w = json.loads(conn.getresponse().read())["writer"]
        return int(w["batches"]), int(w["rows"])
    finally:
        conn.close()


def measure(side: Side, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    assert side.proc is not None
    before = writer_stats(side) if side.kind == "selfheal" else (0, 0)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--client",
        "--port",
        str(side.port),
        "--server-pid",
        str(side.proc.pid),
        "--clients",
        str(args.clients),
        "--seconds",
        str(args.seconds),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(seed),
    ]
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=args.warmup + args.seconds + DRAIN_SECONDS + 30,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"client against {side.label} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if side.kind == "selfheal":
        after = writer_stats(side)
        batches = after[0] - before[0]
        result["rows_per_batch"] = (after[1] - before[1]) / batches if batches else 0.0
    return result


def count_rows(home: Path) -> int:
    conn = sqlite3.connect(f"file:{home / 'selfheal.db'}?mode=ro", uri=True, timeout=10)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM predictions WHERE role='production'").fetchone()[0]
        )
    finally:
        conn.close()


def med(side: Side, key: str) -> float:
    return statistics.median(r[key] for r in side.results)


def other_cores(r: dict[str, Any]) -> float:
    """Busy cores over the window not used by this server or the client: other jobs."""
    ours = (r["server_cpu_s"] + r["client_cpu_s"]) / r["window_s"] if r["window_s"] else 0.0
    return max(r["machine_busy_cores"] - ours, 0.0)


def summary_rows(sides: list[Side]) -> list[list[str]]:
    rows = []
    for s in sides:
        ok = sum(r["ok_in_window"] for r in s.results)
        cpu_ms = 1000.0 * sum(r["server_cpu_s"] for r in s.results) / ok if ok else float("nan")
        client = 100.0 * statistics.median(r["client_cpu_s"] / r["window_s"] for r in s.results)
        rows.append(
            [
                s.label,
                f"{med(s, 'rps'):,.0f}",
                f"{med(s, 'p50_ms'):.1f}",
                f"{med(s, 'p99_ms'):.1f}",
                f"{cpu_ms:.2f}",
                f"{client:.0f}%",
                f"{med(s, 'machine_busy_cores'):.2f}",
                f"{statistics.median(other_cores(r) for r in s.results):.2f}",
                f"{med(s, 'rows_per_batch'):.1f}" if s.kind == "selfheal" else "-",
                " ".join(f"{r['rps']:,.0f}" for r in s.results),
            ]
        )
    return rows


HEADER = [
    "side",
    "rps",
    "p50 ms",
    "p99 ms",
    "server CPU ms/req",
    "client CPU",
    "busy cores",
    "other cores",
    "rows/batch",
    "rps per round",
]


def print_table(rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    print("  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def orchestrate(args: argparse.Namespace) -> int:
    default_wait = args.max_wait_ms
    bares = [parse_side("bare", s, args.threads, None) for s in (args.bare or ["default", "omp=1"])]
    ceilings = [parse_side("ceiling", s, args.threads, None) for s in (args.ceiling or ["default"])]
    selfs = [
        parse_side("selfheal", s, args.threads, default_wait)
        for s in (args.selfheal or ["default"])
    ]
    print(
        f"http_bench: {args.clients} clients, {args.warmup:g} s warm-up + {args.seconds:g} s "
        f"measured, {args.rounds} round(s); {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.machine()}",
        flush=True,
    )
    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="selfheal-http-bench-"))
    sides: list[Side] = [*bares, *ceilings, *selfs]
    failures: list[str] = []
    try:
        for i, s in enumerate(selfs):
            launch(s, tmp, i, None)
        for i, s in enumerate(bares):
            launch(s, tmp, i, tmp / "home-0")  # the bare side waits for run.py's bootstrap
        for i, s in enumerate(ceilings):
            launch(s, tmp, i, None)
        for s in sides:
            wait_healthy(s)
            print(f"  started {s.label} on port {s.port} (home {s.home})", flush=True)
        for rnd in range(args.rounds):
            order = sides if rnd % 2 == 0 else list(reversed(sides))
            for s in order:
                r = measure(s, args, args.seed + rnd)
                s.results.append(r)
                print(
                    f"  round {rnd + 1}: {s.label:<44} {r['rps']:8,.0f} rps  "
                    f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
                    f"statuses {r['statuses']} errors {r['errors'] or 0}",
                    flush=True,
                )
                if r["errors"] or r["bad_bodies"] or set(r["statuses"]) - {"200"}:
                    failures.append(f"{s.label}: round {rnd + 1} had errors or non-200 answers")
    except BaseException:
        if not args.keep:
            args.keep = True  # keep the logs of a failed start for the error message
            print(f"logs kept in {tmp}", file=sys.stderr)
        raise
    finally:
        for s in sides:
            stop(s)
    print()
    print_table(summary_rows(sides), args.markdown)
    print()
    for s in selfs:
        for c in ceilings:
            rr = med(s, "rps") / med(c, "rps")
            pr = med(s, "p99_ms") / med(c, "p99_ms")
            met = "met" if rr >= 0.6 else "NOT met"
            print(
                f"{s.label} / {c.label}: rps ratio {rr:.2f}x, p99 ratio {pr:.2f}x "
                f"(target >= 0.6x: {met})"
            )
        for b in bares:
            rr = med(s, "rps") / med(b, "rps")
            pr = med(s, "p99_ms") / med(b, "p99_ms")
            met = "met" if rr >= 3.0 and pr <= 1.0 else "NOT met"
            print(
                f"{s.label} / {b.label}: rps ratio {rr:.2f}x, p99 ratio {pr:.2f}x "
                f"(target >= 3x and <= 1x: {met})"
            )
    print()
    for s in selfs:
        assert s.home is not None
        answered = sum(r["statuses"].get("200", 0) for r in s.results)
        rows = count_rows(s.home)
        same = rows == answered
        print(
            f"{s.label}: {rows} production rows in SQLite, {answered} answers 200 -> "
            f"{'equal' if same else 'MISMATCH'}; exit code {s.exit_code}"
        )
        if not same:
            failures.append(f"{s.label}: {rows} rows != {answered} answers 200")
        if s.exit_code != 0:
            failures.append(f"{s.label}: exit code {s.exit_code} after SIGTERM\n{tail(s)}")
    for b in [*bares, *ceilings]:
        if b.exit_code != 0:
            failures.append(f"{b.label}: exit code {b.exit_code} after SIGTERM\n{tail(b)}")
    print(f"total time {time.monotonic() - t_start:.0f} s")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=32, help="concurrent keep-alive connections")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per run")
    ap.add_argument("--rounds", type=int, default=2, help="runs per side (order alternates)")
    ap.add_argument("--threads", type=int, default=16, help="waitress threads for every side")
    ap.add_argument(
        "--max-wait-ms",
        type=float,
        default=None,
        help="SELFHEAL_BATCH_MAX_WAIT_MS for selfheal sides (default: unset = 0)",
    )
    ap.add_argument(
        "--bare",
        action="append",
        metavar="SPEC",
        help="bare side: 'default' or threads=N,omp=N (repeatable; default: default, omp=1)",
    )
    ap.add_argument(
        "--ceiling",
        action="append",
        metavar="SPEC",
        help="ceiling side (Flask + waitress, JSON parse, constant answer): 'default' or "
        "threads=N (repeatable; default: default)",
    )
    ap.add_argument(
        "--selfheal",
        action="append",
        metavar="SPEC",
        help="selfheal side: 'default' or threads=N,omp=N,wait=MS,sync=full|normal (repeatable)",
    )
    ap.add_argument("--seed", type=int, default=7, help="seed of the random records")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round of 1 s + 3 s")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--keep", action="store_true", help="keep the temporary homes and logs")
    # internal modes
    ap.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-ceiling", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--switch-ms", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_bare:
        return serve_bare(args.home, args.port, args.threads, args.switch_ms)
    if args.serve_ceiling:
        return serve_ceiling(args.port, args.threads, args.switch_ms)
    if args.client:
        result = run_client(
            args.port, args.clients, args.seconds, args.warmup, args.seed, args.server_pid
        )
        print(json.dumps(result))
        return 0
    if args.quick:
        args.seconds, args.warmup, args.rounds = 3.0, 1.0, 1
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
