"""The OpenAPI document tells the truth: Schemathesis fuzzes every operation of the real app
(real SQLite home, trained v0001, admin token) against `/openapi.json`, with a fixed seed
and a bounded number of examples, and plain tests pin what fuzzing found once."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

import jsonschema_rs  # noqa: E402  (Schemathesis's own validator)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from selfheal.openapi import build_openapi, curl_lines  # noqa: E402
from selfheal.schema import CATEGORICAL, NUMERIC, Feature, FeatureSchema  # noqa: E402
from tests.conftest import register_copy  # noqa: E402

AUTH = {"Authorization": "Bearer s3cret"}
GOOD = {"age": 35, "income": 52_000, "credit_score": 690, "employment_years": 6.5}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# The routes are the same whatever the model; the document is built without one to list them.
SPEC = build_openapi(None, None)
OPERATIONS = [(method.upper(), path) for path, ops in SPEC["paths"].items() for method in ops]
# Negative data needs something to break: a body or a parameter.
WITH_INPUT = [
    (m, p)
    for m, p in OPERATIONS
    if {"requestBody", "parameters"} & set(SPEC["paths"][p][m.lower()])
]
EXAMPLES = 25  # per operation and generation mode: the whole file stays well under a minute


@pytest.fixture
def app(service: Any) -> Any:
    from selfheal.web import create_app

    register_copy(service.registry)  # v0002: promote and rollback have somewhere to go
    return create_app(service)


def fuzz(app: Any, method: str, path: str, mode: Any) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    run()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_openapi_fuzz_positive_data_conforms(app: Any, method: str, path: str) -> None:
    fuzz(app, method, path, GenerationMode.POSITIVE)


@pytest.mark.parametrize(("method", "path"), WITH_INPUT)
def test_openapi_fuzz_negative_data_gets_4xx(app: Any, method: str, path: str) -> None:
    fuzz(app, method, path, GenerationMode.NEGATIVE)


def test_openapi_predict_batch_of_one_matches_one_branch(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    resp = client.post("/predict", json={"instances": [GOOD]})
    assert resp.status_code == 200
    media = spec["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    branches = media["schema"]["oneOf"]
    matches = [
        jsonschema_rs.validator_for({**branch, "components": spec["components"]}).is_valid(
            resp.get_json()
        )
        for branch in branches
    ]
    assert matches == [False, True]
    one = client.post("/predict", json=GOOD).get_json()
    assert [
        jsonschema_rs.validator_for({**b, "components": spec["components"]}).is_valid(one)
        for b in branches
    ] == [True, False]


def test_openapi_request_examples_are_valid_and_accepted(client: Any, service: Any) -> None:
    register_copy(service.registry)
    spec = client.get("/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            for name, ex in (media or {}).get("examples", {}).items():
                validator = jsonschema_rs.validator_for(
                    {**media["schema"], "components": spec["components"]}
                )
                assert validator.is_valid(ex["value"]), (path, name)
                resp = client.open(path, method=method, json=ex["value"], headers=AUTH)
                assert str(resp.status_code) in op["responses"], (path, name, resp.status_code)
                assert resp.status_code < 500, (path, name, resp.get_data(as_text=True))


def test_openapi_every_operation_has_an_example(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            answers = [m for r in op["responses"].values() for m in r.get("content", {}).values()]
            assert body.get("examples") or any("example" in m for m in answers), (method, path)


def test_openapi_docs_page_shows_examples_and_curl_lines(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    page = client.get("/docs").get_data(as_text=True)
    for path, ops in spec["paths"].items():
        for method in ops:
            for _, line in curl_lines(spec, path, method):
                assert html.escape(line) in page, line
    assert page.count("<pre>curl ") >= len(OPERATIONS)
    assert html.escape('"income": "') in page  # numbers written as text are an example


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/model/promote", {"version": "v" + "0" * 500}),
        ("/model/promote", {"version": "v\u0661\u0662\u0663\u0664"}),
        ("/model/promote", {"version": "v0002\n"}),
        ("/model/promote", {"version": "../v0001"}),
        ("/model/rollback", {"to": "v" + "1" * 300}),
    ],
)
def test_version_names_are_checked_before_any_path(client: Any, path: str, body: Any) -> None:
    resp = client.post(path, json=body, headers=AUTH)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    field = next(iter(body))
    assert err["code"] == "invalid_version" and err["details"][0]["field"] == field
    assert "v0002" in err["message"]


@pytest.mark.parametrize(
    ("reason", "status"),
    [("x" * 1001, 422), ("\ud800 lone surrogate", 400)],  # 400: not valid text, any field
)
def test_promote_reason_must_be_short_text(
    client: Any, service: Any, reason: str, status: int
) -> None:
    version = register_copy(service.registry)
    raw = json.dumps({"version": version, "reason": reason})
    resp = client.post("/model/promote", data=raw, content_type="application/json", headers=AUTH)
    assert resp.status_code == status, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    if status == 422:
        assert err["details"][0]["field"] == "reason"
    else:
        assert err["code"] == "malformed_json" and "surrogate" in err["message"]
    assert service.registry.production() == "v0001"


MIXED = FeatureSchema(
    features=(
        Feature("n", NUMERIC, min=0, max=100, soft_min=0, soft_max=50, nullable=True),
        Feature("code", CATEGORICAL, levels=("1", "2", "3")),
        Feature("flag", CATEGORICAL, levels=("no", "yes")),
        Feature("city", CATEGORICAL, levels=("Paris", "Rome")),
        Feature("tier", CATEGORICAL, levels=("a", "b"), closed=True),
    )
)
MIXED_GOOD = {"n": 5, "code": "1", "flag": "no", "city": "Paris", "tier": "a"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n", 5),
        ("n", "12.5"),
        ("n", "1,000.5e1"),
        ("n", "NA"),
        ("n", ""),
        ("n", "abc"),
        ("n", True),
        ("n", [1]),
        ("code", 2),
        ("code", "2"),
        ("code", 7),
        ("code", True),
        ("flag", True),
        ("flag", "yes"),
        ("flag", "maybe"),
        ("flag", 1),
        ("city", "Lyon"),
        ("city", "NA"),
        ("city", "  "),
        ("city", 3),
        ("tier", "a"),
        ("tier", "c"),
    ],
)
def test_openapi_features_schema_agrees_with_validation(name: str, value: Any) -> None:
    spec = build_openapi(MIXED, "v0001")
    feature = spec["components"]["schemas"]["Features"]["properties"][name]
    documented = jsonschema_rs.validator_for(feature).is_valid(value)
    accepted, _ = MIXED.validate_record({**MIXED_GOOD, name: value})
    assert documented == (accepted is not None)
