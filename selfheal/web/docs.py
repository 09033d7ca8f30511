"""The OpenAPI document of the production model and its HTML rendering."""

from __future__ import annotations

from flask import Blueprint, Response

from selfheal.web.common import current_service, ok

bp = Blueprint("docs", __name__)


@bp.get("/openapi.json")
def openapi() -> Response:
    service = current_service()
    s = service.settings
    from selfheal.openapi import build_openapi

    model = service.models.current
    return ok(
        build_openapi(
            model.schema if model else None,
            model.version if model else None,
            max_instances=s.max_instances,
        )
    )


@bp.get("/docs")
def docs() -> Response:
    service = current_service()
    s = service.settings
    from selfheal.openapi import build_openapi, render_html

    model = service.models.current
    spec = build_openapi(
        model.schema if model else None,
        model.version if model else None,
        max_instances=s.max_instances,
    )
    return Response(render_html(spec), mimetype="text/html")
