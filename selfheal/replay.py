"""Replay: a time-ordered labeled stream through the real serving, monitor and healer code.

`replay()` trains and promotes `v0001` on the first `train_rows` rows, then serves the rest
in batches through the same `Service` the HTTP server runs (validation as `/predict` does
it, the writer thread, SQLite, the monitor, the healer and its gates, probation and
rollback). Time is injected: the clock advances `seconds_per_row` per row, predictions,
labels, cycles and registry events are stamped with it, and a monitor cycle runs whenever
`SELFHEAL_MONITOR_INTERVAL` seconds of that time have passed. Nothing sleeps, so a day of
traffic replays in seconds, and the same input and settings give the same result.

Every row is scored before its label is used (test, then train): the labels of batch `k`
are posted after batch `k + label_delay` is served. The first model, frozen, is scored on
the same rows beside the service: it is what would have happened without healing.

Row numbers
-----------
A row number is the 0-based position of a row in the input table (`data.iloc[row]`; in a
CSV with a header it is on line `row + 2`). Rows `0 .. train_rows - 1` train `v0001`; the
stream is rows `train_rows .. len(data) - 1`.

Events
------
Each event has `row`: the first row served after it happened (events happen between
batches, so every row before `row` was served before it and every row from `row` on after
it; `row == len(data)` means after the last row). Kinds:

* `trigger`: a monitor cycle raised a trigger; `decision` says what the healer did
  (retrain, cooldown, retrain_running, probation, disabled);
* `retrain`: a retrain run started (`run_id`, its trigger and final status);
* `gate`: one gate verdict of a run (`gate`, `passed`, the gate's reason);
* `promoted`, `rejected`, `failed`: the outcome of a run (`v0001`'s promotion is the
  first `promoted` event, at row `train_rows`);
* `rolled_back`: production returned to a previous version (probation);
* `probation`: a probation ended without a rollback (passed, or ended without a verdict);
* `monitor_error`: a monitor cycle failed (the service survives it).

Recoveries
----------
An episode opens at the first monitor cycle that raises a trigger while no episode is open
(`began_row`, `trigger`). It closes at the first later cycle that judged a full window
(status `ok` or `drift`, i.e. at least `SELFHEAL_DRIFT_MIN_WINDOW` rows of the serving
version) and raised no trigger: the monitor considers the served model healthy again
(`recovered_row`; `rows` = `recovered_row - began_row`). A cycle with too few rows (just
after a promotion) neither opens nor closes an episode. An episode still open when the
stream ends has `recovered_row` and `rows` None. `served_auc_before` / `served_auc_after`
are the served model's AUC on the `segment` rows before `began_row` and from
`recovered_row` on: the ground truth beside the monitor's view.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from selfheal import datasets, db, store
from selfheal.binary_metrics import f1, roc_auc
from selfheal.config import Settings
from selfheal.errors import DataError, NoModelError
from selfheal.home import Home, train_frame
from selfheal.schema import infer_schema
from selfheal.service import Service

DEFAULT_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
MIN_TRAIN_ROWS = 200  # v0001 needs a stratified holdout and 3 folds with both classes
CURVE_POINTS = 300  # most points of the rolling-AUC curve

_PHASE = {  # order of events that happen between the same two batches
    "probation": 0,
    "rolled_back": 0,
    "monitor_error": 1,
    "trigger": 1,
    "retrain": 2,
    "gate": 3,
    "promoted": 4,
    "rejected": 4,
    "failed": 4,
}


@dataclass
class ReplayResult:
    """What a replay served, next to the frozen first model, and what the loop did.

    Arrays have one entry per streamed row (row `train_rows + i` is entry `i`). A row the
    service refused (a hard schema bound, as `/predict` answers 422) has NaN in `served`
    and `frozen`, -1 in `served_pred` and `frozen_pred` and "" in `versions`; `answered`
    is False there. `frozen` is also NaN (and `frozen_pred` -1) on the rare row that a
    retrained version accepts but v0001's own schema refuses. Metrics are None when
    undefined (one class, or no rows), never NaN.
    """

    y: np.ndarray  # int64 labels
    served: np.ndarray  # float64 probability the service answered
    served_pred: np.ndarray  # int64 0/1 the service answered (each version's threshold)
    frozen: np.ndarray  # float64 probability of v0001 on the same rows
    frozen_pred: np.ndarray  # int64 0/1 of v0001 at its own threshold
    versions: list[str]  # the version that served each row
    segments: list[dict[str, Any]]
    events: list[dict[str, Any]]
    recoveries: list[dict[str, Any]]
    cycles: list[dict[str, Any]]  # one per monitor cycle: row, status, decision, trigger...
    curve: list[dict[str, Any]]  # rolling AUC: row, served_auc, frozen_auc
    refused: int
    refused_reasons: dict[str, int]  # refused rows by the first problem found
    seconds: float  # wall time of the whole replay, training included
    train_rows: int
    n_stream: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def answered(self) -> np.ndarray:
        return ~np.isnan(self.served)

    @property
    def rows(self) -> np.ndarray:
        """The row number of each streamed row."""
        return np.arange(self.train_rows, self.train_rows + self.n_stream)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e["kind"] == kind)

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.train_rows + self.n_stream,
            "train_rows": self.train_rows,
            "streamed": self.n_stream,
            "refused": self.refused,
            "cycles": len(self.cycles),
            "retrains": self.count("retrain"),
            # v0001's own promotion (at row train_rows, before any cycle) is not one.
            "promotions": sum(
                1 for e in self.events if e["kind"] == "promoted" and e["row"] > self.train_rows
            ),
            "rejections": self.count("rejected"),
            "failures": self.count("failed"),
            "rollbacks": self.count("rolled_back"),
            "final_version": next((v for v in reversed(self.versions) if v), None),
            "served_auc": _auc(self.y[self.answered], self.served[self.answered]),
            "frozen_auc": _auc(self.y[self.answered], self.frozen[self.answered]),
            "seconds": round(self.seconds, 2),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN becomes None, NumPy values become Python ones; the per-row
        arrays are under `stream`, with None where a row was not answered."""
        return _json_safe(
            {
                "summary": self.summary(),
                "params": self.params,
                "segments": self.segments,
                "events": self.events,
                "recoveries": self.recoveries,
                "cycles": self.cycles,
                "curve": self.curve,
                "refused": self.refused,
                "refused_reasons": self.refused_reasons,
                "seconds": self.seconds,
                "train_rows": self.train_rows,
                "n_stream": self.n_stream,
                "stream": {
                    "first_row": self.train_rows,
                    "y": self.y.tolist(),
                    "served": self.served.tolist(),
                    "served_pred": [int(v) if v >= 0 else None for v in self.served_pred],
                    "frozen": self.frozen.tolist(),
                    "frozen_pred": [int(v) if v >= 0 else None for v in self.frozen_pred],
                    "versions": [v or None for v in self.versions],
                },
            }
        )


class _Clock:
    """The injected time: set between batches, read by the writer and the service."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def replay(
    data: pd.DataFrame,
    target: str,
    *,
    settings: Settings,
    positive: str | None = None,
    train_rows: int = 1000,
    batch: int = 100,
    label_delay: int = 0,
    seconds_per_row: float = 1.0,
    segment: int = 1000,
    classifier: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    start: datetime | None = None,
) -> ReplayResult:
    """Replay `data` through the service on `settings.home`, which must be new or empty.

    Parameters
    ----------
    data : DataFrame
        Time-ordered rows: features and the `target` column, as `datasets.read_csv` reads
        a CSV. Types, the positive class and errors are those of `selfheal train --data`.
    target, positive
        The label column and, for two text values, the one meaning class 1.
    settings : Settings
        Everything else (monitor interval, cooldown, gates, seed...); `home` holds the
        database and registry the replay writes.
    train_rows : int
        `v0001` is trained and promoted on rows `0 .. train_rows - 1`.
    batch : int
        Rows per request (split further at `SELFHEAL_MAX_INSTANCES`, as a client must).
    label_delay : int
        Labels of batch `k` are posted after batch `k + label_delay` is served.
    seconds_per_row : float
        How far the injected clock advances per row.
    segment : int
        Rows per segment of the result table, and the window of the rolling AUC curve.
    classifier : str, optional
        `v0001`'s classifier (default `SELFHEAL_CLASSIFIER`); retrains keep it.
    progress : callable, optional
        Called as `progress(rows streamed, rows to stream)` after each batch.
    start : datetime, optional
        The injected clock's start (default 2026-01-01T00:00:00Z).

    Returns
    -------
    ReplayResult
        See the module docstring for row numbers, events and recoveries.

    Raises
    ------
    DataError
        Bad arguments, a home already in use, or data that `selfheal train` would refuse.
    """
    t0 = time.monotonic()
    _check(len(data), train_rows, batch, label_delay, seconds_per_row, segment)
    _check_new_home(settings)
    start = _utc(start or DEFAULT_START)
    loaded = datasets.load_frame(data, target=target, positive=positive)
    features, y = loaded.features, np.asarray(loaded.y, dtype=np.int64)
    n_stream = len(features) - train_rows
    version = _train_first(
        settings, features.iloc[:train_rows], y[:train_rows], loaded, classifier, start
    )

    clock = _Clock(start)
    st = _Stream.empty(y[train_rows:], at={db.iso(start): train_rows})
    records = _records(features.iloc[train_rows:])
    service = Service(settings, clock=clock)
    try:
        service.start(monitor=False)
        service.monitor.background_retrain = False  # the retrain runs inside the cycle
        _serve_stream(
            service,
            clock,
            records,
            st,
            start=start,
            train_rows=train_rows,
            batch=batch,
            label_delay=label_delay,
            seconds_per_row=seconds_per_row,
            progress=progress,
        )
        # The frozen model depends on nothing the service does: one call scores it all.
        answered = np.flatnonzero(~np.isnan(st.served)).tolist()
        first = service.registry.load(version)
        _score_frozen(first, [records[i] for i in answered], answered, st.frozen, st.frozen_pred)
        events = _db_events(
            service.read_conn(), st.at, start, seconds_per_row, train_rows, n_stream
        )
    finally:
        service.stop()
    events = _merge_events(events, st.extra_events)
    params = {
        "train_rows": train_rows,
        "batch": batch,
        "label_delay": label_delay,
        "seconds_per_row": seconds_per_row,
        "segment": segment,
        "start": db.iso(start),
        "target": target,
        "positive": loaded.positive,
        "classifier": classifier or settings.classifier,
        "first_version": version,
        "home": str(settings.home_path),
        "monitor_interval": settings.monitor_interval,
        "cooldown_seconds": settings.cooldown_seconds,
        "seed": settings.seed,
    }
    return _result(st, events, params, segment=segment, batch=batch, train_rows=train_rows, t0=t0)


@dataclass
class _Stream:
    """What a replay records about the streamed rows: per row (index 0 is the first row
    after the training rows) the served and frozen scores and predictions and the served
    version, and along the way the refusals, monitor cycles, events seen only in cycle
    summaries, and `at` (injected time -> row after it)."""

    y: np.ndarray
    served: np.ndarray
    served_pred: np.ndarray
    frozen: np.ndarray
    frozen_pred: np.ndarray
    versions: list[str]
    at: dict[str, int]
    refused_reasons: dict[str, int] = field(default_factory=dict)
    cycles: list[dict[str, Any]] = field(default_factory=list)
    extra_events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def empty(cls, y: np.ndarray, *, at: dict[str, int]) -> _Stream:
        """Nothing served yet: scores NaN, predictions -1, versions empty."""
        n = len(y)
        return cls(
            y=y,
            served=np.full(n, np.nan),
            served_pred=np.full(n, -1, dtype=np.int64),
            frozen=np.full(n, np.nan),
            frozen_pred=np.full(n, -1, dtype=np.int64),
            versions=[""] * n,
            at=at,
        )


def _serve_stream(
    service: Service,
    clock: _Clock,
    records: list[dict[str, Any]],
    st: _Stream,
    *,
    start: datetime,
    train_rows: int,
    batch: int,
    label_delay: int,
    seconds_per_row: float,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Serve the stream batch by batch on the injected clock into `st`: each batch's labels
    `label_delay` batches later, a monitor cycle whenever the clock passes the next one;
    the last labels are posted once the stream ends."""
    n_stream = len(st.y)
    pending: deque[list[tuple[str, int]]] = deque()
    interval = timedelta(seconds=float(service.settings.monitor_interval))
    next_cycle = start + interval
    if progress is not None:
        progress(0, n_stream)
    for b0 in range(0, n_stream, batch):
        b1 = min(b0 + batch, n_stream)
        clock.now = start + timedelta(seconds=seconds_per_row * b1)
        st.at.setdefault(db.iso(clock.now), train_rows + b1)
        answers = _serve(service, records, range(b0, b1), st.refused_reasons)
        for i, a in answers:
            st.served[i], st.served_pred[i] = a["probability"], a["prediction"]
            st.versions[i] = a["model_version"]
        pending.append([(a["prediction_id"], int(st.y[i])) for i, a in answers])
        while len(pending) > label_delay:
            _post_labels(service, pending.popleft(), clock.now)
        if clock.now >= next_cycle:
            summary = service.monitor.run_once(now=clock.now)
            st.cycles.append(_cycle(summary, train_rows + b1))
            st.extra_events += _cycle_events(summary, train_rows + b1)
            while next_cycle <= clock.now:
                next_cycle += interval
        if progress is not None:
            progress(b1, n_stream)
    while pending:  # the stream ended: the last labels still arrive, for inspection
        _post_labels(service, pending.popleft(), clock.now)


def _merge_events(
    events: list[dict[str, Any]], extra: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The database's events and the cycles' own, in stream order (row, then phase, then
    sequence), without their sequence numbers."""
    merged = sorted([*events, *extra], key=lambda e: (e["row"], _PHASE.get(e["kind"], 5), e["seq"]))
    for e in merged:
        del e["seq"]
    return merged


def _result(
    st: _Stream,
    events: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    segment: int,
    batch: int,
    train_rows: int,
    t0: float,
) -> ReplayResult:
    """The `ReplayResult` of a served stream: its segments, recoveries and curve."""
    ok = ~np.isnan(st.served)
    return ReplayResult(
        y=st.y,
        served=st.served,
        served_pred=st.served_pred,
        frozen=st.frozen,
        frozen_pred=st.frozen_pred,
        versions=st.versions,
        segments=_segments(
            st.y,
            st.served,
            st.served_pred,
            st.frozen,
            st.frozen_pred,
            st.versions,
            segment,
            train_rows,
        ),
        events=events,
        recoveries=_recoveries(st.cycles, events, st.y, st.served, ok, segment, train_rows),
        cycles=st.cycles,
        curve=_curve(st.y, st.served, st.frozen, ok, segment, batch, train_rows),
        refused=int((~ok).sum()),
        refused_reasons=st.refused_reasons,
        seconds=time.monotonic() - t0,
        train_rows=train_rows,
        n_stream=len(st.y),
        params=params,
    )


# ----------------------------------------------------------------------------- set-up


def _check(
    n: int, train_rows: int, batch: int, label_delay: int, seconds_per_row: float, segment: int
) -> None:
    def bad(message: str) -> DataError:
        return DataError(message, code="invalid_arguments")

    if train_rows < MIN_TRAIN_ROWS:
        raise bad(
            f"--train-rows must be at least {MIN_TRAIN_ROWS} (v0001 needs a holdout and "
            f"cross-validation folds with both classes), got {train_rows}"
        )
    if train_rows >= n:
        raise bad(
            f"--train-rows {train_rows} leaves nothing to replay: the data has {n} rows; "
            f"use fewer training rows than that"
        )
    if batch < 1:
        raise bad(f"--batch must be at least 1 row, got {batch}")
    if label_delay < 0:
        raise bad(f"--label-delay must be 0 or more batches, got {label_delay}")
    if not (math.isfinite(seconds_per_row) and seconds_per_row > 0):
        raise bad(f"--seconds-per-row must be a number greater than 0, got {seconds_per_row}")
    if segment < 1:
        raise bad(f"--segment must be at least 1 row, got {segment}")


def _check_new_home(settings: Settings) -> None:
    """A replay writes its own database and registry: the home must be new or empty."""
    if settings.db_path.exists() or (
        settings.registry_path.exists() and any(settings.registry_path.iterdir())
    ):
        raise DataError(
            f"{settings.home_path} already holds a selfheal database or registry; replay "
            "needs a new home: pass another --home DIR (or remove that one)",
            code="invalid_arguments",
        )


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _train_first(
    settings: Settings,
    features: pd.DataFrame,
    y: np.ndarray,
    loaded: datasets.LoadedData,
    classifier: str | None,
    start: datetime,
) -> str:
    """Train, register and promote v0001 as `selfheal train --data --promote` does; its
    audit events carry the injected start time, like everything after them."""
    stamp = db.iso(start)
    home: Home

    def record(event: dict[str, Any]) -> None:
        home.write(lambda c: store.insert_event(c, {**event, "created_at": stamp}))

    with Home(settings, record_event=record) as home:
        frame = features.reset_index(drop=True)
        schema = infer_schema(
            frame, target=loaded.target, positive=loaded.positive, negative=loaded.negative
        )
        trained = train_frame(
            home,
            frame,
            y,
            schema,
            source=f"rows 0-{len(frame) - 1} of the replayed data",
            classifier=classifier,
            promote=True,
            actor="replay",
            trigger="replay",
            reason=f"replay: first model, trained on rows 0-{len(frame) - 1}",
        )
    assert trained.version is not None
    return trained.version


def _records(features: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them: Python numbers and strings, null for missing."""
    records: list[dict[str, Any]] = features.to_dict("records")
    for rec in records:
        for k, v in rec.items():
            if isinstance(v, float) and math.isnan(v):
                rec[k] = None
    return records


# ----------------------------------------------------------------------------- the stream


def _serve(
    service: Service,
    records: Sequence[dict[str, Any]],
    rows: range,
    refused: dict[str, int],
) -> list[tuple[int, dict[str, Any]]]:
    """One batch as `POST /predict` handles it: each record validated against the serving
    model's schema (a hard-bound failure is refused, counted in `refused` by its first
    problem), then scored and committed by the writer. Returns `(index, answer)` pairs."""
    model = service.models.current
    if model is None:
        raise NoModelError(f"no model serves ({service.models.error})")
    valid, idx = [], []
    for i in rows:
        v, problems = model.schema.validate_record(records[i])
        if v is None:
            reason = str(problems[0].get("problem", "invalid")) if problems else "invalid"
            refused[reason] = refused.get(reason, 0) + 1
        else:
            valid.append(v)
            idx.append(i)
    # The API takes at most SELFHEAL_MAX_INSTANCES records per request: so does a client.
    chunk = max(1, min(int(service.settings.max_instances), int(service.settings.max_queue)))
    answers: list[dict[str, Any]] = []
    for c0 in range(0, len(valid), chunk):
        answers += service.writer.predict(model, valid[c0 : c0 + chunk])
    return list(zip(idx, answers, strict=True))


def _score_frozen(
    model: Any,
    records: Sequence[dict[str, Any]],
    idx: Sequence[int],
    proba: np.ndarray,
    pred: np.ndarray,
) -> None:
    """The first model on the rows the service answered, validated against its own schema
    (a retrained schema may accept what v0001's refuses: that row stays NaN)."""
    values, rows = [], []
    for i, rec in zip(idx, records, strict=True):
        v, _ = model.schema.validate_record(rec)
        if v is not None:
            values.append(v.values)
            rows.append(i)
    if rows:
        p = np.asarray(model.predict_proba(model.schema.to_matrix(values)), dtype=np.float64)
        proba[rows] = p
        pred[rows] = (p >= model.threshold).astype(np.int64)


def _post_labels(service: Any, items: list[tuple[str, int]], now: datetime) -> None:
    """As POST /monitoring/labels does, stamped with the injected time."""
    if items:
        stamp = db.iso(now)
        service.writer.write(lambda c: store.upsert_labels(c, items, now=stamp))


def _cycle(summary: Mapping[str, Any], row: int) -> dict[str, Any]:
    keys = ("status", "decision", "trigger", "n_window", "n_labeled", "drift_share")
    out: dict[str, Any] = {"row": row, "time": summary.get("created_at")}
    out.update({k: summary.get(k) for k in keys})
    out["version"] = summary.get("model_version")
    out.update({k: summary.get(k) for k in ("live_f1", "estimated_f1")})
    return out


def _cycle_events(summary: Mapping[str, Any], row: int) -> list[dict[str, Any]]:
    """Triggers, failed cycles and probation verdicts, read from the cycle itself."""
    base = {"row": row, "time": summary.get("created_at"), "run_id": None, "seq": 0}
    version = summary.get("model_version")
    out: list[dict[str, Any]] = []
    prob = summary.get("probation")
    if isinstance(prob, Mapping) and prob.get("status") in ("passed", "ended"):
        if prob.get("status") == "passed":
            detail = (
                f"passed: live F1 {_f(prob.get('f1_new'))} vs {prob.get('previous_version')}'s "
                f"{_f(prob.get('f1_previous'))} on {prob.get('n')} labeled rows"
            )
        else:
            detail = f"ended without a verdict: {prob.get('reason', '')}".rstrip(": ")
        out.append({**base, "kind": "probation", "version": prob.get("version"), "detail": detail})
    if summary.get("status") == "error":
        out.append(
            {**base, "kind": "monitor_error", "version": version, "detail": summary.get("error")}
        )
    if summary.get("trigger"):
        names = list(summary.get("triggers") or {}) or [summary["trigger"]]
        decision = summary.get("decision")
        run = summary.get("retrain_run_id")
        out.append(
            {
                **base,
                "kind": "trigger",
                "version": version,
                "trigger": summary["trigger"],
                "decision": decision,
                "run_id": run,
                "detail": f"{', '.join(names)} -> {decision}" + (f" (run {run})" if run else ""),
            }
        )
    return out


def _db_events(
    conn: Any, at: Mapping[str, int], start: datetime, spr: float, train_rows: int, n_stream: int
) -> list[dict[str, Any]]:
    """Retrain runs, gate verdicts, promotions and rollbacks from the audit tables."""

    def row_of(stamp: str | None) -> int:
        if stamp is not None and stamp in at:
            return at[stamp]
        try:
            t = datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return train_rows + n_stream
        k = math.floor((t - start).total_seconds() / spr + 1e-9)
        return train_rows + min(max(k, 0), n_stream)

    out: list[dict[str, Any]] = []
    for run in sorted(store.recent_runs(conn, 1_000_000), key=lambda r: r["id"]):
        base = {
            "row": row_of(run["started_at"]),
            "time": run["started_at"],
            "run_id": run["id"],
            "seq": run["id"],
        }
        candidate = run.get("candidate_version")
        out.append(
            {
                **base,
                "kind": "retrain",
                "version": run.get("base_version"),
                "trigger": run.get("trigger"),
                "status": run.get("status"),
                "detail": f"run {run['id']} ({run.get('trigger')}) on {run.get('base_version')}: "
                f"{run.get('status')}" + (f" {candidate}" if candidate else ""),
            }
        )
        for g in store.gate_results(conn, run["id"]):
            out.append(
                {
                    **base,
                    "kind": "gate",
                    "version": candidate,
                    "gate": g["gate"],
                    "passed": bool(g["passed"]),
                    "detail": f"{g['gate']} {'passed' if g['passed'] else 'FAILED'}: {g['reason']}",
                }
            )
        if run.get("status") in ("rejected", "failed"):
            detail = run.get("reason") or ""
            if run.get("error"):
                detail = f"{detail}: {run['error']}" if detail else str(run["error"])
            out.append({**base, "kind": run["status"], "version": candidate, "detail": detail})
    for ev in sorted(store.recent_events(conn, 1_000_000), key=lambda e: e["id"]):
        if ev["event"] not in ("promoted", "rolled_back"):
            continue
        details = ev.get("details") or {}
        detail = str(ev.get("reason") or "")
        if ev["event"] == "rolled_back":
            detail = f"{ev.get('previous_version')} -> {ev.get('version')}: {detail}"
        out.append(
            {
                "row": row_of(ev["created_at"]),
                "time": ev["created_at"],
                "run_id": details.get("run_id") if isinstance(details, Mapping) else None,
                "seq": 1_000_000 + ev["id"],
                "kind": ev["event"],
                "version": ev.get("version"),
                "detail": detail,
            }
        )
    return out


# ----------------------------------------------------------------------------- metrics


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """ROC AUC; None with one class or no rows."""
    return roc_auc(y, p) if len(y) else None


def _f1(y: np.ndarray, pred: np.ndarray) -> float | None:
    """F1 of 0/1 predictions; None with one class or no rows (undefined, not zero)."""
    if len(y) == 0 or y.min() == y.max():
        return None
    return f1(y, pred == 1)


def _f(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and math.isfinite(v) else "-"


def _segments(
    y: np.ndarray,
    served: np.ndarray,
    served_pred: np.ndarray,
    frozen: np.ndarray,
    frozen_pred: np.ndarray,
    versions: list[str],
    segment: int,
    train_rows: int,
) -> list[dict[str, Any]]:
    """Per `segment` streamed rows: `start_row` inclusive, `end_row` exclusive; metrics on
    the rows the service answered (the frozen model on the same rows)."""
    out = []
    for s0 in range(0, len(y), segment):
        s1 = min(s0 + segment, len(y))
        ok = ~np.isnan(served[s0:s1])
        fz = ok & ~np.isnan(frozen[s0:s1])
        ys = y[s0:s1]
        seen: dict[str, None] = {}
        for v in versions[s0:s1]:
            if v:
                seen.setdefault(v, None)
        out.append(
            {
                "start_row": train_rows + s0,
                "end_row": train_rows + s1,
                "n": s1 - s0,
                "refused": int((~ok).sum()),
                "label_rate": float(ys.mean()),
                "served_auc": _auc(ys[ok], served[s0:s1][ok]),
                "served_f1": _f1(ys[ok], served_pred[s0:s1][ok]),
                "frozen_auc": _auc(ys[fz], frozen[s0:s1][fz]),
                "frozen_f1": _f1(ys[fz], frozen_pred[s0:s1][fz]),
                "versions": list(seen),
            }
        )
    return out


def _curve(
    y: np.ndarray,
    served: np.ndarray,
    frozen: np.ndarray,
    ok: np.ndarray,
    window: int,
    batch: int,
    train_rows: int,
) -> list[dict[str, Any]]:
    """Rolling AUC over the last `window` streamed rows, every `step` rows (at most
    CURVE_POINTS points); None while fewer than half a window of rows were answered."""
    n = len(y)
    window = min(window, n)
    step = max(batch, math.ceil(n / CURVE_POINTS))
    ends = list(range(step, n, step)) + [n]
    fz = ok & ~np.isnan(frozen)
    out = []
    for e in ends:
        s = max(0, e - window)
        m, mf = ok[s:e], fz[s:e]
        enough = m.sum() >= max(window // 2, 1)
        out.append(
            {
                "row": train_rows + e,
                "served_auc": _auc(y[s:e][m], served[s:e][m]) if enough else None,
                "frozen_auc": _auc(y[s:e][mf], frozen[s:e][mf]) if enough else None,
            }
        )
    return out


def _recoveries(
    cycles: list[dict[str, Any]],
    events: list[dict[str, Any]],
    y: np.ndarray,
    served: np.ndarray,
    ok: np.ndarray,
    segment: int,
    train_rows: int,
) -> list[dict[str, Any]]:
    """Episodes from the first trigger to the first healthy full-window cycle (module
    docstring)."""

    def served_auc(r0: int, r1: int) -> float | None:
        a, b = max(r0 - train_rows, 0), min(r1 - train_rows, len(y))
        return _auc(y[a:b][ok[a:b]], served[a:b][ok[a:b]]) if b > a else None

    out: list[dict[str, Any]] = []
    episode: dict[str, Any] | None = None
    for c in cycles:
        if c["trigger"]:
            if episode is None:
                episode = {
                    "began_row": c["row"],
                    "trigger": c["trigger"],
                    "version_at_start": c["version"],
                    "recovered_row": None,
                    "rows": None,
                    "version_at_recovery": None,
                }
                out.append(episode)
        elif episode is not None and c["status"] in ("ok", "drift"):
            episode.update(
                recovered_row=c["row"],
                rows=c["row"] - episode["began_row"],
                version_at_recovery=c["version"],
            )
            episode = None
    end = train_rows + len(y)
    for ep in out:
        stop = ep["recovered_row"] if ep["recovered_row"] is not None else end + 1
        inside = [e for e in events if ep["began_row"] <= e["row"] < stop]
        ep["retrains"] = sum(1 for e in inside if e["kind"] == "retrain")
        ep["promotions"] = sum(1 for e in inside if e["kind"] == "promoted")
        ep["rollbacks"] = sum(1 for e in inside if e["kind"] == "rolled_back")
        ep["served_auc_before"] = served_auc(ep["began_row"] - segment, ep["began_row"])
        ep["served_auc_after"] = (
            served_auc(ep["recovered_row"], ep["recovered_row"] + segment)
            if ep["recovered_row"] is not None
            else None
        )
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)
