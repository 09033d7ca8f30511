"""The model routes: the production model, the version list, and promotion and rollback
by hand (admin)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, request

from selfheal.errors import InvalidVersionError, ValidationError
from selfheal.home import (
    check_feature_change,
    end_probation_by_hand,
    rollback_check,
    version_names,
)
from selfheal.openapi import MAX_REASON_CHARS
from selfheal.web.common import (
    _VERSION,
    _is_text,
    _short,
    admin,
    body,
    current_service,
    model_or_503,
    ok,
)

log = logging.getLogger("selfheal.web")
bp = Blueprint("models", __name__)


@bp.get("/model/info")
def model_info() -> Response:
    service = current_service()
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
            "scoring": model.scoring,
        }
    )


@bp.get("/models")
def models() -> Response:
    service = current_service()
    return ok({"production": service.registry.production(), "versions": service.registry.list()})


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


@bp.post("/model/promote")
def promote() -> Response:
    service = current_service()
    admin()
    data = admin_body({"version", "reason", "force"})
    if not data.get("version"):
        raise ValidationError(
            '\'version\' is required, e.g. {"version": "v0002"}',
            details=[
                {"field": "version", "problem": "missing", "message": "'version' is required"}
            ],
        )
    changed = check_feature_change(
        service.registry,
        version_names(service.registry, data["version"]),
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


@bp.post("/model/rollback")
def rollback() -> Response:
    service = current_service()
    admin()
    data = admin_body({"to", "reason", "force"})
    forced: list[str] = []
    ptr = service.registry.rollback(
        to=data.get("to"),
        reason=data.get("reason") or "",
        actor="api",
        check=rollback_check(service.registry, force=data.get("force") is True, warnings=forced),
    )
    for changed in forced:  # the clients' contract changes, say so where operators look
        log.warning("forced rollback over a feature change: %s", changed)
    return production_changed(ptr, "rolled_back")


def production_changed(ptr: dict[str, Any], event: str) -> Response:
    """After a promotion or rollback by hand: end an active probation, swap the model
    at once, answer with the new pointer."""
    service = current_service()
    end_probation_by_hand(
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
