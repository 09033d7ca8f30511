"""Logged rows as frames: the feature JSON of `predictions` rows back into a DataFrame in a
schema's column order, and the rows that belong to a schema at all."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

import pandas as pd

from selfheal.schema import FeatureSchema


def rows_to_frame(rows: Sequence[sqlite3.Row], schema: FeatureSchema) -> pd.DataFrame:
    """Logged feature JSON -> a frame in schema order, one row per logged row; categorical
    missing values are None (see `matching_rows` for rows of another schema)."""
    records = [json.loads(r["features"]) for r in rows]
    frame = pd.DataFrame.from_records(records, columns=schema.names)
    for name in schema.categorical:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def matching_rows(rows: Sequence[sqlite3.Row], schema: FeatureSchema) -> list[sqlite3.Row]:
    """The rows logged with exactly this schema's features. Rows of another schema (logged
    before a model with other columns was promoted) must be left out, never NaN-filled."""
    names = set(schema.names)
    return [r for r in rows if set(json.loads(r["features"])) == names]
