"""The traffic `selfheal simulate` sends: predictions, drifted predictions and labels.

Records come from `selfheal.traffic` (the synthetic credit applicants, or a `Population`
for any other schema, see `production_traffic`); this module posts them in batches,
tallies the answers, and sends the ground truth now or keeps it in the pending-labels file
(`selfheal.simulate.pending`) for `selfheal.simulate.labels.send_labels`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfheal.errors import SelfhealError
from selfheal.simulate.client import Client, SimulationError, _arg_error, _one_line, api_error
from selfheal.simulate.labels import post_labels
from selfheal.simulate.pending import append_pending, pending_path
from selfheal.simulate.progress import Progress

if TYPE_CHECKING:
    from selfheal.traffic import Population

DRIFT_TYPES = ("covariate", "population", "concept")


def check_drift(drift: str | None) -> None:
    """Refuse a drift type other than None and `DRIFT_TYPES` (code `invalid_drift_type`)."""
    if drift is not None and drift not in DRIFT_TYPES:
        raise _arg_error(
            f"unknown drift type {drift!r}; use one of {', '.join(DRIFT_TYPES)}",
            code="invalid_drift_type",
        )


def production_traffic(client: Client, registry: Path | str | None = None) -> Population | None:
    """What the production model's traffic looks like: None for the synthetic credit model
    (whose records `make_records` draws) or when GET /model/info gives no schema (the
    predictions then fail with the server's own error); otherwise a `Population`.

    The population is the version's stored reference sample when `registry` (a registry
    folder, e.g. `<SELFHEAL_HOME>/registry`) holds the served version with the same sha256
    manifest, else the schema alone (its `source` says why). Nothing is written."""
    from selfheal.datasets import FEATURES, TARGET
    from selfheal.schema import FeatureSchema
    from selfheal.traffic import served_population

    status, info = client.get("/model/info")
    if status != 200 or not isinstance(info, dict) or not isinstance(info.get("schema"), dict):
        return None
    try:
        schema = FeatureSchema.from_dict(info["schema"], where="GET /model/info")
    except SelfhealError as exc:
        raise SimulationError(
            _one_line(f"GET /model/info answered a schema this client cannot read: {exc}"),
            code="bad_response",
        ) from None
    if schema.names == list(FEATURES) and schema.target == TARGET:
        return None
    version = str(info.get("version") or "the production model")
    return served_population(schema, version=version, sha256=info.get("sha256"), registry=registry)


def _check_send_args(n: int, batch: int, label_fraction: float) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _arg_error(f"the number of predictions must be a positive integer, got {n!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1000:
        raise _arg_error(f"batch must be an integer from 1 to 1000, got {batch!r}")
    if not 0.0 <= float(label_fraction) <= 1.0:
        raise _arg_error(f"label fraction must be from 0 to 1, got {label_fraction!r}")


def _concept_labels(drift: str | None, labels: bool | None) -> tuple[bool | None, list[str]]:
    """Whether labels are sent, and the notes saying why: concept drift sends them unless
    `labels` is False, since labels are the only way to see a concept change."""
    notes: list[str] = []
    if drift == "concept" and labels is None:
        labels = True
        notes.append(
            "concept drift: sending the ground-truth labels too (they come from the changed "
            "ground truth, and labels are the only way to see a concept change; "
            "--no-labels holds them back)"
        )
    elif drift == "concept" and labels is False:
        notes.append(
            "concept drift without labels: the inputs do not move, so the change shows only "
            "once the labels arrive (`selfheal simulate labels`)"
        )
    return labels, notes


def _draw_records(
    n: int,
    *,
    seed: int,
    drift: str | None,
    labels: bool | None,
    population: Population | None,
    notes: list[str],
) -> tuple[list[dict[str, Any]], list[int] | None]:
    """The records to send and their ground truth (None when the population has no labels,
    with a note). A population without labels refuses `labels` and the drift types that
    need them (code `no_reference`)."""
    if population is None:
        from selfheal.datasets import TARGET
        from selfheal.traffic import make_records

        drawn = make_records(n, seed=seed, drift=drift)
        records = [{k: v for k, v in r.items() if k != TARGET} for r in drawn]
        return records, [int(r[TARGET]) for r in drawn]
    if population.labels is None and (labels or drift in ("population", "concept")):
        what = f"{drift} drift" if drift in ("population", "concept") else "--labels"
        raise _arg_error(
            f"{what} needs the labels of the production model's reference sample, and "
            f"this client has only {population.source}; run it with the server's "
            "SELFHEAL_HOME (as the make targets do), or use no drift or covariate drift "
            "without --labels",
            code="no_reference",
        )
    records, truth = population.draw(n, seed=seed, drift=drift)
    if truth is None:
        notes.append("records drawn from the schema carry no labels: none are kept")
    return records, truth


def _post_predictions(client: Client, chunk: list[dict[str, Any]]) -> tuple[int, Any]:
    """POST one batch to /predict; a batch answered 503 overloaded is retried twice."""
    payload = {"instances": chunk}
    for attempt in range(3):  # bounded retry of an overloaded server
        status, body = client.post("/predict", payload)
        code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
        if status == 503 and code == "overloaded" and attempt < 2:
            time.sleep(0.25 * (attempt + 1))
            continue
        break
    return status, body


@dataclasses.dataclass
class _Tally:
    """The running counts of a `generate_predictions` run."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    consecutive: int = 0  # failed batches in a row
    oor: int = 0
    positives: int = 0
    prob_sum: float = 0.0
    versions: dict[str, int] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    answered: list[tuple[str, int]] = dataclasses.field(default_factory=list)  # (id, label)
    stopped: bool = False

    def add(
        self, status: int, body: Any, chunk_size: int, truth: list[int] | None, start: int
    ) -> None:
        """Count one batch's answer; `truth[start + i]` is the label of its i-th record."""
        self.sent += chunk_size
        preds = body.get("predictions") if isinstance(body, dict) else None
        if status == 200 and isinstance(preds, list) and len(preds) == chunk_size:
            self.consecutive = 0
            self.ok += chunk_size
            for i, p in enumerate(preds):
                if truth is not None:
                    self.answered.append((str(p["prediction_id"]), truth[start + i]))
                self.prob_sum += float(p["probability"])
                self.positives += int(p["prediction"])
                self.oor += bool(p.get("out_of_range"))
                v = str(p.get("model_version") or body.get("model_version"))
                self.versions[v] = self.versions.get(v, 0) + 1
        else:
            self.consecutive += 1
            self.failed += chunk_size
            if len(self.errors) < 5:
                self.errors.append(str(api_error("POST", "/predict", status, body)))


def _send_batches(
    client: Client,
    records: list[dict[str, Any]],
    truth: list[int] | None,
    batch: int,
    say: Progress,
    tally: _Tally,
    t0: float,
) -> None:
    """Post the records in batches into `tally`, with a progress line about every 10% or
    50 records; three failed batches in a row stop the run."""
    n = len(records)
    step = max(50, math.ceil(n / 10))
    next_mark = step
    for start in range(0, n, batch):
        chunk = records[start : start + batch]
        status, body = _post_predictions(client, chunk)
        tally.add(status, body, len(chunk), truth, start)
        done = start + len(chunk)
        if done >= next_mark or done == n:
            while next_mark <= done:
                next_mark += step
            say(f"  {done}/{n} predictions ({100 * done // n}%), {time.monotonic() - t0:.1f} s")
        if tally.consecutive >= 3 and done < n:
            tally.stopped = True
            tally.errors.append(
                f"stopped after 3 failed batches in a row; {n - done} records not sent"
            )
            say("  " + tally.errors[-1])
            break


def _keep_for_later(
    client: Client,
    home: Path | str | None,
    pairs: list[tuple[str, int]],
    *,
    drift: str | None,
    seed: int,
) -> int:
    """Append the labels `pairs` to the pending file under `home` (none without `home`);
    returns how many were kept."""
    if home is None or not pairs:
        return 0
    append_pending(
        pending_path(home),
        [
            {
                "prediction_id": pid,
                "label": y,
                "drift": drift,
                "seed": seed,
                "url": client.base_url,
            }
            for pid, y in pairs
        ],
    )
    return len(pairs)


def _send_labels_now(
    client: Client, tally: _Tally, *, seed: int, label_fraction: float, batch: int
) -> tuple[int, dict[str, str]]:
    """Send the labels of `label_fraction` of the answered predictions (chosen with
    `seed`); returns how many the server took and its status per prediction id. A failure
    is an error in `tally`."""
    labeled = 0
    to_send: list[tuple[str, int]] = []
    answered = tally.answered
    if answered:
        k = round(float(label_fraction) * len(answered))
        chosen = sorted(random.Random(seed).sample(range(len(answered)), k))
        to_send = [answered[i] for i in chosen]
    statuses: dict[str, str] = {}
    if to_send:
        try:
            post_labels(client, to_send, batch, statuses)
        except SimulationError as exc:
            tally.errors.append(f"labels not sent: {exc}")
        labeled = sum(1 for s in statuses.values() if s in ("created", "unchanged"))
        refused = sum(1 for s in statuses.values() if s not in ("created", "unchanged"))
        if refused:
            tally.errors.append(f"{refused} of {len(to_send)} labels were refused")
    return labeled, statuses


def generate_predictions(
    client: Client,
    n: int,
    *,
    seed: int = 0,
    drift: str | None = None,
    labels: bool | None = False,
    label_fraction: float = 1.0,
    batch: int = 50,
    progress: Progress | None = None,
    home: Path | str | None = None,
    population: Population | None = None,
) -> dict[str, Any]:
    """Send `n` records to POST /predict in batches of `batch`: the synthetic credit
    applicants, or draws from `population` (see `production_traffic`) for any other model.

    `labels=True` then sends the ground truth of `label_fraction` of the answered
    predictions (chosen with `seed`); `labels=None` means "only for concept drift", and
    concept drift gets its labels unless `labels=False` (a note says which). With `home`,
    every label not sent now is kept in `pending_path(home)` for `send_labels`.

    `progress` receives ready-made lines (`StatusLine` writes them to stderr): one about
    every 10% or 50 records, whichever is more, plus notes; None is silent. A batch
    answered 503 overloaded is retried twice; three failed batches in a row stop the run. A
    label batch that fails is an error in the result, and its labels wait in the pending
    file (with `home`), as do the answered ones when the server goes away halfway (the
    `SimulationError` propagates).
    Returns the counts: sent, ok, failed, labeled, pending_labels, versions ({version:
    rows}), mean_probability, positive_rate, out_of_range, elapsed, errors (the first few
    messages; empty when all went well), notes, source (the population's, or None).

    A population without labels (drawn from the schema alone) refuses `labels=True` and
    the drift types that need labels (population, concept) with code `no_reference`.
    """
    check_drift(drift)
    _check_send_args(n, batch, label_fraction)
    say: Progress = progress or (lambda line: None)
    labels, notes = _concept_labels(drift, labels)
    records, truth = _draw_records(
        n, seed=seed, drift=drift, labels=labels, population=population, notes=notes
    )
    send_now = bool(labels)
    for note in notes:
        say("  note: " + note)

    t0 = time.monotonic()
    tally = _Tally()
    try:
        _send_batches(client, records, truth, batch, say, tally, t0)
    except (SimulationError, KeyboardInterrupt):
        # the server went away: its answered labels are not lost
        _keep_for_later(client, home, tally.answered, drift=drift, seed=seed)
        raise

    # labels: send a fraction now, keep the rest for later
    labeled = 0
    statuses: dict[str, str] = {}
    if send_now:
        labeled, statuses = _send_labels_now(
            client, tally, seed=seed, label_fraction=label_fraction, batch=batch
        )
    # every label the server has not settled waits in the pending file
    unsettled = [(pid, y) for pid, y in tally.answered if pid not in statuses]
    pending = _keep_for_later(client, home, unsettled, drift=drift, seed=seed)
    ok = tally.ok
    return {
        "sent": tally.sent,
        "ok": ok,
        "failed": tally.failed,
        "labeled": labeled,
        "pending_labels": pending,
        "pending_path": str(pending_path(home)) if home is not None else None,
        "versions": tally.versions,
        "mean_probability": tally.prob_sum / ok if ok else None,
        "positive_rate": tally.positives / ok if ok else None,
        "out_of_range": tally.oor,
        "elapsed": time.monotonic() - t0,
        "drift": drift,
        "seed": seed,
        "labels": send_now,
        "stopped": tally.stopped,
        "errors": tally.errors,
        "notes": notes,
        "source": None if population is None else population.source,
    }


def inject_drift(
    client: Client,
    kind: str,
    n: int = 1000,
    seed: int = 1,
    labels: bool | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Send `n` records drifted by `kind` (covariate, population or concept).

    `labels=None`: concept drift sends its labels, the others do not. Other keyword
    arguments go to `generate_predictions`."""
    if kind not in DRIFT_TYPES:
        raise _arg_error(
            f"unknown drift type {kind!r}; use one of {', '.join(DRIFT_TYPES)}",
            code="invalid_drift_type",
        )
    return generate_predictions(client, n, seed=seed, drift=kind, labels=labels, **kwargs)


def run_monitor(client: Client) -> dict[str, Any]:
    """POST /monitoring/run (needs the admin token); the cycle's summary."""
    status, body = client.post("/monitoring/run")
    if status == 200 and isinstance(body, dict):
        return body
    if status == 503 and isinstance(body, dict) and body.get("status") == "error":
        raise SimulationError(
            _one_line(f"the monitor cycle failed: {body.get('error')}"), code="monitor_failed"
        )
    raise api_error("POST", "/monitoring/run", status, body)
