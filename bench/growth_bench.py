"""Growth benchmark: the operator reads with a long history against a short one.

Issue 12: with 5 million logged predictions under the same recent traffic,
``/monitoring/stats`` and the dashboard took 100x and 50x longer, because the traffic counts
counted every row. The counts now come from ``traffic_totals`` (kept by triggers). This bench
checks that every read an operator (or the monitor) makes follows the window, not the history.

For each backend (SQLite; PostgreSQL when a throwaway cluster can start, see
``tests/pgcluster.py``):

1. bootstraps one home (``Home`` + ``bootstrap``, ``--bootstrap-rows`` rows) and copies it to
   two homes with the same model: **small** and **large** (on PostgreSQL, databases created
   from the template database, and a copy of the registry folder);
2. fills their history in SQL: ``--small-rows`` (5,000) and ``--rows`` (5,000,000)
   production predictions with old ``created_at`` times (spread over ``--history-days``
   days ending a day ago) and labels on ``--history-labeled`` of them. SQLite: recursive
   CTEs in chunks, in one transaction, through the ``traffic_totals`` triggers.
   PostgreSQL: ``INSERT ... SELECT FROM generate_series`` in one transaction with the
   ``traffic_totals`` triggers disabled, the totals set to the exact counts before it
   commits; then ``VACUUM ANALYZE`` and a ``CHECKPOINT``, as autovacuum would have done;
3. sends the same ``--recent`` (5,000) seeded records through ``POST /predict`` (batches of
   ``--batch``) and labels for ``--labeled`` of them through ``POST /monitoring/labels``, on a
   started ``Service`` of each home: the recent traffic is the same in both;
4. checks once that ``store.traffic_counts`` equals ``COUNT(*)`` in every home;
5. times every operator read in-process (Flask test client on ``Service(...).start(
   monitor=False)``): ``GET /monitoring/stats``, ``GET /`` (dashboard), ``GET /metrics``,
   ``GET /health``, ``GET /monitoring/drift``, ``selfheal status``, a monitor cycle
   (``service.monitor.run_once()``) and ``POST /predict`` of one record. Small and large
   alternate call by call (the order flips every repeat); ``--warmup`` calls each are
   dropped, and the figure is the median of ``--repeats``. Last, the monitor cycle once more
   after a rollback to the serving version ``--stint-rows`` (500) rows ago (the audit event
   ``selfheal rollback`` records): the version's stint then holds fewer rows than the
   monitor's window, and its history lies before the stint;
6. checks the counts against ``COUNT(*)`` again (the timed writes went through the
   triggers), and prints per backend: read, small ms, large ms, ratio large / small, PASS
   when the ratio is at most ``--bound`` (2.0).

Both homes run in the same process on the same machine at the same time: the ratio is the
figure, absolute times move with the machine's other jobs. Automatic retraining is off
(``auto_retrain=False``) so that a monitor cycle is one cycle, never a retrain. Network:
127.0.0.1 only (the PostgreSQL cluster). Exit 0 only when every read passes on every
backend measured.

Usage::

    .venv/bin/python bench/growth_bench.py                       # 5,000,000 rows, both backends
    .venv/bin/python bench/growth_bench.py --rows 200000 --backends sqlite --markdown
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as run.py does; before sklearn loads
for _k in [k for k in os.environ if k.startswith("SELFHEAL_")]:
    del os.environ[_k]  # a developer's own settings must not change the homes
os.environ["SELFHEAL_ENV_FILE"] = os.devnull

import argparse  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests/pgcluster.py

from selfheal import datasets, db, store  # noqa: E402
from selfheal.config import Settings  # noqa: E402
from selfheal.home import Home, bootstrap, status  # noqa: E402

CHUNK = 250_000  # history rows per INSERT statement (all in one transaction)
HEADER = ["read", "small ms", "large ms", "ratio", "verdict"]


def make_settings(home: Path, args: argparse.Namespace, database_url: str = "") -> Settings:
    return Settings.load(
        environ={},
        env_file=os.devnull,
        home=str(home),
        database_url=database_url,
        bootstrap_rows=args.bootstrap_rows,
        auto_retrain=False,
        monitor_enabled=False,
    )


# -- history, in SQL -------------------------------------------------------------------------
def history_span(args: argparse.Namespace, n: int) -> tuple[int, int]:
    """(first time, step) in microseconds: `n` rows over --history-days, ending a day ago."""
    end = datetime.now(timezone.utc) - timedelta(days=1)
    start = end - timedelta(days=args.history_days)
    first = int(start.timestamp() * 1_000_000)
    span = int((end - start).total_seconds() * 1_000_000)
    return first, max(span // max(n, 1), 1)


# Deterministic pseudo-random columns from the row number i (no random() referenced twice:
# SQLite may evaluate a subquery's column once per use). Values inside the credit schema's
# bounds, the JSON as compact as `store.dumps` writes it.
_P = "(((:i * 2654435761) % 1000003) / 1000003.0)"
_SQLITE_HISTORY = f"""
WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n WHERE i < :hi)
INSERT INTO predictions (id, created_at, model_version, role, parent_id, features, probability,
                         prediction, threshold, latency_ms, out_of_range)
SELECT lower(hex(randomblob(16))),
       strftime('%Y-%m-%dT%H:%M:%S', (:t0 + i * :step) / 1000000, 'unixepoch')
           || printf('.%06dZ', (:t0 + i * :step) % 1000000),
       :version, 'production', NULL,
       printf('{{"age":%d,"income":%.2f,"credit_score":%d,"employment_years":%.1f}}',
              18 + (i * 7919) % 60, 12000 + ((i * 104729) % 9000000) / 100.0,
              420 + (i * 613) % 420, ((i * 389) % 300) / 10.0),
       {_P.replace(":i", "i")},
       {_P.replace(":i", "i")} >= :threshold,
       :threshold, 2.0 + ((i * 7) % 400) / 10.0, NULL
FROM n
"""
_LABEL_SQL = """
INSERT INTO labels (prediction_id, label, created_at)
SELECT id, CASE WHEN ((seq * 40503) % 1000) / 1000.0 < probability THEN 1 ELSE 0 END,
       created_at
FROM predictions WHERE seq BETWEEN :lo AND :hi AND (seq * 7) % 100 < :share
"""


def fill_sqlite(
    path: Path, n: int, args: argparse.Namespace, version: str, threshold: float
) -> int:
    """`n` history rows (and their labels) in one transaction, through the triggers.
    Returns the number of labels."""
    if n <= 0:
        return 0
    t0, step = history_span(args, n)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # One writer and no reader: a rollback journal in memory instead of a WAL as large as
        # the table, no fsync, a 1 GiB page cache for the random `id` index. WAL again below.
        conn.execute("PRAGMA journal_mode = MEMORY")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1048576")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN IMMEDIATE")
        base = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM predictions").fetchone()[0]
        for lo in range(1, n + 1, CHUNK):
            hi = min(lo + CHUNK - 1, n)
            conn.execute(
                _SQLITE_HISTORY,
                {
                    "lo": lo,
                    "hi": hi,
                    "t0": t0,
                    "step": step,
                    "version": version,
                    "threshold": threshold,
                },
            )
        share = round(100 * args.history_labeled)
        labels = 0
        for lo in range(base + 1, base + n + 1, CHUNK):
            hi = min(lo + CHUNK - 1, base + n)
            cur = conn.execute(_LABEL_SQL, {"lo": lo, "hi": hi, "share": share})
            labels += cur.rowcount
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return labels


_PG_HISTORY = """
INSERT INTO predictions (id, created_at, model_version, role, parent_id, features, probability,
                         prediction, threshold, latency_ms, out_of_range)
SELECT md5(i::text || ':' || random()::text),
       to_char((TIMESTAMPTZ 'epoch' + (%(t0)s + i * %(step)s) * INTERVAL '1 microsecond')
               AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       %(version)s, 'production', NULL,
       '{"age":' || (18 + (i * 7919) %% 60)
           || ',"income":' || to_char(12000 + ((i * 104729) %% 9000000) / 100.0, 'FM99999990.00')
           || ',"credit_score":' || (420 + (i * 613) %% 420)
           || ',"employment_years":' || to_char(((i * 389) %% 300) / 10.0, 'FM990.0') || '}',
       p, (p >= %(threshold)s)::int, %(threshold)s, 2.0 + ((i * 7) %% 400) / 10.0, NULL
FROM (SELECT i, ((i * 2654435761) %% 1000003) / 1000003.0 AS p
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i) g
"""
_PG_LABELS = """
INSERT INTO labels (prediction_id, label, created_at)
SELECT id, CASE WHEN ((seq * 40503) %% 1000) / 1000.0 < probability THEN 1 ELSE 0 END,
       created_at
FROM predictions WHERE seq BETWEEN %(lo)s AND %(hi)s AND (seq * 7) %% 100 < %(share)s
"""


def fill_postgres(
    url: str, n: int, args: argparse.Namespace, version: str, threshold: float
) -> int:
    """`n` history rows (and their labels) in one transaction with the traffic_totals
    triggers disabled; the totals are set to the exact counts before it commits."""
    import psycopg

    if n <= 0:
        return 0
    t0, step = history_span(args, n)
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("ALTER TABLE predictions DISABLE TRIGGER traffic_totals_predictions")
        conn.execute("ALTER TABLE labels DISABLE TRIGGER traffic_totals_labels")
        base = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM predictions").fetchone()[0]
        for lo in range(1, n + 1, CHUNK):
            hi = min(lo + CHUNK - 1, n)
            conn.execute(
                _PG_HISTORY,
                {
                    "lo": lo,
                    "hi": hi,
                    "t0": t0,
                    "step": step,
                    "version": version,
                    "threshold": threshold,
                },
            )
        share = round(100 * args.history_labeled)
        labels = 0
        for lo in range(base + 1, base + n + 1, CHUNK):
            hi = min(lo + CHUNK - 1, base + n)
            cur = conn.execute(_PG_LABELS, {"lo": lo, "hi": hi, "share": share})
            labels += cur.rowcount
        # The triggers did not count these rows: the totals become the exact counts.
        conn.execute("DELETE FROM traffic_totals")
        conn.execute(
            "INSERT INTO traffic_totals (name, shard, n)"
            " SELECT role, 0, COUNT(*) FROM predictions GROUP BY role"
            " UNION ALL SELECT 'labels', 0, COUNT(*) FROM labels"
        )
        conn.execute("ALTER TABLE predictions ENABLE TRIGGER traffic_totals_predictions")
        conn.execute("ALTER TABLE labels ENABLE TRIGGER traffic_totals_labels")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) predictions")
        conn.execute("VACUUM (ANALYZE) labels")
        conn.execute("CHECKPOINT")
    return labels


def counts_match(settings: Settings) -> tuple[dict[str, int], dict[str, int]]:
    """(`store.traffic_counts`, the same figures by COUNT(*)) of a home's database."""
    conn = db.connect(settings.database)
    try:
        kept = store.traffic_counts(conn)
        counted = {"production": 0, "external": 0, "shadow": 0}
        for role, n in conn.execute("SELECT role, COUNT(*) FROM predictions GROUP BY role"):
            counted[str(role)] = int(n)
        counted["labels"] = int(conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0])
        counted = {
            "total": sum(counted[r] for r in ("production", "external", "shadow")),
            **counted,
        }
        return kept, counted
    finally:
        conn.close()


# -- the homes -------------------------------------------------------------------------------
@dataclass
class Side:
    name: str
    settings: Settings
    history: int
    fill_s: float = 0.0
    labels: int = 0
    traffic_s: float = 0.0
    service: Any = None
    client: Any = None
    home: Home | None = None
    times: dict[str, list[float]] = field(default_factory=dict)

    def stop(self) -> None:
        if self.home is not None:
            self.home.close()
            self.home = None
        if self.service is not None:
            self.service.stop()
            self.service = None


def recent_traffic(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[int]]:
    """The seeded recent records and their ground truth (as the bootstrap data is drawn)."""
    frame = datasets.generate(args.recent, seed=args.seed)
    y = [int(v) for v in frame.pop(datasets.TARGET)]
    return frame.to_dict("records"), y


def start(side: Side) -> None:
    from selfheal.service import Service
    from selfheal.web import create_app

    side.service = Service(side.settings).start(monitor=False)
    side.client = create_app(side.service).test_client()
    side.home = Home(side.settings)


def send_recent(side: Side, records: list[dict[str, Any]], y: list[int], args: Any) -> None:
    """The recent traffic through the API: POST /predict in batches, then labels for a
    seeded share of them through POST /monitoring/labels."""
    t = time.perf_counter()
    ids: list[str] = []
    for i in range(0, len(records), args.batch):
        r = side.client.post("/predict", json={"instances": records[i : i + args.batch]})
        if r.status_code != 200:
            raise RuntimeError(f"{side.name}: POST /predict {r.status_code}: {r.get_data()!r}")
        ids.extend(p["prediction_id"] for p in r.get_json()["predictions"])
    rng = random.Random(args.seed)
    chosen = [
        (pid, label) for pid, label in zip(ids, y, strict=True) if rng.random() < args.labeled
    ]
    for i in range(0, len(chosen), 500):
        items = [{"prediction_id": p, "label": lab} for p, lab in chosen[i : i + 500]]
        r = side.client.post("/monitoring/labels", json={"labels": items})
        if r.status_code != 200 or r.get_json()["counts"].get("created") != len(items):
            raise RuntimeError(f"{side.name}: labels {r.status_code}: {r.get_data()!r}")
    side.traffic_s = time.perf_counter() - t


def check_counts(sides: list[Side], when: str) -> None:
    for side in sides:
        kept, counted = counts_match(side.settings)
        if kept != counted:  # not an `assert`: python -O must not skip the check
            raise AssertionError(f"{side.name} {when}: traffic_counts {kept} != COUNT(*) {counted}")
        print(
            f"  {side.name}: traffic_counts = COUNT(*) {when}: {counted['production']:,} "
            f"production rows, {counted['labels']:,} labels",
            flush=True,
        )


# -- the reads -------------------------------------------------------------------------------
Read = Callable[[Side, int], None]  # (home, repeat): both homes get the same call per repeat


def monitor_cycle(side: Side, rep: int) -> None:
    summary = side.service.monitor.run_once()
    if summary.get("status") == "error":
        raise RuntimeError(f"{side.name}: monitor cycle failed: {summary.get('error')}")


def reads(records: list[dict[str, Any]]) -> list[tuple[str, Read]]:
    def get(path: str) -> Read:
        def call(side: Side, rep: int) -> None:
            r = side.client.get(path)
            r.get_data()
            if r.status_code != 200:
                raise RuntimeError(f"{side.name}: GET {path} {r.status_code}: {r.get_data()!r}")

        return call

    def predict(side: Side, rep: int) -> None:
        r = side.client.post("/predict", json=records[rep % len(records)])
        if r.status_code != 200:
            raise RuntimeError(f"{side.name}: POST /predict {r.status_code}: {r.get_data()!r}")

    def cli_status(side: Side, rep: int) -> None:
        assert side.home is not None
        status(side.home)

    return [
        ("GET /monitoring/stats", get("/monitoring/stats")),
        ("GET / (dashboard)", get("/")),
        ("GET /metrics", get("/metrics")),
        ("GET /health", get("/health")),
        ("GET /monitoring/drift", get("/monitoring/drift")),
        ("selfheal status", cli_status),
        ("monitor cycle (run_once)", monitor_cycle),
        ("POST /predict (1 record)", predict),
    ]


def rollback_to_production(side: Side, rows_back: int) -> str:
    """Record what `selfheal rollback` records when production returns to the serving
    version: a `rolled_back` audit event, stamped at the time of the `rows_back`-th newest
    production row. The monitor's stint then starts there (`store.stint_start`): its window
    holds fewer rows than SELFHEAL_MONITOR_WINDOW until new traffic arrives, while the
    version's older rows, the whole history here, lie before it."""
    assert side.service is not None
    conn = side.service.read_conn()
    at = conn.execute(
        "SELECT created_at FROM predictions WHERE role = 'production'"
        " ORDER BY seq DESC LIMIT 1 OFFSET ?",
        (rows_back - 1,),
    ).fetchone()[0]
    version = side.service.registry.production()
    event = {
        "created_at": at,
        "event": "rolled_back",
        "version": version,
        "previous_version": version,
        "reason": "growth_bench: a stint shorter than the monitor window",
        "actor": "bench",
    }
    side.service.writer.write(lambda c: store.insert_event(c, event))
    return str(at)


def stint_reads() -> list[tuple[str, Read]]:
    return [("monitor cycle, short stint", monitor_cycle)]


def measure(sides: list[Side], calls: list[tuple[str, Read]], args: argparse.Namespace) -> None:
    """Each read in turn: small and large alternate call by call, the order flipping every
    repeat; the first --warmup repeats are not kept."""
    small, large = sides
    for name, call in calls:
        for rep in range(args.warmup + args.repeats):
            for side in (small, large) if rep % 2 == 0 else (large, small):
                t = time.perf_counter()
                call(side, rep)
                ms = (time.perf_counter() - t) * 1000.0
                if rep >= args.warmup:
                    side.times.setdefault(name, []).append(ms)
        print(
            f"  {name:<26} small {statistics.median(small.times[name]):8.2f} ms  "
            f"large {statistics.median(large.times[name]):8.2f} ms",
            flush=True,
        )


def table(sides: list[Side], bound: float) -> tuple[list[list[str]], list[str]]:
    small, large = sides
    rows, failed = [], []
    for name in small.times:
        s = statistics.median(small.times[name])
        lg = statistics.median(large.times[name])
        ratio = lg / s if s > 0 else float("inf")
        ok = ratio <= bound
        if not ok:
            failed.append(name)
        rows.append([name, f"{s:,.2f}", f"{lg:,.2f}", f"{ratio:.2f}x", "PASS" if ok else "FAIL"])
    return rows, failed


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


# -- one backend -----------------------------------------------------------------------------
def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> list[str] | None:
    """Build, fill, measure and print one backend; the names of the reads that failed,
    or None when the backend cannot run here."""
    cluster = None
    template_db = ""
    if backend == "postgres":
        try:
            import psycopg  # noqa: F401

            from tests.pgcluster import SKIP_REASON, Cluster, find_bin
        except ImportError as exc:
            print(f"[postgres] skipped: {exc} (install the postgres extra)")
            return None
        bindir = find_bin()
        if bindir is None:
            print(f"[postgres] skipped: {SKIP_REASON}")
            return None
        cluster = Cluster(bindir)
    base = tmp / backend
    sides: list[Side] = []
    t_backend = time.monotonic()
    try:
        if cluster is not None:
            cluster.start()
        url = cluster.create_database() if cluster is not None else ""
        template_db = url.rsplit("/", 1)[1] if url else ""
        template = base / "template"
        t = time.perf_counter()
        with Home(make_settings(template, args, url)) as h:
            version = bootstrap(h) or str(h.registry.production())
            threshold = float(h.registry.load(version).threshold)
        print(
            f"[{backend}] bootstrapped {version} on {args.bootstrap_rows:,} rows in "
            f"{time.perf_counter() - t:.1f} s (threshold {threshold:.3f})",
            flush=True,
        )
        for name, n in (("small", args.small_rows), ("large", args.rows)):
            home = base / name
            shutil.copytree(template, home)
            side_url = cluster.create_database(template=template_db) if cluster else ""
            side = Side(name, make_settings(home, args, side_url), n)
            sides.append(side)
            t = time.perf_counter()
            if cluster is None:
                side.labels = fill_sqlite(side.settings.db_path, n, args, version, threshold)
            else:
                side.labels = fill_postgres(side_url, n, args, version, threshold)
            side.fill_s = time.perf_counter() - t
            print(
                f"  {name}: filled {n:,} history rows and {side.labels:,} labels in "
                f"{side.fill_s:.1f} s",
                flush=True,
            )
        check_counts(sides, "after the fill")
        records, y = recent_traffic(args)
        for side in sides:
            start(side)
            send_recent(side, records, y, args)
            print(
                f"  {side.name}: {args.recent:,} recent predictions (+ labels on "
                f"{args.labeled:.0%}) through the API in {side.traffic_s:.1f} s",
                flush=True,
            )
        # GET /monitoring/drift needs a cycle: one each, outside the timing
        for side in sides:
            side.service.monitor.run_once()
        measure(sides, reads(records), args)
        # Last, as it changes the monitor's stint: production "rolled back" to the serving
        # version --stint-rows rows ago (see rollback_to_production).
        for side in sides:
            rollback_to_production(side, args.stint_rows)
        measure(sides, stint_reads(), args)
        for side in sides:
            side.stop()
        check_counts(sides, "after the timed reads")
    finally:
        for side in sides:
            try:
                side.stop()
            except Exception as exc:  # cleanup goes on
                print(f"  stopping {side.name}: {exc}", file=sys.stderr)
        if cluster is not None:
            try:
                cluster.stop()  # pg_ctl stop, then its folder is removed
            except Exception as exc:
                print(f"  stopping the PostgreSQL cluster: {exc}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    rows, failed = table(sides, args.bound)
    small, large = sides
    total = {s.name: s.history + args.recent for s in sides}
    print()
    print(
        f"[{backend}] small: {total['small']:,} logged predictions ({small.history:,} history + "
        f"{args.recent:,} recent), large: {total['large']:,} ({large.history:,} + "
        f"{args.recent:,}); median of {args.repeats} after {args.warmup} warm-up, "
        f"small and large alternating"
    )
    print(
        f"[{backend}] fill (SQL): small {small.fill_s:.1f} s, large {large.fill_s:.1f} s; "
        f"recent traffic through the API: {small.traffic_s:.1f} s / {large.traffic_s:.1f} s; "
        f"backend total {time.monotonic() - t_backend:.0f} s"
    )
    print()
    print_table(rows, args.markdown)
    print()
    return failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=5_000_000, help="history rows of the large home")
    ap.add_argument("--small-rows", type=int, default=5_000, help="history rows of the small home")
    ap.add_argument("--recent", type=int, default=5_000, help="recent predictions in both homes")
    ap.add_argument("--labeled", type=float, default=0.4, help="share of recent rows labeled")
    ap.add_argument("--history-labeled", type=float, default=0.3, help="share of history labeled")
    ap.add_argument("--history-days", type=float, default=90.0, help="days the history spans")
    ap.add_argument(
        "--stint-rows",
        type=int,
        default=500,
        help="rows since the rollback of the short-stint monitor cycle (< SELFHEAL_MONITOR_WINDOW)",
    )
    ap.add_argument("--batch", type=int, default=25, help="records per recent POST /predict")
    ap.add_argument("--repeats", type=int, default=15, help="timed calls per read and home")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls per read and home")
    ap.add_argument("--bound", type=float, default=2.0, help="largest passing ratio")
    ap.add_argument("--bootstrap-rows", type=int, default=2000, help="rows of the first model")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = ap.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgres"} or not backends:
        ap.error(f"--backends: sqlite and/or postgres, got {args.backends!r}")
    print(
        f"growth_bench: {args.rows:,} vs {args.small_rows:,} history rows, {args.recent:,} "
        f"recent; {os.cpu_count()} cores, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, {platform.machine()}",
        flush=True,
    )
    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="selfheal-growth-"))
    if os.geteuid() == 0:  # the PostgreSQL server runs as `postgres` and reads nothing here
        os.chmod(tmp, 0o755)
    failures: dict[str, list[str]] = {}
    try:
        for backend in backends:
            failed = run_backend(backend, args, tmp)
            if failed:
                failures[backend] = failed
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total time {time.monotonic() - t_start:.0f} s")
    for backend, names in failures.items():
        print(f"FAIL [{backend}]: ratio above {args.bound:g}x: {', '.join(names)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
