from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from selfheal.errors import IntegrityError, NotFoundError, RegistryError
from selfheal.home import Home
from selfheal.registry import Registry, check_version_name


@pytest.fixture
def trained_home(trained_home_any: Home) -> Home:
    """Every test here runs on SQLite and on PostgreSQL (conftest's `backend`)."""
    return trained_home_any


def _register_copy(home: Home, **kw: object) -> str:
    """A new version reusing v0001's artifacts (fast: no training)."""
    reg = home.registry
    model = reg.load("v0001")
    frame, scores = reg.reference("v0001")
    args = {
        "pipeline": model.pipeline,
        "schema": model.schema,
        "metrics": model.meta["metrics"],
        "threshold": 0.5,
        "reference": frame,
        "reference_scores": scores,
        "parent": "v0001",
        "actor": "test",
    }
    args.update(kw)
    return reg.register(**args)  # type: ignore[arg-type]


def test_bootstrap_registers_and_promotes_v0001(trained_home: Home) -> None:
    reg = trained_home.registry
    assert reg.production() == "v0001"
    meta = reg.meta("v0001")
    assert set(meta["sha256"]) == {"model.joblib", "reference.npz", "sketch.npz"}
    for key in ("metrics", "schema", "params", "data", "libraries", "calibrator", "created_at"):
        assert meta[key], key
    assert meta["data"]["fingerprint"] and meta["data"]["rows"] == 3000
    assert set(meta["libraries"]) == {"python", "scikit-learn", "numpy", "pandas", "joblib"}
    frame, scores = reg.reference("v0001")
    assert len(frame) == 3000 and "default" in frame.columns and len(scores) == 600


def test_versions_are_write_once(trained_home: Home) -> None:
    path = trained_home.registry.path("v0001") / "model.joblib"
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # root ignores mode bits
    assert oct(path.stat().st_mode & 0o777) == "0o444"


def test_concurrent_registrations_get_unique_versions(trained_home: Home) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(_register_copy(trained_home))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [f"v{i:04d}" for i in range(2, 8)]
    assert not [p for p in trained_home.registry.root.iterdir() if p.name.startswith(".staging")]


def test_concurrent_registrations_across_registry_objects(trained_home: Home) -> None:
    # Two Registry objects on one root stand in for two processes: only flock protects them.
    other = Registry(trained_home.registry.root)
    a = _register_copy(trained_home)
    frame, scores = other.reference("v0001")
    m = other.load("v0001")
    b = other.register(
        pipeline=m.pipeline,
        schema=m.schema,
        metrics={},
        threshold=0.5,
        reference=frame,
        reference_scores=scores,
    )
    assert {a, b} == {"v0002", "v0003"}


def test_promote_and_rollback_keep_history_and_audit(trained_home: Home) -> None:
    reg = trained_home.registry
    v2 = _register_copy(trained_home)
    v3 = _register_copy(trained_home)
    reg.promote(v2, reason="better", actor="test")
    reg.promote(v3, reason="even better", actor="test")
    ptr = reg.rollback(actor="test", reason="worse live")
    assert (ptr["version"], ptr["previous"]) == (v2, v3)
    ptr = reg.rollback(actor="test")
    assert ptr["version"] == "v0001"
    with pytest.raises(RegistryError, match="no previous production version"):
        reg.rollback(actor="test")
    statuses = {r["version"]: r["status"] for r in reg.list()}
    assert statuses == {"v0001": "production", v2: "archived", v3: "archived"}
    events = [
        (e["event"], e["version"], e["previous_version"])
        for e in reversed(
            __import__("selfheal.store", fromlist=["x"]).recent_events(trained_home.conn)
        )
    ]
    assert ("promoted", v2, "v0001") in events and ("rolled_back", v2, v3) in events
    assert ("rolled_back", "v0001", v2) in events


def test_rollback_to_a_named_version(trained_home: Home) -> None:
    reg = trained_home.registry
    v2 = _register_copy(trained_home)
    reg.promote(v2, actor="test")
    assert reg.rollback(to="v0001", actor="test")["version"] == "v0001"
    with pytest.raises(RegistryError, match="already in production"):
        reg.rollback(to="v0001", actor="test")


def test_pointer_is_replaced_atomically(trained_home: Home) -> None:
    reg = trained_home.registry
    v2 = _register_copy(trained_home)
    if trained_home.settings.postgres:
        # The pointer is a row, changed in the transaction that holds the registry's
        # advisory lock; no file is written next to the artifacts.
        conn = trained_home.conn
        row = conn.execute("SELECT data FROM registry_pointers WHERE name = 'production'")
        assert json.loads(row.fetchone()[0])["version"] == "v0001"
        reg.promote(v2, actor="test")
        row = conn.execute("SELECT data FROM registry_pointers WHERE name = 'production'")
        assert json.loads(row.fetchone()[0])["version"] == v2
        assert reg.pointer()["version"] == v2  # type: ignore[index]
        assert not reg.pointer_path.exists()
        versions = conn.execute("SELECT version FROM registry_versions ORDER BY version")
        assert [r[0] for r in versions.fetchall()] == ["v0001", v2]
        return
    before = reg.pointer_path.stat().st_ino
    reg.promote(v2, actor="test")
    assert reg.pointer_path.stat().st_ino != before  # a new file renamed into place
    assert json.loads(reg.pointer_path.read_text())["version"] == v2
    assert not list(reg.root.glob(".production.json.*"))


def test_rejected_version_needs_force(trained_home: Home) -> None:
    reg = trained_home.registry
    v2 = _register_copy(trained_home, status="rejected", reason="gates failed")
    assert {r["version"]: r["status"] for r in reg.list()}[v2] == "rejected"
    with pytest.raises(RegistryError, match="--force"):
        reg.promote(v2, actor="test")
    assert reg.promote(v2, actor="test", force=True)["version"] == v2


def test_tampered_artifact_is_refused(trained_home: Home) -> None:
    reg = Registry(trained_home.registry.root)  # fresh cache
    path = reg.root / "v0001" / "model.joblib"
    path.chmod(0o644)
    with path.open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(IntegrityError, match="modified, refusing to load"):
        reg.load("v0001")


def test_library_version_mismatch_is_refused(trained_home: Home) -> None:
    reg = Registry(trained_home.registry.root)
    meta_path = reg.root / "v0001" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["libraries"]["scikit-learn"] = "0.0.1"
    meta_path.chmod(0o644)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IntegrityError, match="trained with scikit-learn 0.0.1") as err:
        reg.load("v0001")
    assert err.value.code == "library_mismatch"


@pytest.mark.parametrize(
    "name", ["../x", "v1", "v0001/../../etc", "", "V0001", "v0001 ", "/tmp/v0001"]
)
def test_version_names_from_outside_are_never_paths(name: str, trained_home: Home) -> None:
    with pytest.raises(RegistryError, match="invalid version name"):
        check_version_name(name)
    with pytest.raises(RegistryError):
        trained_home.registry.promote(name, actor="test")


def test_unknown_version_is_not_found(trained_home: Home) -> None:
    with pytest.raises(NotFoundError, match="v0099 does not exist"):
        trained_home.registry.load("v0099")


def test_loaded_model_scores_deterministically(trained_home: Home) -> None:
    m = trained_home.registry.load("v0001")
    X = m.schema.to_matrix([(30.0, 40_000.0, 600.0, 2.0), (60.0, 90_000.0, 800.0, 20.0)])
    p = m.predict_proba(X)
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1)) and p[0] > p[1]


def test_loaded_model_keeps_the_training_column_order(tmp_path: Path) -> None:
    # Regression: meta.json is written with sort_keys; the schema must keep feature order.
    import pandas as pd

    from selfheal.schema import infer_schema
    from selfheal.training import train

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "zeta": rng.normal(size=600),
            "alpha": rng.normal(size=600),
            "mid": rng.choice(["a", "b"], 600).astype(object),
        }
    )
    y = (frame["zeta"] > 0).astype(int).to_numpy()
    schema = infer_schema(frame, target="y")
    result = train(frame, y, schema, seed=0)
    reg = Registry(tmp_path / "reg")
    version = reg.register(
        pipeline=result.pipeline,
        schema=schema,
        metrics=result.metrics,
        threshold=0.5,
        reference=result.reference,
        reference_scores=result.reference_scores,
    )
    loaded = Registry(tmp_path / "reg").load(version)
    assert loaded.schema.names == ["zeta", "alpha", "mid"]
    X = loaded.schema.frame_to_matrix(frame)
    np.testing.assert_array_equal(
        loaded.predict_proba(X), result.pipeline.predict_proba(schema.frame_to_matrix(frame))[:, 1]
    )
