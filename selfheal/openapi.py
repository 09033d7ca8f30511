"""The OpenAPI 3 document of every route, built from the production model's schema, and a
plain HTML rendering of it for `/docs` (no JavaScript, no CDN: works offline).

The document is exact: a body it calls valid is one the handlers accept (up to the hard
bounds of numbers written as text, which a pattern cannot express), and every object the API
refuses extras on says `additionalProperties: false`. `tests/test_openapi_fuzz.py` holds it
to that with Schemathesis."""

from __future__ import annotations

import functools
import json
import re
import shlex
from importlib import resources
from typing import Any

from selfheal import __version__
from selfheal import values as _values
from selfheal.schema import NUMERIC, Feature, FeatureSchema
from selfheal.templates import render

FEATURES = {"$ref": "#/components/schemas/Features"}
# Version names from outside: the registry's form, bounded so a name is never too long a path.
VERSION_PATTERN = "^v[0-9]{4,31}$"
MAX_VERSION_CHARS = 32
MAX_REASON_CHARS = 1000
MAX_LABEL_CHARS = 256  # schema.label_value reads no longer text
BASE = "http://127.0.0.1:8000"
_CURRENCY = "$€£¥₹₩₽₺₪฿"  # as values.py reads them


def _number_text(decimal: str) -> str:
    """An ECMA-262 pattern that takes every text `values.parse_number` reads as a number
    with this decimal mark (and a little more: a unit the model was not trained on, or two
    signs, are refused by the server with 422 naming the field): spaces around, accounting
    parentheses, a sign (also the Unicode minus), a currency sign or a three-letter code
    before or after, digits grouped in threes or not, decimals ("5." and ".5" too), an
    exponent, a percent sign after."""
    d = "\\." if decimal == "." else ","
    groups = "[,'_ \\u00a0\\u202f]" if decimal == "." else "[.' \\u00a0\\u202f]"
    space = "[ \\u00a0\\u202f]*"
    sign = "[+\\-\\u2212]?"
    unit_before = f"(?:[{_CURRENCY}]|[A-Z]{{3}}[ \\u00a0\\u202f])?"
    unit_after = f"(?:[{_CURRENCY}%]|[ \\u00a0\\u202f][A-Z]{{3}})?"
    body = (
        f"(?:[0-9]{{1,3}}(?:{groups}[0-9]{{3}})+(?:{d}[0-9]*)?"
        f"|[0-9]+(?:{d}[0-9]*)?(?:[eE][+\\-]?[0-9]+)?"
        f"|{d}[0-9]+(?:[eE][+\\-]?[0-9]+)?)"
    )
    inner = f"{sign}{space}{unit_before}{space}{sign}{space}{body}{space}{unit_after}"
    paren = f"{unit_before}{space}\\({space}{inner}{space}\\){space}{unit_after}"
    return f"^\\s*(?:{inner}|{paren})\\s*$"


def _any_case(word: str) -> str:
    """`word` as an ECMA-262 pattern that matches it in any case (no inline flags there)."""
    return "".join(
        f"[{c.upper()}{c.lower()}]" if c.upper() != c.lower() else re.escape(c) for c in word
    )


# A missing value as `values.is_missing` reads it: blank, or a marker in any case with
# spaces around.
MISSING_PATTERN = (
    "^\\s*(?:" + "|".join(_any_case(m) for m in sorted(_values.MISSING_MARKERS - {""})) + ")?\\s*$"
)


def _feature_schema(f: Feature) -> dict[str, Any]:
    missing = {"type": "string", "pattern": MISSING_PATTERN}
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
                    "not": {"pattern": MISSING_PATTERN},
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
    alternatives = "|".join(_any_case(w.strip()) for w in dict.fromkeys(words))
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
            # 0 and 1 written as numbers ("+1", "1.0", "1e0"): read by value
            {"type": "string", "maxLength": 32, "pattern": _number_text(".")},
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


@functools.cache
def _static() -> dict[str, Any]:
    """`openapi.json`: the document less what depends on the model and the settings, each
    such place a `{"$computed": name}` object (read once; never modified)."""
    text = resources.files("selfheal").joinpath("openapi.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def _fill(node: Any, values: dict[str, Any]) -> Any:
    """A copy of `node` with every `{"$computed": name}` object replaced by `values[name]`."""
    if isinstance(node, dict):
        if set(node) == {"$computed"}:
            return values[node["$computed"]]
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    return node


def _examples(examples: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    return {
        name: {"summary": summary, "value": value} for name, (summary, value) in examples.items()
    }


def build_openapi(
    schema: FeatureSchema | None, version: str | None, *, max_instances: int = 1000
) -> dict[str, Any]:
    """The OpenAPI document: `openapi.json` with the parts computed from the production
    model's `schema` and `version` (the feature and label schemas, the examples built from
    the model) and from the settings (`max_instances`, the largest batch) filled in."""
    record = _example_record(schema)
    other = _example_record(schema, 0.25)
    predict_examples: dict[str, tuple[str, Any]] = {
        "one": ("One record", record),
        "batch": ("A batch under instances", {"instances": [record, other]}),
    }
    if schema is not None and any(f.kind == NUMERIC and f.decimal == "." for f in schema.features):
        predict_examples["text"] = ("Numbers written as text", _as_text(schema, record))
    computed = {
        "version": __version__,
        "description": "A self-healing machine-learning service. Production model: "
        f"{version or 'none'}. Errors are "
        '{"error": {"code", "message", "details"}}.',
        "model_version": version or "v0001",
        "max_instances": max_instances,
        "features": _features_schema(schema),
        "label": _label_schema(schema),
        # Without a model any object is a Features object: keep a batch out of that branch.
        "single_record": FEATURES
        if schema is not None
        else {"allOf": [FEATURES], "not": {"required": ["instances"]}},
        "predict_examples": _examples(predict_examples),
        "record": record,
        "other": other,
    }
    doc: dict[str, Any] = _fill(_static(), computed)
    return doc


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
    """`spec` as one plain HTML page (`/docs`): each operation with its responses, request
    schema, curl lines and example answers, then the production model's features."""
    operations = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "admin": bool(op.get("security")),
                    "responses": [(c, r["description"]) for c, r in op["responses"].items()],
                    "schema": json.dumps(body["schema"], indent=2) if body else None,
                    "curl": curl_lines(spec, path, method),
                    "answers": [
                        (code, json.dumps(media["example"], indent=2))
                        for code, r in op["responses"].items()
                        for media in r.get("content", {}).values()
                        if "example" in media
                    ],
                }
            )
    features = json.dumps(spec["components"]["schemas"]["Features"], indent=2)
    return render("docs.html", info=spec["info"], operations=operations, features=features)
