"""The OpenAPI 3 document of every route, built from the production model's schema, and a
plain HTML rendering of it for `/docs` (no JavaScript, no CDN: works offline)."""

from __future__ import annotations

import html
import json
from typing import Any

from selfheal import __version__
from selfheal.schema import NUMERIC, FeatureSchema

ERROR = {"$ref": "#/components/schemas/Error"}


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


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _features_schema(schema: FeatureSchema | None) -> dict[str, Any]:
    if schema is None:
        return {"type": "object", "description": "no production model is loaded"}
    props: dict[str, Any] = {}
    for f in schema.features:
        if f.kind == NUMERIC:
            p: dict[str, Any] = {"type": "number"}
            if f.min is not None:
                p["minimum"] = f.min
            if f.max is not None:
                p["maximum"] = f.max
            if f.soft_min is not None:
                p["description"] = (
                    f"training range {f.soft_min:g} to {f.soft_max:g} "
                    "(outside it: accepted and flagged)"
                )
        else:
            p = {"type": "string"}
            if f.closed:
                p["enum"] = list(f.levels)
            elif f.levels:
                p["description"] = (
                    "seen levels: " + ", ".join(f.levels[:30]) + " (others accepted and flagged)"
                )
        if f.nullable:
            p["nullable"] = True
        props[f.name] = p
    return {
        "type": "object",
        "properties": props,
        "required": schema.names,
        "additionalProperties": False,
    }


def build_openapi(schema: FeatureSchema | None, version: str | None) -> dict[str, Any]:
    admin: list[dict[str, list[str]]] = [{"bearer": []}]
    result = {
        "type": "object",
        "properties": {
            "prediction_id": {"type": "string"},
            "probability": {"type": "number"},
            "prediction": {"type": "integer", "enum": [0, 1]},
            "model_version": {"type": "string"},
            "out_of_range": {"type": "array", "items": {"type": "string"}},
        },
    }
    label = {
        "type": "object",
        "required": ["prediction_id", "label"],
        "properties": {
            "prediction_id": {"type": "string"},
            "label": {"type": "integer", "enum": [0, 1]},
        },
    }
    external = {
        "type": "object",
        "required": ["features", "probability"],
        "properties": {
            "features": {"$ref": "#/components/schemas/Features"},
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "prediction": {"type": "integer", "enum": [0, 1]},
            "prediction_id": {"type": "string"},
            "model_version": {"type": "string"},
        },
    }
    obj = {"type": "object"}
    paths: dict[str, Any] = {
        "/predict": {
            "post": {
                "summary": "Score one record or a batch; every answer is committed to SQLite first",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Features"},
                                    {
                                        "type": "object",
                                        "required": ["instances"],
                                        "properties": {
                                            "instances": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Features"},
                                            }
                                        },
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        {
                            "oneOf": [
                                result,
                                {
                                    "type": "object",
                                    "properties": {
                                        "model_version": {"type": "string"},
                                        "predictions": {"type": "array", "items": result},
                                    },
                                },
                            ]
                        }
                    ),
                    **_err(400, 413, 415, 422, 503),
                },
            }
        },
        "/monitoring/labels": {
            "post": {
                "summary": "Attach ground-truth labels to logged predictions (idempotent)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    label,
                                    {
                                        "type": "object",
                                        "properties": {"labels": {"type": "array", "items": label}},
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(obj, "Label stored"),
                    "200": _json(obj, "Same label already stored, or batch results"),
                    **_err(400, 404, 409, 413, 415, 422, 503),
                },
            }
        },
        "/monitoring/predictions": {
            "post": {
                "summary": "Log a prediction made by another system",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    external,
                                    {
                                        "type": "object",
                                        "properties": {
                                            "predictions": {"type": "array", "items": external}
                                        },
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {"201": _json(obj, "Logged"), **_err(400, 409, 413, 415, 422, 503)},
            }
        },
        "/monitoring/stats": {
            "get": {
                "summary": "Traffic, latency, live performance, latest drift and retrain",
                "parameters": [
                    {
                        "name": "window",
                        "in": "query",
                        "schema": {"type": "integer", "default": 1000, "minimum": 1},
                    }
                ],
                "responses": {"200": _json(obj), **_err(400)},
            }
        },
        "/monitoring/drift": {
            "get": {
                "summary": "The latest drift report (per-feature tests, estimates, decision)",
                "responses": {"200": _json(obj), **_err(404)},
            }
        },
        "/monitoring/run": {
            "post": {
                "summary": "Run one monitor cycle now (admin)",
                "security": admin,
                "responses": {"200": _json(obj), **_err(401, 403, 503)},
            }
        },
        "/model/info": {
            "get": {
                "summary": "The production model: metrics, schema, lineage",
                "responses": {"200": _json(obj), **_err(503)},
            }
        },
        "/models": {
            "get": {"summary": "Every version with its status", "responses": {"200": _json(obj)}}
        },
        "/model/promote": {
            "post": {
                "summary": "Promote a version (admin)",
                "security": admin,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["version"],
                                "properties": {
                                    "version": {"type": "string", "pattern": "^v[0-9]{4,}$"},
                                    "reason": {"type": "string"},
                                    "force": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(obj), **_err(400, 401, 403, 404, 409, 415, 422, 503)},
            }
        },
        "/model/rollback": {
            "post": {
                "summary": "Roll back to the previous (or a named) version (admin)",
                "security": admin,
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "to": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(obj), **_err(400, 401, 403, 404, 409, 415, 422, 503)},
            }
        },
        "/health": {
            "get": {
                "summary": "Model, database, writer and monitor state",
                "responses": {"200": _json(obj, "Healthy"), "503": _json(obj, "Unhealthy")},
            }
        },
        "/": {
            "get": {
                "summary": "Operator dashboard (HTML, inline SVG, refreshes itself)",
                "responses": {"200": {"description": "HTML"}},
            }
        },
        "/reports/drift/latest": {
            "get": {
                "summary": "The latest drift report as a self-contained HTML page",
                "responses": {"200": {"description": "HTML"}, **_err(404)},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format: traffic, latency, batches, "
                "writer, drift, F1, retrains, rollbacks, production version",
                "responses": {"200": {"description": "text/plain; version=0.0.4"}},
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json(obj)}}},
        "/docs": {
            "get": {
                "summary": "This document as a plain HTML page",
                "responses": {"200": {"description": "HTML"}},
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
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {},
                            },
                        }
                    },
                },
            },
        },
    }


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
    feats = spec["components"]["schemas"]["Features"]
    parts.append(
        "<h2>Features of the production model</h2><pre>"
        + e(json.dumps(feats, indent=2))
        + "</pre></body></html>"
    )
    return "".join(parts)
