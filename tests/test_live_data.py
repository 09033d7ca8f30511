"""Live data as users send it (issue 10, "Live data"): a feature that goes missing, repeated
JSON keys, categories written another way, labels in the target's own values, predictions
logged by another system, and hostile text. A real service on a model trained from a CSV
with gaps, driven through the Flask test client and `run_once(now=...)`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selfheal import datasets
from selfheal.home import Home, train_version
from selfheal.service import Service
from selfheal.web import create_app
from tests.conftest import make_settings

N_TRAIN = 1200
REGIONS = ["east", "west", "north", "south"]


def applicants(n: int, seed: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    income = rng.lognormal(np.log(52_000), 0.4, n).round(2)
    years = rng.gamma(2.0, 3.0, n).round(1)
    region = rng.choice(REGIONS, n)
    risk = -(age - 45) / 15 - (income - 52_000) / 30_000 - (years - 6) / 5 - 1.0
    risk = risk + (region == "east") * 0.8
    y = rng.random(n) < 1 / (1 + np.exp(-risk))
    return {
        "age": age.tolist(),
        "income": income.tolist(),
        "employment_years": years.tolist(),
        "region": region.tolist(),
        "defaulted": ["yes" if v else "no" for v in y],
    }


@pytest.fixture(scope="module")
def _gappy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose v0001 was trained from a CSV with employment_years 5% empty, region 3%
    empty and the target written yes/no (`--positive yes`)."""
    root = tmp_path_factory.mktemp("gappy")
    data = applicants(N_TRAIN, seed=1)
    rng = np.random.default_rng(2)
    lines = ["age,income,employment_years,region,defaulted"]
    for i in range(N_TRAIN):
        years = "" if rng.random() < 0.05 else str(data["employment_years"][i])
        region = "" if rng.random() < 0.03 else data["region"][i]
        lines.append(
            f"{data['age'][i]},{data['income'][i]},{years},{region},{data['defaulted'][i]}"
        )
    csv_path = root / "applicants.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    home = Home(make_settings(root / "home"))
    try:
        train_version(
            home,
            data=csv_path,
            target="defaulted",
            positive="yes",
            classifier="logreg",
            promote=True,
        )
    finally:
        home.close()
    return root / "home"


@pytest.fixture
def gappy(tmp_path: Path, _gappy_template: Path) -> Iterator[tuple[Service, Any]]:
    home = tmp_path / "home"
    shutil.copytree(_gappy_template, home)
    svc = Service(make_settings(home).replace(admin_token="s3cret", model_poll_seconds=0.05)).start(
        monitor=False
    )
    try:
        yield svc, create_app(svc).test_client()
    finally:
        svc.stop()


def record(i: int, **over: Any) -> dict[str, Any]:
    data = applicants(1, seed=100 + i)
    rec = {k: v[0] for k, v in data.items() if k != "defaulted"}
    rec.update(over)
    return rec


def post(client: Any, path: str, payload: Any, **kw: Any) -> Any:
    return client.post(path, data=json.dumps(payload), content_type="application/json", **kw)


def post_raw(client: Any, path: str, raw: str) -> Any:
    return client.post(path, data=raw.encode(), content_type="application/json")


def later(minutes: int = 1) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


# -- a feature that goes missing -----------------------------------------------------------
def test_a_feature_that_goes_missing_is_drift_everywhere_it_is_shown(
    gappy: tuple[Service, Any],
) -> None:
    svc, client = gappy
    batch = [record(i, employment_years=None, region=None) for i in range(300)]
    assert post(client, "/predict", {"instances": batch}).status_code == 200
    summary = svc.monitor.run_once(now=later())
    assert summary["status"] in ("ok", "drift")
    assert set(summary["drifted_features"]) >= {"employment_years", "region"}

    drift = client.get("/monitoring/drift").get_json()
    by_name = {f["feature"]: f for f in drift["features"]}
    for name, reference_share in (("employment_years", 0.05), ("region", 0.03)):
        f = by_name[name]
        assert f["missing_share"] == 1.0
        assert f["missing_share_reference"] == pytest.approx(reference_share, abs=0.02)
        assert f["missing_drifted"] == 1 and f["drifted"] == 1
    assert by_name["age"]["missing_drifted"] == 0  # never missing, still never missing
    assert drift["drift_share"] == pytest.approx(0.5)

    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'selfheal_feature_missing_drifted{feature="region"} 1.0' in metrics
    assert 'selfheal_feature_missing_share{feature="employment_years",side="window"} 1.0' in (
        metrics
    )
    report = client.get("/reports/drift/latest").get_data(as_text=True)
    assert "100.0% (reference" in report and "(moved: drifted)" in report


def test_the_same_missing_share_as_in_training_is_no_drift(gappy: tuple[Service, Any]) -> None:
    svc, client = gappy
    rng = np.random.default_rng(7)
    batch = [
        record(
            i,
            employment_years=None if rng.random() < 0.05 else 5.0 + i % 7,
            region=None if rng.random() < 0.03 else REGIONS[i % 4],
        )
        for i in range(300)
    ]
    assert post(client, "/predict", {"instances": batch}).status_code == 200
    svc.monitor.run_once(now=later())
    features = client.get("/monitoring/drift").get_json()["features"]
    assert not any(f["missing_drifted"] for f in features)


# -- repeated JSON keys ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "raw", "key"),
    [
        ("/predict", '{"age": 500, "income": 1, "employment_years": 1, "region": "east", '
         '"age": 40}', "age"),
        ("/predict", '{"age": 40, "income": 1, "employment_years": 1, "region": "east", '
         '"age": 500}', "age"),
        ("/predict", '{"instances": [{"age": 40, "region": "a", "region": "b"}]}', "region"),
        ("/predict", '{"instances": [], "instances": [{"age": 40}]}', "instances"),
        ("/monitoring/labels", '{"prediction_id": "a", "label": 1, "label": 0}', "label"),
        ("/monitoring/predictions", '{"probability": 0.2, "probability": 0.9}', "probability"),
    ],
)  # fmt: skip
def test_a_repeated_json_key_is_422_naming_it(
    gappy: tuple[Service, Any], path: str, raw: str, key: str
) -> None:
    _, client = gappy
    resp = post_raw(client, path, raw)
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "validation_failed"
    assert f"key {key!r} appears more than once" in err["message"]
    assert err["details"] == [{"field": key, "problem": "duplicate_key", "message": err["message"]}]


def test_promote_with_a_repeated_key_is_refused_before_acting(gappy: tuple[Service, Any]) -> None:
    svc, client = gappy
    resp = client.post(
        "/model/promote",
        data=b'{"version": "v0001", "version": "v0009"}',
        content_type="application/json",
        headers={"Authorization": "Bearer s3cret"},
    )
    assert resp.status_code == 422 and "'version' appears more than once" in resp.get_data(
        as_text=True
    )
    assert svc.registry.production() == "v0001"


# -- categories as people read them ----------------------------------------------------------
@pytest.mark.parametrize(
    "spelling", [" east", "east ", "EAST", "East", "  east\t", "east\u00a0", "\u00a0EaSt "]
)
def test_a_category_written_another_way_is_the_same_category(
    gappy: tuple[Service, Any], spelling: str
) -> None:
    _, client = gappy
    plain = post(client, "/predict", record(1, region="east")).get_json()
    other = post(client, "/predict", record(1, region=spelling)).get_json()
    assert other["probability"] == plain["probability"]
    assert other["out_of_range"] == [] == plain["out_of_range"]


def test_an_unknown_category_is_still_flagged(gappy: tuple[Service, Any]) -> None:
    _, client = gappy
    out = post(client, "/predict", record(1, region="east coast")).get_json()
    assert out["out_of_range"] == ["region"]


def test_training_reads_categories_the_same_way(tmp_path: Path) -> None:
    """NFC, stripped, inner whitespace one space, case merged to the commonest spelling."""
    cells = ["North East"] * 30 + ["north  east"] * 5 + ["Nor\u0074h\u00a0East"] * 5
    cells += ["Cafe\u0301"] * 20 + ["Caf\u00e9"] * 20 + ["west"] * 40
    n = len(cells)
    path = tmp_path / "d.csv"
    rows = [f"{i % 60 + 18},{c},{i % 2}" for i, c in enumerate(cells)]
    path.write_text("age,area,outcome\n" + "\n".join(rows) + "\n")
    loaded = datasets.load_csv(path, target="outcome")
    levels = loaded.features["area"].value_counts().to_dict()
    assert levels == {"North East": 40, "Café": 40, "west": 40}
    assert sum(levels.values()) == n
    assert any("differ only in case" in note for note in loaded.notes)


# -- labels in the target's own values -------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "value"),
    [("yes", 1), ("no", 0), ("YES", 1), (" no ", 0), ("Yes", 1), (1, 1), (0, 0), (True, 1),
     (False, 0), ("1", 1), ("0", 0), ("true", 1), ("False", 0), (1.0, 1)],
)  # fmt: skip
def test_labels_in_the_targets_own_values(
    gappy: tuple[Service, Any], label: Any, value: int
) -> None:
    svc, client = gappy
    pid = post(client, "/predict", record(3)).get_json()["prediction_id"]
    resp = post(client, "/monitoring/labels", {"prediction_id": pid, "label": label})
    assert resp.status_code == 201, resp.get_json()
    row = (
        svc.read_conn()
        .execute("SELECT label FROM labels WHERE prediction_id = ?", (pid,))
        .fetchone()
    )
    assert row["label"] == value


@pytest.mark.parametrize("label", ["maybe", 2, -1, 0.5, None, [], {}, "", 10**400, "y" * 300])
def test_other_labels_are_422_naming_the_accepted_values(
    gappy: tuple[Service, Any], label: Any
) -> None:
    _, client = gappy
    raw = '{"prediction_id": "x", "label": %s}' % (
        str(label) if isinstance(label, int) else json.dumps(label)
    )
    resp = post_raw(client, "/monitoring/labels", raw)
    assert resp.status_code == 422
    assert "the target's values 'no'/'yes'" in resp.get_json()["error"]["message"]


# -- predictions logged by another system ----------------------------------------------------
def test_external_predictions_are_monitored(gappy: tuple[Service, Any]) -> None:
    svc, client = gappy
    shifted = [
        {
            "features": record(i, income=record(i)["income"] * 3),
            "probability": 0.3,
            "model_version": "legacy-7",
        }
        for i in range(300)
    ]
    resp = post(client, "/monitoring/predictions", {"predictions": shifted})
    assert resp.status_code == 201, resp.get_json()
    summary = svc.monitor.run_once(now=later())
    assert summary["status"] != "insufficient_data"
    assert summary["n_window"] == 300
    assert "income" in summary["drifted_features"]
    drift = client.get("/monitoring/drift").get_json()
    assert drift["report"]["n_external"] == 300
    assert drift["report"]["drift"]["score"] is None  # another model's scores: not tested
    assert drift["report"]["estimate"] is None  # CBPE reads the serving version's own rows
    stats = client.get("/monitoring/stats").get_json()
    assert stats["window"]["rows"] == 300 and stats["window"]["external_rows"] == 300


def test_own_and_external_rows_share_the_window(gappy: tuple[Service, Any]) -> None:
    svc, client = gappy
    own = [record(i) for i in range(250)]
    assert post(client, "/predict", {"instances": own}).status_code == 200
    external = [{"features": record(i), "probability": 0.4} for i in range(100)]
    assert post(client, "/monitoring/predictions", {"predictions": external}).status_code == 201
    summary = svc.monitor.run_once(now=later())
    assert summary["n_window"] == 350
    report = client.get("/monitoring/drift").get_json()["report"]
    assert report["n_external"] == 100
    assert report["drift"]["score"]["n_window"] == 250  # the score test: own rows only
    assert report["estimate"] is not None


# -- hostile text and numbers ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/monitoring/labels", '{"prediction_id": "\\ud800", "label": 1}'),
        ("/monitoring/labels", '{"labels": [{"prediction_id": "\\udc00x", "label": 1}]}'),
        ("/monitoring/predictions", '{"features": {}, "probability": 0.5, '
         '"prediction_id": "\\ud800"}'),
        ("/predict", '{"age": 40, "income": 1, "employment_years": 1, "region": "\\ud800"}'),
        ("/predict", '{"\\udfff": 1}'),
    ],
)  # fmt: skip
def test_lone_surrogates_are_a_bad_request_not_a_database_error(
    gappy: tuple[Service, Any], path: str, raw: str
) -> None:
    svc, client = gappy
    before = svc.read_conn().execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    resp = post_raw(client, path, raw)
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert err["code"] == "malformed_json" and "unpaired UTF-16 surrogate" in err["message"]
    assert svc.read_conn().execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == before


def test_a_surrogate_pair_is_valid_text(gappy: tuple[Service, Any]) -> None:
    _, client = gappy
    resp = post_raw(
        client,
        "/predict",
        '{"age": 40, "income": 52000, "employment_years": 1, "region": "\\ud83d\\ude00"}',
    )
    assert resp.status_code == 200 and resp.get_json()["out_of_range"] == ["region"]


def test_a_window_of_thousands_of_digits_is_a_bad_query(gappy: tuple[Service, Any]) -> None:
    _, client = gappy
    resp = client.get("/monitoring/stats?window=1" + "0" * 5000)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_query"


@pytest.mark.parametrize(
    "path", ["/predict", "/monitoring/labels", "/monitoring/predictions", "/model/promote"]
)
def test_an_integer_of_thousands_of_digits_is_malformed_json(
    gappy: tuple[Service, Any], path: str
) -> None:
    """Python refuses to read an integer literal past 4300 digits (CVE-2020-10735): that is
    the client's malformed body, never an internal error."""
    _, client = gappy
    resp = client.post(
        path,
        data='{"x": ' + "9" * 5000 + "}",
        content_type="application/json",
        headers={"Authorization": "Bearer s3cret"},
    )
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert err["code"] == "malformed_json" and "more than 4300 digits" in err["message"]


def test_rows_logged_under_an_older_contract_are_not_training_data(
    gappy: tuple[Service, Any],
) -> None:
    """employment_years was nullable in v0001 and is required in v0002 (same columns, so no
    --force). Rows logged with it null under v0001 must not enter v0002's retrains: the
    data-quality gate would refuse every one of them, and healing would stop for good."""
    from dataclasses import replace

    from selfheal.schema import FeatureSchema
    from tests.conftest import register_copy

    svc, client = gappy
    old = [record(i, employment_years=None) for i in range(150)]
    old += [record(i) for i in range(150, 300)]
    ids = [
        p["prediction_id"]
        for p in post(client, "/predict", {"instances": old}).get_json()["predictions"]
    ]
    labels = [{"prediction_id": pid, "label": i % 2} for i, pid in enumerate(ids)]
    assert post(client, "/monitoring/labels", {"labels": labels}).status_code == 200

    v1 = svc.registry.load("v0001")
    strict = FeatureSchema(
        features=tuple(
            replace(f, nullable=False) if f.name == "employment_years" else f
            for f in v1.schema.features
        ),
        target=v1.schema.target,
        positive=v1.schema.positive,
        negative=v1.schema.negative,
    )
    frame, scores = svc.registry.reference("v0001")
    keep = frame["employment_years"].notna().to_numpy()
    v2 = register_copy(
        svc.registry,
        schema=strict,
        reference=frame[keep].reset_index(drop=True),
        reference_scores=scores,
    )
    svc.registry.promote(v2, actor="test")
    svc.models.refresh(force=True)
    new = [record(i) for i in range(300, 500)]
    ids = [
        p["prediction_id"]
        for p in post(client, "/predict", {"instances": new}).get_json()["predictions"]
    ]
    labels = [{"prediction_id": pid, "label": i % 2} for i, pid in enumerate(ids)]
    assert post(client, "/monitoring/labels", {"labels": labels}).status_code == 200

    champion = svc.registry.load(v2)
    ts = svc.healer.training_set(champion, later())
    assert ts.n_live == 350  # 150 nulls of v0001's time left out, its 150 others kept
    assert not ts.frame["employment_years"].isna().any()
    dq = svc.healer._data_quality(ts, champion.schema)
    assert dq.passed, dq.reason


@pytest.mark.parametrize(("label", "value"), [("+1", 1), ("1e0", 1), ("-0", 0), (" 0.0 ", 0)])
def test_labels_written_as_numbers_are_read_by_value(
    gappy: tuple[Service, Any], label: str, value: int
) -> None:
    """Training reads a target's numbers by value ("1" and "1.0" are one class); a label
    sent later is read the same way."""
    svc, client = gappy
    pid = post(client, "/predict", record(4)).get_json()["prediction_id"]
    assert (
        post(client, "/monitoring/labels", {"prediction_id": pid, "label": label}).status_code
        == 201
    )
    row = (
        svc.read_conn()
        .execute("SELECT label FROM labels WHERE prediction_id = ?", (pid,))
        .fetchone()
    )
    assert row["label"] == value
