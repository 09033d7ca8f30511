"""Scaling benchmark (issue 12): one `run.py` on SQLite, one on PostgreSQL, and two gunicorn
worker processes on PostgreSQL behind one port, measured alternately in one run.

Sides (each ``--threads`` SELFHEAL_THREADS, 16 by default, like ``http_bench.py``):

* **A** ``run.py`` on SQLite (the default: waitress in one process);
* **B** ``run.py`` on PostgreSQL (``SELFHEAL_DATABASE_URL``);
* **C** ``SELFHEAL_WORKERS=2 run.py`` on PostgreSQL: gunicorn, two gthread workers of
  ``--threads`` threads each (twice the threads of A and B);
* **C'** the same with ``--threads / 2`` threads per worker: the total of A and B.

What it does:

1. starts one throwaway PostgreSQL cluster per PostgreSQL side (``tests/pgcluster.py``:
   initdb into a temporary folder, loopback only, ``fsync=off``) and a fresh database in it,
   so each side's database CPU is its own cluster's;
2. starts every side on a free loopback port with a fresh temporary ``SELFHEAL_HOME`` (each
   bootstraps its model) and waits for ``GET /health``; for C and C' until both workers
   have answered (one holds the leader lease, the other does not);
3. drives each side in turn with ``http_bench.py``'s load generator: ``--clients``
   keep-alive connections in a closed loop for ``--warmup`` + ``--seconds`` seconds, one
   record per ``POST /predict``. It runs in a subprocess of this file (``--client``) whose
   CPU probe, taken at the same two instants as the client's own, sums utime + stime
   (+ the reaped children's) over the whole process tree of ``run.py`` (the gunicorn
   arbiter and its workers) and over the side's PostgreSQL postmaster and its children
   (backends, WAL writer, checkpointer, autovacuum);
4. repeats this for ``--rounds`` rounds, alternating the order, and reports medians:
   requests/s, p50 and p99 latency, CPU per request (server processes, PostgreSQL, total),
   the client's CPU, the machine's busy share (and the cores other jobs used), each worker's
   share of the server CPU; then the throughput ratios C/B, C'/B and B/A;
5. stops every side with SIGTERM (exit 0 required, no process of its tree left) and checks
   that its production rows equal the 200 answers it gave (SQLite: the file; PostgreSQL:
   ``SELECT COUNT(*) FROM predictions WHERE role='production'``); a mismatch exits 1.

The monitor runs every ``--monitor-interval`` seconds (default 3600: no cycle of an idle
side lands in another side's window; ``--monitor-interval 60`` is the server's default).
The machine's other load moves absolute figures; compare the ratios, measured alternately.

Usage::

    .venv/bin/python bench/scale_bench.py              # default settings, ~2-3 min
    .venv/bin/python bench/scale_bench.py --quick      # smoke run, 1 round of 1 s + 3 s
    make bench-scale ARGS="--rounds 3 --markdown"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))  # http_bench
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests/pgcluster.py

import http_bench  # noqa: E402

HOST = http_bench.HOST
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT = 60.0  # gunicorn's graceful_timeout is 30 s; selfheal drains its writer after
AIM = 1.4  # two processes / one on PostgreSQL


# ------------------------------------------------------------------------------------------
# CPU of a process tree
# ------------------------------------------------------------------------------------------


def _read_stat(pid: int) -> tuple[int, float, int] | None:
    """(ppid, CPU seconds, start time) of `pid`: utime + stime of all its threads plus
    cutime + cstime (children it has reaped, so a process that ended inside the window
    still counts). None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    cpu = sum(int(x) for x in fields[11:15]) / CLK_TCK
    return int(fields[1]), cpu, int(fields[19])


def _children(pid: int) -> list[int]:
    """Child pids of `pid` from /proc/PID/task/*/children, or by scanning /proc for ppid."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    if not os.path.exists(f"/proc/{pid}/task/{tasks[0]}/children"):  # CONFIG_PROC_CHILDREN
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _read_stat(int(name))
                if st is not None and st[0] == pid:
                    out.append(int(name))
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def tree_cpu(root: int) -> dict[int, tuple[int, float, int]]:
    """{pid: (ppid, CPU seconds, start time)} of `root` and all its descendants."""
    out: dict[int, tuple[int, float, int]] = {}
    todo = [root] if root > 0 else []
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        st = _read_stat(pid)
        if st is None:
            continue
        out[pid] = st
        todo.extend(_children(pid))
    return out


def _total(tree: dict[int, tuple[int, float, int]]) -> float:
    return sum(v[1] for v in tree.values())


def run_client(args: argparse.Namespace) -> dict[str, Any]:
    """http_bench's load generator, its server-CPU probe replaced by the two process trees."""
    marks: list[tuple[dict[int, tuple[int, float, int]], dict[int, tuple[int, float, int]]]] = []

    def probe(pid: int) -> float:
        app, pg = tree_cpu(pid), tree_cpu(args.pg_pid)
        marks.append((app, pg))
        return _total(app) + _total(pg)

    http_bench._proc_cpu_seconds = probe  # run_client calls it at the window's two edges
    result = http_bench.run_client(
        args.port, args.clients, args.seconds, args.warmup, args.seed, args.server_pid
    )
    (app0, pg0), (app1, pg1) = marks[0], marks[-1]
    result["app_cpu_s"] = _total(app1) - _total(app0)
    result["pg_cpu_s"] = _total(pg1) - _total(pg0)
    result["pg_processes"] = len(pg1)
    # Each worker's CPU over the window (children of the gunicorn arbiter).
    result["worker_cpu_s"] = [
        st[1] - (app0[pid][1] if pid in app0 and app0[pid][2] == st[2] else 0.0)
        for pid, st in sorted(app1.items())
        if st[0] == args.server_pid
    ]
    return result


# ------------------------------------------------------------------------------------------
# Sides
# ------------------------------------------------------------------------------------------


@dataclass
class ScaleSide(http_bench.Side):
    name: str = ""
    key: str = ""  # file-name-safe name
    workers: int = 1
    postgres: bool = False
    cluster: Any = None  # tests.pgcluster.Cluster
    url: str = ""
    pg_pid: int = 0
    monitor_interval: float = 3600.0
    tree: dict[int, int] = field(default_factory=dict)  # pid -> start time, for the stop check
    rows: int | None = None

    @property
    def label(self) -> str:
        db = "postgres" if self.postgres else "sqlite"
        return f"{self.name} {db} workers={self.workers} threads={self.threads}"


def make_sides(args: argparse.Namespace) -> list[ScaleSide]:
    def side(name: str, key: str, postgres: bool, workers: int, threads: int) -> ScaleSide:
        return ScaleSide(
            kind="selfheal",
            threads=threads,
            name=name,
            key=key,
            postgres=postgres,
            workers=workers,
            monitor_interval=args.monitor_interval,
        )

    return [
        side("A", "A", False, 1, args.threads),
        side("B", "B", True, 1, args.threads),
        side("C", "C", True, 2, args.threads),
        side("C'", "C2", True, 2, max(args.threads // 2, 1)),
    ]


def start_cluster(side: ScaleSide, bindir: Path) -> None:
    from tests.pgcluster import Cluster

    cluster = Cluster(bindir)
    side.cluster = cluster  # stopped (and its folder removed) by stop_cluster, even if half up
    cluster.start()
    side.url = cluster.create_database()
    pidfile = cluster.data / "postmaster.pid"
    side.pg_pid = int(pidfile.read_text().split()[0])


def stop_cluster(side: ScaleSide) -> None:
    if side.cluster is None:
        return
    cluster, side.cluster = side.cluster, None
    try:
        cluster.stop()
    except Exception as exc:  # e.g. Ctrl-C stopped the postmaster already; the folder is gone
        print(f"  {side.name}: stopping its PostgreSQL cluster: {exc}", file=sys.stderr)
    shutil.rmtree(cluster.base, ignore_errors=True)


def launch(side: ScaleSide, tmp: Path) -> None:
    """http_bench.launch for a selfheal side, plus the database URL and the worker count."""
    side.port = http_bench.free_port()
    side.home = tmp / f"home-{side.key}"
    side.log = tmp / f"{side.key}.log"
    env = http_bench.child_env(side)  # SELFHEAL_HOME, HOST, PORT, THREADS; no other SELFHEAL_*
    env["SELFHEAL_MONITOR_INTERVAL"] = f"{side.monitor_interval:g}"
    if side.postgres:
        env["SELFHEAL_DATABASE_URL"] = side.url
    if side.workers > 1:
        env["SELFHEAL_WORKERS"] = str(side.workers)
    with open(side.log, "wb") as log:
        side.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _health(port: int) -> dict[str, Any] | None:
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", "/health", headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
        return json.loads(body) if resp.status == 200 else None
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def wait_ready(side: ScaleSide, timeout: float = 180.0) -> None:
    """http_bench.wait_healthy; with workers, until a leader and a follower both answered
    (gunicorn loads the app in each worker after the fork, the second may still be loading)."""
    http_bench.wait_healthy(side, timeout)
    assert side.proc is not None
    if side.workers == 1:
        return
    deadline = time.monotonic() + timeout
    seen: set[bool] = set()
    while time.monotonic() < deadline:
        if side.proc.poll() is not None:
            raise RuntimeError(f"{side.label} exited with {side.proc.returncode}")
        h = _health(side.port)
        if h is not None:
            seen.add(bool(h["monitor"]["leader"]["this_process"]))
            if len(seen) == 2 and len(tree_cpu(side.proc.pid)) > side.workers:
                return
        time.sleep(0.05)
    raise RuntimeError(
        f"{side.label}: not every worker answered /health within {timeout:g} s "
        f"(leader flags seen: {sorted(seen)}):\n{http_bench.tail(side)}"
    )


def stop(side: ScaleSide) -> None:
    """SIGTERM, as http_bench.stop, with room for gunicorn's graceful drain; then every
    process of the tree must be gone."""
    if side.proc is None:
        return
    if side.proc.poll() is None:
        side.tree = {pid: st[2] for pid, st in tree_cpu(side.proc.pid).items()}
        side.proc.send_signal(signal.SIGTERM)
        try:
            side.exit_code = side.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            side.proc.kill()
            side.proc.wait(10)
            side.exit_code = -9
    else:
        side.exit_code = side.proc.returncode


def leftovers(side: ScaleSide) -> list[int]:
    """Processes of the side's tree still alive after its stop (killed here)."""
    time.sleep(0.2)
    alive = []
    for pid, start in side.tree.items():
        st = _read_stat(pid)
        if st is not None and st[2] == start:
            alive.append(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return alive


def count_rows(side: ScaleSide) -> int:
    if not side.postgres:
        assert side.home is not None
        return http_bench.count_rows(side.home)
    import psycopg

    with psycopg.connect(side.url, connect_timeout=10) as conn:
        row = conn.execute("SELECT COUNT(*) FROM predictions WHERE role='production'").fetchone()
    assert row is not None
    return int(row[0])


def writer_stats(side: ScaleSide, timeout: float = 15.0) -> dict[bool, tuple[int, int]]:
    """{leads: (batches, rows)} of each worker's writer, from GET /health on fresh
    connections until every worker answered (told apart by the leader flag); one process:
    http_bench.writer_stats."""
    if side.workers == 1:
        return {True: http_bench.writer_stats(side)}
    out: dict[bool, tuple[int, int]] = {}
    deadline = time.monotonic() + timeout
    while len(out) < side.workers and time.monotonic() < deadline:
        h = _health(side.port)
        if h is not None:
            w = h["writer"]
            out[bool(h["monitor"]["leader"]["this_process"])] = (int(w["batches"]), int(w["rows"]))
    return out


def measure(side: ScaleSide, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    assert side.proc is not None
    before = writer_stats(side)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--client",
        "--port",
        str(side.port),
        "--server-pid",
        str(side.proc.pid),
        "--pg-pid",
        str(side.pg_pid),
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
        timeout=args.warmup + args.seconds + http_bench.DRAIN_SECONDS + 30,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"client against {side.label} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    after = writer_stats(side)
    both = [k for k in after if k in before]
    batches = sum(after[k][0] - before[k][0] for k in both)
    rows = sum(after[k][1] - before[k][1] for k in both)
    # nan when a worker did not answer /health (its batches are unknown)
    complete = len(both) == side.workers and batches > 0
    result["rows_per_batch"] = rows / batches if complete else float("nan")
    return result


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------

HEADER = [
    "side",
    "rps",
    "p50 ms",
    "p99 ms",
    "CPU ms/req",
    "server ms/req",
    "PG ms/req",
    "client CPU",
    "busy share",
    "other cores",
    "rows/batch",
    "worker CPU split",
    "rps per round",
]


def med(side: ScaleSide, key: str) -> float:
    return http_bench.med(side, key)


def per_request_ms(side: ScaleSide, key: str) -> float:
    ok = sum(r["ok_in_window"] for r in side.results)
    return 1000.0 * sum(r[key] for r in side.results) / ok if ok else float("nan")


def split(r: dict[str, Any]) -> str:
    cpu = r["worker_cpu_s"]
    total = sum(cpu)
    return "/".join(f"{100.0 * c / total:.0f}" for c in cpu) if total > 0 else "-"


def summary_rows(sides: list[ScaleSide]) -> list[list[str]]:
    ncpu = os.cpu_count() or 1
    rows = []
    for s in sides:
        client = 100.0 * statistics.median(r["client_cpu_s"] / r["window_s"] for r in s.results)
        busy = 100.0 * med(s, "machine_busy_cores") / ncpu
        rows.append(
            [
                s.label,
                f"{med(s, 'rps'):,.0f}",
                f"{med(s, 'p50_ms'):.1f}",
                f"{med(s, 'p99_ms'):.1f}",
                f"{per_request_ms(s, 'server_cpu_s'):.2f}",
                f"{per_request_ms(s, 'app_cpu_s'):.2f}",
                f"{per_request_ms(s, 'pg_cpu_s'):.2f}" if s.postgres else "-",
                f"{client:.0f}%",
                f"{busy:.0f}%",
                f"{statistics.median(http_bench.other_cores(r) for r in s.results):.2f}",
                f"{med(s, 'rows_per_batch'):.1f}",
                " ".join(split(r) for r in s.results) if s.workers > 1 else "-",
                " ".join(f"{r['rps']:,.0f}" for r in s.results),
            ]
        )
    return rows


def print_table(rows: list[list[str]], markdown: bool) -> None:
    """http_bench's printer with this table's header."""
    saved = http_bench.HEADER
    http_bench.HEADER = HEADER
    try:
        http_bench.print_table(rows, markdown)
    finally:
        http_bench.HEADER = saved


# ------------------------------------------------------------------------------------------
# Orchestration
# ------------------------------------------------------------------------------------------


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # clean up as on Ctrl-C


def orchestrate(args: argparse.Namespace) -> int:
    from tests.pgcluster import SKIP_REASON, find_bin

    bindir = find_bin()
    if bindir is None:
        print(f"scale_bench: {SKIP_REASON}", file=sys.stderr)
        return 2
    try:
        import gunicorn  # noqa: F401
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        print(f"scale_bench: {exc}: pip install -e '.[postgres,server]'", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_sigterm)
    sides = make_sides(args)
    print(
        f"scale_bench: {args.clients} clients, {args.warmup:g} s warm-up + {args.seconds:g} s "
        f"measured, {args.rounds} round(s), monitor every {args.monitor_interval:g} s; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}, "
        f"PostgreSQL from {bindir}; load average {_loadavg()}",
        flush=True,
    )
    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="selfheal-scale-bench-"))
    failures: list[str] = []
    load_seen: list[str] = []
    try:
        try:
            for s in sides:
                if s.postgres:
                    start_cluster(s, bindir)
                    print(f"  {s.name}: PostgreSQL cluster on port {s.cluster.port}", flush=True)
            for s in sides:
                launch(s, tmp)
            for s in sides:
                wait_ready(s)
                print(f"  started {s.label} on port {s.port} (home {s.home})", flush=True)
            for rnd in range(args.rounds):
                order = sides if rnd % 2 == 0 else list(reversed(sides))
                for s in order:
                    r = measure(s, args, args.seed + rnd)
                    s.results.append(r)
                    print(
                        f"  round {rnd + 1}: {s.label:<36} {r['rps']:8,.0f} rps  "
                        f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
                        f"CPU {1000.0 * r['server_cpu_s'] / max(r['ok_in_window'], 1):5.2f} "
                        f"ms/req  statuses {r['statuses']} errors {r['errors'] or 0}",
                        flush=True,
                    )
                    if r["errors"] or r["bad_bodies"] or set(r["statuses"]) - {"200"}:
                        failures.append(f"{s.label}: round {rnd + 1} had errors or non-200s")
                load_seen.append(_loadavg())
        finally:
            for s in sides:
                stop(s)
            for s in sides:
                left = leftovers(s)
                if left:
                    failures.append(f"{s.label}: processes {left} still alive after its stop")
            for s in sides:
                if s.results:
                    try:
                        s.rows = count_rows(s)
                    except Exception as exc:
                        failures.append(f"{s.label}: cannot count its rows: {exc}")
            for s in sides:
                stop_cluster(s)
    except BaseException:
        if args.keep:
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:  # the error message carries the log's tail; --keep keeps the whole logs
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    print()
    print_table(summary_rows(sides), args.markdown)
    print()
    a, b, c, c2 = sides
    ncpu = os.cpu_count() or 1
    rps = {s.key: med(s, "rps") for s in sides}
    cpu = {s.key: per_request_ms(s, "server_cpu_s") for s in sides}
    print(
        f"throughput C/B  (2 workers x {c.threads} threads / 1 x {b.threads}, PostgreSQL): "
        f"{rps['C'] / rps['B']:.2f}x; CPU/req {cpu['C'] / cpu['B']:.2f}x"
    )
    print(
        f"throughput C'/B (2 workers x {c2.threads} threads / 1 x {b.threads}, PostgreSQL): "
        f"{rps['C2'] / rps['B']:.2f}x; CPU/req {cpu['C2'] / cpu['B']:.2f}x"
    )
    print(
        f"throughput B/A  (PostgreSQL / SQLite, 1 process x {a.threads} threads): "
        f"{rps['B'] / rps['A']:.2f}x; CPU/req {cpu['B'] / cpu['A']:.2f}x"
    )
    ratio = rps["C"] / rps["B"]
    print(
        f"two processes / one: {ratio:.2f}x (aim >= {AIM}x: {'met' if ratio >= AIM else 'NOT met'})"
    )
    ratio2 = rps["C2"] / rps["B"]
    print(
        f"two processes / one, same total threads (C'/B): {ratio2:.2f}x "
        f"(aim >= {AIM}x: {'met' if ratio2 >= AIM else 'NOT met'})"
    )
    every = [r for s in sides for r in s.results]
    print(
        f"machine busy share over all windows: "
        f"{100.0 * statistics.median(r['machine_busy_cores'] for r in every) / ncpu:.0f}% of "
        f"{ncpu} cores (median), other jobs "
        f"{statistics.median(http_bench.other_cores(r) for r in every):.2f} cores; "
        f"load average after each round: {' | '.join(load_seen)}"
    )
    print()
    for s in sides:
        answered = sum(r["statuses"].get("200", 0) for r in s.results)
        where = "PostgreSQL" if s.postgres else "SQLite"
        same = s.rows == answered
        print(
            f"{s.label}: {s.rows} production rows in {where}, {answered} answers 200 -> "
            f"{'equal' if same else 'MISMATCH'}; exit code {s.exit_code}"
        )
        if not same:
            failures.append(f"{s.label}: {s.rows} rows != {answered} answers 200")
        if s.exit_code != 0:
            failures.append(
                f"{s.label}: exit code {s.exit_code} after SIGTERM\n{http_bench.tail(s)}"
            )
    print(f"total time {time.monotonic() - t_start:.0f} s")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=32, help="concurrent keep-alive connections")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per run")
    ap.add_argument("--rounds", type=int, default=2, help="runs per side (order alternates)")
    ap.add_argument(
        "--threads",
        type=int,
        default=16,
        help="SELFHEAL_THREADS of A, B and C (per worker); C' gets half per worker",
    )
    ap.add_argument(
        "--monitor-interval",
        type=float,
        default=3600.0,
        help="SELFHEAL_MONITOR_INTERVAL of every side (default 3600: no cycle in a window)",
    )
    ap.add_argument("--seed", type=int, default=7, help="seed of the random records")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round of 1 s + 3 s")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--keep", action="store_true", help="keep the temporary homes and logs")
    # internal mode: the load generator
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--pg-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.client:
        print(json.dumps(run_client(args)))
        return 0
    if args.quick:
        args.seconds, args.warmup, args.rounds = 3.0, 1.0, 1
    try:
        return orchestrate(args)
    except KeyboardInterrupt:
        print("scale_bench: interrupted; servers and clusters stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
