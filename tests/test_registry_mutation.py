"""The registry's exact behaviour (issue 16, mutation testing of selfheal/registry.py): version
names, write-once versions and their manifest, sha256 verification, the atomic production
pointer with its history, rollback, shadow, the listing, and the messages users read. A real
registry on tmp_path with a small real scikit-learn model; no mocks (only os.fsync and os.rename
are recorded, then called through)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import locale
import logging
import os
import re
import shutil
import sys
import threading
import zlib
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from selfheal.errors import (
    IntegrityError,
    InvalidVersionError,
    NotFoundError,
    RegistryError,
    cli,
)
from selfheal.registry import (
    CACHE_SIZE,
    STATUSES,
    FileCoordination,
    LoadedModel,
    Registry,
    _check_sample,
    atomic_write_json,
    check_version_name,
    library_versions,
    load_reference,
    save_reference,
    sha256_file,
)
from selfheal.schema import CATEGORICAL, NUMERIC, Feature, FeatureSchema

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
SCHEMA = FeatureSchema(features=(Feature("a", NUMERIC), Feature("b", NUMERIC, nullable=True)))
FILES = ("model.joblib", "reference.npz", "sketch.npz")


def training_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=60), rng.normal(size=60)
    return pd.DataFrame({"a": a, "b": b, "default": (a + 0.5 * b > 0).astype(int)})


FRAME = training_frame()
PIPE = LogisticRegression().fit(FRAME[["a", "b"]].to_numpy(), FRAME["default"].to_numpy())
SCORES = np.linspace(0.0, 1.0, 60)


class Home:
    """A registry on tmp_path with its audit events collected."""

    def __init__(self, root: Path, coordination: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.reg = Registry(root, record_event=self.events.append, coordination=coordination)

    def register(self, **kw: Any) -> str:
        args: dict[str, Any] = {
            "pipeline": PIPE,
            "schema": SCHEMA,
            "metrics": {"f1": 0.5},
            "threshold": 0.5,
            "reference": FRAME,
            "reference_scores": SCORES,
            "actor": "test",
        }
        args.update(kw)
        return self.reg.register(**args)

    def last(self) -> dict[str, Any]:
        event = dict(self.events[-1])
        assert ISO.match(event.pop("created_at"))
        return event


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "registry")


def writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def edit_meta(reg: Registry, version: str, **changes: Any) -> None:
    path = writable(reg.root / version / "meta.json")
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))


def pointer_without_time(reg: Registry) -> dict[str, Any]:
    pointer = reg.pointer()
    assert pointer is not None
    assert ISO.match(pointer.pop("promoted_at"))
    return pointer


# -- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["v0001", "v9999", "v" + "1" * 31, "v0000"])
def test_a_version_name_is_v_and_4_to_31_ascii_digits(name: str) -> None:
    assert check_version_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["v001", "v" + "1" * 32, "V0001", "v0001\n", "\nv0001", "xv0001", "v٠٠٠١", "v00a1", "", "v"],
)
def test_other_names_are_refused_with_what_a_name_looks_like(name: str) -> None:
    with pytest.raises(InvalidVersionError) as err:
        check_version_name(name)
    assert err.value.code == "invalid_version"
    assert err.value.message == (
        f"invalid version name {name!r}: versions look like v0001 (v and 4 to 31 digits)"
    )


@pytest.mark.parametrize("name", [None, 1, ["v0001"]])
def test_a_name_that_is_not_text_is_refused(name: Any) -> None:
    with pytest.raises(InvalidVersionError, match=re.escape(f"invalid version name {name!r}:")):
        check_version_name(name)


def test_statuses_and_cache_size() -> None:
    assert STATUSES == ("production", "candidate", "archived", "rejected")
    assert CACHE_SIZE == 4


# -- registering -------------------------------------------------------------------------------
def test_a_registered_version_has_its_manifest_and_read_only_files(home: Home) -> None:
    reg = home.reg
    assert reg.root.is_dir() and reg.version_names() == []
    version = home.register(
        metrics={"f1": 0.75, "auc": 0.8},
        threshold=1,
        params={"classifier": "logreg"},
        data={"rows": 60},
        calibrator={"method": "isotonic"},
        parent="v0007",
        trigger="drift",
        reason="retrained",
        gates=[{"gate": "auc", "passed": True}],
        actor="alice",
    )
    assert version == "v0001" and reg.version_names() == ["v0001"]
    folder = reg.root / "v0001"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, "meta.json"])
    for p in folder.iterdir():
        assert p.stat().st_mode & 0o777 == 0o444, p.name
    text = (folder / "meta.json").read_text()
    meta = json.loads(text)
    assert text == json.dumps(meta, indent=2, sort_keys=True) + "\n"
    assert ISO.match(meta.pop("created_at"))
    assert meta == {
        "version": "v0001",
        "sha256": {n: sha256_file(folder / n) for n in FILES},
        "metrics": {"f1": 0.75, "auc": 0.8},
        "threshold": 1.0,
        "schema": SCHEMA.to_dict(),
        "params": {"classifier": "logreg"},
        "data": {"rows": 60},
        "calibrator": {"method": "isotonic"},
        "libraries": library_versions(),
        "parent": "v0007",
        "trigger": "drift",
        "reason": "retrained",
        "status": "candidate",
        "gates": [{"gate": "auc", "passed": True}],
    }
    assert type(meta["threshold"]) is float
    assert home.last() == {
        "event": "registered",
        "version": "v0001",
        "previous_version": "v0007",
        "reason": "retrained",
        "actor": "alice",
        "details": {
            "metrics": {"f1": 0.75, "auc": 0.8},
            "trigger": "drift",
            "gates": [{"gate": "auc", "passed": True}],
        },
    }
    assert not [p for p in reg.root.iterdir() if p.name.startswith(".staging")]


def test_a_registration_takes_the_defaults(home: Home) -> None:
    version = home.register()
    meta = home.reg.meta(version)
    assert (meta["params"], meta["data"], meta["calibrator"], meta["parent"]) == (
        {},
        {},
        None,
        None,
    )
    assert (meta["trigger"], meta["reason"], meta["status"], meta["gates"]) == (
        "manual",
        "",
        "candidate",
        [],
    )
    assert home.last() == {
        "event": "registered",
        "version": "v0001",
        "previous_version": None,
        "reason": "registered by test",
        "actor": "test",
        "details": {"metrics": {"f1": 0.5}, "trigger": "manual"},
    }
    Home(home.reg.root).reg.register(
        pipeline=PIPE,
        schema=SCHEMA,
        metrics={},
        threshold=0.5,
        reference=FRAME,
        reference_scores=SCORES,
    )
    assert home.reg.meta("v0002")["schema"] == SCHEMA.to_dict()


def test_a_rejected_version_is_registered_as_rejected(home: Home) -> None:
    version = home.register(status="rejected", reason="gates failed")
    assert home.reg.meta(version)["status"] == "rejected"
    event = home.last()
    assert (event["event"], event["reason"]) == ("rejected", "gates failed")
    assert event["details"] == {"metrics": {"f1": 0.5}, "trigger": "manual"}


@pytest.mark.parametrize("status", ["production", "archived", "Candidate", ""])
def test_a_new_version_is_only_candidate_or_rejected(home: Home, status: str) -> None:
    with pytest.raises(RegistryError) as err:
        home.register(status=status)
    assert err.value.message == (
        f"a new version's status must be candidate or rejected, not {status!r}"
    )
    assert list(home.reg.root.iterdir()) == [] and home.events == []


def test_versions_are_numbered_after_the_highest_folder(home: Home) -> None:
    reg = home.reg
    (reg.root / "v0041").mkdir()
    (reg.root / "v0050").write_text("a file, not a version")
    (reg.root / "v123").mkdir()
    (reg.root / "v0060x").mkdir()
    assert reg.version_names() == ["v0041"]
    assert home.register() == "v0042"
    (reg.root / "v9999").mkdir()
    assert home.register() == "v10000"
    assert home.register() == "v10001"
    assert reg.version_names() == ["v0041", "v0042", "v9999", "v10000", "v10001"]


def test_a_failed_registration_leaves_nothing(home: Home) -> None:
    reg = home.reg
    with pytest.raises(ValueError):
        home.register(metrics={"f1": float("nan")})  # meta.json is strict JSON
    with pytest.raises(KeyError):
        home.register(reference=FRAME[["a", "default"]])  # no column b
    assert list(reg.root.iterdir()) == [reg.root / ".lock"] and home.events == []
    assert home.register() == "v0001"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name descriptors")
def test_a_version_is_synced_then_renamed_into_place(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src: Any, dst: Any) -> None:
        calls.append(("rename", f"{os.path.realpath(src)} -> {os.path.realpath(dst)}"))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    home.register()
    root = str(home.reg.root.resolve())
    (i,) = [k for k, (kind, _) in enumerate(calls) if kind == "rename"]
    staging, target = calls[i][1].split(" -> ")
    assert target == f"{root}/v0001" and Path(staging).name.startswith(".staging-")
    synced = sorted(Path(p).name for kind, p in calls[:i] if Path(p).parent == Path(staging))
    assert synced == sorted([*FILES, "meta.json"])
    assert calls[i + 1 :] == [("fsync", root)]


# -- reading a version -------------------------------------------------------------------------
def test_an_unknown_version_is_not_found_and_says_how_to_list(home: Home) -> None:
    (home.reg.root / "v0002").mkdir()  # a folder without a manifest is not a version
    for name in ("v0001", "v0002"):
        with pytest.raises(NotFoundError) as err:
            home.reg.meta(name)
        assert err.value.code == "unknown_version"
        assert err.value.message == (
            f"model version {name} does not exist; `{cli('models')}` lists the versions"
        )


def test_a_corrupt_manifest_is_an_integrity_error(home: Home) -> None:
    version = home.register()
    writable(home.reg.root / version / "meta.json").write_text("{")
    with pytest.raises(IntegrityError) as err:
        home.reg.meta(version)
    assert err.value.code == "artifact_integrity"
    assert err.value.message == (
        "v0001/meta.json is corrupt: Expecting property name enclosed in double quotes"
    )
    assert home.reg.path(version) == home.reg.root / "v0001"
    assert home.reg.sketch_path(version) == home.reg.root / "v0001" / "sketch.npz"


def test_verify_checks_every_sha256_and_returns_the_manifest(home: Home) -> None:
    version = home.register()
    reg = home.reg
    assert reg.verify(version) == reg.meta(version)
    model = writable(reg.root / version / "model.joblib")
    digest = sha256_file(model)
    with model.open("ab") as fh:
        fh.write(b"x")
    actual = sha256_file(model)
    with pytest.raises(IntegrityError) as err:
        reg.verify(version)
    assert err.value.code == "artifact_integrity"
    assert err.value.message == (
        f"v0001/model.joblib has sha256 {actual[:12]}..., but its manifest says "
        f"{digest[:12]}...; the artifact was modified, refusing to load it"
    )
    assert err.value.details == {"version": "v0001", "file": "model.joblib"}
    with pytest.raises(IntegrityError, match="modified"):
        Registry(reg.root).load(version)


def test_verify_refuses_a_missing_artifact(home: Home) -> None:
    version = home.register()
    (home.reg.root / version / "sketch.npz").unlink()
    with pytest.raises(IntegrityError) as err:
        home.reg.verify(version)
    assert err.value.message == (
        "v0001/sketch.npz is missing; restore the registry from backup or register a new version"
    )
    (home.reg.root / version / "sketch.npz").mkdir()  # a folder is not the file
    with pytest.raises(IntegrityError, match="sketch.npz is missing"):
        home.reg.verify(version)


def test_verify_refuses_another_scikit_learn(home: Home) -> None:
    version = home.register()
    edit_meta(home.reg, version, libraries={**library_versions(), "scikit-learn": "0.1"})
    with pytest.raises(IntegrityError) as err:
        home.reg.verify(version)
    assert err.value.code == "library_mismatch"
    assert err.value.message == (
        f"v0001 was trained with scikit-learn 0.1, but {sklearn.__version__} is installed; "
        f"retrain it (`{cli('train')}`) or install scikit-learn==0.1"
    )
    assert err.value.details == {
        "version": "v0001",
        "trained": "0.1",
        "running": sklearn.__version__,
    }
    edit_meta(home.reg, version, libraries=None)
    with pytest.raises(IntegrityError, match="trained with scikit-learn None"):
        home.reg.verify(version)
    edit_meta(home.reg, version, libraries={"numpy": np.__version__})
    with pytest.raises(IntegrityError, match="trained with scikit-learn None"):
        home.reg.verify(version)


def test_a_manifest_without_digests_checks_only_libraries(home: Home) -> None:
    version = home.register()
    edit_meta(home.reg, version, sha256=None)
    with writable(home.reg.root / version / "model.joblib").open("ab") as fh:
        fh.write(b"x")
    assert home.reg.verify(version)["version"] == "v0001"


def test_sha256_file_is_the_files_digest(tmp_path: Path) -> None:
    path = tmp_path / "big"
    data = bytes(range(256)) * 8193  # more than one 1 MiB chunk
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(b"")
    assert sha256_file(path) == hashlib.sha256(b"").hexdigest()


def test_library_versions_names_the_five_libraries() -> None:
    import platform

    assert library_versions() == {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


def test_load_gives_the_verified_model_and_caches_four(home: Home) -> None:
    reg = home.reg
    versions = [home.register(threshold=0.25 * (i + 1)) for i in range(6)]
    edit_meta(reg, versions[1], threshold=None)
    m = reg.load("v0001")
    assert isinstance(m, LoadedModel)
    assert (m.version, m.threshold, m.schema) == ("v0001", 0.25, SCHEMA)
    assert m.meta == reg.meta("v0001")
    assert reg.load("v0002").threshold == 0.5  # no threshold in the manifest
    X = FRAME[["a", "b"]].to_numpy()
    p = m.predict_proba(X)
    assert p.dtype == np.float64 and p.shape == (60,)
    np.testing.assert_array_equal(p, PIPE.predict_proba(X)[:, 1])
    # A cached model is served again without reading its files ...
    with writable(reg.root / "v0001" / "model.joblib").open("ab") as fh:
        fh.write(b"x")
    assert reg.load("v0001") is m
    # ... until 4 more recently used ones push it out; then it is verified again.
    for v in ("v0002", "v0003", "v0004", "v0005"):
        reg.load(v)
    with pytest.raises(IntegrityError, match="modified"):
        reg.load("v0001")
    # Least recently *used*, not loaded: v0003 is used again, so v0004 goes first.
    fresh = Registry(reg.root)
    loaded = {v: fresh.load(v) for v in ("v0003", "v0004", "v0005", "v0006")}
    assert fresh.load("v0003") is loaded["v0003"]
    fresh.load("v0002")
    assert fresh.load("v0003") is loaded["v0003"]
    assert fresh.load("v0005") is loaded["v0005"] and fresh.load("v0006") is loaded["v0006"]
    assert fresh.load("v0004") is not loaded["v0004"]


def test_reference_rows_round_trip_with_missing_values(tmp_path: Path) -> None:
    schema = FeatureSchema(
        features=(
            Feature("x", NUMERIC, nullable=True),
            Feature("c", CATEGORICAL, levels=("p", "q"), nullable=True),
        )
    )
    frame = pd.DataFrame(
        {
            "x": [1.5, np.nan, -2.0],
            "c": pd.Series(["p", None, "q"], dtype=object),
            "default": [1, 0, 1],
        }
    )
    path = tmp_path / "reference.npz"
    save_reference(path, frame, np.array([0.25, 0.5, 0.75]), schema)
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == ["c0", "c1", "c2", "columns", "n1", "scores"]
    back, scores = load_reference(path)
    assert list(back.columns) == ["x", "c", "default"]
    assert back["x"].tolist()[0] == 1.5 and np.isnan(back["x"].tolist()[1])
    assert back["c"].isna().tolist() == [False, True, False]
    assert (back["c"][0], back["c"][2]) == ("p", "q")
    assert back["default"].tolist() == [1.0, 0.0, 1.0]
    assert scores.dtype == np.float64 and scores.tolist() == [0.25, 0.5, 0.75]

    home = Home(tmp_path / "reg")
    v = home.register(
        schema=schema,
        reference=frame,
        reference_scores=[0.25, 0.5, 0.75],
        pipeline=PIPE,
    )
    back2, scores2 = home.reg.reference(v)
    assert back2["c"].isna().tolist() == [False, True, False] and back2["c"][2] == "q"
    assert scores2.tolist() == [0.25, 0.5, 0.75]
    with writable(home.reg.root / v / "reference.npz").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(IntegrityError, match="reference.npz has sha256"):
        home.reg.reference(v)


# -- the production pointer --------------------------------------------------------------------
def test_promote_writes_the_whole_pointer_and_an_event(home: Home) -> None:
    reg = home.reg
    assert reg.pointer() is None and reg.production() is None
    v1, v2 = home.register(), home.register()
    first = reg.promote(v1, actor="alice", details={"why": "first"})
    assert ISO.match(first.pop("promoted_at"))
    assert first == {
        "version": "v0001",
        "previous": None,
        "reason": "promoted by alice",
        "actor": "alice",
        "history": [],
        "served": ["v0001"],
    }
    assert home.last() == {
        "event": "promoted",
        "version": "v0001",
        "previous_version": None,
        "reason": "promoted by alice",
        "actor": "alice",
        "details": {"why": "first"},
    }
    second = reg.promote(v2, reason="better")
    assert ISO.match(second.pop("promoted_at"))
    assert second == {
        "version": "v0002",
        "previous": "v0001",
        "reason": "better",
        "actor": "cli",
        "history": ["v0001"],
        "served": ["v0001", "v0002"],
    }
    assert pointer_without_time(reg) == second and reg.production() == "v0002"
    text = reg.pointer_path.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert home.last()["details"] == {}
    assert home.last()["previous_version"] == "v0001"
    assert not [p for p in reg.root.iterdir() if p.name.startswith(".production.json.")]


def test_promote_refuses_the_version_in_production_and_a_rejected_one(home: Home) -> None:
    reg = home.reg
    v1, bad = home.register(), home.register(status="rejected")
    reg.promote(v1)
    with pytest.raises(RegistryError) as err:
        reg.promote(v1)
    assert (err.value.code, err.value.message) == (
        "already_production",
        "v0001 is already in production",
    )
    with pytest.raises(RegistryError) as err:
        reg.promote(bad)
    assert err.value.code == "version_rejected"
    assert err.value.message == (
        'v0002 was rejected by the evaluation gates; pass --force (API: "force": true) to '
        "promote it anyway"
    )
    assert reg.production() == "v0001"
    assert reg.promote(bad, force=True)["version"] == "v0002"


def test_promote_refuses_a_tampered_version_and_leaves_the_pointer(home: Home) -> None:
    reg = home.reg
    v1, v2 = home.register(), home.register()
    reg.promote(v1)
    before = reg.pointer_path.read_text()
    with writable(reg.root / v2 / "model.joblib").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(IntegrityError):
        reg.promote(v2)
    assert reg.pointer_path.read_text() == before
    with pytest.raises(NotFoundError):
        reg.promote("v0003")


def test_promote_repairs_a_corrupt_pointer(home: Home) -> None:
    reg = home.reg
    v1 = home.register()
    reg.pointer_path.write_text('{"version": ')
    with pytest.raises(IntegrityError) as err:
        reg.pointer()
    assert err.value.message == (
        f"{reg.pointer_path} is corrupt (Expecting value); restore it from backup or run "
        f"`{cli('promote VERSION')}`"
    )
    with pytest.raises(IntegrityError):
        reg.production()
    pointer = reg.promote(v1)
    assert (pointer["previous"], pointer["history"], pointer["served"]) == (None, [], ["v0001"])


def test_the_history_keeps_the_last_100_and_served_sorts_by_number(home: Home) -> None:
    reg = home.reg
    v1, v2 = home.register(), home.register()
    old = [f"v{n:04d}" for n in range(1000, 1100)]  # 100 older productions
    reg.pointer_path.write_text(
        json.dumps({"version": v1, "history": old, "served": ["v10000", "v9999", "v0001"]})
    )
    pointer = reg.promote(v2)
    assert pointer["history"] == [*old[1:], "v0001"]
    assert pointer["served"] == ["v0001", "v0002", "v9999", "v10000"]
    reg.pointer_path.write_text(json.dumps({"version": v1}))
    pointer = reg.promote(v2)
    assert (pointer["history"], pointer["served"]) == (["v0001"], ["v0002"])


# -- rollback ----------------------------------------------------------------------------------
def test_rollback_without_production_or_history_says_what_to_do(home: Home) -> None:
    reg = home.reg
    v1 = home.register()
    with pytest.raises(RegistryError) as err:
        reg.rollback()
    assert err.value.code == "no_production"
    assert err.value.message == (
        f"there is no production model to roll back; run `{cli('init')}` or "
        f"`{cli('promote VERSION')}`"
    )
    reg.promote(v1)
    with pytest.raises(RegistryError) as err:
        reg.rollback()
    assert err.value.code == "no_previous"
    assert err.value.message == (
        "v0001 has no previous production version to roll back to; use --to VERSION"
    )
    with pytest.raises(RegistryError) as err:
        reg.rollback(to="v0001")
    assert (err.value.code, err.value.message) == (
        "already_production",
        "v0001 is already in production",
    )


def test_rollback_returns_to_the_previous_version_and_goes_further_back(home: Home) -> None:
    reg = home.reg
    v1, v2, v3 = home.register(), home.register(), home.register()
    reg.promote(v1)
    reg.promote(v2)
    reg.promote(v3)
    pointer = reg.rollback(actor="bob", details={"k": 1})
    assert ISO.match(pointer.pop("promoted_at"))
    assert pointer == {
        "version": "v0002",
        "previous": "v0003",
        "reason": "rolled back by bob",
        "actor": "bob",
        "history": ["v0001"],
        "served": ["v0001", "v0002", "v0003"],
    }
    assert pointer_without_time(reg) == pointer
    assert home.last() == {
        "event": "rolled_back",
        "version": "v0002",
        "previous_version": "v0003",
        "reason": "rolled back by bob",
        "actor": "bob",
        "details": {"k": 1},
    }
    pointer = reg.rollback(reason="worse")
    assert (pointer["version"], pointer["previous"], pointer["history"]) == ("v0001", "v0002", [])
    assert (pointer["reason"], pointer["actor"]) == ("worse", "cli")
    assert home.last()["details"] == {}


def test_rollback_to_a_version_cuts_the_history_at_its_last_time(home: Home) -> None:
    reg = home.reg
    for _ in range(4):
        home.register()
    reg.pointer_path.write_text(
        json.dumps(
            {"version": "v0003", "history": ["v0001", "v0002", "v0001", "v0004"], "served": []}
        )
    )
    pointer = reg.rollback(to="v0001")
    assert (pointer["version"], pointer["previous"], pointer["history"]) == (
        "v0001",
        "v0003",
        ["v0001", "v0002"],
    )
    assert pointer["served"] == ["v0001"]
    pointer = reg.rollback(to="v0004")  # never served before: the history stays
    assert (pointer["history"], pointer["served"]) == (["v0001", "v0002"], ["v0001", "v0004"])


def test_rollback_refuses_a_rejected_target_and_runs_the_check_under_the_lock(
    home: Home,
) -> None:
    reg = home.reg
    v1, bad, v3 = home.register(), home.register(status="rejected"), home.register()
    reg.promote(v1)
    reg.promote(bad, force=True)
    reg.promote(v3)
    before = reg.pointer_path.read_text()
    with pytest.raises(RegistryError) as err:
        reg.rollback()
    assert err.value.code == "version_rejected"
    assert err.value.message == (
        "v0002 was rejected by the evaluation gates; a rollback only returns to versions that "
        f"may serve. Use `{cli('promote v0002 --force')}` to serve it deliberately"
    )
    assert reg.pointer_path.read_text() == before
    seen: list[str] = []

    def refuse(target: str) -> None:
        seen.append(target)
        raise RegistryError("not this one", code="refused")

    with pytest.raises(RegistryError, match="not this one"):
        reg.rollback(to="v0001", check=refuse)
    assert seen == ["v0001"] and reg.pointer_path.read_text() == before
    assert reg.rollback(to="v0001", check=seen.append)["version"] == "v0001"
    assert seen == ["v0001", "v0001"]


def test_rollback_checks_the_name_first(home: Home) -> None:
    with pytest.raises(InvalidVersionError):
        home.reg.rollback(to="../v0001")  # before anything else: there is no production


# -- shadow ------------------------------------------------------------------------------------
def test_shadow_starts_moves_and_stops_with_events(home: Home) -> None:
    reg = home.reg
    v1, v2 = home.register(), home.register()
    assert reg.shadow() is None
    reg.set_shadow(None)  # nothing to stop: no event
    assert home.events[-1]["event"] == "registered"
    reg.set_shadow(v1, reason="try it", actor="carol")
    data = json.loads(reg.shadow_path.read_text())
    assert ISO.match(data.pop("since"))
    assert data == {"version": "v0001", "reason": "try it", "actor": "carol"}
    assert reg.shadow() == "v0001"
    assert home.last() == {
        "event": "shadow_started",
        "version": "v0001",
        "previous_version": None,
        "reason": "try it",
        "actor": "carol",
        "details": {},
    }
    reg.set_shadow(v2)
    assert home.last() == {
        "event": "shadow_started",
        "version": "v0002",
        "previous_version": "v0001",
        "reason": "shadow started",
        "actor": "cli",
        "details": {},
    }
    reg.set_shadow(None, actor="dave")
    assert reg.shadow() is None and not reg.shadow_path.exists()
    assert home.last() == {
        "event": "shadow_stopped",
        "version": "v0002",
        "previous_version": None,
        "reason": "shadow stopped",
        "actor": "dave",
        "details": {},
    }
    reg.set_shadow(v1)
    reg.set_shadow(None, reason="enough")
    assert home.last()["reason"] == "enough"


def test_a_broken_shadow_file_means_no_shadow(home: Home) -> None:
    reg = home.reg
    for text in ("{", '{"version": 3}', "{}", '{"version": null}'):
        reg.shadow_path.write_text(text)
        assert reg.shadow() is None, text
    reg.shadow_path.write_text('{"version": "v0009"}')
    assert reg.shadow() == "v0009"


def test_set_shadow_verifies_the_version(home: Home) -> None:
    reg = home.reg
    v1 = home.register()
    with writable(reg.root / v1 / "sketch.npz").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(IntegrityError):
        reg.set_shadow(v1)
    with pytest.raises(NotFoundError):
        reg.set_shadow("v0002")
    assert not reg.shadow_path.exists() and home.events[-1]["event"] == "registered"


# -- the listing -------------------------------------------------------------------------------
def test_list_gives_each_versions_status_and_summary(home: Home) -> None:
    reg = home.reg
    assert reg.list() == []
    v1 = home.register(
        metrics={"f1": 0.5, "auc": 0.7, "brier": 0.2, "precision": 0.4, "recall": 0.6, "x": 1},
        params={"classifier": "logreg"},
        data={"rows": 60},
        parent=None,
        trigger="bootstrap",
        reason="first",
    )
    v2 = home.register(status="rejected", parent="v0001")
    v3 = home.register(metrics={})
    v4 = home.register()
    reg.promote(v1)
    reg.promote(v3)
    rows = reg.list()
    for row in rows:
        assert ISO.match(row.pop("created_at"))
    assert rows == [
        {
            "version": "v0001",
            "status": "archived",
            "parent": None,
            "trigger": "bootstrap",
            "reason": "first",
            "classifier": "logreg",
            "metrics": {"f1": 0.5, "auc": 0.7, "brier": 0.2, "precision": 0.4, "recall": 0.6},
            "rows": 60,
        },
        {
            "version": "v0002",
            "status": "rejected",
            "parent": "v0001",
            "trigger": "manual",
            "reason": "",
            "classifier": None,
            "metrics": {"f1": 0.5, "auc": None, "brier": None, "precision": None, "recall": None},
            "rows": None,
        },
        {
            "version": "v0003",
            "status": "production",
            "parent": None,
            "trigger": "manual",
            "reason": "",
            "classifier": None,
            "metrics": {"f1": None, "auc": None, "brier": None, "precision": None, "recall": None},
            "rows": None,
        },
        {
            "version": "v0004",
            "status": "candidate",
            "parent": None,
            "trigger": "manual",
            "reason": "",
            "classifier": None,
            "metrics": {"f1": 0.5, "auc": None, "brier": None, "precision": None, "recall": None},
            "rows": None,
        },
    ]
    # A rejected version promoted with force is production, and rejected once replaced.
    reg.promote(v2, force=True)
    assert [r["status"] for r in reg.list()] == ["archived", "production", "archived", "candidate"]
    reg.promote(v4)
    assert [r["status"] for r in reg.list()] == ["archived", "rejected", "archived", "production"]
    edit_meta(reg, v4, metrics=None, params=None, data=None)
    row = reg.list()[3]
    assert (row["metrics"]["f1"], row["classifier"], row["rows"]) == (None, None, None)


def test_list_reports_a_corrupt_version_and_survives_a_corrupt_pointer(home: Home) -> None:
    reg = home.reg
    v1, v2 = home.register(), home.register()
    reg.promote(v1)
    with writable(reg.root / v2 / "model.joblib").open("ab") as fh:
        fh.write(b"x")
    assert [r["status"] for r in reg.list()] == ["production", "candidate"]
    rows = reg.list(verify=True)
    assert rows[0]["status"] == "production"
    message = rows[1]["error"]
    assert message.startswith("v0002/model.joblib has sha256 ")
    assert rows[1] == {"version": "v0002", "status": "corrupt", "error": message, "reason": message}
    writable(reg.root / v2 / "meta.json").write_text("[")
    assert reg.list()[1]["status"] == "corrupt"
    reg.pointer_path.write_text("{")
    assert [r["status"] for r in reg.list()] == ["candidate", "corrupt"]


# -- atomic files and the lock -----------------------------------------------------------------
def test_atomic_write_json_writes_sorted_indented_json_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    atomic_write_json(path, {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    with pytest.raises(TypeError):
        atomic_write_json(path, {"x": object()})
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]
    assert json.loads(path.read_text()) == {"b": 1, "a": [1, 2]}


def test_pointer_changes_wait_for_the_registry_lock(home: Home) -> None:
    v1 = home.register()
    fh = (home.reg.root / ".lock").open("a+")
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    done = threading.Event()

    def promote() -> None:
        home.reg.promote(v1)
        done.set()

    t = threading.Thread(target=promote, daemon=True)
    t.start()
    try:
        assert not done.wait(0.3)  # blocked by the other holder
        assert home.reg.pointer() is None
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()
    assert done.wait(10) and home.reg.production() == "v0001"
    # The lock is released after each change: another holder gets it at once.
    with (home.reg.root / ".lock").open("a+") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)


# -- registering: where, how and what is written -----------------------------------------------
class Peek:
    """A picklable stand-in for a pipeline: when pickled, it lists the registry folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: list[list[str]] = []

    def __reduce__(self) -> tuple[Any, ...]:
        self.seen.append(sorted(p.name for p in self.root.iterdir()))
        return (int, (0,))


def test_a_version_is_assembled_in_a_staging_folder_inside_the_registry(home: Home) -> None:
    peek = Peek(home.reg.root)
    assert home.register(pipeline=peek) == "v0001"
    ((staging,),) = peek.seen  # the model is written while the staging folder is the only entry
    assert staging.startswith(".staging-")
    assert not (home.reg.root / staging).exists()


def test_the_model_file_is_joblib_at_zlib_level_3(home: Home) -> None:
    raw = (home.reg.root / home.register() / "model.joblib").read_bytes()
    payload = zlib.decompress(raw)
    assert raw == zlib.compress(payload, 3)
    assert raw != zlib.compress(payload, 4)  # the level is visible in the bytes


def test_the_sketch_holds_the_reference_scores(home: Home) -> None:
    from selfheal.drift import ReferenceSketch

    version = home.register(reference_scores=[Fraction(1, 4), Fraction(1, 2), *SCORES[2:]])
    sketch = ReferenceSketch.load(home.reg.sketch_path(version))
    assert sketch.score is not None
    np.testing.assert_array_equal(sketch.score.sorted_values, np.sort([0.25, 0.5, *SCORES[2:]]))
    assert sketch.n_reference == 60


def test_a_registration_by_default_is_by_the_cli(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    Registry(tmp_path, record_event=events.append).register(
        pipeline=PIPE,
        schema=SCHEMA,
        metrics={},
        threshold=0.5,
        reference=FRAME,
        reference_scores=SCORES,
    )
    assert (events[0]["actor"], events[0]["reason"]) == ("cli", "registered by cli")


def test_a_failing_audit_sink_fails_the_registration_but_keeps_the_version(
    tmp_path: Path,
) -> None:
    def sink(event: dict[str, Any]) -> None:
        raise RuntimeError("audit table unavailable")

    reg = Registry(tmp_path / "r", record_event=sink)
    with pytest.raises(RuntimeError, match="audit table unavailable"):
        Home.register(SimpleNamespace(reg=reg))  # type: ignore[arg-type]
    assert reg.version_names() == ["v0001"]  # renamed into place before the event
    assert sorted(p.name for p in reg.root.iterdir()) == [".lock", "v0001"]


def test_a_registry_creates_its_missing_parent_folders(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "registry"
    assert Registry(root).version_names() == [] and root.is_dir()


def test_predict_proba_is_float64_whatever_the_model_gives() -> None:
    x = FRAME[["a", "b"]].to_numpy(dtype=np.float32)
    pipe32 = LogisticRegression().fit(x, FRAME["default"].to_numpy())
    assert pipe32.predict_proba(x).dtype == np.float32  # the model's own answer
    model = LoadedModel(version="v0001", pipeline=pipe32, schema=SCHEMA, threshold=0.5, meta={})
    p = model.predict_proba(x)
    assert p.dtype == np.float64
    np.testing.assert_array_equal(p, pipe32.predict_proba(x)[:, 1].astype(np.float64))


# -- the reference file ------------------------------------------------------------------------
def test_the_reference_file_stores_text_labels_floats_and_empty_missing_levels(
    tmp_path: Path,
) -> None:
    schema = FeatureSchema(
        features=(
            Feature("n", NUMERIC, nullable=True),
            Feature("c", CATEGORICAL, levels=("p",), nullable=True),
        )
    )
    stamp = pd.Timestamp("2026-01-02")
    frame = pd.DataFrame(
        {
            "n": pd.Series([1.5, pd.NA, 2], dtype=object),
            "c": pd.Series([None, "p", np.nan], dtype=object),
            stamp: [1, 0, 1],
        }
    )
    path = tmp_path / "reference.npz"
    save_reference(path, frame, np.array([0, 1, 1]), schema)
    with np.load(path, allow_pickle=False) as z:
        assert z["columns"].tolist() == ["n", "c", "2026-01-02 00:00:00"]
        assert z["c0"].dtype == np.float64 and z["c0"][0] == 1.5 and np.isnan(z["c0"][1])
        assert z["c1"].tolist() == ["", "p", ""] and z["n1"].tolist() == [True, False, True]
        assert z["c2"].dtype == np.float64 and z["c2"].tolist() == [1.0, 0.0, 1.0]
        assert z["scores"].dtype == np.float64
    back, scores = load_reference(path)
    assert list(back.columns) == ["n", "c", "2026-01-02 00:00:00"]
    assert back["c"].isna().tolist() == [True, False, True] and back["c"][1] == "p"
    assert back["2026-01-02 00:00:00"].dtype == np.float64
    assert scores.dtype == np.float64 and scores.tolist() == [0.0, 1.0, 1.0]


def test_a_reference_without_columns_loads_as_an_empty_frame(tmp_path: Path) -> None:
    path = tmp_path / "reference.npz"
    save_reference(path, pd.DataFrame(index=range(3)), np.array([0.5]), SCHEMA)
    back, scores = load_reference(path)
    assert back.shape == (0, 0) and back.columns.dtype == object
    assert scores.tolist() == [0.5]


def test_a_reference_file_with_pickled_arrays_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reference.npz"
    np.savez(
        path,
        columns=np.array(["x"]),
        c0=np.array([{"a": 1}], dtype=object),
        scores=np.array([0.5]),
    )
    with pytest.raises(ValueError, match="allow_pickle"):
        load_reference(path)


# -- atomic files and coordination -------------------------------------------------------------
def test_atomic_write_json_replaces_from_a_hidden_temp_file_beside_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        calls.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    atomic_write_json(tmp_path / "p.json", {"a": 1})
    ((src, dst),) = calls
    assert Path(src).parent == tmp_path and Path(src).name.startswith(".p.json.")
    assert dst == str(tmp_path / "p.json")


class Vanishing(list):  # type: ignore[type-arg]
    """A list that, while being written, deletes the temp file and then fails."""

    def __init__(self, folder: Path) -> None:
        super().__init__([1])
        self.folder = folder

    def __iter__(self) -> Any:
        for p in self.folder.glob(".p.json.*"):
            p.unlink()
        raise OSError("disk gone")


def test_a_failed_write_raises_its_own_error_even_when_the_temp_file_is_gone(
    tmp_path: Path,
) -> None:
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_json(tmp_path / "p.json", {"a": Vanishing(tmp_path)})
    assert list(tmp_path.iterdir()) == []


def test_deleting_a_missing_pointer_is_a_no_op(tmp_path: Path) -> None:
    coordination = FileCoordination(tmp_path)
    coordination.delete("shadow")
    assert coordination.read("shadow") is None and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(bool(sys.flags.utf8_mode), reason="UTF-8 mode ignores the locale")
def test_pointers_are_read_as_utf8_whatever_the_locale(home: Home) -> None:
    version = home.register()
    path = home.reg.root / "shadow.json"
    path.write_bytes(
        json.dumps({"version": version, "reason": "müde"}, ensure_ascii=False).encode()
    )
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        with pytest.raises(UnicodeDecodeError):
            path.read_text()  # the locale's codec is ASCII now
        assert home.reg.shadow() == version
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


# -- the listing and the pointer's older forms ------------------------------------------------
def test_list_goes_on_after_a_corrupt_version(home: Home) -> None:
    reg = home.reg
    home.register()
    home.register()
    writable(reg.root / "v0001" / "meta.json").write_text("[")
    assert [(r["version"], r["status"]) for r in reg.list()] == [
        ("v0001", "corrupt"),
        ("v0002", "candidate"),
    ]


def test_served_versions_sort_by_number(home: Home) -> None:
    reg = home.reg
    home.register()
    shutil.copytree(reg.root / "v0001", reg.root / "v9999")
    assert home.register() == "v10000"
    reg.promote("v10000")
    reg.promote("v9999")
    reg.promote("v0001")
    pointer = reg.rollback(to="v10000")
    assert pointer["served"] == ["v0001", "v9999", "v10000"]


def test_a_pointer_without_history_or_served_still_rolls_back(home: Home) -> None:
    reg = home.reg
    home.register()
    home.register()
    reg.pointer_path.write_text(json.dumps({"version": "v0002"}))
    with pytest.raises(RegistryError) as err:
        reg.rollback()
    assert err.value.code == "no_previous"
    pointer = reg.rollback(to="v0001")
    assert (pointer["history"], pointer["served"]) == ([], ["v0001"])


# -- serving: the compiled scorer, verified on the reference sample ----------------------------
NUMERIC_STEPS = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
COMPILABLE = Pipeline(
    [("pre", ColumnTransformer([("num", NUMERIC_STEPS, [0, 1])])), ("clf", LogisticRegression())]
).fit(FRAME[["a", "b"]].to_numpy(), FRAME["default"].to_numpy())


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "selfheal.registry"]


def test_serving_compiles_a_verified_pipeline_and_caches_it(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.registry")
    version = home.register(pipeline=COMPILABLE, threshold=0.4)
    served = home.reg.serving(version)
    loaded = home.reg.load(version)
    assert (served.scoring, loaded.scoring) == ("compiled", "scikit-learn")
    assert served.compiled is not None and loaded.compiled is None
    assert served is not loaded and served == loaded  # the compiled form is not compared
    assert (served.version, served.threshold, served.meta) == ("v0001", 0.4, loaded.meta)
    assert served.pipeline is loaded.pipeline and served.schema == SCHEMA
    X = FRAME[["a", "b"]].to_numpy()
    p = served.predict_proba(X)
    assert p.dtype == np.float64
    np.testing.assert_array_equal(p, COMPILABLE.predict_proba(X)[:, 1])
    assert home.reg.serving(version) is served
    assert messages(caplog) == ["v0001 scores with compiled"]


def test_serving_keeps_scikit_learn_for_a_model_it_cannot_compile(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.registry")
    version = home.register()
    served = home.reg.serving(version)
    assert served.scoring == "scikit-learn" and served.compiled is None
    assert home.reg.serving(version) is served
    assert messages(caplog) == ["v0001 scores with scikit-learn"]


def test_serving_without_a_readable_reference_sample_is_not_cached(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfheal.registry")
    version = home.register(pipeline=COMPILABLE)
    loaded = home.reg.load(version)
    path = writable(home.reg.root / version / "reference.npz")
    good = path.read_bytes()
    path.write_bytes(good + b"x")
    assert home.reg.serving(version) is loaded  # the cached scikit-learn model
    (message,) = messages(caplog)
    assert message.startswith(
        "v0001 scores with scikit-learn: no reference sample (v0001/reference.npz has sha256 "
    )
    path.write_bytes(good)
    served = home.reg.serving(version)
    assert served.scoring == "compiled" and home.reg.serving(version) is served


def test_serving_shares_the_cache_of_four(home: Home) -> None:
    reg = home.reg
    versions = [home.register() for _ in range(5)]
    loaded = {v: reg.load(v) for v in versions[:4]}
    served = reg.serving(versions[4])  # its load pushes v0001 out, its own entry v0002
    assert reg.serving(versions[4]) is served
    assert reg.load("v0003") is loaded["v0003"] and reg.load("v0004") is loaded["v0004"]
    assert reg.load("v0002") is not loaded["v0002"]
    assert reg.serving(versions[3]).version == "v0004"  # each version has its own entry


def test_the_check_sample_adds_holes_and_extremes_to_numeric_columns() -> None:
    X = np.arange(40, dtype=np.float64).reshape(20, 2) + 0.5
    rng = np.random.default_rng(0)
    mask = rng.random((20, 2)) < 0.2
    assert mask.any() and not mask.all()
    holes = X.copy()
    holes[mask] = np.nan
    factors = [rng.choice([1e-9, -1.0, 1e9], size=20) for _ in range(2)]
    wide = X * np.stack(factors, axis=1)
    np.testing.assert_array_equal(_check_sample(X), np.concatenate([X, holes, wide]))


def plain(values: Any) -> list[Any]:
    return [None if isinstance(v, float) and np.isnan(v) else v for v in values]


def test_the_check_sample_of_mixed_columns_changes_only_the_float_ones() -> None:
    n = 60
    floats = [0.5 + k for k in range(n)]
    late_none: list[Any] = [float(k) for k in range(n)]
    late_none[50] = None  # only the first 50 values decide that a column is numeric
    X = np.empty((n, 4), dtype=object)
    X[:, 0] = floats
    X[:, 1] = ["p", "q"] * (n // 2)
    X[:, 2] = [None, *floats[1:]]  # a missing value first: not numeric
    X[:, 3] = late_none
    got = _check_sample(X)
    assert got.shape == (3 * n, 4)
    rng = np.random.default_rng(0)
    mask = rng.random((n, 2)) < 0.2
    wide0 = np.array(floats) * rng.choice([1e-9, -1.0, 1e9], size=n)
    wide3 = np.array(late_none, dtype=np.float64) * rng.choice([1e-9, -1.0, 1e9], size=n)
    for j in (1, 2):
        assert plain(got[:, j]) == plain(list(X[:, j]) * 3)
    assert plain(got[n : 2 * n, 0]) == [
        None if m else v for v, m in zip(floats, mask[:, 0], strict=True)
    ]
    assert plain(got[2 * n :, 0]) == plain(list(wide0))
    holes3 = [None if m else v for v, m in zip(late_none, mask[:, 1], strict=True)]
    assert plain(got[n : 2 * n, 3]) == holes3
    assert plain(got[2 * n :, 3]) == plain(list(wide3))
    # A hole is a float NaN, as in a numeric matrix, never None.
    assert all(isinstance(v, float) for v in got[n : 2 * n, 0])
    assert mask[:, 0].any()


def test_the_check_sample_of_categorical_columns_only_is_the_rows_themselves() -> None:
    X = np.array([["p", "q"], ["q", "p"]], dtype=object)
    assert _check_sample(X).tolist() == X.tolist()


def test_the_file_stamp_follows_each_pointer_file(home: Home) -> None:
    reg = home.reg
    coordination = reg.coordination
    assert isinstance(coordination, FileCoordination)
    assert coordination.stamp() == (None, None)
    v1, v2 = home.register(), home.register()

    def stat(path: Path) -> tuple[int, int, int]:
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    reg.promote(v1)
    assert coordination.stamp() == (stat(reg.pointer_path), None)
    reg.set_shadow(v2)
    assert coordination.stamp() == (stat(reg.pointer_path), stat(reg.shadow_path))
    reg.set_shadow(None)
    assert coordination.stamp() == (stat(reg.pointer_path), None)


# -- PgCoordination: the pointers and version numbers of a registry shared by several hosts ----
# On the session's PostgreSQL cluster (conftest's pg_cluster; skipped where there is none), each
# test in a migrated database of its own. No model is trained: the registry's small PIPE.
@pytest.fixture
def pg_db(pg_url: str) -> str:
    from selfheal import db

    db.open_db(pg_url).close()
    return pg_url


def pg_sessions(url: str) -> list[int]:
    """The backend pids of the client sessions on `url`'s database, but those of these
    probes (a probe's session may outlive its close by a moment)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, application_name="selfheal-probe") as c:
        rows = c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND application_name <> 'selfheal-probe'"
            " ORDER BY pid"
        ).fetchall()
    return [int(r[0]) for r in rows]


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def test_pg_pointers_are_rows_written_as_sorted_json_replaced_and_deleted(pg_db: str) -> None:
    import psycopg

    from selfheal.registry import PgCoordination

    coordination = PgCoordination(pg_db)
    try:
        assert coordination.url == pg_db
        assert coordination.where("production") == "the registry_pointers row 'production'"
        assert coordination.read("production") is None and coordination.read("shadow") is None
        assert coordination.stamp() == ()
        coordination.write("production", {"version": "v0002", "b": [1, 2.5], "a": "é"})
        text = '{"a": "\\u00e9", "b": [1, 2.5], "version": "v0002"}'  # keys sorted, ASCII
        assert coordination.read("production") == text
        coordination.write("shadow", {"version": "v0003"})
        assert coordination.stamp() == (
            ("production", md5(text)),
            ("shadow", md5('{"version": "v0003"}')),
        )
        coordination.write("production", {"version": "v0004"})  # the row is replaced
        assert coordination.read("production") == '{"version": "v0004"}'
        with pytest.raises(ValueError, match="not JSON compliant"):
            coordination.write("shadow", {"version": "v0005", "auc": float("nan")})
        assert coordination.read("shadow") == '{"version": "v0003"}'
        coordination.delete("shadow")
        assert coordination.read("shadow") is None
        coordination.delete("shadow")  # deleting a missing row is a no-op
        assert coordination.stamp() == (("production", md5('{"version": "v0004"}')),)
        with psycopg.connect(pg_db, autocommit=True) as c:
            rows = c.execute("SELECT name, data, updated_at FROM registry_pointers").fetchall()
        assert [(r[0], r[1]) for r in rows] == [("production", '{"version": "v0004"}')]
        assert ISO.match(rows[0][2])
    finally:
        coordination.close()


def test_pg_version_numbers_pass_the_folders_and_every_name_allocated(pg_db: str) -> None:
    import psycopg

    from selfheal.registry import PgCoordination

    coordination = PgCoordination(pg_db)
    try:
        assert coordination.allocate([]) == 1
        assert coordination.allocate([]) == 2  # past the names allocated (by any host)
        assert coordination.allocate(["v0001", "v0002", "v1234"]) == 1235  # past the folders
        assert coordination.allocate(["v0007"]) == 1236
        with psycopg.connect(pg_db, autocommit=True) as c:
            rows = c.execute(
                "SELECT version, created_at FROM registry_versions ORDER BY version"
            ).fetchall()
        assert [r[0] for r in rows] == ["v0001", "v0002", "v1235", "v1236"]
        assert all(ISO.match(r[1]) for r in rows)
    finally:
        coordination.close()


def test_pg_coordination_keeps_one_connection_and_replaces_it_once_broken(pg_db: str) -> None:
    """One connection, opened at first use and kept; a connection the server ended is
    replaced at the next use after it failed; close ends the session, and a later use
    opens a new one."""
    import psycopg

    from selfheal.registry import PgCoordination

    coordination = PgCoordination(pg_db)
    coordination.close()  # before any use: nothing to close
    wait_for(lambda: pg_sessions(pg_db) == [])  # the migration's session has ended
    try:
        coordination.write("production", {"version": "v0001"})
        (first,) = pg_sessions(pg_db)
        assert coordination.read("production") == '{"version": "v0001"}'
        assert coordination.allocate([]) == 1 and len(coordination.stamp()) == 1
        assert pg_sessions(pg_db) == [first]  # the same session all along
        with psycopg.connect(pg_db, autocommit=True, application_name="selfheal-probe") as a:
            a.execute("SELECT pg_terminate_backend(%s)", (first,))
        wait_for(lambda: pg_sessions(pg_db) == [])
        with pytest.raises(psycopg.OperationalError):  # a write is never sent twice
            coordination.write("production", {"version": "v0002"})
        assert coordination.read("production") == '{"version": "v0001"}'
        (second,) = pg_sessions(pg_db)
        assert second != first
        coordination.close()
        wait_for(lambda: pg_sessions(pg_db) == [])
        assert coordination.read("production") == '{"version": "v0001"}'
        assert len(pg_sessions(pg_db)) == 1
    finally:
        coordination.close()
    wait_for(lambda: pg_sessions(pg_db) == [])


def test_a_registry_on_pg_coordination_keeps_its_pointers_in_the_database(
    pg_db: str, tmp_path: Path
) -> None:
    from selfheal.registry import PgCoordination

    home = Home(tmp_path / "registry", PgCoordination(pg_db))
    reg = home.reg
    try:
        v1, v2 = home.register(), home.register()
        assert (v1, v2) == ("v0001", "v0002")
        stamp = reg.coordination.stamp()
        reg.promote(v1, actor="alice")
        assert reg.production() == "v0001" and not reg.pointer_path.exists()
        reg.set_shadow(v2)
        assert reg.shadow() == "v0002" and not reg.shadow_path.exists()
        assert [name for name, _ in reg.coordination.stamp()] == ["production", "shadow"]
        assert reg.coordination.stamp() != stamp
        reg.promote(v2)
        assert pointer_without_time(reg) == {
            "version": "v0002",
            "previous": "v0001",
            "reason": "promoted by cli",
            "actor": "cli",
            "history": ["v0001"],
            "served": ["v0001", "v0002"],
        }
        reg.set_shadow(None)
        assert reg.shadow() is None
        assert [e["event"] for e in home.events] == [
            "registered",
            "registered",
            "promoted",
            "shadow_started",
            "promoted",
            "shadow_stopped",
        ]
    finally:
        reg.coordination.close()
