"""The OpenAPI 3 document of every route, built from the production model's schema, and a
plain HTML rendering of it for `/docs` (no JavaScript, no CDN: works offline).

The document is exact: a body it calls valid is one the handlers accept (up to the hard
bounds of numbers written as text, which a pattern cannot express), and every object the API
refuses extras on says `additionalProperties: false`. `tests/test_openapi_fuzz.py` holds it
to that with Schemathesis."""

from __future__ import annotations

import html
import json
import re
import shlex
from typing import Any

from selfheal import __version__
from selfheal import values as _values
from selfheal.schema import NUMERIC, Feature, FeatureSchema

ERROR = {"$ref": "#/components/schemas/Error"}
FEATURES = {"$ref": "#/components/schemas/Features"}
# Version names from outside: the registry's form, bounded so a name is never too long a path.
VERSION_PATTERN = "^v[0-9]{4,31}$"
MAX_VERSION_CHARS = 32
MAX_REASON_CHARS = 1000
MAX_LABEL_CHARS = 256  # schema.label_value reads no longer text
BASE = "http://127.0.0.1:8000"
_MARKERS = sorted(
    {m for m in _values.MISSING_MARKERS for m in (m, m.upper(), m.capitalize())} - {""}
)


def _err(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed JSON or query",
        401: "Missing or wrong bearer token",
        403: "Admin routes disabled (no SELFHEAL_ADMIN_TOKEN)",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        413: "Body or batch too large",
        415: "Content-Type is not application/json",
        422: "Invalid fields (all listed)",
        503: "No model, database unavailable, overloaded or shutting down",
    }
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": ERROR}}}
        for c in codes
    }


def _json(schema: dict[str, Any], description: str = "OK", example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {"application/json": media}}


def _text(media_type: str, description: str, example: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {media_type: {"schema": {"type": "string"}, "example": example}},
    }


def _body(
    schema: dict[str, Any], examples: dict[str, Any], required: bool = True
) -> dict[str, Any]:
    return {
        "required": required,
        "content": {
            "application/json": {
                "schema": schema,
                "examples": {
                    name: {"summary": summary, "value": value}
                    for name, (summary, value) in examples.items()
                },
            }
        },
    }


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A closed object: the API refuses (or never sends) any other key."""
    return {
        "type": "object",
        "required": list(props) if required is None else required,
        "properties": props,
        "additionalProperties": False,
    }


def _number_text(decimal: str) -> str:
    """What `values.parse_number` reads as a number with this decimal mark, less the
    currency and percent forms (see the feature's description): a sign, digits grouped in
    threes or not, decimals, a short exponent on ungrouped numbers."""
    d, g = ("\\.", ",") if decimal == "." else (",", "\\.")
    return (
        f"^[+-]?(?:[0-9]{{1,3}}(?:{g}[0-9]{{3}})+(?:{d}[0-9]+)?"
        f"|[0-9]+(?:{d}[0-9]+)?(?:[eE][+-]?[0-9]{{1,2}})?)$"
    )


def _feature_schema(f: Feature) -> dict[str, Any]:
    missing = {"type": "string", "enum": ["", *_MARKERS]}
    branches: list[dict[str, Any]] = []
    if f.kind == NUMERIC:
        num: dict[str, Any] = {"type": "number"}
        if f.min is not None:
            num["minimum"] = f.min
        if f.max is not None:
            num["maximum"] = f.max
        branches.append(num)
        branches.append(
            {
                "type": "string",
                "maxLength": _values.MAX_NUMBER_CHARS,
                "pattern": _number_text(f.decimal),
            }
        )
        text = (
            f"a number, or one written as text ({'52,000.00' if f.decimal == '.' else '52.000,00'}"
        )
        text += f", also with {f.unit!r})" if f.unit else ", also with a currency sign or %)"
        if f.min is not None or f.max is not None:
            text += f"; hard bounds {_bound(f.min)} to {_bound(f.max)} (outside: 422)"
        if f.soft_min is not None and f.soft_max is not None:
            text += (
                f"; training range {f.soft_min:g} to {f.soft_max:g} "
                "(outside it: accepted and flagged)"
            )
    else:
        if f.closed:
            branches.append({"type": "string", "enum": list(f.levels)})
            text = "one of the declared levels"
        else:
            branches.append(
                {
                    "type": "string",
                    "pattern": "\\S",
                    "not": {"enum": _MARKERS},
                    "description": "any text; unseen levels are accepted and flagged",
                }
            )
            text = "seen levels: " + ", ".join(f.levels[:30]) + " (others accepted and flagged)"
        if f.levels and all(_values.is_integer_code(lv) for lv in f.levels):
            codes: dict[str, Any] = {"type": "integer"}
            if f.closed:
                codes["enum"] = [int(lv) for lv in f.levels]
            branches.append(codes)
            text += "; integer codes may be sent as JSON integers"
        if (
            _values.bool_level(f.levels, True) is not None
            and _values.bool_level(f.levels, False) is not None
        ):
            branches.append({"type": "boolean"})
            text += "; true/false may be sent as JSON booleans"
    if f.nullable:
        branches.append(missing)
        branches[0] = {**branches[0], "nullable": True}
        text += '; null, "" and missing markers ("NA", "null", "?"...) mean missing'
    return {"description": text, "anyOf": branches}


def _label_schema(schema: FeatureSchema | None) -> dict[str, Any]:
    """What `schema.label_value` takes: 0/1 and booleans, or one of its words in any case
    with spaces around, the training target's own two values first."""
    own = [
        v
        for v in (getattr(schema, "positive", None), getattr(schema, "negative", None))
        if isinstance(v, str) and v.strip()
    ]
    words = [*own, "0", "1", "0.0", "1.0", *sorted(_values.TRUE_WORDS | _values.FALSE_WORDS)]
    alternatives = "|".join(
        "".join(
            f"[{c.upper()}{c.lower()}]" if c.upper() != c.lower() else re.escape(c)
            for c in w.strip()
        )
        for w in dict.fromkeys(words)
    )
    shown = ", ".join(f'"{w}"' for w in own) + (", " if own else "")
    return {
        "description": f'0 or 1; also true/false, and as text {shown}"0", "1", '
        '"true"/"false", "yes"/"no", "y"/"n", "t"/"f" in any case',
        "anyOf": [
            {"enum": [0, 1, True, False]},
            {
                "type": "string",
                "maxLength": MAX_LABEL_CHARS,
                "pattern": f"^\\s*(?:{alternatives})\\s*$",
            },
        ],
    }


def _bound(x: float | None) -> str:
    return "-inf" if x is None else f"{x:g}"


def _features_schema(schema: FeatureSchema | None) -> dict[str, Any]:
    if schema is None:
        return {"type": "object", "description": "no production model is loaded"}
    return {
        "type": "object",
        "properties": {f.name: _feature_schema(f) for f in schema.features},
        "required": schema.names,
        "additionalProperties": False,
    }


def _example_record(schema: FeatureSchema | None, shift: float = 0.5) -> dict[str, Any]:
    """A valid record: each number inside its training range, each level a seen one."""
    if schema is None:
        return {}
    rec: dict[str, Any] = {}
    for f in schema.features:
        if f.kind == NUMERIC:
            lo = f.soft_min if f.soft_min is not None else f.min if f.min is not None else 0.0
            hi = f.soft_max if f.soft_max is not None else f.max if f.max is not None else lo
            x = round(lo + (hi - lo) * shift, 2)
            rec[f.name] = int(x) if float(x).is_integer() else x
        else:
            rec[f.name] = f.levels[int(shift * (len(f.levels) - 1))] if f.levels else "a"
    return rec


def _as_text(schema: FeatureSchema, record: dict[str, Any]) -> dict[str, Any]:
    """The same record with its numbers written as people write them ("52,000.00")."""
    out = dict(record)
    for f in schema.features:
        if f.kind == NUMERIC and f.decimal == ".":
            out[f.name] = f"{float(record[f.name]):,.2f}"
    return out


def build_openapi(
    schema: FeatureSchema | None, version: str | None, *, max_instances: int = 1000
) -> dict[str, Any]:
    admin: list[dict[str, list[str]]] = [{"bearer": []}]
    record = _example_record(schema)
    other = _example_record(schema, 0.25)
    pid = "9f1c2d3e4b5a69788796a5b4c3d2e1f0"
    result = _obj(
        {
            "prediction_id": {"type": "string"},
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "prediction": {"type": "integer", "enum": [0, 1]},
            "model_version": {"type": "string"},
            "out_of_range": {"type": "array", "items": {"type": "string"}},
        }
    )
    result_example = {
        "prediction_id": pid,
        "probability": 0.1847,
        "prediction": 0,
        "model_version": version or "v0001",
        "out_of_range": [],
    }
    label = _obj(
        {
            "prediction_id": {"type": "string", "minLength": 1, "maxLength": 128},
            "label": _label_schema(schema),
        }
    )
    label_status = _obj(
        {
            "prediction_id": {"type": "string"},
            "status": {"type": "string", "enum": ["created", "unchanged"]},
        }
    )
    label_results = _obj(
        {
            "results": {
                "type": "array",
                "items": {
                    "oneOf": [
                        _obj(
                            {
                                "prediction_id": {"type": "string"},
                                "status": {
                                    "type": "string",
                                    "enum": ["created", "unchanged", "conflict", "not_found"],
                                },
                            }
                        ),
                        _obj(
                            {
                                "index": {"type": "integer", "minimum": 0},
                                "status": {"type": "string", "enum": ["invalid"]},
                                "message": {"type": "string"},
                            }
                        ),
                    ]
                },
            },
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        }
    )
    external = _obj(
        {
            "features": FEATURES,
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "prediction": {"type": "integer", "enum": [0, 1], "nullable": True},
            "prediction_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "nullable": True,
            },
            "model_version": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        required=["features", "probability"],
    )
    batch_of = {"type": "array", "minItems": 1, "maxItems": max_instances}
    version_name = {
        "type": "string",
        "pattern": VERSION_PATTERN,
        "maxLength": MAX_VERSION_CHARS,
        "description": "a version name as `selfheal models` lists it, e.g. v0002",
    }
    reason = {"type": "string", "maxLength": MAX_REASON_CHARS, "nullable": True}
    changed = _obj(
        {
            "production": {"type": "string"},
            "previous": {"type": "string", "nullable": True},
            "promoted_at": {"type": "string"},
        }
    )
    changed_example = {
        "production": "v0002",
        "previous": "v0001",
        "promoted_at": "2025-01-01T00:00:00Z",
    }
    obj = {"type": "object"}
    single_record = (
        FEATURES
        if schema is not None
        else {"allOf": [FEATURES], "not": {"required": ["instances"]}}
    )
    predict_examples: dict[str, Any] = {
        "one": ("One record", record),
        "batch": ("A batch under instances", {"instances": [record, other]}),
    }
    if schema is not None and any(f.kind == NUMERIC and f.decimal == "." for f in schema.features):
        predict_examples["text"] = ("Numbers written as text", _as_text(schema, record))
    paths: dict[str, Any] = {
        "/predict": {
            "post": {
                "summary": "Score one record or a batch; every answer is committed to SQLite first",
                "requestBody": _body(
                    {
                        "oneOf": [
                            single_record,
                            _obj({"instances": {**batch_of, "items": FEATURES}}),
                        ]
                    },
                    predict_examples,
                ),
                "responses": {
                    "200": _json(
                        {
                            "oneOf": [
                                result,
                                _obj(
                                    {
                                        "model_version": {"type": "string"},
                                        "predictions": {"type": "array", "items": result},
                                    }
                                ),
                            ]
                        },
                        example=result_example,
                    ),
                    **_err(400, 413, 415, 422, 503),
                },
            }
        },
        "/monitoring/labels": {
            "post": {
                "summary": "Attach ground-truth labels to logged predictions (idempotent)",
                "requestBody": _body(
                    {"oneOf": [label, _obj({"labels": {**batch_of, "items": label}})]},
                    {
                        "one": ("One label", {"prediction_id": pid, "label": 1}),
                        "batch": (
                            "A batch under labels",
                            {
                                "labels": [
                                    {"prediction_id": pid, "label": 1},
                                    {"prediction_id": pid[::-1], "label": False},
                                ]
                            },
                        ),
                    },
                ),
                "responses": {
                    "201": _json(
                        label_status, "Label stored", {"prediction_id": pid, "status": "created"}
                    ),
                    "200": _json(
                        {"oneOf": [label_status, label_results]},
                        "Same label already stored, or batch results",
                    ),
                    **_err(400, 404, 409, 413, 415, 422, 503),
                },
            }
        },
        "/monitoring/predictions": {
            "post": {
                "summary": "Log a prediction made by another system",
                "requestBody": _body(
                    {"oneOf": [external, _obj({"predictions": {**batch_of, "items": external}})]},
                    {
                        "one": (
                            "One prediction",
                            {"features": record, "probability": 0.73, "model_version": "legacy-7"},
                        ),
                        "batch": (
                            "A batch under predictions",
                            {
                                "predictions": [
                                    {"features": record, "probability": 0.73, "prediction": 1},
                                    {"features": other, "probability": 0.12},
                                ]
                            },
                        ),
                    },
                ),
                "responses": {
                    "201": _json(
                        {
                            "oneOf": [
                                result,
                                _obj({"predictions": {"type": "array", "items": result}}),
                            ]
                        },
                        "Logged",
                        {**result_example, "model_version": "legacy-7", "probability": 0.73},
                    ),
                    **_err(400, 409, 413, 415, 422, 503),
                },
            }
        },
        "/monitoring/stats": {
            "get": {
                "summary": "Traffic, latency, live performance, latest drift and retrain",
                "parameters": [
                    {
                        "name": "window",
                        "in": "query",
                        "description": "how many recent predictions to summarise",
                        "schema": {
                            "type": "integer",
                            "default": 1000,
                            "minimum": 1,
                            "maximum": 1_000_000,
                        },
                        "example": 500,
                    }
                ],
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["counts", "window"]},
                        example={
                            "counts": {"production": 1200, "labels": 300},
                            "window": {"size": 500},
                        },
                    ),
                    **_err(400),
                },
            }
        },
        "/monitoring/drift": {
            "get": {
                "summary": "The latest drift report (per-feature tests, estimates, decision)",
                "responses": {
                    "200": _json(obj, example={"decision": "no_drift", "drift_share": 0.0}),
                    **_err(404),
                },
            }
        },
        "/monitoring/run": {
            "post": {
                "summary": "Run one monitor cycle now (admin)",
                "security": admin,
                "responses": {
                    "200": _json(obj, example={"status": "ok"}),
                    **_err(401, 403, 503),
                },
            }
        },
        "/model/info": {
            "get": {
                "summary": "The production model: metrics, schema, lineage",
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["version", "threshold"]},
                        example={"version": version or "v0001", "threshold": 0.5},
                    ),
                    **_err(503),
                },
            }
        },
        "/models": {
            "get": {
                "summary": "Every version with its status",
                "responses": {
                    "200": _json(
                        _obj(
                            {
                                "production": {"type": "string", "nullable": True},
                                "versions": {"type": "array", "items": obj},
                            }
                        ),
                        example={"production": "v0001", "versions": [{"version": "v0001"}]},
                    )
                },
            }
        },
        "/model/promote": {
            "post": {
                "summary": "Promote a version (admin)",
                "security": admin,
                "requestBody": _body(
                    _obj(
                        {"version": version_name, "reason": reason, "force": {"type": "boolean"}},
                        required=["version"],
                    ),
                    {
                        "promote": (
                            "Promote a version",
                            {"version": "v0002", "reason": "canary ok"},
                        ),
                        "force": (
                            "Promote one the gates rejected, or one with other fields",
                            {"version": "v0002", "force": True},
                        ),
                    },
                ),
                "responses": {
                    "200": _json(changed, example=changed_example),
                    **_err(400, 401, 403, 404, 409, 415, 422, 503),
                },
            }
        },
        "/model/rollback": {
            "post": {
                "summary": "Roll back to the previous (or a named) version (admin)",
                "security": admin,
                "requestBody": _body(
                    _obj({"to": {**version_name, "nullable": True}, "reason": reason}, required=[]),
                    {
                        "previous": ("Back to the previous version", {}),
                        "named": ("Back to a named version", {"to": "v0001", "reason": "F1 fell"}),
                    },
                    required=False,
                ),
                "responses": {
                    "200": _json(
                        changed,
                        example={**changed_example, "production": "v0001", "previous": "v0002"},
                    ),
                    **_err(400, 401, 403, 404, 409, 415, 422, 503),
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Model, database, writer and monitor state",
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["status"]}, "Healthy", {"status": "ok"}
                    ),
                    "503": _json(
                        {"type": "object", "required": ["status"]},
                        "Unhealthy",
                        {"status": "unavailable"},
                    ),
                },
            }
        },
        "/": {
            "get": {
                "summary": "Operator dashboard (HTML, inline SVG, refreshes itself)",
                "responses": {"200": _text("text/html", "HTML", "<!doctype html>...")},
            }
        },
        "/reports/drift/latest": {
            "get": {
                "summary": "The latest drift report as a self-contained HTML page",
                "responses": {
                    "200": _text("text/html", "HTML", "<!doctype html>..."),
                    **_err(404),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format: traffic, latency, batches, "
                "writer, drift, F1, retrains, rollbacks, production version",
                "responses": {
                    "200": _text(
                        "text/plain",
                        "Prometheus text format 0.0.4",
                        'selfheal_requests_total{route="/predict",status="200"} 42',
                    )
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["openapi", "paths"]},
                        example={"openapi": "3.0.3", "paths": {}},
                    )
                },
            }
        },
        "/docs": {
            "get": {
                "summary": "This document as a plain HTML page",
                "responses": {"200": _text("text/html", "HTML", "<!doctype html>...")},
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "selfheal",
            "version": __version__,
            "description": "A self-healing machine-learning service. Production model: "
            f"{version or 'none'}. Errors are "
            '{"error": {"code", "message", "details"}}.',
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Features": _features_schema(schema),
                "Error": _obj(
                    {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "details"],
                            "properties": {
                                "code": {"type": "string", "pattern": "^[a-z_]+$"},
                                "message": {"type": "string", "minLength": 1},
                                "details": {},
                            },
                            "additionalProperties": False,
                        }
                    }
                ),
            },
        },
    }


def curl_lines(spec: dict[str, Any], path: str, method: str) -> list[tuple[str, str]]:
    """`(summary, curl command)` for each example of one operation: one per request body
    example, else one for the bare request (with the parameters' examples)."""
    op = spec["paths"][path][method]
    url = BASE + path
    query = [f"{p['name']}={p['example']}" for p in op.get("parameters", []) if "example" in p]
    if query:
        url += "?" + "&".join(query)
    head = ["curl", "-s"] + (["-X", method.upper()] if method != "get" else [])
    auth = ["-H", '"Authorization: Bearer $SELFHEAL_ADMIN_TOKEN"'] if op.get("security") else []
    examples = (
        op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("examples")
    )
    if not examples:
        return [(op.get("summary", ""), " ".join([*head, shlex.quote(url), *auth]))]
    out = []
    for ex in examples.values():
        data = [
            "-H",
            "'Content-Type: application/json'",
            "-d",
            shlex.quote(json.dumps(ex["value"])),
        ]
        if ex["value"] == {} and not op["requestBody"].get("required"):
            data = []  # an empty body may be left out
        out.append((ex["summary"], " ".join([*head, shlex.quote(url), *auth, *data])))
    return out


def render_html(spec: dict[str, Any]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>selfheal API</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;"
        "padding:0 1em;color:#222}code,pre{background:#f4f4f4;padding:2px 4px}"
        "pre{padding:8px;overflow:auto}h2{border-top:1px solid #ddd;padding-top:.6em}"
        ".m{font-weight:bold;color:#05a}</style></head><body>",
        f"<h1>{e(spec['info']['title'])} API {e(spec['info']['version'])}</h1>",
        f"<p>{e(spec['info']['description'])}</p>",
        "<p>Machine-readable: <a href=/openapi.json>/openapi.json</a></p>",
    ]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            parts.append(f"<h2><span class=m>{method.upper()}</span> <code>{e(path)}</code></h2>")
            parts.append(f"<p>{e(op.get('summary', ''))}</p>")
            if op.get("security"):
                parts.append(
                    "<p>Admin: <code>Authorization: Bearer $SELFHEAL_ADMIN_TOKEN</code></p>"
                )
            codes = ", ".join(f"{c} {e(r['description'])}" for c, r in op["responses"].items())
            parts.append(f"<p>Responses: {codes}</p>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                parts.append(
                    "<details><summary>Request schema</summary><pre>"
                    + e(json.dumps(body["schema"], indent=2))
                    + "</pre></details>"
                )
            parts.append("<p>Examples:</p>")
            for summary, line in curl_lines(spec, path, method):
                parts.append(f"<p class=ex>{e(summary)}</p><pre>{e(line)}</pre>")
            for code, r in op["responses"].items():
                for media in r.get("content", {}).values():
                    if "example" in media:
                        parts.append(
                            f"<p>Example answer ({e(code)}):</p><pre>"
                            + e(json.dumps(media["example"], indent=2))
                            + "</pre>"
                        )
    feats = spec["components"]["schemas"]["Features"]
    parts.append(
        "<h2>Features of the production model</h2><pre>"
        + e(json.dumps(feats, indent=2))
        + "</pre></body></html>"
    )
    return "".join(parts)
