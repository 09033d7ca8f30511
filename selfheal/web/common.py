"""What every blueprint shares: the JSON answers and errors, the request body parser with
its hostile-input guards, the admin check, and record validation.

Routes reach the service through `current_service()` (the app's `extensions["selfheal"]`),
so a blueprint holds no state of its own.
"""

from __future__ import annotations

import hmac
import json
import re
import sys
from typing import Any, cast

from flask import Response, current_app, request

from selfheal.errors import NoModelError, SelfhealError, ValidationError, cli
from selfheal.openapi import VERSION_PATTERN
from selfheal.schema import Validated
from selfheal.service import Service
from selfheal.validation import DuplicateKeyError, unique_keys

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(SelfhealError):
    """An error with its own HTTP status (400, 401, 403, 413, 415 ...)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.http_status = status


MAX_DETAILS = 100  # problems an error's `details` lists; the rest are counted, not listed


def cap_details(message: str, details: Any) -> tuple[str, Any]:
    """An error's message and details with a list of problems cut to its first
    `MAX_DETAILS`, then one item `{"problem": "truncated", "omitted": n, "message"}`, and
    the count in the message. A body of 40,000 unknown keys got a 6 MB answer listing each
    one (9x the request); the first problems are enough to fix the caller."""
    if not isinstance(details, list) or len(details) <= MAX_DETAILS:
        return message, details
    omitted = len(details) - MAX_DETAILS
    return (
        f"{message}; details lists the first {MAX_DETAILS} of {len(details)} problems",
        [
            *details[:MAX_DETAILS],
            {
                "problem": "truncated",
                "omitted": omitted,
                "message": f"{omitted} more problem(s) not listed",
            },
        ],
    )


# One encoder each, built once: `json.dumps(x, **options)` builds a new encoder per call.
# `.encode()` gives the same text as `json.dumps` with the same options.
_ERROR_ENCODER = json.JSONEncoder(default=str)
_OK_ENCODER = json.JSONEncoder(allow_nan=False, default=str)


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """Every error answer, ours or the framework's, with its details capped (`cap_details`)."""
    message, details = cap_details(message, details)
    body = {"error": {"code": code, "message": message, "details": details}}
    return Response(_ERROR_ENCODER.encode(body), status=status, mimetype="application/json")


def ok(data: Any, status: int = 200) -> Response:
    return Response(_OK_ENCODER.encode(data), status=status, mimetype="application/json")


def current_service() -> Service:
    """The service this app serves (set by `create_app`)."""
    return cast(Service, current_app.extensions["selfheal"])


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
        # What `json.loads(raw, object_pairs_hook=unique_keys)` does, without building a
        # new decoder (and its scanner) for every request: bytes are decoded exactly as
        # json.loads decodes them (UTF-8/16/32 detected, surrogates passed through).
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
        data = _DECODER.decode(text)
        if _SUSPECT_ESCAPE.search(text):  # rare: only then walk the parsed body
            _check_text(data)
        return data
    except DuplicateKeyError as dup:
        message = (
            f"key {dup.key!r} appears more than once in one JSON object; send each field "
            "once (JSON parsers disagree on which copy wins)"
        )
        raise ValidationError(
            message,
            details=[{"field": dup.key, "problem": "duplicate_key", "message": message}],
        ) from None
    except _BadText as bad:
        what = (
            "the NUL character (\\u0000), which no text field may hold"
            if bad.nul
            else "an unpaired UTF-16 surrogate"
        )
        raise ApiError(
            400,
            "malformed_json",
            f"request body holds a string with {what} ({bad.text!r}); send valid Unicode text",
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
    except ValueError:  # int(): a literal past sys.get_int_max_str_digits() (4300 digits)
        raise ApiError(
            400,
            "malformed_json",
            "request body holds an integer with more than "
            f"{sys.get_int_max_str_digits()} digits; send numbers a float can hold",
        ) from None


def admin() -> None:
    service = current_service()
    s = service.settings
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
    service = current_service()
    model = service.models.current
    if model is None:
        raise NoModelError(
            f"no production model is loaded ({service.models.error or 'none promoted'}); "
            f"run `{cli('init')}` or `{cli('promote VERSION')}`"
        )
    return model


def validate_many(model: Any, records: list[Any]) -> list[Validated]:
    """The validated records, or a `ValidationError` counting every problem and naming the
    first three; its details list them all, and the answer lists the first `MAX_DETAILS`
    (`error_response`)."""
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
    service = current_service()
    s = service.settings
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


# A lone surrogate ("\ud800") or NUL ("\u0000") can only come from an escape in the text.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")


class _BadText(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.nul = "\x00" in text
        self.text = text[:40]


def _check_text(value: Any) -> None:
    """Raise `_BadText` for a string (key or value) that is not valid Unicode, or that holds
    NUL: JSON's `\\ud800` escapes decode to a lone surrogate, which no database or file can
    store, and PostgreSQL's text refuses `\\u0000` (SQLite would keep it, and then a C
    string cut there): both backends refuse it alike."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                raise _BadText(v)
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise _BadText(v) from None
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


# The request body's decoder, built once (see `body`).
_DECODER = json.JSONDecoder(object_pairs_hook=unique_keys)


def _short_json(value: Any, limit: int = 80) -> str:
    """`value` as JSON, cut to `limit` characters for an error message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
