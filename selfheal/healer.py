"""Healing: retrain, judge the challenger through the four gates, promote or reject, and
watch a promoted model on probation, rolling it back when it does worse live.

Only one retrain runs at a time: a thread lock guards this process and an flock on
`registry/.retrain.lock` guards against a CLI retrain in another process. A cooldown follows
every retrain and every automatic rollback. Every run is a `retrain_runs` row with its
trigger, evidence, outcome and error; every gate verdict is a `gate_results` row.
"""

from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from selfheal import store
from selfheal.config import Settings
from selfheal.db import iso, utcnow
from selfheal.gates import (
    GateResult,
    consistency_gate,
    data_quality_gate,
    stability_gate,
    statistical_gate,
    summarize,
)
from selfheal.performance import labeled_metrics
from selfheal.registry import LoadedModel, Registry
from selfheal.schema import FeatureSchema, infer_schema
from selfheal.training import TrainResult, train

log = logging.getLogger("selfheal.healer")
T = TypeVar("T")
Write = Callable[[Callable[[sqlite3.Connection], Any]], Any]
MIN_LIVE_HOLDOUT = 100  # fewer labeled live rows: hold out a stratified split instead


@dataclass
class Outcome:
    run_id: int
    status: str  # promoted | rejected | failed | skipped
    version: str | None = None
    reason: str = ""
    gates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainingSet:
    frame: pd.DataFrame  # features in schema order
    y: np.ndarray
    weights: np.ndarray
    holdout_index: np.ndarray | None  # newest labeled live rows; None: stratified split
    n_reference: int
    n_live: int
    label_rate: float | None  # observed positive rate of the recent labeled live rows


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def rows_to_frame(rows: list[sqlite3.Row], schema: FeatureSchema) -> pd.DataFrame:
    """Logged feature JSON -> a frame in schema order (see `matching_rows`)."""
    records = [json.loads(r["features"]) for r in rows]
    frame = pd.DataFrame.from_records(records, columns=schema.names)
    for name in schema.categorical:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def rejection_reason(trigger: str, verdict: dict[str, Any]) -> str:
    """The audit sentence of a rejection: which gates failed and each gate's reason."""
    return f"{trigger}: rejected by {', '.join(verdict['failed'])}: " + "; ".join(
        verdict["reasons"]
    )


def matching_rows(rows: list[sqlite3.Row], schema: FeatureSchema) -> list[sqlite3.Row]:
    """The rows logged with exactly this schema's features. Rows of another schema (logged
    before a model with other columns was promoted) must be left out, never NaN-filled."""
    names = set(schema.names)
    return [r for r in rows if set(json.loads(r["features"])) == names]


class Healer:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        read_conn: Callable[[], sqlite3.Connection],
        write: Write,
        on_swap: Callable[[], None] | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.read_conn = read_conn
        self.write = write
        self.on_swap = on_swap or (lambda: None)
        self.on_outcome = on_outcome
        self._busy = threading.Lock()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_outcome: Outcome | None = None
        self._started = time.monotonic()

    # -- single flight and cooldown ----------------------------------------------------
    @property
    def running(self) -> bool:
        return self._busy.locked()

    def cooldown_left(self, now: datetime) -> float:
        last = store.last_cooldown_start(self.read_conn())
        if last is None:
            return 0.0
        elapsed = (now - parse_time(last)).total_seconds()
        return max(0.0, float(self.settings.cooldown_seconds) - elapsed)

    @contextmanager
    def _flight(self) -> Iterator[bool]:
        """Hold the retrain slot of this process and of the registry, or yield False."""
        if not self._busy.acquire(blocking=False):
            yield False
            return
        fh = (self.registry.root / ".retrain.lock").open("a+")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        finally:
            fh.close()
            self._busy.release()

    def request(
        self,
        trigger: str,
        evidence: Any,
        *,
        actor: str,
        now: datetime | None = None,
        background: bool = False,
        ignore_cooldown: bool = False,
    ) -> tuple[str, int | None]:
        """Start a retrain unless one is running or the cooldown holds.

        Returns `(decision, run_id)`: decision is retrain, cooldown or retrain_running.
        In the background the retrain runs in its own thread and serving never waits.
        """
        now = now or utcnow()
        if not ignore_cooldown:
            left = self.cooldown_left(now)
            if left > 0:
                return "cooldown", None
        if background:
            started = threading.Event()
            result: dict[str, Any] = {}

            def work() -> None:
                with self._flight() as ok:
                    try:
                        result["ok"] = ok
                        if ok:
                            result["run_id"] = self._start_run(trigger, evidence, actor, now)
                    except Exception as exc:  # e.g. the writer refused: report, never hang
                        result["error"] = exc
                        log.exception("could not start a retrain")
                    finally:
                        started.set()
                    if ok and "run_id" in result:
                        self.last_outcome = self._observe(
                            self._retrain(result["run_id"], trigger, actor, now)
                        )

            self._thread = threading.Thread(target=work, name="selfheal-retrain", daemon=True)
            self._thread.start()
            started.wait()
            if "error" in result:
                raise result["error"]
            if not result.get("ok"):
                return "retrain_running", None
            return "retrain", int(result["run_id"])
        with self._flight() as ok:
            if not ok:
                return "retrain_running", None
            run_id = self._start_run(trigger, evidence, actor, now)
            self.last_outcome = self._observe(self._retrain(run_id, trigger, actor, now))
            return "retrain", run_id

    def reap_interrupted(self) -> int:
        """Mark runs left 'running' by a stopped process as failed. Only when nobody holds
        the retrain lock: a CLI retrain in another process may be running right now."""
        with self._flight() as ok:
            if not ok:
                return 0
            reaped: int = self.write(lambda c: store.fail_interrupted_runs(c, iso()))
            return reaped

    def _finished(self, now: datetime) -> str:
        """The (injected) start time plus the wall time the run took: finish times stay
        truthful while tests drive the clock."""
        return iso(now + timedelta(seconds=time.monotonic() - self._started))

    def _observe(self, outcome: Outcome) -> Outcome:
        if self.on_outcome is not None and outcome.status != "skipped":
            try:
                self.on_outcome(outcome.status)
            except Exception:  # an observer must never fail a retrain
                log.exception("retrain observer failed")
        return outcome

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background retrain to finish."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Ask a retrain in flight not to change the registry any more, and wait for it."""
        self.stopping.set()
        self.join(timeout)

    def _start_run(self, trigger: str, evidence: Any, actor: str, now: datetime) -> int:
        base = self.registry.production()
        self._started = time.monotonic()
        run_id: int = self.write(
            lambda c: store.start_run(
                c, trigger=trigger, evidence=evidence, actor=actor, base_version=base, now=iso(now)
            )
        )
        log.info("retrain %d started: trigger %s by %s", run_id, trigger, actor)
        return run_id

    # -- the retrain ---------------------------------------------------------------------
    def training_set(self, champion: LoadedModel, now: datetime) -> TrainingSet:
        """The champion's reference sample plus the recent labeled live rows, weighted by
        recency (`SELFHEAL_RETRAIN_HALF_LIFE_ROWS`); the newest labeled rows are the
        holdout, so champion and challenger are judged on the current distribution."""
        schema = champion.schema
        ref, _ = self.registry.reference(champion.version)
        rows = store.labeled_rows(
            self.read_conn(), limit=self.settings.retrain_max_rows, until=iso(now)
        )
        rows = list(reversed(rows))  # oldest first
        rows = matching_rows(rows, schema)
        live = rows_to_frame(rows, schema) if rows else pd.DataFrame(columns=schema.names)
        y_live = np.array([int(r["label"]) for r in rows], dtype=np.int64)
        frame = pd.concat([ref[schema.names], live], ignore_index=True)
        for name in schema.numeric:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        y = np.concatenate([ref[schema.target].to_numpy(dtype=np.int64), y_live])
        # Recency weighting: rank 0 is the newest labeled row; the reference sample is
        # older than every live row. After a concept change the old relationship must
        # fade, while with little new data the reference still carries the fit.
        rank = np.concatenate(
            [np.arange(len(live), len(live) + len(ref))[::-1], np.arange(len(live))[::-1]]
        )
        weights = 0.5 ** (rank / self.settings.retrain_half_life_rows)
        holdout = None
        if len(live) >= MIN_LIVE_HOLDOUT:
            n_hold = max(
                int(round(len(live) * self.settings.holdout_fraction)), MIN_LIVE_HOLDOUT // 2
            )
            holdout = np.arange(len(frame) - n_hold, len(frame))
        return TrainingSet(
            frame=frame,
            y=y,
            weights=weights,
            holdout_index=holdout,
            n_reference=len(ref),
            n_live=len(live),
            label_rate=float(y_live[-1000:].mean()) if len(y_live) else None,
        )

    def _retrain(self, run_id: int, trigger: str, actor: str, now: datetime) -> Outcome:
        try:
            champion_version = self.registry.production()
            if champion_version is None:
                raise RuntimeError("no production model to retrain from")
            champion = self.registry.load(champion_version)
            ts = self.training_set(champion, now)
            schema = champion.schema
            dq = self._data_quality(ts, schema)
            if not dq.passed:
                return self._reject(run_id, None, [dq], trigger, actor, now)
            new_schema = infer_schema(
                ts.frame, target=schema.target, positive=schema.positive, declared=schema
            )
            classifier = (champion.meta.get("params") or {}).get("classifier")
            result = train(
                ts.frame,
                ts.y,
                new_schema,
                classifier=classifier or self.settings.classifier,
                seed=self.settings.seed,
                sample_weight=ts.weights,
                holdout_index=ts.holdout_index,
                # Two thirds of the gate's allowance: the F1 optimum sits on the edge of the
                # constraint, and validation rows are not the live rows the gate reads.
                max_rate_gap=self.settings.gate_max_positive_rate_gap * 2 / 3,
            )
            return self.judge(
                run_id,
                result,
                new_schema,
                ts,
                champion,
                trigger=trigger,
                actor=actor,
                now=now,
                dq=dq,
            )
        except Exception as exc:
            return self._fail_run(run_id, exc, now, "retrain")

    def _fail_run(self, run_id: int, exc: Exception, now: datetime, what: str) -> Outcome:
        """Record a run that raised: logged with its traceback, stored with its message."""
        log.exception("%s %d failed", what, run_id)
        message = f"{type(exc).__name__}: {exc}"
        self.write(
            lambda c: store.finish_run(
                c,
                run_id,
                status="failed",
                error=message,
                reason=f"{what} failed",
                now=self._finished(now),
            )
        )
        return Outcome(run_id=run_id, status="failed", reason=message)

    def _data_quality(self, ts: TrainingSet, schema: FeatureSchema) -> GateResult:
        problems = schema.validate_frame(ts.frame)
        # Soft-range values are expected in drifted data; only hard problems count here.
        return data_quality_gate(
            ts.frame, ts.y, schema_errors=problems, config=self.settings.gate_config()
        )

    def challenge(
        self,
        result: TrainResult,
        schema: FeatureSchema,
        *,
        actor: str,
        trigger: str = "manual",
        now: datetime | None = None,
    ) -> Outcome:
        """Judge a challenger trained elsewhere (e.g. `selfheal train --challenge`) against
        production on the most recent labeled live data, then promote or reject it."""
        now = now or utcnow()
        with self._flight() as ok:
            if not ok:
                return Outcome(run_id=0, status="skipped", reason="a retrain is running")
            champion_version = self.registry.production()
            if champion_version is None:
                raise RuntimeError("no production model to challenge")
            champion = self.registry.load(champion_version)
            if schema.names != champion.schema.names:
                from selfheal.errors import DataError

                raise DataError(
                    f"the challenger's features {schema.names} differ from production's "
                    f"{champion.schema.names}; train on data with the same columns",
                    code="invalid_data",
                )
            run_id = self._start_run(trigger, {"challenger": result.params}, actor, now)
            ts = self.training_set(champion, now)
            try:
                return self._observe(
                    self.judge(
                        run_id,
                        result,
                        schema,
                        ts,
                        champion,
                        trigger=trigger,
                        actor=actor,
                        now=now,
                        dq=None,
                        holdout_from=ts,
                    )
                )
            except Exception as exc:
                return self._fail_run(run_id, exc, now, "challenge")

    def judge(
        self,
        run_id: int,
        result: TrainResult,
        schema: FeatureSchema,
        ts: TrainingSet,
        champion: LoadedModel,
        *,
        trigger: str,
        actor: str,
        now: datetime,
        dq: GateResult | None,
        holdout_from: TrainingSet | None = None,
    ) -> Outcome:
        """Run the four gates on the same holdout for both models and act on the verdict."""
        cfg = self.settings.gate_config()
        if holdout_from is not None:
            # An outside challenger: judge it on the newest labeled live rows.
            if holdout_from.holdout_index is None:
                raise RuntimeError(
                    f"need at least {MIN_LIVE_HOLDOUT} labeled live rows to judge a "
                    "challenger; send labels first (make send-labels)"
                )
            hold = holdout_from.frame.iloc[holdout_from.holdout_index].reset_index(drop=True)
            y_h = holdout_from.y[holdout_from.holdout_index]
            chall_p = np.asarray(
                result.pipeline.predict_proba(schema.frame_to_matrix(hold))[:, 1], dtype=np.float64
            )
            if dq is None:
                dq = data_quality_gate(
                    result.reference[schema.names],
                    result.reference[schema.target].to_numpy(),
                    config=cfg,
                )
        else:
            idx = result.holdout_index
            hold = ts.frame.iloc[idx].reset_index(drop=True)
            y_h = ts.y[idx]
            chall_p = result.reference_scores
        champ_p = champion.predict_proba(champion.schema.frame_to_matrix(hold))
        stat = statistical_gate(
            y_h,
            chall_p,
            champ_p,
            threshold=result.threshold,
            champion_threshold=champion.threshold,
            config=cfg,
        )
        stab = stability_gate(
            hold,
            y_h,
            chall_p,
            champ_p,
            numeric=schema.numeric,
            categorical=schema.categorical,
            threshold=result.threshold,
            champion_threshold=champion.threshold,
            config=cfg,
        )
        cons = self._consistency(result, schema, champion, ts, chall_p, now)
        assert dq is not None
        gates = [dq, stat, stab, cons]
        verdict = summarize(gates)
        gate_dicts = [g.to_dict() for g in gates]
        if verdict["passed"]:
            reason = (
                f"{trigger}: all gates passed; holdout F1 {stat.values['challenger_f1']:.3f}"
                f" vs champion {champion.version} {stat.values['champion_f1']:.3f}"
            )
            status = "candidate"
        else:
            reason = rejection_reason(trigger, verdict)
            status = "rejected"
        if self.stopping.is_set():  # never change the registry while the process stops
            raise RuntimeError("the service is shutting down; the challenger was not registered")
        version = self.registry.register(
            **result.artifacts(),
            schema=schema,
            data={**result.data, "n_reference": ts.n_reference, "n_live": ts.n_live},
            parent=champion.version,
            trigger=trigger,
            reason=reason,
            status=status,
            gates=gate_dicts,
            actor=actor,
        )
        if status == "rejected":
            return self._reject(run_id, version, gates, trigger, actor, now)
        self.registry.promote(
            version, reason=reason, actor=actor, details={"run_id": run_id, "gates": gate_dicts}
        )

        def record_promotion(c: sqlite3.Connection) -> None:
            store.insert_gate_results(c, run_id, gate_dicts, self._finished(now))
            store.finish_run(
                c,
                run_id,
                status="promoted",
                candidate_version=version,
                reason=reason,
                now=self._finished(now),
            )
            store.start_probation(
                c,
                version=version,
                previous=champion.version,
                run_id=run_id,
                labels_needed=self.settings.probation_labels,
                now=iso(now),
            )

        self.write(record_promotion)
        self.registry.set_shadow(
            champion.version, actor=actor, reason=f"probation of {version}: predecessor in shadow"
        )
        self.on_swap()
        log.info("retrain %d promoted %s: %s", run_id, version, reason)
        return Outcome(
            run_id=run_id, status="promoted", version=version, reason=reason, gates=gate_dicts
        )

    def _reject(
        self,
        run_id: int,
        version: str | None,
        gates: list[GateResult],
        trigger: str,
        actor: str,
        now: datetime,
    ) -> Outcome:
        reason = rejection_reason(trigger, summarize(gates))
        gate_dicts = [g.to_dict() for g in gates]

        def record_rejection(c: sqlite3.Connection) -> None:
            store.insert_gate_results(c, run_id, gate_dicts, self._finished(now))
            store.finish_run(
                c,
                run_id,
                status="rejected",
                candidate_version=version,
                reason=reason,
                now=self._finished(now),
            )

        self.write(record_rejection)
        log.info("retrain %d rejected%s: %s", run_id, f" {version}" if version else "", reason)
        return Outcome(
            run_id=run_id, status="rejected", version=version, reason=reason, gates=gate_dicts
        )

    def _consistency(
        self,
        result: TrainResult,
        schema: FeatureSchema,
        champion: LoadedModel,
        ts: TrainingSet,
        holdout_p: np.ndarray,
        now: datetime,
    ) -> GateResult:
        """Consistency on the latest live rows (or the holdout when there is no traffic)."""
        rows = store.recent_predictions(self.read_conn(), limit=1000, until=iso(now))
        rows = matching_rows(rows, schema)
        if rows:
            live = rows_to_frame(rows, schema)
            X_new = schema.frame_to_matrix(live)
            X_old = champion.schema.frame_to_matrix(live)
        else:
            live = None
        if live is None:
            chall_live = holdout_p
            champ_live = None
            chall_spr = champ_spr = None
        else:
            chall_spr, chall_live = _time_per_row(result.pipeline, X_new)
            champ_spr, champ_live = _time_per_row(champion.pipeline, X_old)
        return consistency_gate(
            chall_live,
            observed_label_rate=ts.label_rate,
            challenger_seconds_per_row=chall_spr or 0.0,
            champion_seconds_per_row=champ_spr,
            champion_live_proba=champ_live,
            threshold=result.threshold,
            champion_threshold=champion.threshold,
            config=self.settings.gate_config(),
        )

    # -- probation ---------------------------------------------------------------------
    def check_probation(self, now: datetime | None = None) -> dict[str, Any] | None:
        """Compare the promoted model with its predecessor on the same labeled traffic;
        roll back automatically when it trails by more than the allowed F1 drop."""
        now = now or utcnow()
        conn = self.read_conn()
        prob = store.active_probation(conn)
        if prob is None:
            return None
        production = self.registry.production()
        if production != prob["version"]:
            # Production moved by hand: the probation no longer describes what serves.
            self.write(
                lambda c: store.end_probation(
                    c,
                    prob["id"],
                    status="ended",
                    now=iso(now),
                    result={"reason": f"production changed to {production}"},
                )
            )
            self._stop_shadow(prob)
            return {"status": "ended", "version": prob["version"]}
        age = (now - parse_time(prob["started_at"])).total_seconds() / 3600
        if age > self.settings.probation_max_hours:
            n = len(
                store.probation_pairs(
                    conn,
                    version=prob["version"],
                    shadow_version=prob["previous_version"],
                    after_seq=prob["start_seq"],
                    limit=prob["labels_needed"],
                )
            )
            expired = {
                "reason": f"expired after {age:.1f} h with {n} of "
                f"{prob['labels_needed']} labeled predictions"
            }
            self.write(
                lambda c: store.end_probation(
                    c, prob["id"], status="ended", result=expired, now=iso(now)
                )
            )
            self._stop_shadow(prob)
            log.warning("probation of %s %s", prob["version"], expired["reason"])
            return {"status": "ended", "version": prob["version"], **expired}
        pairs = store.probation_pairs(
            conn,
            version=prob["version"],
            shadow_version=prob["previous_version"],
            after_seq=prob["start_seq"],
            limit=prob["labels_needed"],
        )
        state = {
            "status": "active",
            "version": prob["version"],
            "previous_version": prob["previous_version"],
            "labels": len(pairs),
            "labels_needed": prob["labels_needed"],
        }
        if len(pairs) < prob["labels_needed"]:
            return state
        y = np.array([r["label"] for r in pairs], dtype=np.int64)
        new = labeled_metrics(
            y, np.array([r["probability"] for r in pairs]), threshold=float(pairs[0]["threshold"])
        )
        old = labeled_metrics(
            y,
            np.array([r["shadow_probability"] for r in pairs]),
            threshold=float(pairs[0]["shadow_threshold"]),
        )
        result = {
            "n": len(pairs),
            "f1_new": new.f1,
            "f1_previous": old.f1,
            "drop": old.f1 - new.f1,
            "max_drop": self.settings.probation_max_f1_drop,
        }
        if old.f1 - new.f1 > self.settings.probation_max_f1_drop:
            reason = (
                f"probation: live F1 of {prob['version']} {new.f1:.3f} trails "
                f"{prob['previous_version']}'s {old.f1:.3f} by {old.f1 - new.f1:.3f} "
                f"(> {self.settings.probation_max_f1_drop}) on the same {len(pairs)} "
                "labeled predictions"
            )
            self.registry.rollback(
                to=prob["previous_version"], reason=reason, actor="monitor", details=result
            )
            self.write(
                lambda c: store.end_probation(
                    c, prob["id"], status="rolled_back", result=result, now=iso(now)
                )
            )
            self._stop_shadow(prob)
            self.on_swap()
            log.warning("automatic rollback: %s", reason)
            return {**state, "status": "rolled_back", "reason": reason, **result}
        self.write(
            lambda c: store.end_probation(
                c, prob["id"], status="passed", result=result, now=iso(now)
            )
        )
        self._stop_shadow(prob)
        log.info("probation of %s passed: F1 %.3f vs %.3f", prob["version"], new.f1, old.f1)
        return {**state, "status": "passed", **result}

    def _stop_shadow(self, prob: dict[str, Any]) -> None:
        if self.registry.shadow() == prob["previous_version"]:
            self.registry.set_shadow(
                None, actor="monitor", reason=f"probation of {prob['version']} ended"
            )
            self.on_swap()


def _time_per_row(pipeline: Any, X: np.ndarray) -> tuple[float, np.ndarray]:
    """Best of three timings of one batch call, per row (the minimum is the least noisy)."""
    best = float("inf")
    proba = np.empty(0)
    for _ in range(3):
        t0 = time.perf_counter()
        proba = np.asarray(pipeline.predict_proba(X)[:, 1], dtype=np.float64)
        best = min(best, time.perf_counter() - t0)
    return best / max(len(X), 1), proba
