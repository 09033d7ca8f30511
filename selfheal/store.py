"""Every SQL statement of selfheal. Nothing else writes SQL.

Write functions take a connection that is already inside a transaction (the writer thread's
group commit, or the CLI's own `transaction()`); read functions take any connection.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from selfheal import db
from selfheal.db import iso, parse_time

PREDICTION_COLUMNS = (
    "id",
    "created_at",
    "model_version",
    "role",
    "parent_id",
    "features",
    "probability",
    "prediction",
    "threshold",
    "latency_ms",
    "out_of_range",
)


# Built once: `json.dumps` with options builds a new encoder on every call, and the writer
# encodes every logged row's features here. Same text as
# `json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)`.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str)


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def new_id(now_ns: int | None = None) -> str:
    """A new prediction id: 32 lower-case hex digits laid out as a UUID version 7 (RFC 9562,
    section 5.7): 48 bits of Unix time in milliseconds (`now_ns`, default the wall clock),
    the version and variant bits, then 74 random bits from `os.urandom`.

    Ids made later sort later, so the unique index on `predictions.id` grows at its right
    edge instead of taking a random page per row as uuid4 ids did: a 16-row insert cost 42 %
    less on a 230,000-row table, and the gap widens as the table outgrows the page cache
    (docs/performance.md). 74 random bits per millisecond keep ids unguessable and
    collisions out of reach."""
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits: 12 for rand_a, 62 for rand_b
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | (rand >> 68) << 64
        | 0b10 << 62
        | rand & 0x3FFF_FFFF_FFFF_FFFF
    )
    return f"{value:032x}"


# -- model events (append-only) ---------------------------------------------------------
def insert_event(conn: db.Connection, ev: Mapping[str, Any]) -> int:
    cur = conn.execute(
        "INSERT INTO model_events (created_at, event, version, previous_version, reason, actor,"
        " details) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            ev.get("created_at") or iso(),
            ev["event"],
            ev.get("version"),
            ev.get("previous_version"),
            ev.get("reason") or "",
            ev.get("actor") or "unknown",
            dumps(ev.get("details") or {}),
        ),
    )
    return int(cur.fetchone()[0])


def recent_events(conn: db.Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, created_at, event, version, previous_version, reason, actor, details"
        " FROM model_events ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["details"] = json.loads(d["details"]) if d["details"] else {}
        out.append(d)
    return out


# -- predictions ----------------------------------------------------------------------
def insert_predictions(conn: db.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Rows are tuples in PREDICTION_COLUMNS order (features/out_of_range already JSON)."""
    conn.executemany(
        f"INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(PREDICTION_COLUMNS))})",
        rows,
    )


def prediction_ids_exist(conn: db.Connection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        q = f"SELECT id FROM predictions WHERE id IN ({', '.join('?' * len(chunk))})"
        found.update(r[0] for r in conn.execute(q, chunk))
    return found


def count_predictions(conn: db.Connection, role: str | None = "production") -> int:
    """Rows logged with `role` (None: every role), from the kept totals."""
    counts = traffic_counts(conn)
    return counts["total"] if role is None else counts[role]


# -- labels ---------------------------------------------------------------------------
def upsert_labels(
    conn: db.Connection, items: Sequence[tuple[str, int]], now: str | None = None
) -> list[str]:
    """Store labels idempotently; return a status per item, in order:
    created, unchanged (same label again), conflict (a different label exists), not_found."""
    now = now or iso()
    ids = [pid for pid, _ in items]
    existing: dict[str, int] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        q = (
            f"SELECT prediction_id, label FROM labels WHERE prediction_id IN "
            f"({', '.join('?' * len(chunk))})"
        )
        existing.update((r[0], int(r[1])) for r in conn.execute(q, chunk))
    known = prediction_ids_exist(conn, [pid for pid in ids if pid not in existing])
    statuses: list[str] = []
    for pid, label in items:
        if pid in existing:
            statuses.append("unchanged" if existing[pid] == label else "conflict")
        elif pid in known:
            # Another process may store the same label between the read above and here
            # (several servers on PostgreSQL): the insert then does nothing, and the
            # stored label decides unchanged or conflict, as for a label seen above.
            stored = conn.execute(
                "INSERT INTO labels (prediction_id, label, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (prediction_id) DO NOTHING RETURNING label",
                (pid, int(label), now),
            ).fetchone()
            if stored is None:
                other = conn.execute(
                    "SELECT label FROM labels WHERE prediction_id = ?", (pid,)
                ).fetchone()
                existing[pid] = int(other[0])
                statuses.append("unchanged" if existing[pid] == label else "conflict")
                continue
            existing[pid] = int(label)
            statuses.append("created")
        else:
            statuses.append("not_found")
    return statuses


# -- retrain runs ---------------------------------------------------------------------
def start_run(
    conn: db.Connection,
    *,
    trigger: str,
    evidence: Any,
    actor: str,
    base_version: str | None,
    now: str | None = None,
) -> int:
    cur = conn.execute(
        "INSERT INTO retrain_runs (trigger, evidence, status, actor, base_version, started_at)"
        " VALUES (?, ?, 'running', ?, ?, ?) RETURNING id",
        (trigger, dumps(evidence), actor, base_version, now or iso()),
    )
    return int(cur.fetchone()[0])


def finish_run(
    conn: db.Connection,
    run_id: int,
    *,
    status: str,
    candidate_version: str | None = None,
    reason: str | None = None,
    error: str | None = None,
    now: str | None = None,
    stage: str | None = None,
    data_cutoff_seq: int | None = None,
    candidates: Any = None,
) -> None:
    """Close a run. `stage`, `data_cutoff_seq` and `candidates` keep their stored value
    when None (see `set_run_progress`)."""
    conn.execute(
        "UPDATE retrain_runs SET status = ?, candidate_version = ?, reason = ?, error = ?,"
        " finished_at = ?, stage = COALESCE(?, stage),"
        " data_cutoff_seq = COALESCE(?, data_cutoff_seq),"
        " candidates = COALESCE(?, candidates) WHERE id = ?",
        (
            status,
            candidate_version,
            reason,
            error,
            now or iso(),
            stage,
            data_cutoff_seq,
            None if candidates is None else dumps(candidates),
            run_id,
        ),
    )


def set_run_progress(
    conn: db.Connection,
    run_id: int,
    *,
    stage: str,
    data_cutoff_seq: int | None = None,
    candidates: Any = None,
) -> None:
    """Record how far a running retrain got ('data', 'training', 'judging', 'done')."""
    conn.execute(
        "UPDATE retrain_runs SET stage = ?, data_cutoff_seq = COALESCE(?, data_cutoff_seq),"
        " candidates = COALESCE(?, candidates) WHERE id = ?",
        (stage, data_cutoff_seq, None if candidates is None else dumps(candidates), run_id),
    )


def stint_start(conn: db.Connection, version: str) -> str | None:
    """When `version` last became production (its newest promoted or rolled_back event),
    or None when no event says so. Rows it served before that belong to an earlier stint
    (a recalled or rolled-back-to version served an older concept then). Indexed by
    version: nothing grows with history."""
    row = conn.execute(
        "SELECT MAX(created_at) FROM model_events WHERE version = ?"
        " AND event IN ('promoted', 'rolled_back')",
        (version,),
    ).fetchone()
    return row[0] if row and row[0] else None


def policy_history(conn: db.Connection) -> dict[str, Any]:
    """What the cooldown rule reads (docs/evaluation_gates.md): the newest finished run
    (with its data cutoff), the start of the newest run that trained a challenger, and the
    newest automatic rollback. Three indexed look-ups: nothing grows with history."""
    last = conn.execute(
        "SELECT id, status, started_at, stage, data_cutoff_seq FROM retrain_runs"
        " WHERE status NOT IN ('skipped', 'running') ORDER BY id DESC LIMIT 1"
    ).fetchone()
    out: dict[str, Any] = {"last_run": dict(last) if last is not None else None}
    # Consecutive newest runs that trained a challenger and did not promote it (stops
    # before training neither count nor break the streak): the evidence rule backs off.
    streak = 0
    for row in conn.execute(
        "SELECT status, stage FROM retrain_runs WHERE status NOT IN ('skipped', 'running')"
        " ORDER BY id DESC LIMIT 32"
    ).fetchall():  # the loop stops early: finish the statement first (see consecutive_drift)
        if row["stage"] == "data":
            continue
        if row["status"] == "promoted":
            break
        streak += 1
    out["unpromoted_streak"] = streak
    trained = conn.execute(
        "SELECT MAX(started_at) FROM retrain_runs WHERE status NOT IN ('skipped', 'running')"
        " AND COALESCE(stage, 'done') != 'data'"
    ).fetchone()
    out["last_trained_at"] = trained[0] if trained else None
    rolled = conn.execute(
        "SELECT MAX(created_at) FROM model_events WHERE event = 'rolled_back' AND actor = 'monitor'"
    ).fetchone()
    out["last_rollback_at"] = rolled[0] if rolled else None
    return out


def recent_runs(conn: db.Connection, limit: int = 20) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM retrain_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["evidence"] = json.loads(d["evidence"]) if d["evidence"] else None
        out.append(d)
    return out


# -- windows and stats ------------------------------------------------------------------
_ROLES = frozenset({"production", "shadow", "external"})


def recent_predictions(
    conn: db.Connection,
    *,
    limit: int | None = 1000,
    since: str | None = None,
    until: str | None = None,
    version: str | None = None,
    roles: Sequence[str] = ("production",),
) -> list[db.Row]:
    """The newest rows first, each with its label (NULL when none arrived yet)."""
    unknown = set(roles) - _ROLES
    if unknown:
        raise ValueError(f"recent_predictions: unknown role(s) {sorted(unknown)}")
    # Literals, not parameters: SQLite uses a partial index (`WHERE role = 'external'`) only
    # when the query's own term matches it.
    where = [
        f"p.role = '{roles[0]}'"
        if len(roles) == 1
        else f"p.role IN ({', '.join(repr(r) for r in roles)})"
    ]
    args: list[Any] = []
    if version is not None:
        where.append("p.model_version = ?")
        args.append(version)
    if since is not None:
        # A seq bound first: the newest rows are read by index from the top and the scan
        # stops at the window's start, however long the history before it. Filtering on
        # created_at alone walked back through every row the version ever served when
        # fewer than `limit` rows were in range (5M rows: 8 ms -> 7 s; bench/growth_bench).
        # The bound is taken SINCE_MARGIN_S earlier than `since`, so that rows stamped by
        # clocks a little apart (several processes) are still inside it; the exact
        # created_at test below keeps the answer what it was.
        try:
            bound = iso(parse_time(since) - timedelta(seconds=SINCE_MARGIN_S))
        except ValueError:  # not our ISO format: the created_at test alone
            bound = None
        if bound is not None:
            floor = seq_at(conn, bound)
            if floor is None:
                return []
            where.append("p.seq >= ?")
            args.append(floor)
        where.append("p.created_at >= ?")
        args.append(since)
    if until is not None:
        where.append("p.created_at <= ?")
        args.append(until)
    sql = (
        "SELECT p.seq, p.id, p.created_at, p.model_version, p.role, p.features, p.probability,"
        " p.prediction, p.threshold, p.latency_ms, p.out_of_range, l.label"
        " FROM predictions p LEFT JOIN labels l ON l.prediction_id = p.id"
        f" WHERE {' AND '.join(where)} ORDER BY p.seq DESC"
    )
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return conn.execute(sql, args).fetchall()


SINCE_MARGIN_S = 10.0  # clocks of the processes that stamp rows may differ by this much


def seq_at(conn: db.Connection, since: str) -> int | None:
    """The seq of the first row stamped at or after `since` (None: no such row), one probe
    of the created_at index."""
    row = conn.execute(
        "SELECT seq FROM predictions WHERE created_at >= ? ORDER BY created_at, seq LIMIT 1",
        (since,),
    ).fetchone()
    return None if row is None else int(row[0])


def monitor_window(
    conn: db.Connection,
    version: str,
    *,
    limit: int,
    since: str | None = None,
    until: str | None = None,
) -> list[db.Row]:
    """The monitor's window, newest first: the newest `limit` rows that `version` served
    in production or that another system logged (role `external`), between `since` and
    `until` (ISO times, inclusive). Two index range scans merged, never a table scan."""
    own = recent_predictions(conn, limit=limit, version=version, since=since, until=until)
    external = recent_predictions(conn, limit=limit, since=since, until=until, roles=("external",))
    if not external:
        return own
    return sorted([*own, *external], key=lambda r: -int(r["seq"]))[:limit]


def audit_counts(conn: db.Connection) -> dict[str, dict[str, int]]:
    """What every process did, from the audit tables: finished retrain runs by status,
    promotions and rollbacks by actor (for `/metrics`)."""
    retrains = {
        str(status): int(n)
        for status, n in conn.execute(
            "SELECT status, COUNT(*) FROM retrain_runs"
            " WHERE status IN ('promoted', 'rejected', 'failed') GROUP BY status"
        )
    }
    events: dict[str, dict[str, int]] = {"promoted": {}, "rolled_back": {}}
    for event, actor, n in conn.execute(
        "SELECT event, actor, COUNT(*) FROM model_events"
        " WHERE event IN ('promoted', 'rolled_back') GROUP BY event, actor"
    ):
        events[str(event)][str(actor)] = int(n)
    return {
        "retrains": retrains,
        "promotions": events["promoted"],
        "rollbacks": events["rolled_back"],
    }


def traffic_counts(conn: db.Connection) -> dict[str, int]:
    """Rows logged per role, their total, and the labels stored: from `traffic_totals`,
    which triggers keep in the transaction of every insert and delete (migration 0005;
    PostgreSQL: one shard per writer). A handful of rows, whatever the history."""
    n = {"production": 0, "external": 0, "shadow": 0, "labels": 0}
    for name, total in conn.execute("SELECT name, SUM(n) FROM traffic_totals GROUP BY name"):
        n[str(name)] = int(total or 0)
    return {"total": n["production"] + n["external"] + n["shadow"], **n}


# -- monitor cycles ---------------------------------------------------------------------
_REPORT_COLUMNS = (
    "created_at",
    "model_version",
    "status",
    "dataset_drift",
    "drift_share",
    "score_drift",
    "n_window",
    "n_reference",
    "window_from",
    "window_to",
    "out_of_range_rows",
    "positive_rate",
    "mean_probability",
    "estimated_f1",
    "estimated_f1_low",
    "estimated_f1_high",
    "n_labeled",
    "live_f1",
    "live_auc",
    "live_brier",
    "holdout_f1",
    "decision",
    "trigger",
    "retrain_run_id",
    "error",
    "report",
)
_FEATURE_COLUMNS = (
    "feature",
    "kind",
    "test",
    "statistic",
    "p_value",
    "p_adjusted",
    "effect_name",
    "effect_size",
    "threshold",
    "psi",
    "n_nan",
    "drifted",
    "missing_share",
    "missing_share_reference",
    "missing_p_adjusted",
    "missing_drifted",
)


def insert_drift_report(
    conn: db.Connection, row: Mapping[str, Any], features: Sequence[Mapping[str, Any]] = ()
) -> int:
    defaults = {"dataset_drift": 0, "n_window": 0, "decision": "none"}
    values = [row.get(c, defaults.get(c)) for c in _REPORT_COLUMNS]
    values[_REPORT_COLUMNS.index("report")] = (
        dumps(row["report"]) if row.get("report") is not None else None
    )
    cur = conn.execute(
        f"INSERT INTO drift_reports ({', '.join(_REPORT_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(_REPORT_COLUMNS))}) RETURNING id",
        values,
    )
    report_id = int(cur.fetchone()[0])
    conn.executemany(
        f"INSERT INTO drift_feature_results (report_id, {', '.join(_FEATURE_COLUMNS)})"
        f" VALUES (?, {', '.join('?' * len(_FEATURE_COLUMNS))})",
        [(report_id, *[f.get(c) for c in _FEATURE_COLUMNS]) for f in features],
    )
    return report_id


def recent_reports(
    conn: db.Connection, limit: int = 50, *, version: str | None = None
) -> list[dict[str, Any]]:
    """Newest first, without the JSON `report` column."""
    cols = ", ".join(c for c in ("id", *_REPORT_COLUMNS) if c != "report")
    if version is None:
        rows = conn.execute(f"SELECT {cols} FROM drift_reports ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = conn.execute(
            f"SELECT {cols} FROM drift_reports WHERE model_version = ? ORDER BY id DESC LIMIT ?",
            (version, limit),
        )
    return [dict(r) for r in rows]


def latest_report(conn: db.Connection) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT * FROM drift_reports WHERE status != 'error' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    d = dict(row)
    d["report"] = json.loads(d["report"]) if d["report"] else None
    d["features"] = [
        dict(r)
        for r in conn.execute(
            "SELECT * FROM drift_feature_results WHERE report_id = ? ORDER BY drifted DESC,"
            " feature",
            (d["id"],),
        )
    ]
    return d


def consecutive_drift(conn: db.Connection, version: str, limit: int = 100) -> int:
    """How many of this version's newest verdict cycles in a row found dataset drift
    (cycles without a verdict, insufficient data or errors, are skipped, not counted)."""
    n = 0
    # fetchall: the loop may stop early, and an unfinished statement would keep its read
    # snapshot (and the WAL) pinned for as long as the cursor lives.
    for (drift,) in conn.execute(
        "SELECT dataset_drift FROM drift_reports WHERE model_version = ?"
        " AND status IN ('ok', 'drift') ORDER BY id DESC LIMIT ?",
        (version, limit),
    ).fetchall():
        if not drift:
            break
        n += 1
    return n


# -- retrain runs and gates ---------------------------------------------------------------
def insert_gate_results(
    conn: db.Connection,
    run_id: int,
    results: Sequence[Mapping[str, Any]],
    now: str | None = None,
) -> None:
    now = now or iso()
    conn.executemany(
        'INSERT INTO gate_results (run_id, gate, passed, "values", thresholds, reason,'
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                r["name"],
                int(bool(r["passed"])),
                dumps(r["values"]),
                dumps(r["thresholds"]),
                r["reason"],
                now,
            )
            for r in results
        ],
    )


def gate_results(conn: db.Connection, run_id: int) -> list[dict[str, Any]]:
    out = []
    for r in conn.execute(
        'SELECT gate, passed, "values", thresholds, reason FROM gate_results'
        # insertion order: SQLite's rowid, PostgreSQL's identity column
        f" WHERE run_id = ? ORDER BY {'id' if db.dialect(conn) == 'postgres' else 'rowid'}",
        (run_id,),
    ):
        d = dict(r)
        d["values"] = json.loads(d["values"])
        d["thresholds"] = json.loads(d["thresholds"])
        d["passed"] = bool(d["passed"])
        out.append(d)
    return out


def labeled_rows(conn: db.Connection, *, limit: int, until: str | None = None) -> list[db.Row]:
    """Newest labeled served rows (production and external), newest first, each with its
    `seq` (the data cutoff of a retrain is the largest one it read)."""
    sql = (
        "SELECT p.seq, p.created_at, p.features, p.probability, p.model_version, l.label"
        " FROM predictions p JOIN labels l ON l.prediction_id = p.id"
        " WHERE p.role IN ('production', 'external')"
    )
    args: list[Any] = []
    if until is not None:
        sql += " AND p.created_at <= ?"
        args.append(until)
    sql += " ORDER BY p.seq DESC LIMIT ?"
    args.append(limit)
    return conn.execute(sql, args).fetchall()


# -- probation ----------------------------------------------------------------------------
def start_probation(
    conn: db.Connection,
    *,
    version: str,
    previous: str,
    run_id: int | None,
    labels_needed: int,
    now: str,
) -> int:
    """Open a probation; rows logged from now on (seq above the current maximum) count."""
    conn.execute(
        "UPDATE probations SET status = 'ended', ended_at = ? WHERE status = 'active'", (now,)
    )
    cur = conn.execute(
        "INSERT INTO probations (version, previous_version, retrain_run_id, started_at,"
        " start_seq, labels_needed) VALUES (?, ?, ?, ?,"
        " (SELECT COALESCE(MAX(seq), 0) FROM predictions), ?) RETURNING id",
        (version, previous, run_id, now, labels_needed),
    )
    return int(cur.fetchone()[0])


def active_probation(conn: db.Connection) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT * FROM probations WHERE status = 'active' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return dict(row) if row else None


def end_probation(
    conn: db.Connection, probation_id: int, *, status: str, result: Any, now: str
) -> None:
    conn.execute(
        "UPDATE probations SET status = ?, ended_at = ?, result = ? WHERE id = ?",
        (status, now, dumps(result), probation_id),
    )


def probation_pairs(
    conn: db.Connection, *, version: str, shadow_version: str, after_seq: int, limit: int
) -> list[db.Row]:
    """Labeled rows served by `version` after `after_seq`, each with the probability that
    `shadow_version` gave the same request in shadow. Oldest first."""
    return conn.execute(
        "SELECT p.seq, p.probability, p.threshold, s.probability AS shadow_probability,"
        " s.threshold AS shadow_threshold, l.label"
        " FROM predictions p JOIN labels l ON l.prediction_id = p.id"
        " JOIN predictions s ON s.parent_id = p.id AND s.role = 'shadow'"
        " AND s.model_version = ?"
        " WHERE p.role = 'production' AND p.model_version = ? AND p.seq > ?"
        " ORDER BY p.seq LIMIT ?",
        (shadow_version, version, after_seq, limit),
    ).fetchall()


def traffic_buckets(
    conn: db.Connection, *, rows: int = 5000, width: int = 16
) -> list[dict[str, Any]]:
    """Requests per time bucket over the newest `rows` production rows, each with its
    logged latencies (ms). `width` is how many characters of the ISO time form the bucket:
    16 = per minute, 13 = per hour. Oldest bucket first."""
    data = conn.execute(
        "SELECT substr(created_at, 1, ?) AS bucket, latency_ms FROM predictions"
        " WHERE role = 'production' ORDER BY seq DESC LIMIT ?",
        (width, rows),
    ).fetchall()
    buckets: dict[str, dict[str, Any]] = {}
    for bucket, latency in data:
        entry = buckets.setdefault(bucket, {"bucket": bucket, "count": 0, "latencies": []})
        entry["count"] += 1
        if latency is not None:
            entry["latencies"].append(float(latency))
    return [buckets[b] for b in sorted(buckets)]


def prune(conn: db.Connection, before: str) -> dict[str, int]:
    """Delete predictions (and with them their labels and shadow rows) and monitor cycles
    older than `before`. The audit trail (model_events, retrain_runs) is kept."""
    labels = conn.execute(
        "DELETE FROM labels WHERE prediction_id IN"
        " (SELECT id FROM predictions WHERE created_at < ?)",
        (before,),
    ).rowcount
    shadow = conn.execute(
        "DELETE FROM predictions WHERE role = 'shadow' AND parent_id IN"
        " (SELECT id FROM predictions WHERE created_at < ?)",
        (before,),
    ).rowcount
    preds = conn.execute("DELETE FROM predictions WHERE created_at < ?", (before,)).rowcount
    reports = conn.execute(
        "DELETE FROM drift_reports WHERE created_at < ? AND id NOT IN"
        " (SELECT id FROM drift_reports ORDER BY id DESC LIMIT 1)",
        (before,),
    ).rowcount
    return {"predictions": preds + shadow, "labels": labels, "drift_reports": reports}


def fail_interrupted_runs(conn: db.Connection, now: str) -> int:
    """Runs still 'running' when a process starts were cut short by its predecessor's
    shutdown or crash: record them as failed instead of running forever."""
    return conn.execute(
        "UPDATE retrain_runs SET status = 'failed', finished_at = ?, error = ?"
        " WHERE status = 'running'",
        (now, "interrupted: the process stopped before the retrain finished"),
    ).rowcount


# -- dashboard timeline -------------------------------------------------------------------
def events_since(
    conn: db.Connection, since: str, events: Sequence[str], limit: int = 500
) -> list[dict[str, Any]]:
    """Model events of the given kinds at or after `since`, oldest first, without their
    `details` JSON (the dashboard's healing timeline marks them)."""
    rows = conn.execute(
        "SELECT id, created_at, event, version, previous_version, actor FROM model_events"
        f" WHERE created_at >= ? AND event IN ({', '.join('?' * len(events))})"
        " ORDER BY id DESC LIMIT ?",
        (since, *events, limit),
    ).fetchall()
    return [dict(r) for r in reversed(rows)]


def runs_since(conn: db.Connection, since: str, limit: int = 500) -> list[dict[str, Any]]:
    """Retrain runs that started or finished at or after `since`, oldest first, without
    their evidence and candidates JSON."""
    rows = conn.execute(
        "SELECT id, trigger, status, actor, candidate_version, started_at, finished_at"
        " FROM retrain_runs WHERE started_at >= ? OR finished_at >= ?"
        " ORDER BY id DESC LIMIT ?",
        (since, since, limit),
    ).fetchall()
    return [dict(r) for r in reversed(rows)]
