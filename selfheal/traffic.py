"""Simulated traffic for any production model: records like its data, drifted by type.

`selfheal simulate` sends records the production model accepts whatever its schema. For the
synthetic credit model they are the synthetic world's applicants (`make_records`). A
`Population` holds what valid traffic looks like: the schema and a frame of rows to sample.
The rows come, best first, from

* the version's stored reference sample (up to 5,000 training rows with their labels,
  `Registry.reference`): records are whole rows drawn with replacement, so every column keeps
  its distribution, its missing share and its relation to the label; or
* the schema alone (`Population.from_schema`, when the registry is out of reach): numeric
  columns uniform over their training range, categories uniform over their levels, no
  missing values and no labels.

Drift, by column type (`Population.draw(drift=...)`):

covariate
    Every numeric column moves by `SHIFT_SDS` reference standard deviations (up, or down
    when up would cross a hard maximum the column is closer to), clipped to its hard bounds
    and rounded to the decimals the reference writes. In every categorical column a share
    `RARE_SHARE` of the values becomes its drift level: a declared level the reference never
    shows, else its rarest level. Missing values stay missing. Labels are the rows' own.
population
    A share `POSITIVE_SHARE` of the records is drawn from the reference's positive rows
    (the rest from all rows): more of the profiles that end positive, each column moving as
    far as it is related to the label. Needs labels.
concept
    The inputs do not move; every label is flipped, so the relation the model learned no
    longer holds. Needs labels.

All draws are seeded: the same seed gives the same records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selfheal.errors import SelfhealError
from selfheal.schema import NUMERIC, FeatureSchema

DRIFT_TYPES = ("covariate", "population", "concept")
NEEDS_LABELS = ("population", "concept")
SHIFT_SDS = 1.0  # covariate: how far numeric columns move, in reference standard deviations
RARE_SHARE = 0.5  # covariate: share of a categorical column's values set to its drift level
POSITIVE_SHARE = 0.6  # population: share of records drawn from the positive rows
SCHEMA_ROWS = 2000  # rows of the stand-in reference drawn from a schema


def make_records(n: int, *, seed: int = 0, drift: str | None = None) -> list[dict[str, Any]]:
    """`n` applicants from the synthetic world as JSON-ready dicts with their `default`."""
    from selfheal.datasets import FEATURES, TARGET, generate

    frame = generate(n, seed=seed, drift=drift)
    cols = [frame[c].to_numpy(float) for c in FEATURES]
    target = frame[TARGET].to_numpy()
    return [
        {
            **{f: float(col[i]) for f, col in zip(FEATURES, cols, strict=True)},
            TARGET: int(target[i]),
        }
        for i in range(n)
    ]


@dataclass(frozen=True)
class Population:
    """Rows to sample records from: `frame` has the schema's features in schema order;
    `labels` holds each row's 0/1 label, or is None when nothing is known about labels."""

    schema: FeatureSchema
    frame: pd.DataFrame
    labels: np.ndarray | None
    source: str

    @classmethod
    def from_reference(
        cls, schema: FeatureSchema, reference: pd.DataFrame, *, version: str
    ) -> Population:
        """The stored reference sample of `version` (features, plus the target column)."""
        frame = reference[schema.names].reset_index(drop=True)
        labels = None
        if schema.target in reference.columns:
            y = pd.to_numeric(reference[schema.target], errors="coerce").to_numpy(float)
            if np.isin(y, (0.0, 1.0)).all():
                labels = y.astype(np.int64)
        return cls(
            schema, frame, labels, f"the reference sample of {version} ({len(frame):,} rows)"
        )

    @classmethod
    def from_schema(
        cls, schema: FeatureSchema, *, version: str, rows: int = SCHEMA_ROWS, seed: int = 0
    ) -> Population:
        """A stand-in reference from the schema alone: numeric columns uniform over the
        training range (the hard bounds when it is unknown, clipped to them), categories
        uniform over their levels."""
        rng = np.random.default_rng(seed)
        data: dict[str, Any] = {}
        for f in schema.features:
            if f.kind == NUMERIC:
                lo = _first(f.soft_min, f.min, f.max, 0.0)
                hi = _first(f.soft_max, f.max, lo + 1.0)
                x = rng.uniform(lo, max(lo, hi), rows)
                data[f.name] = np.clip(x, _first(f.min, -np.inf), _first(f.max, np.inf))
            else:
                levels = list(f.levels) or ["a"]
                data[f.name] = pd.Series(rng.choice(levels, rows), dtype=object)
        frame = pd.DataFrame(data, columns=schema.names)
        return cls(
            schema,
            frame,
            None,
            f"the schema of {version} (training ranges and levels; no labels)",
        )

    def draw(
        self, n: int, *, seed: int = 0, drift: str | None = None
    ) -> tuple[list[dict[str, Any]], list[int] | None]:
        """`n` JSON-ready records and their labels (None without labels), drifted by
        `drift` (None or one of `DRIFT_TYPES`; population and concept need labels)."""
        if drift is not None and drift not in DRIFT_TYPES:
            raise ValueError(f"unknown drift type {drift!r}; use one of {DRIFT_TYPES}")
        if drift in NEEDS_LABELS and self.labels is None:
            raise ValueError(f"{drift} drift needs labels, and {self.source} has none")
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(self.frame), n)
        if drift == "population":
            assert self.labels is not None
            positive = np.flatnonzero(self.labels == 1)
            if positive.size:
                chosen = rng.random(n) < POSITIVE_SHARE
                idx[chosen] = rng.choice(positive, int(chosen.sum()))
        rows = self.frame.iloc[idx].reset_index(drop=True)
        if drift == "covariate":
            rows = self._covariate(rows, rng)
        labels = None if self.labels is None else self.labels[idx].tolist()
        if drift == "concept" and labels is not None:
            labels = [1 - y for y in labels]
        return self._records(rows), labels

    def _covariate(self, rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        rows = rows.copy()
        for f in self.schema.features:
            ref = self.frame[f.name]
            if f.kind == NUMERIC:
                x = rows[f.name].to_numpy(dtype=float, na_value=np.nan)
                seen = ref.to_numpy(dtype=float, na_value=np.nan)
                seen = seen[np.isfinite(seen)]
                if seen.size < 2 or not np.std(seen) > 0:
                    continue  # a constant or empty column has no scale to move by
                step = SHIFT_SDS * float(np.std(seen))
                mean = float(np.mean(seen))
                room_up = np.inf if f.max is None else f.max - mean
                room_down = np.inf if f.min is None else mean - f.min
                shifted = x + (step if room_up >= min(step, room_down) else -step)
                shifted = np.clip(shifted, _first(f.min, -np.inf), _first(f.max, np.inf))
                rows[f.name] = np.round(shifted, _decimals(seen))
            else:
                level = _drift_level(ref, f.levels)
                if level is None:
                    continue
                col = rows[f.name].astype(object)
                hit = col.notna().to_numpy() & (rng.random(len(col)) < RARE_SHARE)
                col.loc[hit] = level
                rows[f.name] = col
        return rows

    def _records(self, rows: pd.DataFrame) -> list[dict[str, Any]]:
        columns: list[list[Any]] = []
        for f in self.schema.features:
            col = rows[f.name]
            if f.kind == NUMERIC:
                x = col.to_numpy(dtype=float, na_value=np.nan)
                columns.append([float(v) if np.isfinite(v) else None for v in x])
            else:
                columns.append([None if _missing(v) else str(v) for v in col.tolist()])
        names = self.schema.names
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def served_population(
    schema: FeatureSchema, *, version: str, sha256: Any, registry: Path | str | None
) -> Population:
    """The population of the served `version`: its stored reference sample when the
    registry folder `registry` (e.g. `<SELFHEAL_HOME>/registry`) holds that very version
    (the same `sha256` manifest), else the schema alone, its `source` saying why. Nothing
    is written."""
    why = "no registry given"
    if registry is not None:
        root = Path(registry)
        try:
            if not (root / version / "meta.json").is_file():
                why = f"the registry {root} does not hold {version}"
            else:
                from selfheal.registry import Registry

                reg = Registry(root)  # the folder exists: nothing is created
                if reg.meta(version).get("sha256") != sha256:
                    why = f"{version} in the registry {root} is not the served one"
                else:
                    frame, _ = reg.reference(version)
                    return Population.from_reference(schema, frame, version=version)
        except (SelfhealError, OSError, KeyError, ValueError) as exc:
            why = f"its reference sample cannot be read ({' '.join(str(exc).split())[:120]})"
    population = Population.from_schema(schema, version=version)
    return dataclasses.replace(population, source=f"{population.source}: {why}")


def _first(*values: float | None) -> float:
    return next(float(v) for v in values if v is not None)


def _decimals(x: np.ndarray) -> int:
    """The fewest decimals (up to 6) that write every value of `x` as it is."""
    return next((d for d in range(6) if np.allclose(x, np.round(x, d), rtol=0, atol=1e-9)), 6)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA


def _drift_level(ref: pd.Series, levels: tuple[str, ...]) -> str | None:
    """A declared level the reference never shows, else the reference's rarest level
    (ties: the first in sorted order); None for a column with fewer than two levels."""
    counts = ref.dropna().astype(str).value_counts()
    unseen = [lv for lv in levels if lv not in counts.index]
    if unseen:
        return unseen[0]
    if len(counts) < 2:
        return None
    rarest = counts[counts == counts.min()]
    return str(sorted(rarest.index)[0])
