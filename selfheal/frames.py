"""Logged rows as frames: the feature JSON of `predictions` rows back into a DataFrame in a
schema's column order, and the rows that belong to a schema at all."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from selfheal import db
from selfheal.schema import FeatureSchema


def rows_to_frame(rows: Sequence[db.Row], schema: FeatureSchema) -> pd.DataFrame:
    """Logged feature JSON -> a frame in schema order, one row per logged row; categorical
    missing values are None (see `matching_rows` for rows of another schema)."""
    records = [json.loads(r["features"]) for r in rows]
    frame = pd.DataFrame.from_records(records, columns=schema.names)
    for name in schema.categorical:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def matching_rows(rows: Sequence[db.Row], schema: FeatureSchema) -> list[db.Row]:
    """The rows this schema accepts: logged with exactly its features, and with values it
    would accept in a request today. Rows logged under another version's contract (other
    columns, or a feature that was nullable then and is required now, a level a closed
    feature no longer has, a value past a new hard bound) are left out, never NaN-filled:
    the data-quality gate would refuse every retrain that trained on them."""
    names = set(schema.names)
    out: list[db.Row] = []
    for r in rows:
        record = json.loads(r["features"])
        if set(record) == names and schema.validate_record(record)[0] is not None:
            out.append(r)
    return out
