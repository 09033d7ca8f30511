"""A rollback that changes what clients must send needs force, as a promotion does: rolling
from a model with other fields back to the credit model made every client request fail
with 422, while promote refused the same change (409 `schema_change`)."""

from __future__ import annotations

from typing import Any

import pytest

from selfheal import cli
from selfheal.home import Home
from selfheal.schema import FeatureSchema
from tests.conftest import register_copy

AUTH = {"Authorization": "Bearer s3cret"}


def serve_fewer_fields(registry: Any) -> tuple[str, str]:
    """Promote (forced) a copy of v0001 that takes only its first 3 fields; return that
    version and the field v0001 takes in addition."""
    current = registry.load("v0001").schema
    fewer = FeatureSchema(features=current.features[:3], target=current.target)
    version = register_copy(registry, schema=fewer)
    registry.promote(version, actor="test", force=True)
    return version, current.names[3]


@pytest.mark.parametrize("body", [{}, {"to": "v0001"}])
def test_api_rollback_to_other_fields_needs_force(
    body: dict[str, Any], client: Any, service: Any
) -> None:
    version, extra = serve_fewer_fields(service.registry)
    refused = client.post("/model/rollback", json=body, headers=AUTH)
    assert refused.status_code == 409, refused.get_json()
    err = refused.get_json()["error"]
    assert err["code"] == "schema_change"
    assert err["details"] == {"production": version, "added": [extra], "removed": []}
    assert f"add {extra} and drop nothing" in err["message"]
    assert '"force": true) to roll back anyway' in err["message"]
    assert service.registry.production() == version
    forced = client.post("/model/rollback", json={**body, "force": True}, headers=AUTH)
    assert forced.status_code == 200, forced.get_json()
    assert forced.get_json()["production"] == "v0001"
    assert service.registry.production() == "v0001"


def test_api_rollback_force_must_be_a_boolean(client: Any, service: Any) -> None:
    serve_fewer_fields(service.registry)
    resp = client.post("/model/rollback", json={"force": "yes"}, headers=AUTH)
    assert resp.status_code == 422 and resp.get_json()["error"]["details"][0]["field"] == "force"


def test_api_rollback_with_the_same_fields_needs_no_force(client: Any, service: Any) -> None:
    version = register_copy(service.registry)
    service.registry.promote(version, actor="test")
    resp = client.post("/model/rollback", json={}, headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["production"] == "v0001"


def test_cli_rollback_to_other_fields_needs_force(
    trained_home: Home, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    version, extra = serve_fewer_fields(trained_home.registry)
    monkeypatch.setenv("SELFHEAL_HOME", str(trained_home.settings.home_path))
    assert cli.main(["rollback"]) == cli.EXIT_FAILED
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("selfheal: error: v0001 takes other fields")
    assert f"add {extra}" in err and "pass --force" in err and "roll back anyway" in err
    assert trained_home.registry.production() == version
    assert cli.main(["rollback", "--force"]) == cli.EXIT_OK
    out, err = capfd.readouterr()
    assert out.startswith(f"rolled back from {version} to v0001")
    assert err.startswith("selfheal: warning: v0001 takes other fields")
    assert trained_home.registry.production() == "v0001"
