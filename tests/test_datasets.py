from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from selfheal import datasets
from selfheal.errors import DataError


def test_generator_is_seeded_and_plausible() -> None:
    a = datasets.generate(5000, seed=3)
    b = datasets.generate(5000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [*datasets.FEATURES, "default"]
    assert 0.2 < a["default"].mean() < 0.35
    assert datasets.CREDIT_SCHEMA.validate_frame(a) == []


def test_covariate_drift_moves_inputs_not_the_truth() -> None:
    base = datasets.generate(20_000, seed=1)
    cov = datasets.generate(20_000, seed=1, drift="covariate")
    assert cov["income"].mean() == pytest.approx(base["income"].mean() * 1.5, rel=0.01)
    assert cov["age"].mean() > base["age"].mean() + 9


def test_population_drift_raises_the_default_rate() -> None:
    base = datasets.generate(20_000, seed=1)["default"].mean()
    pop = datasets.generate(20_000, seed=1, drift="population")["default"].mean()
    assert pop > base + 0.1


def test_concept_drift_changes_the_ground_truth() -> None:
    frame = datasets.generate(20_000, seed=2, drift="concept")
    old = datasets.default_probability(frame)
    new = datasets.default_probability(frame, concept=True)
    assert np.corrcoef(old, new)[0, 1] < 0.2


def test_unknown_drift_type_is_refused() -> None:
    with pytest.raises(DataError, match="covariate, population, concept"):
        datasets.generate(10, drift="sideways")


def _csv(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "data.csv"
    p.write_text(text)
    return p


def test_load_csv_with_spaces_dashes_and_categorical(tmp_path: Path) -> None:
    p = _csv(tmp_path, "loan amount,home-owner,outcome\n100,yes,bad\n200,no,good\n150, yes ,good\n")
    d = datasets.load_csv(p, target="outcome", positive="bad")
    assert list(d.features.columns) == ["loan amount", "home-owner"]
    assert d.y.tolist() == [1, 0, 0]
    assert d.features["home-owner"].tolist() == ["yes", "no", "yes"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["0", "1", "1"], [0, 1, 1]),
        (["True", "False", "True"], [1, 0, 1]),
        (["yes", "no", "no"], [1, 0, 0]),
    ],
)
def test_target_encodings(tmp_path: Path, values: list[str], expected: list[int]) -> None:
    p = _csv(tmp_path, "x,t\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    assert datasets.load_csv(p, target="t").y.tolist() == expected


@pytest.mark.parametrize(
    ("text", "kwargs", "code", "message"),
    [
        ("x,t\n1,bad\n2,good\n", {}, "ambiguous_target", "--positive"),
        ("x,t\n1,a\n2,b\n3,c\n", {}, "invalid_target", "exactly two values"),
        ("x,t\n1,a\n2,b\n", {"positive": "z"}, "invalid_target", "is not a value"),
        ("x,t\n1,0\n2,\n", {}, "invalid_data", "empty value"),
        ("x,y\n1,0\n", {}, "invalid_target", "is not in"),
    ],
)
def test_bad_targets_are_explained(
    tmp_path: Path, text: str, kwargs: dict[str, str], code: str, message: str
) -> None:
    with pytest.raises(DataError, match=message) as err:
        datasets.load_csv(_csv(tmp_path, text), target="t", **kwargs)
    assert err.value.code == code


def test_missing_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as err:
        datasets.load_csv(tmp_path / "nope.csv", target="t")
    assert err.value.code == "file_not_found"
