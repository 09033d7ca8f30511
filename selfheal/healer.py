"""Healing: retrain, judge the challenger through the four gates, promote or reject, and
watch a promoted model on probation, rolling it back when it does worse live.

Only one retrain runs at a time: a thread lock guards this process, and the registry's
retrain slot (an flock on `registry/.retrain.lock`, or an advisory lock on PostgreSQL)
guards against a retrain in another process. When a retrain
may start is the policy's call (`selfheal.policy.decide`); what it trains on is the
recipe's (`selfheal.retrain.plan`). Every run is a `retrain_runs` row with its trigger,
evidence, data cutoff, stage, candidates, outcome and error; every gate verdict is a
`gate_results` row.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from selfheal import (
    db,
    store,
)
from selfheal.config import Settings
from selfheal.db import iso, utcnow
from selfheal.errors import DataError, NoModelError, SelfhealError, UnavailableError, cli
from selfheal.frames import matching_rows, rows_to_frame
from selfheal.gates import (
    GateResult,
    data_quality_gate,
    summarize,
)
from selfheal.judging import Judgement, evaluate, rejection_reason
from selfheal.probation import Probation
from selfheal.registry import LoadedModel, Registry
from selfheal.retrain import Plan, Window, change_point, plan
from selfheal.schema import FeatureSchema, infer_schema
from selfheal.training import TrainResult, holdout_metrics, refit, train

log = logging.getLogger("selfheal.healer")
T = TypeVar("T")
Write = Callable[[Callable[[db.Connection], Any]], Any]
TRAIN_THREADS = max(1, (os.cpu_count() or 2) - 1)  # native threads of a retrain


@dataclass
class Outcome:
    run_id: int
    status: str  # promoted | rejected | failed | skipped
    version: str | None = None
    reason: str = ""
    gates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainingSet:
    """A retrain's history: the champion's reference sample, then the labeled live rows,
    oldest first, cut by `plan` into a holdout and candidate windows."""

    frame: pd.DataFrame  # features in schema order
    y: np.ndarray
    plan: Plan
    n_reference: int
    n_live: int
    label_rate: float | None  # observed positive rate of the holdout (the present)
    cutoff_seq: int | None  # newest predictions.seq among the live rows read
    live_seq: np.ndarray

    @property
    def holdout_index(self) -> np.ndarray | None:
        """The newest labeled live rows; None: too few, a stratified split instead."""
        return self.plan.holdout

    def describe(self) -> dict[str, Any]:
        """The recipe as recorded in `retrain_runs.candidates` and meta.json."""
        hold = self.plan.holdout
        out: dict[str, Any] = {
            "n_reference": self.n_reference,
            "n_live": self.n_live,
            "data_cutoff_seq": self.cutoff_seq,
            "holdout": None
            if hold is None
            else {
                "rows": int(len(hold)),
                "positive_rate": float(self.y[hold].mean()),
                "from_seq": int(self.live_seq[hold[0] - self.n_reference]),
                "to_seq": int(self.live_seq[hold[-1] - self.n_reference]),
            },
            "change_point": None,
        }
        cp = self.plan.change
        if cp is not None:
            out["change_point"] = {
                "live_row": cp.index,
                "seq": int(self.live_seq[cp.index]),
                "statistic": cp.statistic,
                "loss_before": cp.before,
                "loss_after": cp.after,
            }
        return out


class Healer:
    """Owns retraining: one run at a time per registry (a thread lock in this process and the
    registry's retrain slot across processes and hosts), the training set and candidate
    windows of a run, judging through the four gates (`selfheal.judging`) and acting on the
    verdict: register and promote (starting a probation, `selfheal.probation`) or reject.

    Called by the monitor thread (`request(..., background=True)` runs the retrain in its
    own `selfheal-retrain` thread, so serving never waits), by the CLI (`retrain`,
    `train --challenge`) in the foreground, and by the monitor each cycle for the probation
    (`check_probation`). Every run is a `retrain_runs` row; errors inside a run mark it
    `failed` and are returned as an `Outcome`, never raised, except that `request` raises
    what prevents the run from starting (e.g. the writer refusing the `retrain_runs` row).
    """

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        read_conn: Callable[[], db.Connection],
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
        self.probation = Probation(
            settings, registry, read_conn=read_conn, write=write, on_swap=self.on_swap
        )

    # -- single flight ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._busy.locked()

    @contextmanager
    def _flight(self) -> Iterator[bool]:
        """Hold the retrain slot of this process and of the registry, or yield False."""
        if not self._busy.acquire(blocking=False):
            yield False
            return
        try:
            # Across processes: an flock on the registry folder, or on PostgreSQL an
            # advisory lock (flock is not reliable on the network file systems several
            # hosts share).
            with self.registry.coordination.retrain_slot() as ok:
                yield ok
        finally:
            self._busy.release()

    def request(
        self,
        trigger: str,
        evidence: Any,
        *,
        actor: str,
        now: datetime | None = None,
        background: bool = False,
    ) -> tuple[str, int | None]:
        """Start a retrain unless one is running (whether one should start is decided by
        `selfheal.policy.decide` for the monitor, and by the operator for a manual one).

        Returns `(decision, run_id)`: decision is retrain or retrain_running.
        In the background the retrain runs in its own thread and serving never waits.
        """
        now = now or utcnow()
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
        """The champion's reference sample, then the labeled live rows up to `now`, oldest
        first, cut into a holdout and candidate windows by `selfheal.retrain.plan`. The
        change point is looked for in the champion's own squared error on the live rows."""
        schema = champion.schema
        s = self.settings
        ref, _ = self.registry.reference(champion.version)
        rows = store.labeled_rows(self.read_conn(), limit=s.retrain_max_rows, until=iso(now))
        rows = list(reversed(rows))  # oldest first
        cutoff = max((int(r["seq"]) for r in rows), default=None)
        rows = matching_rows(rows, schema)
        live = rows_to_frame(rows, schema) if rows else pd.DataFrame(columns=schema.names)
        y_live = np.array([int(r["label"]) for r in rows], dtype=np.int64)
        frame = pd.concat([ref[schema.names], live], ignore_index=True)
        for name in schema.numeric:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        y = np.concatenate([ref[schema.target].to_numpy(dtype=np.int64), y_live])
        change = None
        if len(live):
            # Only the rows since the champion began serving: how it did on the rows before
            # its own promotion (an older concept, say) says nothing about when it failed,
            # and mixed in, those rows widen the loss's spread and hide a recent rise.
            served = [i for i, r in enumerate(rows) if r["model_version"] == champion.version]
            first = served[0] if served else 0
            p = champion.predict_proba(schema.frame_to_matrix(live.iloc[first:]))
            found = change_point((p - y_live[first:]) ** 2)
            if found is not None:
                change = replace(found, index=found.index + first)
        cut = plan(
            y,
            len(ref),
            change=change,
            holdout_fraction=s.holdout_fraction,
            holdout_max_rows=s.holdout_max_rows,
            recent_rows=s.retrain_recent_rows,
            half_life=s.retrain_half_life_rows,
        )
        # The label rate the consistency gate expects: the holdout's, the newest rows. After
        # a change of concept the newest 1,000 labels still mix in the old rate.
        recent_y = y[cut.holdout] if cut.holdout is not None else y_live[-1000:]
        return TrainingSet(
            frame=frame,
            y=y,
            plan=cut,
            n_reference=len(ref),
            n_live=len(live),
            label_rate=float(recent_y.mean()) if len(recent_y) else None,
            cutoff_seq=cutoff,
            live_seq=np.array([int(r["seq"]) for r in rows], dtype=np.int64),
        )

    def _progress(self, run_id: int, stage: str, **fields: Any) -> None:
        self.write(lambda c: store.set_run_progress(c, run_id, stage=stage, **fields))

    def _retrain(self, run_id: int, trigger: str, actor: str, now: datetime) -> Outcome:
        # Leave a core to serving; OpenMP on an oversubscribed machine also slows down
        # by an order of magnitude rather than sharing fairly.
        with threadpool_limits(limits=TRAIN_THREADS):
            return self._retrain_limited(run_id, trigger, actor, now)

    def _retrain_limited(self, run_id: int, trigger: str, actor: str, now: datetime) -> Outcome:
        stage = "data"
        try:
            champion_version = self.registry.production()
            if champion_version is None:
                raise NoModelError(f"no production model to retrain from; run `{cli('init')}`")
            champion = self.registry.load(champion_version)
            ts = self.training_set(champion, now)
            recipe = ts.describe()
            self._progress(run_id, "data", data_cutoff_seq=ts.cutoff_seq, candidates=recipe)
            schema = champion.schema
            dq = self._data_quality(ts, schema)
            if not dq.passed:
                return self._reject(run_id, None, [dq], trigger, actor, now, stage="data")
            hold = ts.holdout_index
            if hold is not None and len(np.unique(ts.y[hold])) < 2:
                raise DataError(
                    f"the newest {len(hold)} labeled rows (the holdout) hold a single class, "
                    "so no challenger can be judged; wait for labels of both classes",
                    code="invalid_target",
                )
            new_schema = infer_schema(
                ts.frame,
                target=schema.target,
                positive=schema.positive,
                negative=schema.negative,
                declared=schema,
            )
            classifier = (champion.meta.get("params") or {}).get("classifier")
            classifier = classifier or self.settings.classifier
            stage = "training"
            self._progress(run_id, stage)
            judged = self._candidates(ts, new_schema, classifier)
            judged += self._recalled(ts, champion)
            judged.sort(key=_candidate_key)
            window, result = judged[0]
            recipe["candidates"] = [
                {**w.describe(ts.n_reference), **_holdout_summary(r)} for w, r in judged
            ]
            recipe["chosen"] = window.name
            recall = window.name.split(":", 1)[1] if window.name.startswith("recall:") else None
            stage = "judging"
            self._progress(run_id, stage, candidates=recipe)

            def final() -> TrainResult:
                refit_result = refit(
                    ts.frame.iloc[window.refit].reset_index(drop=True),
                    ts.y[window.refit],
                    new_schema,
                    judged=result,
                    classifier=classifier,
                    seed=self.settings.seed,
                    sample_weight=window.refit_weights,
                    max_rate_gap=self.settings.gate_max_positive_rate_gap * 2 / 3,
                )
                recipe["refit"] = {"rows": int(len(window.refit))}
                return refit_result

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
                finalize=None if recall else final,
                recipe=recipe,
                recall=recall,
            )
        except Exception as exc:
            return self._fail_run(run_id, exc, now, "retrain", stage=stage)

    def _candidates(
        self, ts: TrainingSet, schema: FeatureSchema, classifier: str
    ) -> list[tuple[Window, TrainResult]]:
        """Train every candidate window and judge each on the same holdout; best first by
        holdout F1 at its own threshold (what the statistical gate judges), then AUC; ties
        keep the plan's order, `weighted` first."""
        out: list[tuple[Window, TrainResult]] = []
        hold = ts.holdout_index
        for window in ts.plan.windows:
            if hold is None:
                idx, hold_idx = window.train, None
            else:
                idx = np.concatenate([window.train, hold])
                hold_idx = np.arange(len(window.train), len(idx))
            weights = None
            if window.weights is not None:
                weights = np.concatenate([window.weights, np.ones(len(idx) - len(window.train))])
            result = train(
                ts.frame.iloc[idx].reset_index(drop=True),
                ts.y[idx],
                schema,
                classifier=classifier,
                seed=self.settings.seed,
                sample_weight=weights,
                holdout_index=hold_idx,
                # Two thirds of the gate's allowance: the F1 optimum sits on the edge of the
                # constraint, and validation rows are not the live rows the gate reads.
                max_rate_gap=self.settings.gate_max_positive_rate_gap * 2 / 3,
            )
            # Positions in the candidate's rows -> rows of the history, where judge reads.
            result.holdout_index = idx[result.holdout_index]
            out.append((window, result))
        return out

    def _recalled(
        self, ts: TrainingSet, champion: LoadedModel, limit: int = 2
    ) -> list[tuple[Window, TrainResult]]:
        """The versions that served before the champion (newest first, at most `limit`,
        same features), judged as they are on the same holdout: a concept that comes back
        is recalled by promoting the model that knew it, instead of being relearned from a
        few hundred rows. Nothing is refit: the holdout is out of sample for them."""
        hold = ts.holdout_index
        pointer = self.registry.pointer() or {}
        if hold is None:
            return []
        names = [v for v in reversed(pointer.get("history", [])) if v != champion.version]
        out: list[tuple[Window, TrainResult]] = []
        for version in dict.fromkeys(names):
            if len(out) >= limit:
                break
            try:
                old = self.registry.load(version)
            except SelfhealError as exc:  # a broken or foreign artifact is no candidate
                log.warning("cannot recall %s: %s", version, exc.message)
                continue
            same = (
                old.schema.names == champion.schema.names
                and old.schema.numeric == champion.schema.numeric
            )
            if not same:
                continue
            frame = ts.frame.iloc[hold].reset_index(drop=True)
            p = old.predict_proba(old.schema.frame_to_matrix(frame))
            metrics = holdout_metrics(ts.y[hold], p, old.threshold)
            metrics["holdout_rows"] = int(len(hold))
            metrics["cv_f1"] = old.meta.get("metrics", {}).get("cv_f1")
            ref, _ = self.registry.reference(version)
            result = TrainResult(
                pipeline=old.pipeline,
                metrics=metrics,
                threshold=old.threshold,
                calibrator=old.meta.get("calibrator") or {},
                reference=ref,
                reference_scores=p,
                params=old.meta.get("params") or {},
                data=old.meta.get("data") or {},
                holdout_index=np.asarray(hold),
            )
            empty = np.empty(0, dtype=np.int64)
            out.append((Window(f"recall:{version}", empty, None, empty, None), result))
        return out

    def _fail_run(
        self, run_id: int, exc: Exception, now: datetime, what: str, *, stage: str | None = None
    ) -> Outcome:
        """Record a run that raised: stored with its message and the stage it reached
        ('data': before training, which starts no cooldown), and logged. An expected failure
        (a SelfhealError: too few labels, no production model, bad data) is logged as one
        line; anything else is a bug and is logged with its traceback."""
        if isinstance(exc, SelfhealError):
            log.error("%s %d failed: %s", what, run_id, exc.message)
        else:
            log.exception("%s %d failed", what, run_id)
        message = f"{type(exc).__name__}: {exc}"
        self.write(
            lambda c: store.finish_run(
                c,
                run_id,
                status="failed",
                error=message,
                reason=f"{what} failed"
                + (" before training" if stage == "data" else f" while {stage}" if stage else ""),
                now=self._finished(now),
                stage=stage,
            )
        )
        return Outcome(run_id=run_id, status="failed", reason=message)

    def _data_quality(self, ts: TrainingSet, schema: FeatureSchema) -> GateResult:
        problems = schema.validate_frame(ts.frame)
        # Columns that were constant in the champion's own reference sample stay allowed:
        # otherwise a model trained on one could never be replaced.
        ref = ts.frame.iloc[: ts.n_reference]
        known = [c for c in schema.names if ts.n_reference and ref[c].nunique(dropna=True) == 1]
        # Soft-range values are expected in drifted data; only hard problems count here.
        return data_quality_gate(
            ts.frame,
            ts.y,
            schema_errors=problems,
            config=self.settings.gate_config(),
            known_constant=known,
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
                raise NoModelError(f"no production model to challenge; run `{cli('init')}`")
            champion = self.registry.load(champion_version)
            if schema.names != champion.schema.names:
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
        finalize: Callable[[], TrainResult] | None = None,
        recipe: dict[str, Any] | None = None,
        recall: str | None = None,
    ) -> Outcome:
        """Run the four gates on the same holdout for both models and act on the verdict.

        `finalize`, when given, builds what is registered once the gates pass (the judged
        recipe refit on its rows plus the holdout); a rejected challenger is registered as
        judged. `recipe` (windows, holdout, winner) goes to meta.json and `retrain_runs`.
        `recall` names an earlier version judged as it is: it is promoted again when the
        gates pass, and nothing new is registered either way."""
        judgement = evaluate(
            result,
            schema,
            ts,
            champion,
            config=self.settings.gate_config(),
            read_conn=self.read_conn,
            trigger=trigger,
            now=now,
            dq=dq,
            holdout_from=holdout_from,
        )
        return self._act(
            run_id,
            judgement,
            result,
            schema,
            ts,
            champion,
            trigger=trigger,
            actor=actor,
            now=now,
            finalize=finalize,
            recipe=recipe,
            recall=recall,
        )

    def _act(
        self,
        run_id: int,
        judgement: Judgement,
        result: TrainResult,
        schema: FeatureSchema,
        ts: TrainingSet,
        champion: LoadedModel,
        *,
        trigger: str,
        actor: str,
        now: datetime,
        finalize: Callable[[], TrainResult] | None,
        recipe: dict[str, Any] | None,
        recall: str | None,
    ) -> Outcome:
        """Register the challenger (or recall `recall`), then promote it and start its
        probation, or record the rejection."""
        gates, reason = judgement.gates, judgement.reason
        status = "candidate" if judgement.passed else "rejected"
        gate_dicts = judgement.gate_dicts()
        if status == "candidate" and finalize is not None:
            result = finalize()
        if self.stopping.is_set():  # never change the registry while the process stops
            raise UnavailableError(
                "the service is shutting down; the challenger was not registered",
                code="shutting_down",
            )
        data = {**result.data, "n_reference": ts.n_reference, "n_live": ts.n_live}
        if recipe is not None:
            data["recipe"] = recipe
        if recall is not None:
            version = recall
            if status == "candidate":
                reason = f"{reason} (recalled: {recall} served this concept before)"
        else:
            version = self.registry.register(
                **result.artifacts(),
                schema=schema,
                data=data,
                parent=champion.version,
                trigger=trigger,
                reason=reason,
                status=status,
                gates=gate_dicts,
                actor=actor,
            )
        if status == "rejected":
            return self._reject(run_id, version, gates, trigger, actor, now, recipe=recipe)
        return self._promote(run_id, version, reason, gate_dicts, champion, actor, now, recipe)

    def _promote(
        self,
        run_id: int,
        version: str,
        reason: str,
        gate_dicts: list[dict[str, Any]],
        champion: LoadedModel,
        actor: str,
        now: datetime,
        recipe: dict[str, Any] | None,
    ) -> Outcome:
        """Promote `version`, record the run and start its probation with the champion in
        shadow, and swap the serving model."""
        self.registry.promote(
            version, reason=reason, actor=actor, details={"run_id": run_id, "gates": gate_dicts}
        )

        def record_promotion(c: db.Connection) -> None:
            store.insert_gate_results(c, run_id, gate_dicts, self._finished(now))
            store.finish_run(
                c,
                run_id,
                status="promoted",
                candidate_version=version,
                reason=reason,
                now=self._finished(now),
                stage="done",
                candidates=recipe,
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
        *,
        stage: str = "done",
        recipe: dict[str, Any] | None = None,
    ) -> Outcome:
        """Record a rejection; `stage` 'data' marks one before training (no cooldown)."""
        reason = rejection_reason(trigger, summarize(gates))
        gate_dicts = [g.to_dict() for g in gates]

        def record_rejection(c: db.Connection) -> None:
            store.insert_gate_results(c, run_id, gate_dicts, self._finished(now))
            store.finish_run(
                c,
                run_id,
                status="rejected",
                candidate_version=version,
                reason=reason,
                now=self._finished(now),
                stage=stage,
                candidates=recipe,
            )

        self.write(record_rejection)
        log.info("retrain %d rejected%s: %s", run_id, f" {version}" if version else "", reason)
        return Outcome(
            run_id=run_id, status="rejected", version=version, reason=reason, gates=gate_dicts
        )

    # -- probation ---------------------------------------------------------------------
    def check_probation(self, now: datetime | None = None) -> dict[str, Any] | None:
        """See `selfheal.probation.Probation.check`."""
        return self.probation.check(now)


def _holdout_summary(result: TrainResult) -> dict[str, Any]:
    """A candidate's holdout metrics as recorded (JSON-safe, rounded for reading)."""
    m = result.metrics
    return {
        "threshold": round(result.threshold, 4),
        **{
            k: (None if m.get(k) is None else round(float(m[k]), 4))
            for k in ("auc", "f1", "brier", "cv_f1")
        },
        "holdout_rows": m.get("holdout_rows"),
    }


def _candidate_key(item: tuple[Window, TrainResult]) -> tuple[float, float]:
    """Best first: holdout F1 at the candidate's own threshold (what the statistical gate
    judges), then AUC; the sort is stable, so ties keep the plan's order."""
    m = item[1].metrics
    return (-float(m.get("f1") or 0.0), -float(m.get("auc") or 0.0))
