"""Every SQL statement of selfheal. Nothing else writes SQL.

Write functions take a connection that is already inside a transaction (the writer thread's
group commit, or the CLI's own `transaction()`); read functions take any connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from selfheal.db import iso

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


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)


# -- model events (append-only) ---------------------------------------------------------
def insert_event(conn: sqlite3.Connection, ev: Mapping[str, Any]) -> int:
    cur = conn.execute(
        "INSERT INTO model_events (created_at, event, version, previous_version, reason, actor,"
        " details) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
    return int(cur.lastrowid or 0)


def recent_events(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, Any]]:
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
def insert_predictions(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Rows are tuples in PREDICTION_COLUMNS order (features/out_of_range already JSON)."""
    conn.executemany(
        f"INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(PREDICTION_COLUMNS))})",
        rows,
    )


def prediction_ids_exist(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        q = f"SELECT id FROM predictions WHERE id IN ({', '.join('?' * len(chunk))})"
        found.update(r[0] for r in conn.execute(q, chunk))
    return found


def count_predictions(conn: sqlite3.Connection, role: str | None = "production") -> int:
    if role is None:
        return int(conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
    return int(
        conn.execute("SELECT COUNT(*) FROM predictions WHERE role = ?", (role,)).fetchone()[0]
    )


# -- labels ---------------------------------------------------------------------------
def upsert_labels(
    conn: sqlite3.Connection, items: Sequence[tuple[str, int]], now: str | None = None
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
            conn.execute(
                "INSERT INTO labels (prediction_id, label, created_at) VALUES (?, ?, ?)",
                (pid, int(label), now),
            )
            existing[pid] = int(label)
            statuses.append("created")
        else:
            statuses.append("not_found")
    return statuses


# -- retrain runs ---------------------------------------------------------------------
def start_run(
    conn: sqlite3.Connection,
    *,
    trigger: str,
    evidence: Any,
    actor: str,
    base_version: str | None,
    now: str | None = None,
) -> int:
    cur = conn.execute(
        "INSERT INTO retrain_runs (trigger, evidence, status, actor, base_version, started_at)"
        " VALUES (?, ?, 'running', ?, ?, ?)",
        (trigger, dumps(evidence), actor, base_version, now or iso()),
    )
    return int(cur.lastrowid or 0)


def finish_run(
    conn: sqlite3.Connection,
    run_id: int,
    *,
    status: str,
    candidate_version: str | None = None,
    reason: str | None = None,
    error: str | None = None,
    now: str | None = None,
) -> None:
    conn.execute(
        "UPDATE retrain_runs SET status = ?, candidate_version = ?, reason = ?, error = ?,"
        " finished_at = ? WHERE id = ?",
        (status, candidate_version, reason, error, now or iso(), run_id),
    )


def recent_runs(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM retrain_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["evidence"] = json.loads(d["evidence"]) if d["evidence"] else None
        out.append(d)
    return out


# -- windows and stats ------------------------------------------------------------------
def recent_predictions(
    conn: sqlite3.Connection,
    *,
    limit: int | None = 1000,
    since: str | None = None,
    version: str | None = None,
    roles: Sequence[str] = ("production",),
) -> list[sqlite3.Row]:
    """The newest rows first, each with its label (NULL when none arrived yet)."""
    where = [f"p.role IN ({', '.join('?' * len(roles))})"]
    args: list[Any] = list(roles)
    if version is not None:
        where.append("p.model_version = ?")
        args.append(version)
    if since is not None:
        where.append("p.created_at >= ?")
        args.append(since)
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


def traffic_counts(conn: sqlite3.Connection) -> dict[str, int]:
    row = conn.execute(
        "SELECT COUNT(*) AS total,"
        " SUM(role = 'production') AS production,"
        " SUM(role = 'external') AS external,"
        " SUM(role = 'shadow') AS shadow,"
        " (SELECT COUNT(*) FROM labels) AS labels"
        " FROM predictions"
    ).fetchone()
    return {k: int(row[k] or 0) for k in row.keys()}
