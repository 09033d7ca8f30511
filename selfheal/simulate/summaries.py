"""Readable summaries of `selfheal simulate`: a run's result, /monitoring/stats, /health."""

from __future__ import annotations

import json
from typing import Any

from selfheal.simulate.client import Client, api_error


def _num(v: Any, fmt: str = ".3f") -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) else "-"


def format_result(r: dict[str, Any]) -> str:
    """A `generate_predictions` result as a few readable lines."""
    what = f"{r['drift']} drift" if r.get("drift") else "no drift"
    versions = ", ".join(f"{v} ({c})" for v, c in sorted(r["versions"].items())) or "-"
    lines = [
        f"sent {r['sent']} predictions ({what}, seed {r['seed']}) in {r['elapsed']:.1f} s: "
        f"{r['ok']} ok, {r['failed']} failed",
        *([f"  records: drawn from {r['source']}"] if r.get("source") else []),
        f"  model versions: {versions}",
        f"  mean probability {_num(r['mean_probability'])}, positive rate "
        f"{_pct(r['positive_rate'])}, out of range {r['out_of_range']} rows",
    ]
    label_line = f"  labels: {r['labeled']} sent now"
    if r.get("pending_labels"):
        label_line += (
            f"; {r['pending_labels']} kept in {r['pending_path']} "
            "(send them with `selfheal simulate labels`)"
        )
    lines.append(label_line)
    lines += [f"  note: {note}" for note in r.get("notes", [])]
    lines += [f"  error: {e}" for e in r.get("errors", [])]
    return "\n".join(lines)


def stats_summary(client: Client, window: int = 1000) -> str:
    """GET /monitoring/stats as readable lines: traffic, the window, live metrics, drift."""
    s = client.expect("GET", f"/monitoring/stats?window={int(window)}")
    c = s.get("counts") or {}
    w = s.get("window") or {}
    lines = [
        f"traffic:      {c.get('total', 0)} predictions (production {c.get('production', 0)}, "
        f"external {c.get('external', 0)}, shadow {c.get('shadow', 0)}), "
        f"{c.get('labels', 0)} labels",
    ]
    if w.get("rows"):
        lat = w.get("latency_ms") or {}
        lines += [
            f"window:       newest {w['rows']} production predictions (window {w.get('size')}), "
            f"{w.get('from', '?')[:19]} to {w.get('to', '?')[:19]}",
            f"  positive rate {_pct(w.get('positive_rate'))}, mean probability "
            f"{_num(w.get('mean_probability'))}, out of range {w.get('out_of_range_rows', 0)} "
            f"rows, labeled {w.get('labeled', 0)}",
            f"  latency p50 {_num(lat.get('p50'), '.1f')} ms, p99 {_num(lat.get('p99'), '.1f')} "
            f"ms; versions {', '.join(w.get('versions') or []) or '-'}",
        ]
    else:
        lines.append(f"window:       empty (window {w.get('size')}); send traffic first")
    live = s.get("live")
    if live:
        lines.append(
            f"live:         n {live.get('n')}  F1 {_num(live.get('f1'))}  precision "
            f"{_num(live.get('precision'))}  recall {_num(live.get('recall'))}  AUC "
            f"{_num(live.get('auc'))}  Brier {_num(live.get('brier'))}"
        )
    else:
        lines.append("live:         no labels in the window yet")
    d = s.get("drift")
    if d:
        lines.append(
            f"drift:        last cycle {str(d.get('created_at') or '?')[:19]}: "
            f"{d.get('status')}, drift share {_num(d.get('drift_share'), '.2f')}, "
            f"n {d.get('n_window')}, decision {d.get('decision')}"
        )
    else:
        lines.append("drift:        no monitor cycle yet")
    run = s.get("last_retrain")
    if run:
        lines.append(
            f"last retrain: #{run.get('id')} {run.get('status')} (trigger {run.get('trigger')}, "
            f"candidate {run.get('candidate_version') or '-'}, "
            f"{str(run.get('started_at') or '?')[:19]})"
        )
    else:
        lines.append("last retrain: none")
    return "\n".join(lines)


def health_summary(client: Client) -> tuple[bool, str]:
    """GET /health (+ /model/info) as (healthy, readable lines naming each component)."""
    status, h = client.get("/health")
    if status not in (200, 503) or not isinstance(h, dict) or "status" not in h:
        raise api_error("GET", "/health", status, h)
    healthy = status == 200 and h.get("status") == "ok"

    def mark(part: dict[str, Any] | None) -> str:
        return "ok  " if part and part.get("ok") else "FAIL"

    lines = [
        f"server:    {client.base_url}: {h.get('status')} (HTTP {status}), up "
        f"{_num(h.get('uptime_seconds'), '.1f')} s"
    ]
    m = h.get("model") or {}
    model_line = f"model:     {mark(m)} {m.get('version') or 'none'}"
    istatus, info = client.get("/model/info")
    if istatus == 200 and isinstance(info, dict):
        met = info.get("metrics") or {}
        model_line += (
            f", threshold {_num(info.get('threshold'), 'g')}, holdout F1 {_num(met.get('f1'))} "
            f"AUC {_num(met.get('auc'))}; promoted {str(info.get('promoted_at') or '-')[:19]} "
            f"by {info.get('promoted_by') or '-'}"
        )
    if m.get("error"):
        model_line += f"; error: {m['error']}"
    lines.append(model_line)
    db = h.get("database") or {}
    lines.append(
        f"database:  {mark(db)} "
        + (str(db.get("path")) if db.get("ok") else f"error: {db.get('error')}")
    )
    w = h.get("writer") or {}
    wline = (
        f"writer:    {mark(w)} {'alive' if w.get('alive') else 'NOT RUNNING'}, queue "
        f"{w.get('queue_depth')}, {w.get('batches')} batches, {w.get('rows')} rows, last "
        f"commit {_num(w.get('last_commit_ms'), '.1f')} ms"
    )
    if w.get("last_error"):
        wline += f"; last error: {w['last_error']}"
    lines.append(wline)
    mon = h.get("monitor") or {}
    mline = f"monitor:   {mark(mon)} " + (
        f"{'alive' if mon.get('alive') else 'not running'}, {mon.get('cycles')} cycles, "
        f"{mon.get('failures')} failures, last cycle {mon.get('last_cycle_at') or 'never'}"
    )
    if mon.get("interval_seconds") is not None:
        mline += f", every {_num(mon.get('interval_seconds'), 'g')} s"
    if mon.get("last_error"):
        mline += f"; last error: {mon['last_error']}"
    lines.append(mline)
    for k, part in h.items():  # components added later still get a line
        if (
            isinstance(part, dict)
            and "ok" in part
            and k
            not in (
                "model",
                "database",
                "writer",
                "monitor",
            )
        ):
            lines.append(f"{k + ':':<10} {mark(part)} {json.dumps(part, default=str)[:120]}")
    lines.append("healthy" if healthy else "UNHEALTHY: see the FAIL lines above")
    return healthy, "\n".join(lines)
