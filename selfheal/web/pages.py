"""Health, the operator pages (the dashboard, the latest drift report) and /metrics."""

from __future__ import annotations

import time

from flask import Blueprint, Response

from selfheal import overview
from selfheal import prometheus as metrics_module
from selfheal.errors import NotFoundError
from selfheal.web.common import current_service, ok

bp = Blueprint("pages", __name__)


@bp.get("/health")
def health() -> Response:
    service = current_service()
    checks = overview.health_checks(service)
    healthy = all(c["ok"] for c in checks.values())
    return ok(
        {
            "status": "ok" if healthy else "unavailable",
            "uptime_seconds": round(time.time() - service.started_at, 1),
            **checks,
        },
        200 if healthy else 503,
    )


@bp.get("/reports/drift/latest")
def latest_report_html() -> Response:
    service = current_service()
    s = service.settings
    path = s.reports_path / "drift" / "latest.html"
    if not path.is_file():
        raise NotFoundError(
            "no drift report yet: the monitor writes one after each cycle "
            "with traffic; POST /monitoring/run or `make report`",
            code="no_report",
        )
    return Response(path.read_bytes(), mimetype="text/html")


@bp.get("/")
def dashboard() -> Response:
    from selfheal.report import render_dashboard

    data = overview.dashboard_data(current_service())
    return Response(render_dashboard(data), mimetype="text/html")


@bp.get("/metrics")
def prometheus() -> Response:
    service = current_service()
    return Response(service.metrics.render(), content_type=metrics_module.CONTENT_TYPE)
