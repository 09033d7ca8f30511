"""Feature schema: what a record must look like, and how far it may stray.

Each feature is numeric or categorical. Two kinds of bounds:

* **Hard bounds** (`min`/`max`, closed category `levels`) are declared, never inferred: by a
  schema file (`--schema`) or by the demo's own schema. A value outside them is impossible and
  is rejected.
* **Soft ranges** (`soft_min`/`soft_max`, seen `levels`) are what the training data showed.
  A value outside them is accepted, because real traffic moves and refusing it would hide the
  drift we exist to see; the record is flagged out-of-range and the monitor counts it.

Validation reports every problem, each as `{"field", "problem", "message"}`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selfheal import values as _values
from selfheal.errors import DataError, ValidationError
from selfheal.validation import DuplicateKeyError, unique_keys

NUMERIC = "numeric"
CATEGORICAL = "categorical"

# Problem codes, documented in docs/troubleshooting.md.
MISSING = "missing"
UNKNOWN_FIELD = "unknown_field"
WRONG_TYPE = "wrong_type"
NOT_FINITE = "not_finite"
NULL = "null"
BELOW_MIN = "below_min"
ABOVE_MAX = "above_max"
UNKNOWN_CATEGORY = "unknown_category"
NOT_AN_OBJECT = "not_an_object"


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str
    min: float | None = None  # hard bounds (declared)
    max: float | None = None
    soft_min: float | None = None  # soft range (seen in training)
    soft_max: float | None = None
    levels: tuple[str, ...] = ()  # categorical: declared or seen levels
    closed: bool = False  # categorical: unknown levels rejected (only when declared)
    nullable: bool = False  # null accepted (imputed by the model pipeline)
    decimal: str = "."  # numeric: the decimal mark of numbers sent as text (values.py)
    unit: str | None = None  # numeric: the one unit ($, %, EUR...) text values may carry

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["levels"] = list(self.levels)
        return {k: v for k, v in d.items() if v not in (None, (), [])}

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any], *, where: str = "schema") -> Feature:
        """A feature declaration, each field checked for its JSON type: `type` numeric or
        categorical; `min`, `max`, `soft_min`, `soft_max` finite numbers (numeric only);
        `levels` a list of distinct strings and `closed` true/false (categorical only);
        `nullable` true/false; `decimal` "." or ","; `unit` a string. Unknown keys, and
        keys of the other type, are refused with the allowed list. `where` names the file."""
        at = f"{where}: features.{name}"
        kind = _declared_kind(name, d, at)
        levels = _declared_levels(d, at)
        closed = _flag(d, "closed", at)
        nullable = _flag(d, "nullable", at)
        if closed and not levels:
            raise DataError(f"{at} is closed but declares no levels; add levels or drop closed")
        decimal = d.get("decimal", ".")
        if decimal not in _values.DECIMALS:
            raise DataError(f'{at}.decimal must be "." or ",", got {_got(decimal)}')
        unit = d.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise DataError(f"{at}.unit must be a string or null, got {_got(unit)}")
        lo, hi = _finite(d, "min", at), _finite(d, "max", at)
        if lo is not None and hi is not None and lo > hi:
            raise DataError(f"{at}.min ({_num(lo)}) is greater than max ({_num(hi)})")
        return cls(
            name=name,
            kind=kind,
            min=lo,
            max=hi,
            soft_min=_finite(d, "soft_min", at),
            soft_max=_finite(d, "soft_max", at),
            levels=levels,
            closed=closed,
            nullable=nullable,
            decimal=decimal,
            unit=unit,
        )


def _declared_kind(name: str, d: Mapping[str, Any], at: str) -> str:
    """The `type` of the declaration `d` of feature `name`, after checking that `d` is an
    object with known keys, a consistent `name` and no key of the other type."""
    if not isinstance(d, Mapping):
        raise DataError(
            f'{at} must be an object like {{"type": "numeric", "min": 0, "max": 10}}, got {_got(d)}'
        )
    extra = sorted(str(k) for k in set(d) - _FEATURE_KEYS)
    if extra:
        raise DataError(
            f"{at} has unknown key(s) {extra}; allowed keys are "
            f"{sorted(_FEATURE_KEYS - {'kind', 'name'})}"
        )
    if "type" in d and "kind" in d and d["type"] != d["kind"]:
        raise DataError(f'{at} has both "type" and "kind"; keep "type"')
    kind = d.get("type", d.get("kind"))
    if kind not in (NUMERIC, CATEGORICAL):
        raise DataError(f'{at}.type must be "numeric" or "categorical", got {_got(kind)}')
    if "name" in d and d["name"] != name:
        raise DataError(f"{at}.name is {_got(d['name'])}; it must be the key, {name!r}")
    other = _CATEGORICAL_ONLY if kind == NUMERIC else _NUMERIC_ONLY
    wrong = sorted(k for k in other if not _unset(d.get(k)))
    if wrong:
        raise DataError(
            f"{at} is {kind}, which has no {', '.join(wrong)}; remove "
            f"{'it' if len(wrong) == 1 else 'them'} (or declare the other type)"
        )
    return str(kind)


def _flag(d: Mapping[str, Any], key: str, at: str) -> bool:
    v = d.get(key, False)
    if not isinstance(v, bool):
        raise DataError(f"{at}.{key} must be true or false, got {_got(v)}")
    return v


def _finite(d: Mapping[str, Any], key: str, at: str) -> float | None:
    """`d[key]` as a float: None when absent, else a finite number (not a bool)."""
    v = d.get(key)
    if v is None:
        return None
    try:
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        ok = False
    if not ok:
        raise DataError(f"{at}.{key} must be a finite number, got {_got(v)}")
    return float(v)


def _declared_levels(d: Mapping[str, Any], at: str) -> tuple[str, ...]:
    """The declared `levels`, cleaned as data values are; refused when one reads as a
    missing value or two are the same level in another case."""
    levels_in = d.get("levels")
    if levels_in is None:
        levels_in = []
    if not isinstance(levels_in, list) or not all(isinstance(x, str) for x in levels_in):
        raise DataError(f"{at}.levels must be a list of strings, got {_got(levels_in)}")
    levels = tuple(_values.clean_text(x) for x in levels_in)
    folded: dict[str, str] = {}
    for raw, level in zip(levels_in, levels, strict=True):
        if _values.is_missing(level):
            raise DataError(
                f"{at}.levels holds {raw!r}, which data files read as a missing value; "
                "remove it (set nullable instead)"
            )
        if level.casefold() in folded:
            raise DataError(
                f"{at}.levels holds {folded[level.casefold()]!r} and {raw!r}, one level "
                "(values are read in any case); keep one"
            )
        folded[level.casefold()] = raw
    return levels


def _unset(v: Any) -> bool:
    """A field left at its default as `Feature.to_dict` writes it (`closed: false` on a
    numeric feature, `decimal: "."` on a categorical one)."""
    return v is None or v is False or v == [] or v == "."


def _got(v: Any) -> str:
    """A value from a JSON file as JSON, cut short, for an error message."""
    text = json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


_NUMERIC_ONLY = frozenset({"min", "max", "soft_min", "soft_max", "unit", "decimal"})
_CATEGORICAL_ONLY = frozenset({"levels", "closed"})
_FEATURE_KEYS = _NUMERIC_ONLY | _CATEGORICAL_ONLY | {"type", "kind", "name", "nullable"}
_SCHEMA_KEYS = frozenset({"features", "target", "positive", "negative"})


@dataclass(frozen=True)
class Validated:
    """One valid record: values in schema order, plus the fields outside the soft range."""

    values: tuple[Any, ...]
    record: dict[str, Any]
    out_of_range: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureSchema:
    """A model's input contract: its features in column order (numeric with hard bounds
    and soft training ranges, categorical with levels), nullability, and the target with
    its positive and negative values as the training CSV wrote them.

    Immutable; shared by the serving threads. `validate_record` checks one JSON record
    (every problem listed, never raising), `validate_frame` a training frame, `to_matrix` /
    `frame_to_matrix` build the model's input. Saved in each version's `meta.json`.
    """

    features: tuple[Feature, ...]
    target: str = "default"
    positive: str | None = None  # the source value that means class 1, when not 0/1
    negative: str | None = None  # the other value, when `positive` is set
    _index: dict[str, Feature] = field(default_factory=dict, compare=False, repr=False)
    _folded: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.features:
            raise DataError("a schema needs at least one feature")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise DataError(f"duplicate feature names in schema: {names}")
        self._index.update({f.name: f for f in self.features})
        self._folded.update(
            {f.name: _values.fold_case(f.levels) for f in self.features if f.levels}
        )

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric(self) -> list[str]:
        return [f.name for f in self.features if f.kind == NUMERIC]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == CATEGORICAL]

    def __getitem__(self, name: str) -> Feature:
        return self._index[name]

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Features as an ordered list: the order is the model's column order, and a list
        keeps it through any JSON writer (a dict would be re-sorted by `sort_keys`)."""
        return {
            "target": self.target,
            "positive": self.positive,
            "negative": self.negative,
            "features": [
                {
                    "name": f.name,
                    "type": f.kind,
                    **{k: v for k, v in f.to_dict().items() if k not in ("name", "kind")},
                }
                for f in self.features
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "schema") -> FeatureSchema:
        """Read `{"features": [{"name": ..., "type": ...}, ...]}` or, as schema files are
        usually written, `{"features": {"name": {"type": ...}, ...}}` (file order kept).

        Every field is checked (`Feature.from_dict`); names are read as CSV headers are
        (`values.clean_name`), and a name given twice is refused."""
        example = '{"features": {"age": {"type": "numeric", "min": 18}}}'
        if not isinstance(d, Mapping):
            raise DataError(f'{where}: expected an object with "features", e.g. {example}')
        extra = sorted(str(k) for k in set(d) - _SCHEMA_KEYS)
        if extra:
            raise DataError(
                f"{where}: unknown key(s) {extra}; allowed keys are {sorted(_SCHEMA_KEYS)}"
            )
        feats_in = d.get("features")
        items: list[tuple[str, Any]] = []
        if isinstance(feats_in, list):
            for i, item in enumerate(feats_in):
                if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                    raise DataError(f'{where}: features[{i}] needs a string "name"')
                items.append((item["name"], item))
        elif isinstance(feats_in, Mapping):
            items = [(str(k), v) for k, v in feats_in.items()]
        else:
            raise DataError(f'{where}: expected an object with a "features" object, e.g. {example}')
        if not items:
            raise DataError(f'{where}: "features" is empty; declare at least one, e.g. {example}')
        seen: dict[str, str] = {}
        feats = []
        for raw, v in items:
            name = _values.clean_name(raw)
            if not name:
                raise DataError(f"{where}: a feature has the empty name {raw!r}; name it")
            if name in seen:
                raise DataError(
                    f"{where}: the feature {name!r} is declared twice"
                    f"{f' (as {seen[name]!r} and {raw!r})' if seen[name] != raw else ''}; "
                    "keep one"
                )
            seen[name] = raw
            if isinstance(v, Mapping) and "name" in v and v["name"] == raw:
                v = {**v, "name": name}
            feats.append(Feature.from_dict(name, v, where=where))
        text: dict[str, str | None] = {}
        for key in ("target", "positive", "negative"):
            v = d.get(key)
            if v is not None and not isinstance(v, str):
                raise DataError(f"{where}: {key} must be a string or null, got {_got(v)}")
            text[key] = v
        return cls(
            features=tuple(feats),
            target=text["target"] or "default",
            positive=text["positive"],
            negative=text["negative"],
        )

    @classmethod
    def from_file(cls, path: Path | str) -> FeatureSchema:
        """A `--schema` file: JSON read strictly (a key twice in one object, numbers beyond
        Python's 4,300-digit limit and nesting deeper than the parser's stack are refused)
        and checked by `from_dict`."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(f"schema file {path} does not exist", code="file_not_found") from None
        except IsADirectoryError:
            raise DataError(f"schema file {path} is a folder; pass a JSON file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read schema file {path}: {exc}") from None
        try:
            data = json.loads(text, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"schema file {path} is not valid JSON: {exc.msg} at line "
                f"{exc.lineno}; fix the file"
            ) from None
        except DuplicateKeyError as dup:
            raise DataError(
                f"schema file {path} has the key {dup.key!r} twice in one object; keep one "
                "(JSON readers disagree on which copy wins)"
            ) from None
        except ValueError:  # an integer literal beyond int's digit limit
            raise DataError(
                f"schema file {path} holds a number of more than 4,300 digits, which JSON "
                "readers refuse; write bounds as ordinary numbers (e.g. 1e12)"
            ) from None
        except RecursionError:
            raise DataError(
                f"schema file {path} is nested too deeply to read; a schema is "
                '{"features": {"name": {"type": ...}}}'
            ) from None
        return cls.from_dict(data, where=str(path))

    # -- validation of one record ------------------------------------------------------
    def validate_record(self, record: Any) -> tuple[Validated | None, list[dict[str, Any]]]:
        """Check one record. Return `(Validated, [])` or `(None, problems)` with every problem."""
        if not isinstance(record, Mapping):
            return None, [
                _problem(
                    None,
                    NOT_AN_OBJECT,
                    f"each record must be a JSON object of features, got {_json_type(record)}",
                )
            ]
        problems: list[dict[str, Any]] = []
        values: list[Any] = []
        out: list[str] = []
        for f in self.features:
            if f.name not in record:
                problems.append(
                    _problem(f.name, MISSING, f"field {f.name!r} is required ({f.kind})")
                )
                continue
            v = _normalise(f, record[f.name])
            if v is None:
                if f.nullable:
                    values.append(None)
                else:
                    problems.append(
                        _problem(
                            f.name,
                            NULL,
                            f"field {f.name!r} is null; send a "
                            f"{'number' if f.kind == NUMERIC else 'string'}",
                        )
                    )
                continue
            value, flagged, problem = (
                _check_number(f, v)
                if f.kind == NUMERIC
                else _check_category(f, v, self._folded.get(f.name, {}))
            )
            if problem is not None:
                problems.append(problem)
                continue
            if flagged:
                out.append(f.name)
            values.append(value)
        known = self._index
        for key in record:
            if key not in known:
                problems.append(
                    _problem(
                        str(key),
                        UNKNOWN_FIELD,
                        f"field {key!r} is not a "
                        f"feature of this model; expected {', '.join(self.names)}",
                    )
                )
        if problems:
            return None, problems
        clean = {f.name: val for f, val in zip(self.features, values, strict=True)}
        return Validated(tuple(values), clean, tuple(out)), []

    def check_record(self, record: Any) -> Validated:
        valid, problems = self.validate_record(record)
        if valid is None:
            raise ValidationError(_summary(problems), details=problems)
        return valid

    # -- validation of a training frame ------------------------------------------------
    def validate_frame(self, frame: pd.DataFrame, *, limit: int = 5) -> list[dict[str, Any]]:
        """Every problem in a frame, one entry per (field, problem) with a count and rows."""
        problems: list[dict[str, Any]] = []
        cols = set(frame.columns)
        for f in self.features:
            if f.name not in cols:
                problems.append(
                    {
                        **_problem(f.name, MISSING, f"column {f.name!r} is missing"),
                        "count": len(frame),
                    }
                )
                continue
            col = frame[f.name]
            null = col.isna().to_numpy()
            if null.any() and not f.nullable:
                problems.append(_frame_problem(f.name, NULL, null, "empty value(s)", limit))
            if f.kind == NUMERIC:
                problems += _numeric_frame_problems(f, col, null, limit)
            else:
                problems += _categorical_frame_problems(f, col, null, limit)
        return problems

    # -- conversion for the model ------------------------------------------------------
    def to_matrix(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """Rows of values in schema order -> the array the model pipeline takes.

        All-numeric schemas give float64 (None -> NaN); mixed ones give an object array.
        """
        if not self.categorical:
            return np.array(
                [[np.nan if v is None else v for v in r] for r in rows], dtype=np.float64
            ).reshape(len(rows), len(self.features))
        arr = np.empty((len(rows), len(self.features)), dtype=object)
        for j, f in enumerate(self.features):
            col = [r[j] for r in rows]
            if f.kind == NUMERIC:
                arr[:, j] = np.array([np.nan if v is None else v for v in col], dtype=np.float64)
            else:
                arr[:, j] = [np.nan if v is None else v for v in col]
        return arr

    def frame_to_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.categorical:
            return frame[self.names].to_numpy(dtype=np.float64, na_value=np.nan)
        arr = np.empty((len(frame), len(self.features)), dtype=object)
        for j, f in enumerate(self.features):
            col = frame[f.name]
            if f.kind == NUMERIC:
                arr[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                arr[:, j] = col.astype(object).where(col.notna(), np.nan).to_numpy()
        return arr


def _numeric_frame_problems(
    f: Feature, col: pd.Series, null: np.ndarray, limit: int
) -> list[dict[str, Any]]:
    """The problems of numeric feature `f`'s column (`null` marks its empty cells): a
    non-numeric dtype (then nothing else is checked), infinite values, values beyond the
    hard bounds."""
    problems: list[dict[str, Any]] = []
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        problems.append(
            {
                **_problem(
                    f.name,
                    WRONG_TYPE,
                    f"column {f.name!r} must be numeric, has dtype {col.dtype}",
                ),
                "count": int((~null).sum()),
            }
        )
        return problems
    x = col.to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(x)
    if inf.any():
        problems.append(_frame_problem(f.name, NOT_FINITE, inf, "infinite value(s)", limit))
    with np.errstate(invalid="ignore"):
        if f.min is not None:
            low = x < f.min
            if low.any():
                problems.append(
                    _frame_problem(
                        f.name,
                        BELOW_MIN,
                        low,
                        f"value(s) below the minimum {_num(f.min)}",
                        limit,
                    )
                )
        if f.max is not None:
            high = x > f.max
            if high.any():
                problems.append(
                    _frame_problem(
                        f.name,
                        ABOVE_MAX,
                        high,
                        f"value(s) above the maximum {_num(f.max)}",
                        limit,
                    )
                )
    return problems


def _categorical_frame_problems(
    f: Feature, col: pd.Series, null: np.ndarray, limit: int
) -> list[dict[str, Any]]:
    """The problems of categorical feature `f`'s column: non-string values, and values
    outside the declared levels of a closed feature."""
    problems: list[dict[str, Any]] = []
    present = col[~null]
    bad_type = ~present.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    if bad_type.any():
        mask = np.zeros(len(col), dtype=bool)
        mask[np.flatnonzero(~null)[bad_type]] = True
        problems.append(_frame_problem(f.name, WRONG_TYPE, mask, "non-string value(s)", limit))
    if f.closed and f.levels:
        unknown = ~col.isin(f.levels).to_numpy() & ~null
        if unknown.any():
            problems.append(
                _frame_problem(
                    f.name,
                    UNKNOWN_CATEGORY,
                    unknown,
                    f"value(s) outside the declared levels {list(f.levels)[:10]}",
                    limit,
                )
            )
    return problems


def infer_schema(
    frame: pd.DataFrame,
    *,
    target: str,
    positive: str | None = None,
    negative: str | None = None,
    declared: FeatureSchema | None = None,
    names: Sequence[str] | None = None,
    formats: Mapping[str, Mapping[str, Any]] | None = None,
) -> FeatureSchema:
    """Types, levels and soft ranges from training data; hard bounds only from `declared`.

    With a declared schema, its features (and their hard bounds / closed levels) are kept and
    soft ranges are filled in from the data. Without one, every column is a feature.
    `names` lists the features explicitly (in order): declared ones keep their declaration,
    the others are inferred from their dtype, so a schema may declare only some columns.
    `formats` gives numeric columns' `decimal` and `unit` as the CSV wrote them.
    """
    feats: list[Feature] = []
    if names is None:
        names = declared.names if declared else [c for c in frame.columns if c != target]
    known = set(declared.names) if declared else set()
    formats = formats or {}
    for name in names:
        col = frame[name]
        base = declared[name] if declared and name in known else None
        nullable = bool(col.isna().any()) or (base.nullable if base else False)
        if base is not None:
            kind = base.kind
        elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            kind = NUMERIC
        else:
            kind = CATEGORICAL
        if kind == NUMERIC:
            x = col.to_numpy(dtype=float, na_value=np.nan)
            x = x[np.isfinite(x)]
            fmt = formats.get(name) or {}
            feats.append(
                Feature(
                    name=name,
                    kind=NUMERIC,
                    min=base.min if base else None,
                    max=base.max if base else None,
                    soft_min=float(x.min()) if x.size else None,
                    soft_max=float(x.max()) if x.size else None,
                    nullable=nullable,
                    decimal=str(fmt.get("decimal") or (base.decimal if base else ".")),
                    unit=fmt.get("unit", base.unit if base else None),
                )
            )
        else:
            seen = sorted({str(v) for v in col.dropna().unique()})
            if base is not None and base.closed:
                levels: tuple[str, ...] = base.levels
            else:  # declared levels first; a seen level in another case is the declared one
                known_case = {lv.casefold() for lv in (base.levels if base else ())}
                levels = tuple(
                    dict.fromkeys(
                        [
                            *(base.levels if base else ()),
                            *(v for v in seen if v.casefold() not in known_case),
                        ]
                    )
                )
            feats.append(
                Feature(
                    name=name,
                    kind=CATEGORICAL,
                    levels=levels,
                    closed=bool(base and base.closed),
                    nullable=nullable,
                )
            )
    return FeatureSchema(features=tuple(feats), target=target, positive=positive, negative=negative)


def label_value(value: Any, schema: FeatureSchema | None = None) -> int | None:
    """A ground-truth label as 0/1, or None when `value` is not one.

    Accepted: the target's own two values as the training CSV wrote them (`schema.positive`
    and `schema.negative`, e.g. "yes"/"no" or "bad"/"good"; any case, surrounding spaces
    ignored; numbers by value), which take precedence; then 0 and 1 (JSON numbers or
    strings, "+1" and "1.0" too), JSON booleans, and the words true/false, yes/no, y/n, t/f
    in any case.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and -(10**15) < value < 10**15:
        text = str(value)
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    elif isinstance(value, str) and len(value) <= 256:
        text = value.strip()
    else:
        return None
    folded = text.casefold()
    if schema is not None and schema.positive is not None:
        if _same_label(folded, schema.positive):
            return 1
        if schema.negative is not None and _same_label(folded, schema.negative):
            return 0
    if _same_label(folded, "1") or folded in _values.TRUE_WORDS:
        return 1
    if _same_label(folded, "0") or folded in _values.FALSE_WORDS:
        return 0
    return None


def _same_label(folded: str, value: str) -> bool:
    """`folded` (case-folded, stripped) names `value`: the same text in any case, or the
    same number ("+1", "1.0" and "1e0" are 1), as training reads a target."""
    target = value.strip().casefold()
    if folded == target:
        return True
    a = _values.parse_number(folded) if len(folded) <= 32 else None
    b = _values.parse_number(target) if len(target) <= 32 else None
    return a is not None and b is not None and a[1] is None and b[1] is None and a[0] == b[0]


def label_hint(schema: FeatureSchema | None = None) -> str:
    """The label values `label_value` accepts, for an error message."""
    own = (
        f", or the target's values {schema.negative!r}/{schema.positive!r}"
        if schema is not None and schema.positive is not None and schema.negative is not None
        else ""
    )
    return f"label must be 0 or 1 (or true/false, yes/no){own}"


def describe(schema: FeatureSchema) -> list[str]:
    """One line per feature: name, type, nullability and bounds (what `train` prints)."""
    width = max(len(n) for n in schema.names)
    lines = []
    for f in schema.features:
        parts = [f"{f.name:<{width}}", f"{f.kind:<11}", "nullable" if f.nullable else "required"]
        if f.kind == NUMERIC:
            hard = (
                "no hard bounds"
                if f.min is None and f.max is None
                else f"hard bounds [{_bound(f.min)}, {_bound(f.max)}]"
            )
            parts.append(f"{hard}, training range [{_bound(f.soft_min)}, {_bound(f.soft_max)}]")
            if f.decimal != "." or f.unit:
                parts.append(
                    f"written with decimal {f.decimal!r}" + (f", unit {f.unit!r}" if f.unit else "")
                )
        else:
            shown = ", ".join(f.levels[:8]) + (" ..." if len(f.levels) > 8 else "")
            kind = "declared (closed)" if f.closed else "seen"
            parts.append(f"{len(f.levels)} {kind} level(s): {shown}")
        lines.append("  ".join(parts))
    return lines


def _bound(x: float | None) -> str:
    return "-" if x is None else _num(x)


@dataclass(frozen=True)
class _OtherUnit:
    text: str
    unit: str


def _normalise(f: Feature, v: Any) -> Any:
    """A live value read as the training CSV's cells are (values.py): missing markers are
    null, numbers written as text are numbers, text is cleaned (`values.clean_text`), and a
    categorical feature whose levels are integer codes or a yes/no pair takes JSON numbers
    or booleans."""
    if isinstance(v, str):
        if _values.is_missing(v):
            return None
        if f.kind == NUMERIC:
            parsed = _values.parse_number(v, f.decimal)
            if parsed is None:
                return v
            x, unit = parsed
            if unit is not None and f.unit is not None and unit != f.unit:
                return _OtherUnit(v, unit)
            return x
        text = _values.clean_text(v)
        if f.levels and _values.canonical_bool(f.levels) and _values.canonical_bool([text]):
            return text.capitalize()
        return text
    if f.kind == CATEGORICAL and f.levels:
        if isinstance(v, bool):
            return _values.bool_level(f.levels, v) or v
        if (
            isinstance(v, (int, float))
            and all(_values.is_integer_code(lv) for lv in f.levels)
            and math.isfinite(v)
            and float(v).is_integer()
        ):
            return str(int(v))
    return v


Checked = tuple[Any, bool, "dict[str, Any] | None"]  # (value, out of range, problem)


def _refused(name: str, problem: str, message: str) -> Checked:
    """A refused value: no value, not flagged, the problem."""
    return None, False, _problem(name, problem, message)


def _check_number(f: Feature, v: Any) -> Checked:
    """A numeric feature's normalised value: finite, within the hard bounds; flagged when
    outside the training range."""
    if isinstance(v, _OtherUnit):
        return _refused(
            f.name,
            WRONG_TYPE,
            f"field {f.name!r} is {_short(v.text)}, in {v.unit!r}; the model "
            f"was trained on values in {f.unit!r}",
        )
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return _refused(
            f.name,
            WRONG_TYPE,
            f"field {f.name!r} must be a number, got {_json_type(v)} {_short(v)}",
        )
    try:
        x = float(v)
    except OverflowError:  # an integer of hundreds of digits
        x = math.inf
    if not math.isfinite(x):
        return _refused(f.name, NOT_FINITE, f"field {f.name!r} must be finite, got {v!r}")
    if f.min is not None and x < f.min:
        return _refused(
            f.name, BELOW_MIN, f"field {f.name!r} is {_num(x)}, below the minimum {_num(f.min)}"
        )
    if f.max is not None and x > f.max:
        return _refused(
            f.name, ABOVE_MAX, f"field {f.name!r} is {_num(x)}, above the maximum {_num(f.max)}"
        )
    flagged = (f.soft_min is not None and x < f.soft_min) or (
        f.soft_max is not None and x > f.soft_max
    )
    return x, flagged, None


def _check_category(f: Feature, v: Any, folded: Mapping[str, str]) -> Checked:
    """A categorical feature's normalised value: text, a known level in any case (a closed
    feature refuses others); flagged when it is a level training never saw."""
    if not isinstance(v, str):
        return _refused(
            f.name,
            WRONG_TYPE,
            f"field {f.name!r} must be a string, got {_json_type(v)} {_short(v)}",
        )
    if f.levels and v not in f.levels:
        v = folded.get(v.casefold(), v)  # "EAST" is "east"
    if f.levels and v not in f.levels:
        if f.closed:
            shown = ", ".join(f.levels[:20]) + (" ..." if len(f.levels) > 20 else "")
            return _refused(
                f.name,
                UNKNOWN_CATEGORY,
                f"field {f.name!r} is {_short(v)}; allowed values are {shown}",
            )
        return v, True, None
    return v, False, None


def _problem(field_name: str | None, problem: str, message: str) -> dict[str, Any]:
    return {"field": field_name, "problem": problem, "message": message}


def _frame_problem(
    name: str, problem: str, mask: np.ndarray, what: str, limit: int
) -> dict[str, Any]:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(int(r) + 2) for r in rows[:limit])  # +2: header line, 1-based
    more = " ..." if rows.size > limit else ""
    return {
        **_problem(
            name, problem, f"column {name!r} has {rows.size} {what} (CSV lines {shown}{more})"
        ),
        "count": int(rows.size),
        "rows": [int(r) for r in rows[:limit]],
    }


def _summary(problems: Iterable[Mapping[str, Any]]) -> str:
    items = list(problems)
    first = "; ".join(str(p["message"]) for p in items[:3])
    extra = f" (and {len(items) - 3} more)" if len(items) > 3 else ""
    return f"{len(items)} invalid field(s): {first}{extra}"


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "object"
    if isinstance(v, (list, tuple)):
        return "array"
    return type(v).__name__


def _short(v: Any) -> str:
    text = json.dumps(v, allow_nan=True) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def summarize(problems: Iterable[Mapping[str, Any]]) -> str:
    return _summary(problems)
