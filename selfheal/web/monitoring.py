"""The monitoring routes: labels, predictions logged by other systems, traffic stats, the
latest drift report and a monitor cycle on demand."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint, Response, request

from selfheal import overview, store
from selfheal.db import iso
from selfheal.errors import ConflictError, NotFoundError, ValidationError
from selfheal.schema import FeatureSchema, Validated, label_hint, label_value
from selfheal.web.common import (
    ApiError,
    _short_json,
    admin,
    body,
    current_service,
    instances,
    model_or_503,
    ok,
)

bp = Blueprint("monitoring", __name__)


def parse_label(schema: FeatureSchema | None, item: Any) -> tuple[str, int] | str:
    if not isinstance(item, dict):
        return 'each label must be an object {"prediction_id", "label"}'
    pid, label = item.get("prediction_id"), item.get("label")
    extra = sorted(set(item) - {"prediction_id", "label"})
    if extra:
        return f"unexpected field(s) {extra}"
    if not isinstance(pid, str) or not pid or len(pid) > 128:
        return "prediction_id must be a string of 1 to 128 characters"
    value = label_value(label, schema)
    if value is None:
        return f"{label_hint(schema)}, got {_short_json(label)}"
    return pid, value


@bp.post("/monitoring/labels")
def labels() -> Response:
    service = current_service()
    data = body()
    items, batch = instances(data, "labels")
    model = service.models.current
    schema = model.schema if model is not None else None
    parsed = [parse_label(schema, it) for it in items]
    good = [(i, p) for i, p in enumerate(parsed) if isinstance(p, tuple)]
    if not batch and not good:
        raise ValidationError(
            str(parsed[0]),
            details=[{"field": "label", "problem": "invalid", "message": parsed[0]}],
        )
    statuses = (
        service.writer.write(lambda conn: store.upsert_labels(conn, [p for _, p in good]))
        if good
        else []
    )
    results: list[dict[str, Any]] = []
    it = iter(statuses)
    for idx, p in enumerate(parsed):
        if isinstance(p, tuple):
            results.append({"prediction_id": p[0], "status": next(it)})
        else:
            results.append({"index": idx, "status": "invalid", "message": p})
    if not batch:
        r = results[0]
        if r["status"] == "not_found":
            raise NotFoundError(
                f"no prediction with id {r['prediction_id']!r}; labels "
                "refer to the prediction_id that /predict returned",
                code="unknown_prediction",
            )
        if r["status"] == "conflict":
            raise ConflictError(
                f"prediction {r['prediction_id']!r} already has a "
                "different label; labels are write-once",
                code="label_conflict",
            )
        return ok(r, 201 if r["status"] == "created" else 200)
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return ok({"results": results, "counts": counts})


_EXTERNAL_FIELDS = {"features", "probability", "prediction", "prediction_id", "model_version"}


def _item_problem(i: int, field: str | None, problem: str, message: str) -> dict[str, Any]:
    return {"index": i, "field": field, "problem": problem, "message": message}


def _is_probability(p: Any) -> bool:
    """A JSON number in [0, 1]: not a bool, and an integer only within float precision."""
    return not (
        isinstance(p, bool)
        or not isinstance(p, (int, float))
        or not (isinstance(p, float) or -(2**53) < p < 2**53)
        or not (math.isfinite(p) and 0 <= p <= 1)
    )


def _external_field_problems(i: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The problems of item `i`'s own fields (everything but its features): unknown keys,
    probability, prediction, prediction_id and model_version, in that order."""
    problems = [
        _item_problem(i, k, "unknown_field", f"unexpected field {k!r}")
        for k in sorted(set(item) - _EXTERNAL_FIELDS)
    ]
    if not _is_probability(item.get("probability")):
        problems.append(
            _item_problem(i, "probability", "wrong_type", "probability must be a number in [0, 1]")
        )
    pred = item.get("prediction")
    if pred is not None and (isinstance(pred, bool) or pred not in (0, 1)):
        problems.append(_item_problem(i, "prediction", "wrong_type", "prediction must be 0 or 1"))
    pid = item.get("prediction_id")
    if pid is not None and (not isinstance(pid, str) or not pid or len(pid) > 128):
        problems.append(
            _item_problem(
                i,
                "prediction_id",
                "wrong_type",
                "prediction_id must be a string of 1 to 128 chars",
            )
        )
    mv = item.get("model_version", "external")
    if not isinstance(mv, str) or not mv or len(mv) > 64:
        problems.append(
            _item_problem(
                i,
                "model_version",
                "wrong_type",
                "model_version must be a string of 1 to 64 chars",
            )
        )
    return problems


def parse_external(model: Any, i: int, item: Any) -> tuple[Validated, dict[str, Any]]:
    """One item of POST /monitoring/predictions: its validated features and the row to log,
    or a `ValidationError` listing every problem of the item."""
    if not isinstance(item, dict):
        raise ValidationError(
            f"[{i}] each prediction must be an object",
            details=[_item_problem(i, None, "not_an_object", "each prediction must be an object")],
        )
    problems = _external_field_problems(i, item)
    p = item.get("probability")
    pred = item.get("prediction")
    pid = item.get("prediction_id")
    mv = item.get("model_version", "external")
    v, fprobs = model.schema.validate_record(item.get("features"))
    problems.extend(
        {"index": i, **fp, "field": f"features.{fp['field']}" if fp["field"] else "features"}
        for fp in fprobs
    )
    if problems or v is None:
        raise ValidationError(
            f"{len(problems)} invalid field(s): "
            + "; ".join(str(q["message"]) for q in problems[:3]),
            details=problems,
        )
    return v, {
        "id": pid or store.new_id(),
        "probability": float(p),  # type: ignore[arg-type]
        "prediction": int(pred) if pred is not None else int(float(p) >= model.threshold),  # type: ignore[arg-type]
        "model_version": mv,
    }


@bp.post("/monitoring/predictions")
def external_predictions() -> Response:
    service = current_service()
    data = body()
    model = model_or_503()
    items, batch = instances(data, "predictions")
    parsed = []
    problems: list[dict[str, Any]] = []
    for i, it in enumerate(items):
        try:
            parsed.append(parse_external(model, i, it))
        except ValidationError as exc:
            problems.extend(exc.details or [])
    if problems:
        raise ValidationError(
            f"{len(problems)} invalid field(s): "
            + "; ".join(str(q["message"]) for q in problems[:3]),
            details=problems,
        )
    ids = [meta["id"] for _, meta in parsed]
    if len(set(ids)) != len(ids):
        raise ConflictError(
            "duplicate prediction_id within the request", code="duplicate_prediction"
        )

    def write(conn: Any) -> list[dict[str, Any]]:
        taken = store.prediction_ids_exist(conn, ids)
        if taken:
            raise ConflictError(
                f"prediction_id(s) already logged: {sorted(taken)[:5]}",
                code="duplicate_prediction",
            )
        now = iso()
        store.insert_predictions(
            conn,
            [
                (
                    m["id"],
                    now,
                    m["model_version"],
                    "external",
                    None,
                    store.dumps(v.record),
                    m["probability"],
                    m["prediction"],
                    model.threshold,
                    None,
                    json.dumps(list(v.out_of_range)) if v.out_of_range else None,
                )
                for v, m in parsed
            ],
        )
        return [
            {
                "prediction_id": m["id"],
                "model_version": m["model_version"],
                "probability": m["probability"],
                "prediction": m["prediction"],
                "out_of_range": list(v.out_of_range),
            }
            for v, m in parsed
        ]

    results = service.writer.write(write)
    return ok({"predictions": results} if batch else results[0], 201)


# -- stats -----------------------------------------------------------------------------


@bp.get("/monitoring/stats")
def stats() -> Response:
    service = current_service()
    given = request.args.getlist("window")
    if len(given) > 1:  # which copy wins differs between proxies and frameworks: take neither
        raise ApiError(
            400,
            "bad_query",
            f"query parameter 'window' is given {len(given)} times; give it once, e.g. "
            "?window=1000",
            details=[
                {
                    "field": "window",
                    "problem": "duplicate_key",
                    "message": f"'window' is given {len(given)} times",
                }
            ],
        )
    window = given[0] if given else "1000"
    if (
        not (window.isascii() and window.isdigit() and len(window) <= 7)
        or not 1 <= int(window) <= 1_000_000
    ):
        raise ApiError(
            400, "bad_query", f"window must be an integer from 1 to 1000000, got {window!r}"
        )
    model = service.models.current
    return ok(
        overview.traffic_stats(
            service.read_conn(), window=int(window), serving=model.version if model else None
        )
    )


@bp.get("/monitoring/drift")
def drift() -> Response:
    service = current_service()
    latest = store.latest_report(service.read_conn())
    if latest is None:
        raise NotFoundError(
            "no drift report yet: the monitor has not completed a cycle; "
            "POST /monitoring/run or wait SELFHEAL_MONITOR_INTERVAL",
            code="no_report",
        )
    return ok(latest)


@bp.post("/monitoring/run")
def monitoring_run() -> Response:
    service = current_service()
    admin()
    if not service.monitor.lead():
        holder = service.monitor.leader().get("holder") or {}
        raise ConflictError(
            "this process is not the leader: cycles run in the process that holds the "
            f"leader lease (pid {holder.get('pid')} on {holder.get('host')}); retry, or "
            "send the request to that process",
            code="not_leader",
            details={"leader": holder},
        )
    summary = service.monitor.run_once()
    return ok(summary, 200 if summary.get("status") != "error" else 503)
