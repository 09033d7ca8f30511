"""Soak benchmark: minutes of load on `run.py` with operator reads and the monitor running.

What it does:

1. starts ``run.py`` on a free loopback port with a fresh temporary ``SELFHEAL_HOME`` (it
   bootstraps the model), the monitor every ``--monitor-interval`` seconds and
   ``SELFHEAL_SYNC=--sync``; waits for ``GET /health``;
2. for ``--minutes`` minutes runs ``--clients`` keep-alive connections posting seeded
   records to ``/predict`` in a closed loop, and ``--readers`` loops reading
   ``/monitoring/stats``, ``/`` (the dashboard) and ``/metrics`` without pause: the reads
   that kept SQLite from resetting its log before the writer checkpointed;
3. samples every half second the ``-wal`` file (its high-water mark), and every
   ``--interval`` seconds the throughput, errors, database size and the server's RSS;
4. stops the server with SIGTERM (it must exit 0) and checks that the production rows in
   SQLite equal the 200 answers.

It prints one row per interval and a summary, and exits 1 when the WAL's high-water mark
passes ``--wal-bound-mib`` (64), the RSS at the end exceeds the warm RSS (end of the first
interval) by more than ``--max-rss-growth`` (25 %), a request failed, or a 200 has no row.

Usage::

    .venv/bin/python bench/soak_bench.py                  # 10 minutes
    .venv/bin/python bench/soak_bench.py --minutes 3 --markdown
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MIB = 1024 * 1024


def make_records(seed: int, n: int = 2048) -> list[bytes]:
    """Credit applicants drawn like the bootstrap data (see selfheal/datasets.py)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        rec = {
            "age": min(max(round(rng.gauss(42, 12)), 18), 90),
            "income": round(max(8000.0, rng.lognormvariate(10.8, 0.5)), 2),
            "credit_score": min(max(round(rng.gauss(680, 60)), 300), 850),
            "employment_years": round(max(0.0, rng.gauss(7, 5)), 1),
        }
        out.append(json.dumps(rec).encode())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@dataclass
class Counts:
    lock: threading.Lock = field(default_factory=threading.Lock)
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    reads: int = 0
    read_errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str, *, read: bool = False) -> None:
        with self.lock:
            target = self.read_errors if read else self.errors
            target[kind] = target.get(kind, 0) + 1


def predict_loop(port: int, bodies: list[bytes], stop: threading.Event, c: Counts) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    i = 0
    while not stop.is_set():
        body = bodies[i % len(bodies)]
        i += 1
        try:
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            c.error(type(exc).__name__)
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            continue
        if resp.status == 200:
            with c.lock:
                c.ok += 1
        else:
            try:
                code = json.loads(data)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "?"
            c.error(f"{resp.status} {code}")
    conn.close()


def read_loop(port: int, stop: threading.Event, c: Counts) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    paths = ("/monitoring/stats", "/", "/metrics")
    i = 0
    while not stop.is_set():
        path = paths[i % len(paths)]
        i += 1
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as exc:
            c.error(f"{path} {type(exc).__name__}", read=True)
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            continue
        if resp.status == 200:
            with c.lock:
                c.reads += 1
        else:
            c.error(f"{path} {resp.status}", read=True)
    conn.close()


def metric_samples(port: int, prefix: str) -> dict[str, float]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def wait_healthy(proc: subprocess.Popen[bytes], port: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"run.py exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/health")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"run.py not healthy within {timeout:g} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--minutes", type=float, default=10.0, help="load duration")
    ap.add_argument("--interval", type=float, default=30.0, help="seconds per reported row")
    ap.add_argument("--clients", type=int, default=16, help="/predict keep-alive connections")
    ap.add_argument("--readers", type=int, default=2, help="operator read loops")
    ap.add_argument("--monitor-interval", type=float, default=2.0, help="monitor cycle, s")
    ap.add_argument("--sync", choices=("full", "normal"), default="full")
    ap.add_argument("--wal-max-mib", type=float, default=None, help="SELFHEAL_WAL_MAX_MIB")
    ap.add_argument("--wal-bound-mib", type=float, default=64.0, help="fail above this")
    ap.add_argument("--max-rss-growth", type=float, default=0.25, help="fail above this")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="selfheal-soak-"))
    home = tmp / "home"
    db_path = home / "selfheal.db"
    wal = Path(f"{db_path}-wal")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFHEAL_")}
    env.update(
        SELFHEAL_ENV_FILE="/dev/null",
        SELFHEAL_HOME=str(home),
        SELFHEAL_HOST=HOST,
        SELFHEAL_PORT=str(port),
        SELFHEAL_MONITOR_INTERVAL=str(args.monitor_interval),
        SELFHEAL_SYNC=args.sync,
        PYTHONUNBUFFERED="1",
    )
    if args.wal_max_mib is not None:
        env["SELFHEAL_WAL_MAX_MIB"] = str(args.wal_max_mib)
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(proc, port)
        return soak(args, proc, port, db_path, wal, log_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


def soak(
    args: argparse.Namespace,
    proc: subprocess.Popen[bytes],
    port: int,
    db_path: Path,
    wal: Path,
    log_path: Path,
) -> int:
    bodies = make_records(args.seed)
    counts = Counts()
    stop = threading.Event()
    threads = [
        threading.Thread(target=predict_loop, args=(port, bodies, stop, counts), daemon=True)
        for _ in range(args.clients)
    ] + [
        threading.Thread(target=read_loop, args=(port, stop, counts), daemon=True)
        for _ in range(args.readers)
    ]
    rss_start = rss_mib(proc.pid)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    rows: list[dict[str, Any]] = []
    wal_hwm = 0
    end = t0 + args.minutes * 60.0
    next_row = t0 + args.interval
    last_ok, last_t, interval_wal = 0, t0, 0
    while True:
        now = time.monotonic()
        size = file_size(wal)
        wal_hwm = max(wal_hwm, size)
        interval_wal = max(interval_wal, size)
        if now >= next_row or now >= end:
            with counts.lock:
                ok, errors = counts.ok, sum(counts.errors.values())
            rows.append(
                {
                    "t": now - t0,
                    "rps": (ok - last_ok) / (now - last_t),
                    "errors": errors,
                    "wal_mib": interval_wal / MIB,
                    "db_mib": file_size(db_path) / MIB,
                    "rss_mib": rss_mib(proc.pid),
                }
            )
            r = rows[-1]
            print(
                f"{r['t']:6.0f} s  {r['rps']:7.1f} rps  wal max {r['wal_mib']:6.2f} MiB  "
                f"db {r['db_mib']:7.1f} MiB  rss {r['rss_mib']:6.1f} MiB  errors {errors}",
                flush=True,
            )
            last_ok, last_t, interval_wal = ok, now, 0
            next_row += args.interval
            if now >= end:
                break
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(70)
    checkpoints = metric_samples(port, "selfheal_wal_")
    server_hwm = checkpoints.get("selfheal_wal_high_water_bytes", 0.0)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as conn:
        logged = conn.execute("SELECT COUNT(*) FROM predictions WHERE role = 'production'")
        n_rows = int(logged.fetchone()[0])
    conn.close()

    warm = rows[0]["rss_mib"]
    rss_end = rows[-1]["rss_mib"]
    growth = (rss_end - warm) / warm
    hwm = max(wal_hwm, int(server_hwm))
    problems = []
    if hwm > args.wal_bound_mib * MIB:
        problems.append(f"WAL high-water {hwm / MIB:.1f} MiB > {args.wal_bound_mib:g} MiB")
    if growth > args.max_rss_growth:
        problems.append(f"RSS grew {growth:.0%} after warm-up (limit {args.max_rss_growth:.0%})")
    if counts.errors or counts.read_errors:
        problems.append(f"errors: {counts.errors} reads: {counts.read_errors}")
    if n_rows < counts.ok:
        problems.append(f"{counts.ok} answers 200 but {n_rows} production rows")
    if code != 0:
        problems.append(f"run.py exited {code} on SIGTERM")

    if args.markdown:
        print("\n| t (s) | rps | WAL max (MiB) | database (MiB) | server RSS (MiB) | errors |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['t']:.0f} | {r['rps']:.0f} | {r['wal_mib']:.2f} | {r['db_mib']:.1f} | "
                f"{r['rss_mib']:.1f} | {r['errors']} |"
            )
    print(
        f"\n{args.minutes:g} min, sync={args.sync}, {args.clients} clients, {args.readers} "
        f"readers, monitor every {args.monitor_interval:g} s; "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"- answered 200: {counts.ok} ({counts.ok / (args.minutes * 60):.0f} rps mean); "
        f"production rows {n_rows}; operator reads {counts.reads}"
    )
    print(
        f"- WAL high-water {hwm / MIB:.2f} MiB (sampled {wal_hwm / MIB:.2f}, server "
        f"{server_hwm / MIB:.2f}); bound {args.wal_bound_mib:g} MiB"
    )
    print(
        "- checkpoints: "
        + ", ".join(
            f"{k.split('{', 1)[1].rstrip('}')}={v:g}"
            for k, v in sorted(checkpoints.items())
            if k.startswith("selfheal_wal_checkpoints_total{") and v
        )
    )
    print(f"- database {rows[-1]['db_mib']:.1f} MiB")
    print(
        f"- server RSS: start {rss_start:.1f} MiB, warm (after {rows[0]['t']:.0f} s) "
        f"{warm:.1f} MiB, end {rss_end:.1f} MiB ({growth:+.1%} since warm)"
    )
    print(f"- errors: {counts.errors or 'none'}; read errors: {counts.read_errors or 'none'}")
    print(f"- run.py exit code on SIGTERM: {code}")
    if problems:
        print("FAILED: " + "; ".join(problems))
        print(log_path.read_text(errors="replace")[-3000:])
        return 1
    print("OK: WAL bounded, memory flat, no errors, every 200 is a row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
