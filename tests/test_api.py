"""Every route and every error code, through the Flask test client on a real service
(real SQLite file, real writer thread, real registry)."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

from selfheal import db
from selfheal.registry import Registry
from tests.conftest import register_copy

GOOD = {"age": 35, "income": 52_000, "credit_score": 690, "employment_years": 6.5}
AUTH = {"Authorization": "Bearer s3cret"}


def post(client: Any, path: str, payload: Any, **kw: Any) -> Any:
    return client.post(path, data=json.dumps(payload), content_type="application/json", **kw)


def rows(service: Any, role: str = "production") -> int:
    conn = db.connect(service.settings.db_path)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM predictions WHERE role = ?", (role,)).fetchone()[0]
        )
    finally:
        conn.close()


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    err = resp.get_json()["error"]
    assert err["code"] == code and err["message"]
    assert "Traceback" not in resp.get_data(as_text=True)
    return dict(err)


# -- /predict ---------------------------------------------------------------------------
def test_predict_single_is_committed_before_the_answer(client: Any, service: Any) -> None:
    resp = post(client, "/predict", GOOD)
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {
        "prediction_id",
        "probability",
        "prediction",
        "model_version",
        "out_of_range",
    }
    assert body["model_version"] == "v0001" and 0 <= body["probability"] <= 1
    conn = db.connect(service.settings.db_path)
    row = conn.execute(
        "SELECT * FROM predictions WHERE id = ?", (body["prediction_id"],)
    ).fetchone()
    assert row is not None and row["probability"] == body["probability"]
    assert json.loads(row["features"]) == {k: float(v) for k, v in GOOD.items()}
    assert (
        row["threshold"] == service.models.current.threshold
        and row["latency_ms"] >= 0
        and row["model_version"] == "v0001"
    )


def test_predict_batch_equals_scoring_one_by_one(client: Any, service: Any) -> None:
    rng = np.random.default_rng(4)
    batch = [
        {
            "age": float(rng.integers(18, 90)),
            "income": float(rng.integers(9_000, 200_000)),
            "credit_score": float(rng.integers(350, 850)),
            "employment_years": float(rng.integers(0, 30)),
        }
        for _ in range(25)
    ]
    resp = post(client, "/predict", {"instances": batch})
    assert resp.status_code == 200
    got = [p["probability"] for p in resp.get_json()["predictions"]]
    model = service.models.current
    one_by_one = [
        float(
            model.predict_proba(
                model.schema.to_matrix([tuple(float(r[n]) for n in model.schema.names)])
            )[0]
        )
        for r in batch
    ]
    assert got == one_by_one
    assert rows(service) == 25


def test_soft_range_values_are_accepted_and_flagged(client: Any, service: Any) -> None:
    resp = post(client, "/predict", {**GOOD, "income": 9_000_000, "age": 99})
    assert resp.status_code == 200
    assert sorted(resp.get_json()["out_of_range"]) == ["age", "income"]


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({k: v for k, v in GOOD.items() if k != "age"}, {("age", "missing")}),
        ({**GOOD, "colour": "red"}, {("colour", "unknown_field")}),
        ({**GOOD, "age": "thirty-five"}, {("age", "wrong_type")}),
        ({**GOOD, "age": True}, {("age", "wrong_type")}),
        ({**GOOD, "age": None}, {("age", "null")}),
        ({**GOOD, "credit_score": 900}, {("credit_score", "above_max")}),
        ({**GOOD, "age": 12}, {("age", "below_min")}),
        (
            {"age": "x", "income": -5, "credit_score": 100},
            {
                ("age", "wrong_type"),
                ("income", "below_min"),
                ("credit_score", "below_min"),
                ("employment_years", "missing"),
            },
        ),
        ({"instances": [GOOD, {**GOOD, "age": 200}]}, {("age", "above_max")}),
        ({"instances": []}, {("instances", "wrong_type")}),
        ({"instances": [GOOD], "extra": 1}, {("extra", "unknown_field")}),
        ({"instances": [3]}, {(None, "not_an_object")}),
    ],
)
def test_predict_422_lists_every_bad_field(
    client: Any, service: Any, payload: Any, fields: set[tuple[str | None, str]]
) -> None:
    err = assert_error(post(client, "/predict", payload), 422, "validation_failed")
    assert {(d["field"], d["problem"]) for d in err["details"]} == fields
    assert rows(service) == 0


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_predict_nan_and_infinity_tokens_are_422(client: Any, token: str) -> None:
    raw = '{"age": 35, "income": ' + token + ', "credit_score": 690, "employment_years": 1}'
    err = assert_error(
        client.post("/predict", data=raw, content_type="application/json"), 422, "validation_failed"
    )
    assert [(d["field"], d["problem"]) for d in err["details"]] == [("income", "not_finite")]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ('{"age": 35,', "application/json", 400, "malformed_json"),
        (b"\xff\xfe", "application/json", 400, "malformed_json"),
        ("age=35", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('{"age": 35}', "text/plain", 415, "unsupported_media_type"),
        ("[1, 2]", "application/json", 422, "validation_failed"),
        ('"text"', "application/json", 422, "validation_failed"),
    ],
)
def test_predict_transport_errors(
    client: Any, data: Any, content_type: str, status: int, code: str
) -> None:
    assert_error(client.post("/predict", data=data, content_type=content_type), status, code)


def test_body_over_the_limit_is_413(client: Any) -> None:
    big = json.dumps({"instances": [GOOD] * 30_000})
    assert len(big) > 1_048_576
    assert_error(
        client.post("/predict", data=big, content_type="application/json"), 413, "payload_too_large"
    )


def test_too_many_instances_is_413(client: Any) -> None:
    err = assert_error(
        post(client, "/predict", {"instances": [GOOD] * 1001}), 413, "too_many_instances"
    )
    assert "SELFHEAL_MAX_INSTANCES" in err["message"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/nowhere", 404, "not_found"),
        ("get", "/predict", 405, "method_not_allowed"),
        ("delete", "/models", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods_are_json(
    client: Any, method: str, path: str, status: int, code: str
) -> None:
    assert_error(getattr(client, method)(path), status, code)


# -- labels -----------------------------------------------------------------------------
def test_labels_single_idempotent_conflict_unknown(client: Any) -> None:
    pid = post(client, "/predict", GOOD).get_json()["prediction_id"]
    first = post(client, "/monitoring/labels", {"prediction_id": pid, "label": 1})
    assert first.status_code == 201 and first.get_json()["status"] == "created"
    again = post(client, "/monitoring/labels", {"prediction_id": pid, "label": True})
    assert again.status_code == 200 and again.get_json()["status"] == "unchanged"
    assert_error(
        post(client, "/monitoring/labels", {"prediction_id": pid, "label": 0}),
        409,
        "label_conflict",
    )
    assert_error(
        post(client, "/monitoring/labels", {"prediction_id": "nope", "label": 0}),
        404,
        "unknown_prediction",
    )


@pytest.mark.parametrize(
    "item",
    [
        {"prediction_id": "x", "label": 2},
        {"prediction_id": "x", "label": "maybe"},
        {"prediction_id": 5, "label": 1},
        {"prediction_id": "x", "label": 1, "extra": 1},
        [1],
    ],
)
def test_invalid_single_label_is_422(client: Any, item: Any) -> None:
    assert_error(post(client, "/monitoring/labels", item), 422, "validation_failed")


def test_labels_batch_gets_a_result_per_item(client: Any) -> None:
    ids = [
        p["prediction_id"]
        for p in post(client, "/predict", {"instances": [GOOD] * 3}).get_json()["predictions"]
    ]
    post(client, "/monitoring/labels", {"prediction_id": ids[0], "label": 1})
    resp = post(
        client,
        "/monitoring/labels",
        {
            "labels": [
                {"prediction_id": ids[0], "label": 0},
                {"prediction_id": ids[1], "label": 1},
                {"prediction_id": "ghost", "label": 1},
                {"prediction_id": ids[2], "label": 7},
            ]
        },
    )
    assert resp.status_code == 200
    assert [r["status"] for r in resp.get_json()["results"]] == [
        "conflict",
        "created",
        "not_found",
        "invalid",
    ]
    assert resp.get_json()["counts"] == {"conflict": 1, "created": 1, "not_found": 1, "invalid": 1}


# -- predictions made elsewhere ---------------------------------------------------------
def test_external_predictions_are_logged_and_validated(client: Any, service: Any) -> None:
    one = post(
        client,
        "/monitoring/predictions",
        {"features": GOOD, "probability": 0.8, "prediction_id": "ext-1"},
    )
    assert one.status_code == 201
    assert one.get_json()["prediction"] == 1 and one.get_json()["model_version"] == "external"
    batch = post(
        client,
        "/monitoring/predictions",
        {
            "predictions": [
                {"features": GOOD, "probability": 0.1, "model_version": "legacy-7"},
                {"features": GOOD, "probability": 0.3, "prediction": 1},
            ]
        },
    )
    assert batch.status_code == 201 and len(batch.get_json()["predictions"]) == 2
    assert rows(service, "external") == 3
    assert_error(
        post(
            client,
            "/monitoring/predictions",
            {"features": GOOD, "probability": 0.5, "prediction_id": "ext-1"},
        ),
        409,
        "duplicate_prediction",
    )
    err = assert_error(
        post(
            client,
            "/monitoring/predictions",
            {"features": {**GOOD, "age": "x"}, "probability": 1.5},
        ),
        422,
        "validation_failed",
    )
    assert {d["field"] for d in err["details"]} == {"features.age", "probability"}
    assert (
        post(client, "/monitoring/labels", {"prediction_id": "ext-1", "label": 1}).status_code
        == 201
    )


# -- stats, models, health, docs ------------------------------------------------------
def test_stats_reports_traffic_latency_and_live_metrics(client: Any) -> None:
    preds = post(
        client, "/predict", {"instances": [GOOD, {**GOOD, "credit_score": 420}] * 10}
    ).get_json()["predictions"]
    labels = [{"prediction_id": p["prediction_id"], "label": i % 2} for i, p in enumerate(preds)]
    post(client, "/monitoring/labels", {"labels": labels})
    body = client.get("/monitoring/stats?window=100").get_json()
    assert body["counts"]["production"] == 20 and body["counts"]["labels"] == 20
    w = body["window"]
    assert w["rows"] == 20 and w["labeled"] == 20 and 0 <= w["positive_rate"] <= 1
    assert w["latency_ms"]["p50"] >= 0 and w["latency_ms"]["p99"] >= w["latency_ms"]["p50"]
    assert body["live"]["n"] == 20 and body["live"]["auc"] == 1.0
    assert_error(client.get("/monitoring/stats?window=zero"), 400, "bad_query")


def test_model_info_and_models(client: Any) -> None:
    info = client.get("/model/info").get_json()
    assert info["version"] == "v0001" and info["metrics"]["f1"] > 0
    assert [f["name"] for f in info["schema"]["features"]] == [
        "age",
        "income",
        "credit_score",
        "employment_years",
    ]
    assert info["libraries"]["scikit-learn"]
    models = client.get("/models").get_json()
    assert models["production"] == "v0001"
    assert [v["status"] for v in models["versions"]] == ["production"]


def test_admin_routes_need_a_token(client: Any, service: Any) -> None:
    v2 = register_copy(service.registry)
    assert_error(post(client, "/model/promote", {"version": v2}), 401, "unauthorized")
    assert_error(
        post(client, "/model/promote", {"version": v2}, headers={"Authorization": "Bearer wrong"}),
        401,
        "unauthorized",
    )
    resp = post(client, "/model/promote", {"version": v2, "reason": "test"}, headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["production"] == v2
    assert post(client, "/predict", GOOD).get_json()["model_version"] == v2
    resp = client.post("/model/rollback", headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["production"] == "v0001"
    assert client.get("/model/info").get_json()["version"] == "v0001"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"version": "v0099"}, 404, "unknown_version"),
        ({"version": "../../etc"}, 422, "invalid_version"),
        ({"version": "v0001"}, 409, "already_production"),
        ({}, 422, "validation_failed"),
        ({"version": 3}, 422, "validation_failed"),
        ({"version": "v0001", "colour": 1}, 422, "validation_failed"),
    ],
)
def test_promote_errors(client: Any, payload: Any, status: int, code: str) -> None:
    assert_error(post(client, "/model/promote", payload, headers=AUTH), status, code)


def test_rollback_without_history_is_409(client: Any) -> None:
    assert_error(client.post("/model/rollback", headers=AUTH), 409, "no_previous")


def test_admin_disabled_without_configured_token(trained_home: Any) -> None:
    from selfheal.service import Service
    from selfheal.web import create_app

    svc = Service(trained_home.settings).start()
    try:
        c = create_app(svc).test_client()
        err = assert_error(post(c, "/model/promote", {"version": "v0001"}), 403, "admin_disabled")
        assert "SELFHEAL_ADMIN_TOKEN" in err["message"]
        assert_error(c.post("/model/rollback"), 403, "admin_disabled")
    finally:
        svc.stop()


def test_health_reports_every_component(client: Any) -> None:
    body = client.get("/health").get_json()
    assert body["status"] == "ok"
    assert body["model"]["version"] == "v0001" and body["database"]["ok"]
    assert body["writer"]["alive"] and "monitor" in body


def test_no_model_gives_503_and_nothing_logged(trained_home: Any) -> None:
    from selfheal.service import Service
    from selfheal.web import create_app

    artifact = trained_home.registry.path("v0001") / "model.joblib"
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes() + b"x")  # tampered: refused at load
    svc = Service(trained_home.settings).start()
    try:
        c = create_app(svc).test_client()
        err = assert_error(post(c, "/predict", GOOD), 503, "no_model")
        assert "modified" in err["message"]
        # The hint runs as printed here: `.venv/bin/selfheal init` when the venv is not on
        # PATH (after `make run`), never a bare `selfheal` that gives "command not found".
        from selfheal.errors import command_name

        assert (
            f"run `{command_name()} init` or `{command_name()} promote VERSION`" in (err["message"])
        )
        assert c.get("/health").status_code == 503
        assert rows(svc) == 0
    finally:
        svc.stop()


def test_database_failure_gives_503_never_a_false_200(client: Any, service: Any) -> None:
    conn = db.connect(service.settings.db_path)
    conn.execute("ALTER TABLE predictions RENAME TO predictions_away")
    try:
        assert_error(post(client, "/predict", GOOD), 503, "database_unavailable")
        health = client.get("/health")
        assert health.status_code == 503 and health.get_json()["writer"]["last_error"]
    finally:
        conn.execute("ALTER TABLE predictions_away RENAME TO predictions")
    assert post(client, "/predict", GOOD).status_code == 200  # the writer survived
    assert client.get("/health").status_code == 200


def test_promotion_by_another_process_is_hot_swapped(client: Any, service: Any) -> None:
    other = Registry(service.settings.registry_path)  # stands in for the CLI's process
    v2 = register_copy(other)
    other.promote(v2, actor="cli")
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and service.models.current.version != v2:
        time.sleep(0.02)
    assert post(client, "/predict", GOOD).get_json()["model_version"] == v2


def test_openapi_and_docs_cover_every_route(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    app_rules = {
        (rule.rule, m.lower())
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint != "static"
        for m in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert app_rules <= documented, app_rules - documented
    age = spec["components"]["schemas"]["Features"]["properties"]["age"]
    assert age["anyOf"][0] == {"type": "number", "minimum": 18, "maximum": 100}
    assert age["anyOf"][1]["type"] == "string"  # numbers written as text are accepted too
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "/predict" in page.get_data(as_text=True) and "<script" not in page.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("path", "raw", "status", "code"),
    [
        (
            "/predict",
            '{"age": 1' + "1" * 400 + ', "income": 1, "credit_score": 600, "employment_years": 1}',
            422,
            "validation_failed",
        ),
        (
            "/monitoring/predictions",
            '{"features": {}, "probability": 1' + "0" * 400 + "}",
            422,
            "validation_failed",
        ),
        ("/predict", "[" * 5000 + "]" * 5000, 400, "malformed_json"),
    ],
)
def test_hostile_numbers_and_nesting_are_client_errors(
    client: Any, path: str, raw: str, status: int, code: str
) -> None:
    assert_error(client.post(path, data=raw, content_type="application/json"), status, code)


def test_non_ascii_digits_in_window_are_a_bad_query(client: Any) -> None:
    assert_error(client.get("/monitoring/stats?window=%C2%B2"), 400, "bad_query")


def test_force_must_be_a_boolean(client: Any, service: Any) -> None:
    v2 = register_copy(service.registry, status="rejected", reason="gates failed")
    assert_error(
        post(client, "/model/promote", {"version": v2, "force": "false"}, headers=AUTH),
        422,
        "validation_failed",
    )
    assert_error(
        post(client, "/model/promote", {"version": v2}, headers=AUTH), 409, "version_rejected"
    )
    assert_error(post(client, "/model/rollback", {"to": v2}, headers=AUTH), 409, "version_rejected")


@pytest.mark.parametrize(
    ("path", "suggestion"),
    [
        ("/stats", "/monitoring/stats"),
        ("/drift", "/monitoring/drift"),
        ("/predcit", "/predict"),
        ("/model/infos", "/model/info"),
        ("/nowhere-near-anything", None),
    ],
)
def test_a_near_miss_404_suggests_the_real_route(
    client: Any, path: str, suggestion: str | None
) -> None:
    body = assert_error(client.get(path), 404, "not_found")
    message = body["message"]
    if suggestion is None:
        assert "did you mean" not in message and "GET /openapi.json" in message
    else:
        assert message == f"no route GET {path}; did you mean {suggestion}?"


def test_promote_with_other_fields_needs_force(client: Any, service: Any) -> None:
    """A promotion that changes what clients must send is refused (409 schema_change, the
    fields named), unless forced: every request shaped for the old fields would get 422."""
    from selfheal.schema import FeatureSchema

    current = service.registry.load("v0001").schema
    fewer = FeatureSchema(features=current.features[:3], target=current.target)
    version = register_copy(service.registry, schema=fewer)
    headers = {"Authorization": "Bearer s3cret"}
    refused = client.post("/model/promote", json={"version": version}, headers=headers)
    body = assert_error(refused, 409, "schema_change")
    dropped = current.names[3]
    assert body["details"] == {"production": "v0001", "added": [], "removed": [dropped]}
    assert f"drop {dropped}" in body["message"] and "force" in body["message"]
    assert service.registry.production() == "v0001"
    forced = client.post(
        "/model/promote", json={"version": version, "force": True}, headers=headers
    )
    assert forced.status_code == 200 and forced.get_json()["production"] == version
