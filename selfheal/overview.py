"""Views of the service's state that the HTTP face and the CLI both show: traffic stats
with live metrics, component health, and the dashboard's data set. Plain dicts of JSON
values; no Flask here."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from selfheal import (
    db,
    store,
)
from selfheal.db import iso
from selfheal.performance import labeled_metrics, latency_percentiles

if TYPE_CHECKING:
    from selfheal.service import Service


def traffic_stats(conn: db.Connection, *, window: int, serving: str | None) -> dict[str, Any]:
    """`GET /monitoring/stats`: traffic counts, the newest `window` served rows (production
    and external) with their rates and latency, the live metrics of the `serving` version's
    labeled rows among them, the last retrain and the latest monitor cycle."""
    rows = store.recent_predictions(conn, limit=window, roles=("production", "external"))
    counts = store.traffic_counts(conn)
    out: dict[str, Any] = {"counts": counts, "window": {"size": window, "rows": len(rows)}}
    if rows:
        proba = np.array([r["probability"] for r in rows])
        preds = np.array([r["prediction"] for r in rows])
        lat = np.array([r["latency_ms"] for r in rows if r["latency_ms"] is not None])
        # Live metrics are the serving version's: each version decides at its own
        # threshold, so pooling versions would score one with another's cut.
        labeled = [
            (r["label"], r["probability"], r["threshold"])
            for r in rows
            if r["label"] is not None and r["model_version"] == serving
        ]
        out["window"].update(
            {
                "from": rows[-1]["created_at"],
                "to": rows[0]["created_at"],
                "positive_rate": float(preds.mean()),
                "mean_probability": float(proba.mean()),
                "out_of_range_rows": sum(1 for r in rows if r["out_of_range"]),
                "external_rows": sum(1 for r in rows if r["role"] == "external"),
                "labeled": len(labeled),
                "latency_ms": latency_percentiles(lat),
                "versions": sorted({r["model_version"] for r in rows}),
            }
        )
        if labeled:
            y = np.array([lab for lab, _, _ in labeled])
            p = np.array([pr for _, pr, _ in labeled])
            m = labeled_metrics(y, p, threshold=float(labeled[0][2])).to_dict()
            out["live"] = {
                "model_version": serving,
                **{k: m[k] for k in ("n", "f1", "precision", "recall", "auc", "brier")},
            }
        else:
            out["live"] = None
    out.update(_latest(conn))
    return out


def _latest(conn: db.Connection) -> dict[str, Any]:
    runs = store.recent_runs(conn, 1)
    latest = store.recent_reports(conn, 1)
    return {"last_retrain": runs[0] if runs else None, "drift": latest[0] if latest else None}


_PROBE = "SELECT seq FROM predictions ORDER BY seq DESC LIMIT 1"


def health_checks(service: Service) -> dict[str, Any]:
    """Each component's state (model, database, writer, monitor), each with `ok`."""
    model = service.models.current
    checks: dict[str, Any] = {
        "model": {
            "ok": model is not None,
            "version": model.version if model else None,
            "error": service.models.error,
        },
    }
    try:
        service.read_conn().execute("SELECT 1 FROM predictions LIMIT 1").fetchall()
        checks["database"] = {
            "ok": True,
            "backend": "postgres" if service.settings.postgres else "sqlite",
            "path": service.settings.database_label,
        }
    except Exception as exc:  # report, never raise, from /health
        checks["database"] = {"ok": False, "error": str(exc)}
    w = service.writer
    if w.stats.last_error is not None and w.is_alive() and w.depth == 0:
        # The last group commit failed (the database was down). An idle process has no
        # batch to show it is back: commit a job that reads the predictions table now,
        # which clears the error when it succeeds, so that a load balancer routing on
        # /health sends traffic again.
        last = w.stats.last_error
        try:
            w.write(lambda conn: conn.execute(_PROBE).fetchall(), timeout=2.0)
        except Exception:  # still failing: the probe's commit must not clear the error
            if w.stats.last_error is None:
                w.stats.last_error = last
    checks["writer"] = {
        "ok": w.healthy and w.stats.last_error is None,
        "alive": w.is_alive(),
        "queue_depth": w.depth,
        "batches": w.stats.batches,
        "rows": w.stats.rows,
        "last_commit_ms": round(w.stats.last_commit_ms, 3),
        "last_error": w.stats.last_error,
    }
    checks["monitor"] = service.monitor.health()
    return checks


def dashboard_data(service: Service) -> dict[str, Any]:
    """Everything `report.render_dashboard` draws, read once."""
    s = service.settings
    conn = service.read_conn()
    pointer = service.registry.pointer() or {}
    model = service.models.current
    cycles = list(reversed(store.recent_reports(conn, 200)))
    rows = store.recent_predictions(conn, limit=1000)
    latency = (
        latency_percentiles([r["latency_ms"] for r in rows if r["latency_ms"] is not None]) or {}
    )
    counts = store.traffic_counts(conn)
    runs = store.recent_runs(conn, 1)
    last_retrain = None
    if runs:  # the evidence is parsed JSON; its candidates and gates are parsed here
        last_retrain = dict(runs[0], gates=store.gate_results(conn, runs[0]["id"]))
        if isinstance(last_retrain.get("candidates"), str):
            try:
                last_retrain["candidates"] = json.loads(last_retrain["candidates"])
            except ValueError:
                pass
    since = cycles[0]["created_at"] if cycles else None
    marks = ("promoted", "rejected", "rolled_back")
    health = health_checks(service)
    data: dict[str, Any] = {
        "refresh_seconds": 30,
        "generated_at": iso(),
        "drift_share_threshold": s.drift_share,
        "production": {
            "version": model.version if model else None,
            "promoted_at": pointer.get("promoted_at"),
            "actor": pointer.get("actor"),
            "reason": pointer.get("reason"),
            "metrics": (model.meta.get("metrics") if model else None) or {},
        },
        "versions": list(reversed(service.registry.list())),
        "events": store.recent_events(conn, 30),
        "cycles": cycles,
        "timeline_events": store.events_since(conn, since, marks) if since else [],
        "runs": store.runs_since(conn, since) if since else [],
        "traffic": [
            {
                "bucket": b["bucket"],
                "count": b["count"],
                **{f"{k}_ms": v for k, v in (latency_percentiles(b["latencies"]) or {}).items()},
            }
            for b in store.traffic_buckets(conn)
        ],
        "stats": {
            "total": counts["production"],
            "labels": counts["labels"],
            "window_rows": len(rows),
            "positive_rate": (sum(r["prediction"] for r in rows) / len(rows) if rows else None),
            "mean_probability": (sum(r["probability"] for r in rows) / len(rows) if rows else None),
            "latency_p50": latency.get("p50"),
            "latency_p99": latency.get("p99"),
        },
        "health": {
            k: ("ok" if v.get("ok") else "unavailable")
            for k, v in health.items()
            if isinstance(v, dict)
        }
        | {
            "status": "ok"
            if all(v.get("ok") for v in health.values() if isinstance(v, dict))
            else "unavailable"
        },
        "last_retrain": last_retrain,
    }
    if (s.reports_path / "drift" / "latest.html").is_file():
        data["report_url"] = "/reports/drift/latest"
    return data
