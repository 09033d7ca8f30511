"""The HTTP face: a Flask app of blueprints that parse, call the core and format JSON.

Every error, ours or the framework's, is `{"error": {"code", "message", "details"}}` with
the right status; there is no HTML error page, no traceback and no 500. Blueprints: predict,
monitoring, models (and admin), pages (health, dashboard, drift report, metrics), docs.
"""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from selfheal.errors import SelfhealError
from selfheal.service import Service
from selfheal.web import docs, models, monitoring, pages, predict
from selfheal.web.common import HTTP_CODES, current_service, error_response

log = logging.getLogger("selfheal.web")


def create_app(service: Service) -> Flask:
    """The WSGI app serving `service` (started by the caller): its settings, the error
    handlers and request hooks below, and one blueprint per area."""
    app = Flask("selfheal")
    app.config["MAX_CONTENT_LENGTH"] = service.settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["selfheal"] = service
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SelfhealError, _our_error)
    app.register_error_handler(Exception, _unexpected)
    app.before_request(_start_clock)
    app.after_request(_observe)
    for blueprint in (predict.bp, monitoring.bp, models.bp, pages.bp, docs.bp):
        app.register_blueprint(blueprint)
    return app


# -- errors --------------------------------------------------------------------------
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 400
    code = HTTP_CODES.get(status, "http_error")
    if status == 404:
        msg = f"no route {request.method} {request.path}; see GET /openapi.json"
        near = _near_route(request.path, [r.rule for r in current_app.url_map.iter_rules()])
        if near is not None:
            msg = f"no route {request.method} {request.path}; did you mean {near}?"
    elif status == 405:
        allowed = sorted(
            m for m in (getattr(exc, "valid_methods", None) or []) if m not in ("HEAD", "OPTIONS")
        )
        msg = f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}"
    elif status == 413:
        msg = (
            f"request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes "
            f"(SELFHEAL_MAX_BODY_BYTES); send fewer instances per request"
        )
    else:
        msg = exc.description or exc.name
    return error_response(status, code, msg)


def _our_error(exc: SelfhealError) -> Response:
    status = exc.http_status if exc.http_status != 500 else 503
    return error_response(status, exc.code, exc.message, exc.details)


def _unexpected(exc: Exception) -> Response:
    from selfheal import db

    if isinstance(exc, db.ERRORS):  # a read that the database did not answer (a restart)
        log.warning("database error on %s %s: %s", request.method, request.path, exc)
        return error_response(
            503,
            "database_unavailable",
            "the database did not answer this read (it may be restarting); nothing was "
            "changed: retry",
        )
    ref = uuid.uuid4().hex[:12]
    log.exception("unexpected error (ref %s) on %s %s", ref, request.method, request.path)
    return error_response(
        503,
        "internal_error",
        f"the service could not complete the "
        f"request (ref {ref}); nothing was changed, retry or see the log",
        {"ref": ref},
    )


def _start_clock() -> None:
    g.t0 = time.monotonic()


def _observe(response: Response) -> Response:
    # The URL rule, never the raw path, keeps the label values bounded. Each context proxy
    # (`request`, `g`, `current_app`) is resolved once: every access through one costs
    # about 1.5 us, and this runs on every request.
    rule = request.url_rule
    route = rule.rule if rule else "unmatched"
    ctx = g._get_current_object()
    metrics = current_service().metrics
    t0 = getattr(ctx, "t0", None)
    if t0 is not None:
        metrics.observe_request(route, response.status_code, time.monotonic() - t0)
    if route == "/predict":
        n = getattr(ctx, "n_records", 0)
        status = response.status_code
        outcome = (
            "ok" if status == 200 else "invalid" if status in (400, 413, 415, 422) else "error"
        )
        metrics.observe_predictions(getattr(ctx, "model_version", None), n or 1, outcome)
    return response


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
