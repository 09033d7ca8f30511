"""The HTTP face: Flask routes that validate, call the core and format JSON.

Every error, ours or the framework's, is `{"error": {"code", "message", "details"}}` with
the right status; there is no HTML error page, no traceback and no 500.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import time
import uuid
from typing import Any

import numpy as np
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from selfheal import metrics as metrics_module
from selfheal import ops, store
from selfheal.db import iso
from selfheal.errors import (
    ConflictError,
    InvalidVersionError,
    NoModelError,
    NotFoundError,
    SelfhealError,
    ValidationError,
    cli,
)
from selfheal.openapi import MAX_REASON_CHARS, VERSION_PATTERN
from selfheal.performance import labeled_metrics, latency_percentiles
from selfheal.schema import FeatureSchema, Validated, label_hint, label_value
from selfheal.service import Service

log = logging.getLogger("selfheal.api")


class ApiError(SelfhealError):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.http_status = status


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return Response(json.dumps(body, default=str), status=status, mimetype="application/json")


def ok(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, allow_nan=False, default=str), status=status, mimetype="application/json"
    )


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def create_app(service: Service) -> Flask:
    app = Flask("selfheal")
    s = service.settings
    app.config["MAX_CONTENT_LENGTH"] = s.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    # -- errors --------------------------------------------------------------------------
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 400
        code = _HTTP_CODES.get(status, "http_error")
        if status == 404:
            msg = f"no route {request.method} {request.path}; see GET /openapi.json"
            near = _near_route(request.path, [r.rule for r in app.url_map.iter_rules()])
            if near is not None:
                msg = f"no route {request.method} {request.path}; did you mean {near}?"
        elif status == 405:
            allowed = sorted(
                m
                for m in (getattr(exc, "valid_methods", None) or [])
                if m not in ("HEAD", "OPTIONS")
            )
            msg = f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}"
        elif status == 413:
            msg = (
                f"request body is larger than {s.max_body_bytes} bytes "
                f"(SELFHEAL_MAX_BODY_BYTES); send fewer instances per request"
            )
        else:
            msg = exc.description or exc.name
        return error_response(status, code, msg)

    @app.errorhandler(SelfhealError)
    def _our_error(exc: SelfhealError) -> Response:
        status = exc.http_status if exc.http_status != 500 else 503
        return error_response(status, exc.code, exc.message, exc.details)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        ref = uuid.uuid4().hex[:12]
        log.exception("unexpected error (ref %s) on %s %s", ref, request.method, request.path)
        return error_response(
            503,
            "internal_error",
            f"the service could not complete the "
            f"request (ref {ref}); nothing was changed, retry or see the log",
            {"ref": ref},
        )

    @app.before_request
    def _start_clock() -> None:
        g.t0 = time.monotonic()

    @app.after_request
    def _observe(response: Response) -> Response:
        # The URL rule, never the raw path, keeps the label values bounded.
        route = request.url_rule.rule if request.url_rule else "unmatched"
        t0 = getattr(g, "t0", None)
        if t0 is not None:
            service.metrics.observe_request(route, response.status_code, time.monotonic() - t0)
        if route == "/predict":
            n = getattr(g, "n_records", 0)
            status = response.status_code
            outcome = (
                "ok" if status == 200 else "invalid" if status in (400, 413, 415, 422) else "error"
            )
            version = getattr(g, "model_version", None)
            service.metrics.observe_predictions(version, n or 1, outcome)
        return response

    # -- helpers -------------------------------------------------------------------------
    def body() -> Any:
        if request.mimetype != "application/json":
            raise ApiError(
                415,
                "unsupported_media_type",
                f"send JSON with 'Content-Type: application/json' (got "
                f"{request.mimetype or 'no content type'!r})",
            )
        raw = request.get_data(cache=False)
        try:
            data = json.loads(raw, object_pairs_hook=_unique_keys)
            if _SURROGATE_ESCAPE.search(raw):  # rare: only then walk the parsed body
                _check_text(data)
            return data
        except _DuplicateKey as dup:
            message = (
                f"key {dup.key!r} appears more than once in one JSON object; send each field "
                "once (JSON parsers disagree on which copy wins)"
            )
            raise ValidationError(
                message,
                details=[{"field": dup.key, "problem": "duplicate_key", "message": message}],
            ) from None
        except _BadText as bad:
            raise ApiError(
                400,
                "malformed_json",
                f"request body holds a string with an unpaired UTF-16 surrogate "
                f"({bad.text!r}); send valid Unicode text",
            ) from None
        except RecursionError:
            raise ApiError(
                400,
                "malformed_json",
                "request body is nested too deeply; send a flat JSON object of features",
            ) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = (
                f" at line {exc.lineno} column {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else ""
            )
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise ApiError(
                400, "malformed_json", f"request body is not valid JSON: {msg}{where}"
            ) from None

    def admin() -> None:
        token = s.admin_token
        if not token:
            raise ApiError(
                403,
                "admin_disabled",
                "admin routes are disabled: set SELFHEAL_ADMIN_TOKEN and send "
                "'Authorization: Bearer <token>'",
            )
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong bearer token; send 'Authorization: Bearer $SELFHEAL_ADMIN_TOKEN'",
            )

    def model_or_503() -> Any:
        model = service.models.current
        if model is None:
            raise NoModelError(
                f"no production model is loaded ({service.models.error or 'none promoted'}); "
                f"run `{cli('init')}` or `{cli('promote VERSION')}`"
            )
        return model

    def validate_many(model: Any, records: list[Any]) -> list[Validated]:
        valid: list[Validated] = []
        problems: list[dict[str, Any]] = []
        for i, rec in enumerate(records):
            v, probs = model.schema.validate_record(rec)
            if v is None:
                problems.extend({"index": i, **p} for p in probs)
            else:
                valid.append(v)
        if problems:
            raise ValidationError(
                f"{len(problems)} invalid field(s) in {len({p['index'] for p in problems})} "
                f"record(s): "
                + "; ".join(f"[{p['index']}] {p['message']}" for p in problems[:3])
                + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""),
                details=problems,
            )
        return valid

    def instances(data: Any, key: str) -> tuple[list[Any], bool]:
        if isinstance(data, dict) and key in data:
            items = data[key]
            if not isinstance(items, list) or not items:
                raise ValidationError(
                    f"{key!r} must be a non-empty array",
                    details=[
                        {
                            "field": key,
                            "problem": "wrong_type",
                            "message": f"{key!r} must be a non-empty array",
                        }
                    ],
                )
            extra = sorted(set(data) - {key})
            if extra:
                raise ValidationError(
                    f"unexpected top-level field(s) {extra} next to {key!r}",
                    details=[
                        {
                            "field": k,
                            "problem": "unknown_field",
                            "message": f"unexpected field {k!r}",
                        }
                        for k in extra
                    ],
                )
            if len(items) > s.max_instances:
                raise ApiError(
                    413,
                    "too_many_instances",
                    f"{len(items)} {key} in one request; the limit is "
                    f"{s.max_instances} (SELFHEAL_MAX_INSTANCES)",
                )
            return items, True
        if not isinstance(data, dict):
            raise ValidationError(
                "the body must be a JSON object",
                details=[
                    {
                        "field": None,
                        "problem": "not_an_object",
                        "message": "the body must be a JSON object",
                    }
                ],
            )
        return [data], False

    # -- prediction --------------------------------------------------------------------
    @app.post("/predict")
    def predict() -> Response:
        data = body()
        model = model_or_503()
        g.model_version = model.version
        records, batch = instances(data, "instances")
        g.n_records = len(records)
        valid = validate_many(model, records)
        results = service.writer.predict(model, valid, started=g.t0)
        if batch:
            return ok({"model_version": model.version, "predictions": results})
        return ok(results[0])

    # -- labels --------------------------------------------------------------------------
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

    @app.post("/monitoring/labels")
    def labels() -> Response:
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

    # -- predictions made elsewhere ---------------------------------------------------
    def parse_external(model: Any, i: int, item: Any) -> tuple[Validated, dict[str, Any]]:
        problems: list[dict[str, Any]] = []
        if not isinstance(item, dict):
            raise ValidationError(
                f"[{i}] each prediction must be an object",
                details=[
                    {
                        "index": i,
                        "field": None,
                        "problem": "not_an_object",
                        "message": "each prediction must be an object",
                    }
                ],
            )
        extra = sorted(
            set(item) - {"features", "probability", "prediction", "prediction_id", "model_version"}
        )
        for k in extra:
            problems.append(
                {
                    "index": i,
                    "field": k,
                    "problem": "unknown_field",
                    "message": f"unexpected field {k!r}",
                }
            )
        p = item.get("probability")
        if (
            isinstance(p, bool)
            or not isinstance(p, (int, float))
            or not (isinstance(p, float) or -(2**53) < p < 2**53)
            or not (math.isfinite(p) and 0 <= p <= 1)
        ):
            problems.append(
                {
                    "index": i,
                    "field": "probability",
                    "problem": "wrong_type",
                    "message": "probability must be a number in [0, 1]",
                }
            )
        pred = item.get("prediction")
        if pred is not None and (isinstance(pred, bool) or pred not in (0, 1)):
            problems.append(
                {
                    "index": i,
                    "field": "prediction",
                    "problem": "wrong_type",
                    "message": "prediction must be 0 or 1",
                }
            )
        pid = item.get("prediction_id")
        if pid is not None and (not isinstance(pid, str) or not pid or len(pid) > 128):
            problems.append(
                {
                    "index": i,
                    "field": "prediction_id",
                    "problem": "wrong_type",
                    "message": "prediction_id must be a string of 1 to 128 chars",
                }
            )
        mv = item.get("model_version", "external")
        if not isinstance(mv, str) or not mv or len(mv) > 64:
            problems.append(
                {
                    "index": i,
                    "field": "model_version",
                    "problem": "wrong_type",
                    "message": "model_version must be a string of 1 to 64 chars",
                }
            )
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
            "id": pid or uuid.uuid4().hex,
            "probability": float(p),  # type: ignore[arg-type]
            "prediction": int(pred) if pred is not None else int(float(p) >= model.threshold),  # type: ignore[arg-type]
            "model_version": mv,
        }

    @app.post("/monitoring/predictions")
    def external_predictions() -> Response:
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
    @app.get("/monitoring/stats")
    def stats() -> Response:
        window = request.args.get("window", "1000")
        if (
            not (window.isascii() and window.isdigit() and len(window) <= 7)
            or not 1 <= int(window) <= 1_000_000
        ):
            raise ApiError(
                400, "bad_query", f"window must be an integer from 1 to 1000000, got {window!r}"
            )
        conn = service.read_conn()
        rows = store.recent_predictions(conn, limit=int(window), roles=("production", "external"))
        counts = store.traffic_counts(conn)
        out: dict[str, Any] = {"counts": counts, "window": {"size": int(window), "rows": len(rows)}}
        if rows:
            proba = np.array([r["probability"] for r in rows])
            preds = np.array([r["prediction"] for r in rows])
            lat = np.array([r["latency_ms"] for r in rows if r["latency_ms"] is not None])
            # Live metrics are the serving version's: each version decides at its own
            # threshold, so pooling versions would score one with another's cut.
            serving = service.models.current.version if service.models.current else None
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
        out.update(service_extras())
        return ok(out)

    def service_extras() -> dict[str, Any]:
        conn = service.read_conn()
        runs = store.recent_runs(conn, 1)
        extra: dict[str, Any] = {"last_retrain": runs[0] if runs else None}
        latest = store.recent_reports(conn, 1)
        extra["drift"] = latest[0] if latest else None
        return extra

    @app.get("/monitoring/drift")
    def drift() -> Response:
        latest = store.latest_report(service.read_conn())
        if latest is None:
            raise NotFoundError(
                "no drift report yet: the monitor has not completed a cycle; "
                "POST /monitoring/run or wait SELFHEAL_MONITOR_INTERVAL",
                code="no_report",
            )
        return ok(latest)

    @app.post("/monitoring/run")
    def monitoring_run() -> Response:
        admin()
        summary = service.monitor.run_once()
        return ok(summary, 200 if summary.get("status") != "error" else 503)

    # -- models ----------------------------------------------------------------------------
    @app.get("/model/info")
    def model_info() -> Response:
        model = model_or_503()
        meta = model.meta
        pointer = service.registry.pointer() or {}
        return ok(
            {
                "version": model.version,
                "threshold": model.threshold,
                "promoted_at": pointer.get("promoted_at"),
                "promoted_by": pointer.get("actor"),
                "promotion_reason": pointer.get("reason"),
                "previous": pointer.get("previous"),
                "metrics": meta.get("metrics"),
                "schema": meta.get("schema"),
                "lineage": {
                    "parent": meta.get("parent"),
                    "trigger": meta.get("trigger"),
                    "reason": meta.get("reason"),
                    "created_at": meta.get("created_at"),
                },
                "params": meta.get("params"),
                "data": meta.get("data"),
                "libraries": meta.get("libraries"),
                "sha256": meta.get("sha256"),
                "shadow": service.models.shadow.version if service.models.shadow else None,
            }
        )

    @app.get("/models")
    def models() -> Response:
        return ok(
            {"production": service.registry.production(), "versions": service.registry.list()}
        )

    def admin_body(allowed: set[str]) -> dict[str, Any]:
        data = body() if request.content_length else {}
        if not isinstance(data, dict):
            raise ValidationError("the body must be a JSON object")
        extra = sorted(set(data) - allowed)
        if extra:
            raise ValidationError(
                f"unexpected field(s) {extra}; allowed: {sorted(allowed)}",
                details=[
                    {"field": k, "problem": "unknown_field", "message": f"unexpected field {k!r}"}
                    for k in extra
                ],
            )
        if "force" in data and not isinstance(data["force"], bool):
            raise ValidationError(
                "'force' must be true or false (a JSON boolean)",
                details=[
                    {
                        "field": "force",
                        "problem": "wrong_type",
                        "message": "'force' must be a JSON boolean",
                    }
                ],
            )
        for k in ("version", "to", "reason"):
            if k in data and data[k] is not None and not isinstance(data[k], str):
                raise ValidationError(
                    f"{k!r} must be a string",
                    details=[
                        {"field": k, "problem": "wrong_type", "message": f"{k!r} must be a string"}
                    ],
                )
        for k in ("version", "to"):
            if isinstance(data.get(k), str) and data[k] and not _VERSION.fullmatch(data[k]):
                # Checked here, before the registry turns the name into a path.
                msg = (
                    f"{k!r} is {_short(data[k])}; a version name is 'v' and 4 to 31 digits, "
                    "e.g. v0002 (GET /models lists them)"
                )
                raise InvalidVersionError(
                    msg, details=[{"field": k, "problem": "invalid_version", "message": msg}]
                )
        why = data.get("reason")
        if isinstance(why, str) and (len(why) > MAX_REASON_CHARS or not _is_text(why)):
            msg = (
                f"'reason' must be text of at most {MAX_REASON_CHARS} characters "
                f"(got {len(why)}{'' if _is_text(why) else ', with an unpaired surrogate'})"
            )
            raise ValidationError(
                msg, details=[{"field": "reason", "problem": "wrong_type", "message": msg}]
            )
        return data

    @app.post("/model/promote")
    def promote() -> Response:
        admin()
        data = admin_body({"version", "reason", "force"})
        if not data.get("version"):
            raise ValidationError(
                '\'version\' is required, e.g. {"version": "v0002"}',
                details=[
                    {"field": "version", "problem": "missing", "message": "'version' is required"}
                ],
            )
        changed = ops.check_feature_change(
            service.registry,
            ops.version_names(service.registry, data["version"]),
            force=data.get("force") is True,
            what=data["version"],
        )
        if changed:  # forced: the clients' contract changes, say so where operators look
            log.warning("forced promotion over a feature change: %s", changed)
        ptr = service.registry.promote(
            data["version"],
            reason=data.get("reason") or "",
            actor="api",
            force=data.get("force") is True,
        )
        return production_changed(ptr, "promoted")

    @app.post("/model/rollback")
    def rollback() -> Response:
        admin()
        data = admin_body({"to", "reason"})
        ptr = service.registry.rollback(
            to=data.get("to"), reason=data.get("reason") or "", actor="api"
        )
        return production_changed(ptr, "rolled_back")

    def production_changed(ptr: dict[str, Any], event: str) -> Response:
        """After a promotion or rollback by hand: end an active probation, swap the model
        at once, answer with the new pointer."""
        ops.end_probation_by_hand(
            service.registry, service.writer.write, service.read_conn(), event=event, actor="api"
        )
        service.models.refresh(force=True)
        return ok(
            {
                "production": ptr["version"],
                "previous": ptr["previous"],
                "promoted_at": ptr["promoted_at"],
            }
        )

    # -- health ----------------------------------------------------------------------------
    def health_checks() -> dict[str, Any]:
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
            checks["database"] = {"ok": True, "path": str(service.settings.db_path)}
        except Exception as exc:  # report, never raise, from /health
            checks["database"] = {"ok": False, "error": str(exc)}
        w = service.writer
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

    @app.get("/health")
    def health() -> Response:
        checks = health_checks()
        healthy = all(c["ok"] for c in checks.values())
        return ok(
            {
                "status": "ok" if healthy else "unavailable",
                "uptime_seconds": round(time.time() - service.started_at, 1),
                **checks,
            },
            200 if healthy else 503,
        )

    # -- operator pages ------------------------------------------------------------------
    @app.get("/reports/drift/latest")
    def latest_report_html() -> Response:
        path = s.reports_path / "drift" / "latest.html"
        if not path.is_file():
            raise NotFoundError(
                "no drift report yet: the monitor writes one after each cycle "
                "with traffic; POST /monitoring/run or `make report`",
                code="no_report",
            )
        return Response(path.read_bytes(), mimetype="text/html")

    @app.get("/")
    def dashboard() -> Response:
        from selfheal.report import render_dashboard

        conn = service.read_conn()
        pointer = service.registry.pointer() or {}
        model = service.models.current
        cycles = list(reversed(store.recent_reports(conn, 200)))
        rows = store.recent_predictions(conn, limit=1000)
        latency = (
            latency_percentiles([r["latency_ms"] for r in rows if r["latency_ms"] is not None])
            or {}
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
        health = health_checks()
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
                    **{
                        f"{k}_ms": v for k, v in (latency_percentiles(b["latencies"]) or {}).items()
                    },
                }
                for b in store.traffic_buckets(conn)
            ],
            "stats": {
                "total": counts["production"],
                "labels": counts["labels"],
                "window_rows": len(rows),
                "positive_rate": (sum(r["prediction"] for r in rows) / len(rows) if rows else None),
                "mean_probability": (
                    sum(r["probability"] for r in rows) / len(rows) if rows else None
                ),
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
        return Response(render_dashboard(data), mimetype="text/html")

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(service.metrics.render(), content_type=metrics_module.CONTENT_TYPE)

    # -- docs ------------------------------------------------------------------------------
    @app.get("/openapi.json")
    def openapi() -> Response:
        from selfheal.openapi import build_openapi

        model = service.models.current
        return ok(
            build_openapi(
                model.schema if model else None,
                model.version if model else None,
                max_instances=s.max_instances,
            )
        )

    @app.get("/docs")
    def docs() -> Response:
        from selfheal.openapi import build_openapi, render_html

        model = service.models.current
        spec = build_openapi(
            model.schema if model else None,
            model.version if model else None,
            max_instances=s.max_instances,
        )
        return Response(render_html(spec), mimetype="text/html")

    return app


_VERSION = re.compile(VERSION_PATTERN)


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_text(value: str) -> bool:
    """False for a string with an unpaired surrogate ("\\ud800" in JSON): Python keeps it,
    but SQLite and every file need valid UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class _BadText(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text[:40]


def _check_text(value: Any) -> None:
    """Raise `_BadText` for a string (key or value) that is not valid Unicode: JSON's
    `\\ud800` escapes decode to a lone surrogate, which no database or file can store."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise _BadText(v) from None
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads` object hook: a dict, or `_DuplicateKey` naming the first repeated key
    (the standard library keeps the last copy silently)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _short_json(value: Any, limit: int = 80) -> str:
    """`value` as JSON, cut to `limit` characters for an error message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _near_route(path: str, rules: list[str]) -> str | None:
    """The route a near-miss path most likely meant (`/stats` -> `/monitoring/stats`,
    `/predcit` -> `/predict`): one with the same last segment, else the closest spelling
    (difflib, ratio >= 0.75); None when nothing is that close. Routes with parameters and
    the static files are never suggested."""
    import difflib

    fixed = sorted(r for r in rules if "<" not in r and not r.startswith("/static"))
    wanted = "/" + path.strip("/").lower()
    last = wanted.rsplit("/", 1)[-1]
    if last:
        same_tail = [r for r in fixed if r.rsplit("/", 1)[-1] == last and r != wanted]
        if len(same_tail) == 1:
            return same_tail[0]
    close = difflib.get_close_matches(wanted, fixed, n=1, cutoff=0.75)
    return close[0] if close and close[0] != wanted else None
