"""Data: the synthetic credit-risk world, its drift injectors, and users' CSV files.

The synthetic world
-------------------
Applicants are drawn independently (all draws from one seeded `numpy.random.Generator`)::

    age              ~ clip(Normal(42, 12), 18, 90)
    income           ~ clip(LogNormal(ln 52,000, 0.45), 5,000, 1,000,000)
    credit_score     ~ clip(Normal(680, 70), 300, 850)
    employment_years ~ clip(Gamma(2, 3.5), 0, min(age - 16, 50))

The ground truth is a logistic model of the log-odds of default::

    logit = -1.45 - 0.018 (credit_score - 680) - 1.0 ln(income / 52,000)
            - 0.08 (employment_years - 7) - 0.01 (age - 42) + 0.7 [credit_score < 580]
    default ~ Bernoulli(sigmoid(logit))

which gives a default rate near 27% and a Bayes AUC near 0.81 (seed 1, 20,000 rows). Under
concept drift the old truth ranks the new defaults at AUC 0.54, the new truth at 0.72.

Drift injectors
---------------
* covariate:  the inputs move, the relationship holds (income x 1.5, applicants 10 years older);
* population: the prior moves: more high-risk profiles (lower scores, lower incomes, shorter
  employment), so the default rate rises under the same ground truth;
* concept:    the ground truth itself changes (high income now signals over-leverage, the score
  matters less and age more), so the same inputs default differently::

    logit_c = -1.2 - 0.006 (credit_score - 680) + 1.3 ln(income / 52,000)
              + 0.04 (age - 42) - 0.02 (employment_years - 7)
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selfheal import values
from selfheal.errors import DataError
from selfheal.schema import CATEGORICAL, NUMERIC, Feature, FeatureSchema

FEATURES = ("age", "income", "credit_score", "employment_years")
TARGET = "default"
DRIFT_TYPES = ("covariate", "population", "concept")

CREDIT_SCHEMA = FeatureSchema(
    features=(
        Feature("age", NUMERIC, min=18, max=100),
        Feature("income", NUMERIC, min=0, max=10_000_000),
        Feature("credit_score", NUMERIC, min=300, max=850),
        Feature("employment_years", NUMERIC, min=0, max=80),
    ),
    target=TARGET,
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def default_probability(frame: pd.DataFrame, *, concept: bool = False) -> np.ndarray:
    """The ground-truth probability of default (see the module docstring)."""
    cs = frame["credit_score"].to_numpy(float)
    inc = np.log(frame["income"].to_numpy(float) / 52_000.0)
    emp = frame["employment_years"].to_numpy(float)
    age = frame["age"].to_numpy(float)
    if concept:
        logit = -1.2 - 0.006 * (cs - 680) + 1.3 * inc + 0.04 * (age - 42) - 0.02 * (emp - 7)
    else:
        logit = (
            -1.45
            - 0.018 * (cs - 680)
            - 1.0 * inc
            - 0.08 * (emp - 7)
            - 0.01 * (age - 42)
            + 0.7 * (cs < 580)
        )
    return _sigmoid(logit)


def _applicants(rng: np.random.Generator, n: int, *, risky: bool = False) -> pd.DataFrame:
    age = np.clip(rng.normal(42, 12, n), 18, 90)
    income = np.clip(rng.lognormal(np.log(52_000), 0.45, n), 5_000, 1_000_000)
    score = np.clip(rng.normal(680, 70, n), 300, 850)
    emp = np.minimum(rng.gamma(2.0, 3.5, n), np.clip(age - 16, 0, 50))
    if risky:
        # High-risk profile: lower scores and incomes, shorter employment.
        score = np.clip(score - 80, 300, 850)
        income = np.clip(income * 0.7, 5_000, 1_000_000)
        emp = emp * 0.5
    return pd.DataFrame(
        {
            "age": np.round(age, 0),
            "income": np.round(income, 2),
            "credit_score": np.round(score, 0),
            "employment_years": np.round(emp, 1),
        }
    )


def generate(
    n: int, *, seed: int = 0, drift: str | None = None, severity: float = 1.0
) -> pd.DataFrame:
    """`n` applicants with a `default` label, optionally drifted.

    `drift` is None or one of covariate, population, concept; `severity` scales the shift
    (1.0 = the documented amounts). Labels always come from the ground truth in force: the
    changed one for concept drift, the original one otherwise.
    """
    if n < 1:
        raise DataError(f"n must be at least 1, got {n}")
    if drift not in (None, *DRIFT_TYPES):
        raise DataError(
            f"unknown drift type {drift!r}; use one of {', '.join(DRIFT_TYPES)}",
            code="invalid_drift_type",
        )
    rng = np.random.default_rng(seed)
    if drift == "population":
        risky = rng.random(n) < min(1.0, 0.6 * severity)
        frame = _applicants(rng, n)
        shifted = _applicants(rng, n, risky=True)
        frame.loc[risky] = shifted.loc[risky]
    else:
        frame = _applicants(rng, n)
    if drift == "covariate":
        frame["income"] = np.round(frame["income"] * (1 + 0.5 * severity), 2)
        frame["age"] = np.clip(frame["age"] + 10 * severity, 18, 100)
        frame["employment_years"] = np.minimum(frame["employment_years"] + 5 * severity, 80)
    p = default_probability(frame, concept=drift == "concept")
    frame[TARGET] = (rng.random(n) < p).astype(np.int64)
    return frame


# -- CSV loading ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedData:
    features: pd.DataFrame
    y: np.ndarray
    target: str
    positive: str | None
    source: str
    negative: str | None = None  # the target's other value, when `positive` is set
    formats: dict[str, dict[str, Any]] = field(default_factory=dict)  # numeric: decimal, unit
    notes: tuple[str, ...] = ()  # warnings to show the person training


_TRUE = set(values.TRUE_WORDS)
_FALSE = set(values.FALSE_WORDS)
_LOOKS_NUMERIC = 0.9  # share of a text column's values that are numbers: refuse, not guess
_ID_LIKE = 0.9  # distinct values per row of a text column above which `train` warns
MAX_MAGNITUDE = 1e100  # larger numbers are refused (`_check_magnitude`)


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 (with or without a BOM) or UTF-16 with a BOM; anything else is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError(
                f"data file {path} starts like UTF-16 text but is not; save it as CSV UTF-8"
            ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"data file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}, "
            "probably Latin-1 or Windows-1252); save it as CSV UTF-8"
        ) from None


MAX_CELL_CHARS = 10_000_000  # longer cells are refused (`read_csv`); csv's own limit is 131,072
RESERVED_COLUMNS = ("instances",)  # names the HTTP API reads itself (a batch is {"instances": []})


def read_csv(path: Path | str) -> pd.DataFrame:
    """A user's CSV as text: every cell a stripped string, or None when missing.

    The header is checked as written (before pandas renames a repeated name), its names
    NFC-normalised and stripped, and types are decided later, per column, by `load_frame`.
    Every row must have the header's number of fields. Trailing separators are dropped: on
    the header (an unnamed column empty in every row), on every data row, or both. A quote
    that never closes, and a cell longer than `MAX_CELL_CHARS`, are refused with their line.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"data file {path} does not exist; check the --data path", code="file_not_found"
        )
    if path.is_dir():
        raise DataError(f"data file {path} is a folder; pass a CSV file", code="invalid_data")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read data file {path}: {exc.strerror}") from None
    text = _decode(path, raw)
    if text.startswith("\ufeff"):  # a BOM written twice (by an editor and the encoder)
        text = text[1:]
    if "\x00" in text:
        raise DataError(f"data file {path} holds NUL bytes: it is not a text CSV; export a CSV")
    if "\r" in text and "\n" not in text:  # classic Mac line ends
        text = text.replace("\r", "\n")
    first, _, rest = text.partition("\n")
    if len(first.strip()) == 5 and first.strip().lower().startswith("sep="):
        sep, text = first.strip()[4], rest  # Excel's "sep=;" line names the separator
    else:
        try:
            sep = csv.Sniffer().sniff(text[: 64 * 1024], delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
    # csv refuses cells over 131,072 characters with its own message; lift its limit past
    # any cell this text can hold and apply ours, which names the line and the column.
    csv.field_size_limit(max(csv.field_size_limit(), min(len(text) + 1, 2**31 - 1)))
    reader = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True, strict=False)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DataError(f"data file {path} has no header row; add one naming the columns")
        names = [values.clean_name(h) for h in header]
        rows: list[list[str]] = []
        spans: list[tuple[int, int]] = []  # each row's first and last physical line
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            rows.append(row)
            spans.append((start, end))
    except csv.Error as exc:
        raise DataError(
            f"cannot parse {path} as CSV: {exc} (line {reader.line_num}); check its quotes"
        ) from None
    if not rows:
        raise DataError(f"data file {path} has no data rows")
    _check_quotes(path, text, sep, spans)
    rows = _check_fields(path, names, rows, spans, sep, len(text))
    frame = pd.DataFrame(rows, dtype=object)
    frame.columns = pd.RangeIndex(len(names))
    for i, name in enumerate(names):
        if not name and all(values.is_missing(v) for v in frame[i]):
            frame = frame.drop(columns=[i])  # a spreadsheet's trailing separators
        elif not name:
            raise DataError(
                f"column {i + 1} of {path} has no name in the header; name it or delete it",
                code="invalid_header",
            )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            continue
        if name in seen:
            raise DataError(
                f"data file {path} has the column name {name!r} twice (columns "
                f"{seen[name] + 1} and {i + 1}); rename or delete one",
                code="duplicate_column",
            )
        seen[name] = i
    frame.columns = [names[i] for i in frame.columns]
    for c in frame.columns:
        frame[c] = pd.Series(_cells(frame[c].tolist()), dtype=object, index=frame.index)
    frame.attrs["sep"] = sep  # the decimal mark to try first depends on it (values.py)
    frame.attrs["lines"] = [e for _, e in spans]
    return frame


def _check_quotes(path: Path, text: str, sep: str, spans: list[tuple[int, int]]) -> None:
    """Refuse a quote that never closes, or closes only inside a later value. The lenient
    reader turns the lines after such a quote into one value, so only a row spanning several
    lines can hide one; the strict reader, on that row's lines, says whether it is sound."""
    physical: list[str] | None = None
    for k, (start, end) in enumerate(spans):
        if end == start:
            continue
        physical = physical or io.StringIO(text).readlines()
        last = k == len(spans) - 1
        chunk = "".join(physical[start - 1 : None if last else end])
        try:
            for _ in csv.reader(
                io.StringIO(chunk), delimiter=sep, skipinitialspace=True, strict=True
            ):
                pass
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise DataError(
                    f"line {start} of {path} opens a quote that never closes, so the rest of "
                    f"the file (lines {start}-{end}) would be one value; close or delete that "
                    "quote"
                ) from None
            raise DataError(
                f"line {start} of {path} opens a quote that closes only inside a value on line "
                f"{end}, so lines {start}-{end} would be one row; close the quote on line "
                f'{start}, and double the quotes inside quoted values ("")'
            ) from None


def _check_fields(
    path: Path,
    names: list[str],
    rows: list[list[str]],
    spans: list[tuple[int, int]],
    sep: str,
    size: int,
) -> list[list[str]]:
    """Rows of exactly the header's width, each row as long as most rows are.

    Most rows give the file's layout: the header's width; fewer when the header ends with
    separators (unnamed columns) that the rows leave out; or one more when every data row,
    but not the header, ends with a separator, which is then dropped. A row of any other
    length is refused with its line: read as it is, its values would land in the wrong
    columns. So is a value longer than `MAX_CELL_CHARS` (possible only when the text, of
    `size` characters, is)."""
    width = len(names)
    named = max(i + 1 for i, n in enumerate(names) if n)  # unnamed trailing columns may lack
    lengths = Counter(len(r) for r in rows)
    usual = lengths.most_common(1)[0][0]
    trailing = usual == width + 1 and all(not r[-1].strip() for r in rows if len(r) == width + 1)
    expected = usual if trailing or named <= usual <= width else width
    for row, (start, end) in zip(rows, spans, strict=True):
        if len(row) == expected:
            continue
        where = f"line {start}" if start == end else f"lines {start}-{end} (one quoted row)"
        if len(row) > expected and not "".join(row[expected:]).strip():
            hint = (
                f"its last {len(row) - expected} field(s) are empty: delete the separator(s) "
                f"ending the line, or quote values that contain the separator {sep!r}"
            )
        elif len(row) > expected:
            hint = f"quote values that contain the separator {sep!r}"
        else:
            hint = f"fill in the missing fields (even an empty one needs its separator {sep!r})"
        if start != end:
            hint = f"check the quotes from line {start} on; or {hint}"
        if expected == width:
            layout = f"the header has {width}"
        elif trailing:
            layout = (
                f"the other rows have {expected} (they end with a separator that the header "
                "does not have)"
            )
        else:
            layout = f"the other rows have {expected} (the header's named columns)"
        raise DataError(f"{where} of {path} has {len(row)} fields but {layout}; {hint}")
    if trailing:
        rows = [r[:width] for r in rows]
    if size > MAX_CELL_CHARS:
        for row, (_, end) in zip(rows, spans, strict=True):
            for j, cell in enumerate(row):
                if len(cell) > MAX_CELL_CHARS:
                    name = names[j] if j < width and names[j] else f"column {j + 1}"
                    raise DataError(
                        f"line {end} of {path} has a value of {len(cell):,} characters in "
                        f"{name!r}; values are limited to {MAX_CELL_CHARS:,} characters: "
                        "shorten it or delete the column"
                    )
    return [r + [""] * (width - len(r)) for r in rows]


def _cells(cells: list[Any]) -> list[Any]:
    """Strip text and turn the missing markers into None; other objects pass unchanged."""
    out: list[Any] = []
    for v in cells:
        if isinstance(v, str):
            out.append(None if values.is_missing(v) else v.strip())
        elif v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append(None)
        elif isinstance(v, (bool, np.bool_)):
            out.append("True" if v else "False")
        else:
            out.append(v)
    return out


def encode_target(
    col: pd.Series,
    *,
    name: str,
    positive: str | None,
    lines: Sequence[int] | None = None,
) -> tuple[np.ndarray, str | None]:
    """Map a target column to 0/1. Accepts 0/1, booleans, or two values with `positive`.

    Values are read as categories are (`values.clean_text`, any case: spellings that differ
    only in case are one value, spelled as most rows spell it), numbers by value (`1` and
    `1.0` are one), and `positive` matches a value in any case. The positive value returned
    is spelled as the data spells it. `lines` gives each row's CSV line for messages.
    """
    y, pos, _ = _encode_target(target_values(col, name=name, lines=lines), name, positive)
    return y, pos


def _encode_target(
    texts: list[str], name: str, positive: str | None
) -> tuple[np.ndarray, str | None, str | None]:
    """`encode_target` on the target's values as `target_values` reads them, plus the
    value that is not `positive` (None when `positive` is None)."""
    as_text = np.array(texts, dtype=object)
    distinct = sorted(set(texts))
    if len(distinct) != 2:
        shown = distinct[:10]
        raise DataError(
            f"target column {name!r} must have exactly two values (any case), found "
            f"{len(distinct)}: {shown}; pick a binary column for --target",
            code="invalid_target",
        )
    if positive is not None:
        wanted = _target_key(values.clean_text(str(positive)))
        hits = [d for d in distinct if _target_key(d) == wanted]
        if not hits:
            raise DataError(
                f"--positive {positive!r} is not a value of target {name!r}; "
                f"its values are {distinct}",
                code="invalid_target",
            )
        (other,) = set(distinct) - {hits[0]}
        return (as_text == hits[0]).astype(np.int64), hits[0], other
    numbers = {_target_key(d) for d in distinct}
    if numbers == {0.0, 1.0}:
        return np.array([_target_key(t) == 1.0 for t in texts], dtype=np.int64), None, None
    lowered = {d.lower() for d in distinct}
    if lowered <= _TRUE | _FALSE and len(lowered & _TRUE) == 1 and len(lowered & _FALSE) == 1:
        return np.array([t.lower() in _TRUE for t in as_text], dtype=np.int64), None, None
    raise DataError(
        f"target column {name!r} has values {distinct}: it is ambiguous which one "
        f"is the positive class; pass --positive VALUE (e.g. --positive "
        f"{distinct[1]!r})",
        code="ambiguous_target",
    )


def target_values(col: pd.Series, *, name: str, lines: Sequence[int] | None = None) -> list[str]:
    """A target column's values as text, one spelling per value (see `encode_target`);
    refuses an empty value with its CSV line."""
    missing = np.array(
        [v is None or (isinstance(v, str) and values.is_missing(v)) for v in _cells(list(col))],
        dtype=bool,
    )
    if missing.any():
        where = lines if lines is not None and len(lines) == len(col) else range(2, len(col) + 2)
        rows = ", ".join(str(where[int(i)]) for i in np.flatnonzero(missing)[:5])
        raise DataError(
            f"target column {name!r} has {int(missing.sum())} empty value(s) "
            f"(CSV line(s) {rows}{' ...' if missing.sum() > 5 else ''}); remove those rows or "
            "fill in the label"
        )
    texts = [values.clean_text(_text(v)) for v in _cells(list(col))]
    counts: dict[str, int] = {}
    for t in texts:
        counts[t] = counts.get(t, 0) + 1
    groups: dict[str | float, list[str]] = {}
    for t in counts:
        groups.setdefault(_target_key(t), []).append(t)
    spelling = {
        sp: max(sorted(group), key=lambda g: counts[g]) for group in groups.values() for sp in group
    }
    return [spelling[t] for t in texts]


def _target_key(text: str) -> str | float:
    """What makes two target spellings one value: the number (`1`, `1.0`, `+1`), else the
    text in any case (`yes`, `YES`)."""
    parsed = values.parse_number(text) if len(text) < 32 else None
    if parsed is not None and parsed[1] is None:
        return parsed[0]
    return text.casefold()


def load_csv(
    path: Path | str,
    *,
    target: str,
    positive: str | None = None,
    schema: FeatureSchema | None = None,
    categorical: Iterable[str] = (),
) -> LoadedData:
    """Read a user's CSV: features (numeric and categorical) plus a binary target.

    `schema` declares some or all features (the others are inferred); `categorical` names
    columns to train as categories whatever they look like (codes, zip codes...).
    """
    return load_frame(
        read_csv(path),
        target=target,
        positive=positive,
        schema=schema,
        categorical=categorical,
        source=str(path),
    )


def _resolve_target(frame: pd.DataFrame, target: str, source: str) -> str:
    """The target column's name in `frame` (names are read NFC and stripped), or a
    `DataError` naming the columns there are."""
    if target not in frame.columns and values.clean_name(target) in frame.columns:
        target = values.clean_name(target)  # names are read NFC and stripped (`read_csv`)
    if target not in frame.columns:
        raise DataError(
            f"target column {target!r} is not in {source}; its columns are {list(frame.columns)}",
            code="invalid_target",
        )
    return target


def _check_categorical(
    frame: pd.DataFrame,
    categorical: Iterable[str],
    target: str,
    schema: FeatureSchema | None,
    source: str,
) -> list[str]:
    """The --categorical columns, cleaned and deduplicated; each must be a column of
    `frame` other than the target, and not declared numeric by `schema`."""
    cats = list(
        dict.fromkeys(values.clean_name(c) if c not in frame.columns else c for c in categorical)
    )
    for name in cats:
        if name == target:
            raise DataError(
                f"--categorical {name!r} names the target; it is always a label",
                code="invalid_arguments",
            )
        if name not in frame.columns:
            raise DataError(
                f"--categorical {name!r} is not a column of {source}; its columns are "
                f"{list(frame.columns)}",
                code="invalid_arguments",
            )
        if schema is not None and name in schema.names and schema[name].kind == NUMERIC:
            raise DataError(
                f"--categorical {name!r} contradicts the schema, which declares it numeric; "
                "drop one of the two",
                code="invalid_arguments",
            )
    return cats


def _check_schema_columns(
    frame: pd.DataFrame, schema: FeatureSchema, target: str, source: str
) -> None:
    """Every feature of `schema` is a column of `frame`, and the target is not one of them."""
    missing = [n for n in schema.names if n not in frame.columns]
    if missing:
        raise DataError(
            f"column(s) {missing} of the schema are not in {source}; its columns "
            f"are {list(frame.columns)}",
            code="invalid_data",
        )
    if target in schema.names:
        raise DataError(
            f'the schema declares the target {target!r} as a feature; remove it from "features"',
            code="invalid_data",
        )


def _check_reserved(frame: pd.DataFrame, target: str, source: str) -> None:
    """No feature column may be named like a batch key of the API (`RESERVED_COLUMNS`)."""
    for c in frame.columns:
        if str(c) in RESERVED_COLUMNS and c != target:
            raise DataError(
                f"column {c!r} of {source} is reserved by the API (a batch is "
                f'{{"{c}": [...]}}, so a record with this field would be read as one); '
                "rename the column",
                code="invalid_header",
            )


def _type_features(
    features: pd.DataFrame,
    cats: list[str],
    schema: FeatureSchema | None,
    sep: str | None,
    lines: Sequence[int],
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], list[str]]:
    """Each feature column typed (`_type_column`): the typed frame, the numeric formats
    read and the notes."""
    formats: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    out: dict[str, pd.Series] = {}
    for c in features.columns:
        base = schema[c] if schema is not None and c in schema.names else None
        kind = CATEGORICAL if c in cats else (base.kind if base else None)
        col, fmt, note = _type_column(str(c), features[c], kind, sep, lines, base)
        out[c] = col
        if fmt is not None:
            formats[str(c)] = fmt
        if note:
            notes.append(note)
    typed = pd.DataFrame(out)  # every column has a fresh 0..n-1 index
    return typed, formats, notes


def load_frame(
    frame: pd.DataFrame,
    *,
    target: str,
    positive: str | None = None,
    schema: FeatureSchema | None = None,
    categorical: Iterable[str] = (),
    source: str = "the data",
) -> LoadedData:
    """`load_csv`'s checks and types for a table already in memory (e.g. `read_csv`'s).

    Every column but the target is a feature. Its type is the declared one (`schema`,
    `categorical`), else numeric when every value is a number as `values` reads them, else
    categorical. Refused before any fitting, each with a one-line `DataError` naming the
    column: a column that is empty in every row (`empty_column`) or holds one value
    (`constant_column`: the retrain gate refuses constant columns, so a model trained on one
    could never be replaced), a text column whose values are nearly all numbers
    (`looks_numeric`), and a declared numeric column with text in it. `source` names the
    data in error messages (the CSV path for `load_csv`).
    """
    target = _resolve_target(frame, target, source)
    cats = _check_categorical(frame, categorical, target, schema, source)
    if schema is not None:
        _check_schema_columns(frame, schema, target, source)
    sep = frame.attrs.get("sep")
    lines = frame.attrs.get("lines")
    if lines is None or len(lines) != len(frame):  # a frame built or sliced in memory
        lines = list(range(2, len(frame) + 2))
    _check_reserved(frame, target, source)
    texts = target_values(frame[target], name=target, lines=lines)
    y, pos, neg = _encode_target(texts, target, positive)
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(f"{source} has no feature columns besides the target {target!r}")
    typed, formats, notes = _type_features(features, cats, schema, sep, lines)
    return LoadedData(
        features=typed,
        y=y,
        target=target,
        positive=pos,
        negative=neg,
        source=source,
        formats=formats,
        notes=tuple(notes),
    )


def _lines(mask: np.ndarray, lines: Sequence[int], limit: int = 3) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(lines[int(r)]) for r in rows[:limit])
    return f"CSV line{'s' if rows.size > 1 else ''} {shown}{' ...' if rows.size > limit else ''}"


def _type_column(
    name: str,
    col: pd.Series,
    kind: str | None,
    sep: str | None,
    lines: Sequence[int],
    declared: Feature | None = None,
) -> tuple[pd.Series, dict[str, Any] | None, str | None]:
    """One feature column typed: `(column, numeric format or None, note for the person)`.

    A category that matches a `declared` level in another case is spelled as declared; a
    closed declaration refuses the values that match none of its levels in any case."""
    if pd.api.types.is_bool_dtype(col):
        col = col.map({True: "True", False: "False"}).astype(object)
    elif col.dtype.kind in "biuf" and kind != CATEGORICAL:
        typed = col.astype(float).reset_index(drop=True)
        _check_magnitude(name, typed, lines)
        _check_spread(name, typed)
        return typed, None, None
    cells = _cells(col.tolist())
    present = np.array([v is not None for v in cells], dtype=bool)
    if not present.any():
        raise DataError(
            f"column {name!r} is empty in every row; delete the column (a model cannot learn "
            "from it)",
            code="empty_column",
        )
    if kind != CATEGORICAL:
        parsed = _parse_numbers(name, cells, present, kind, sep, lines)
        if parsed is not None:
            series, fmt = parsed
            _check_magnitude(name, series, lines)
            _check_spread(name, series)
            return series, fmt, None
    text = [None if v is None else values.clean_text(_text(v)) for v in cells]
    has_levels = declared is not None and bool(declared.levels)
    if declared is not None and has_levels:  # declared spellings first: they are not merged
        text = _declared_spelling(name, text, declared, lines)
    seen = {v for v in text if v is not None}
    notes: list[str] = []
    merged = _merge_case(seen, text)
    if merged:
        text = [None if v is None else merged.get(v, v) for v in text]
        seen = {v for v in text if v is not None}
        shown = ", ".join(f"{a!r} as {b!r}" for a, b in sorted(merged.items())[:3])
        notes.append(
            f"column {name!r}: values that differ only in case are one category ({shown}"
            f"{' ...' if len(merged) > 3 else ''})"
        )
    if values.canonical_bool(seen) and not has_levels:
        text = [None if v is None else v.capitalize() for v in text]
    series = pd.Series(text, dtype=object)
    _check_spread(name, series)
    n = int(present.sum())
    if kind is None and n >= 20 and len(seen) >= _ID_LIKE * n:
        notes.append(
            f"column {name!r} is text with {len(seen):,} distinct values in {n:,} rows: an id "
            "or free text cannot generalise, delete it; if it holds numbers, see the README's "
            "CSV section for the formats read as numbers"
        )
    return series, None, "; ".join(notes) or None


def _declared_spelling(
    name: str, text: list[str | None], declared: Feature, lines: Sequence[int]
) -> list[str | None]:
    """`text` with each value that matches a declared level in any case spelled as declared;
    refuses values outside closed levels (the data cannot train a model that refuses them)."""
    levels = set(declared.levels)
    folded = values.fold_case(declared.levels)
    out = [v if v is None or v in levels else folded.get(v.casefold(), v) for v in text]
    if declared.closed:
        bad = np.array([v is not None and v not in levels for v in out], dtype=bool)
        if bad.any():
            example = next(v for v, b in zip(out, bad, strict=True) if b)
            shown = ", ".join(declared.levels[:10]) + (" ..." if len(declared.levels) > 10 else "")
            raise DataError(
                f"column {name!r} has {int(bad.sum())} value(s) outside the declared levels "
                f"({shown}), e.g. {example!r} ({_lines(bad, lines)}); correct those cells or "
                "add the level to the schema",
                code="validation_failed",
            )
    return out


def _merge_case(seen: set[str], text: Sequence[str | None]) -> dict[str, str]:
    """`{spelling: level}` for the spellings of a category that differ only in case: each
    group becomes its most frequent spelling (ties: the first in sorted order)."""
    groups: dict[str, list[str]] = {}
    for level in seen:
        groups.setdefault(level.casefold(), []).append(level)
    clashing = [sorted(g) for g in groups.values() if len(g) > 1]
    if not clashing:
        return {}
    counts: dict[str, int] = {}
    for v in text:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    merged: dict[str, str] = {}
    for group in clashing:
        level = max(group, key=lambda sp: counts.get(sp, 0))
        merged.update({sp: level for sp in group if sp != level})
    return merged


def _text(v: Any) -> str:
    """A categorical value as text: integral numbers without a trailing `.0`."""
    if isinstance(v, str):
        return v
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _parse_numbers(
    name: str,
    cells: list[Any],
    present: np.ndarray,
    kind: str | None,
    sep: str | None,
    lines: Sequence[int],
) -> tuple[pd.Series, dict[str, Any]] | None:
    """The column as floats under the first decimal mark that reads every value, or None
    for a text column; refuses a column that is numeric in all but a few values."""
    texts = [v if isinstance(v, str) else None for v in cells]
    others = [
        i for i, v in enumerate(cells) if v is not None and not isinstance(v, str)
    ]  # numbers already typed (a frame built in memory)
    best: tuple[int, str, np.ndarray] | None = None
    readable = np.zeros(len(cells), dtype=bool)
    for dec in values.decimal_order(sep):
        x = np.full(len(cells), np.nan)
        ok = ~present.copy()
        units: dict[str, np.ndarray] = {}
        cache: dict[str, tuple[float, str | None] | None] = {}
        for i, t in enumerate(texts):
            if t is None:
                continue
            if t not in cache:
                cache[t] = values.parse_number(t, dec)
            got = cache[t]
            if got is not None:
                x[i], ok[i] = got[0], True
                if got[1] is not None:
                    units.setdefault(got[1], np.zeros(len(cells), dtype=bool))[i] = True
        for i in others:
            v = cells[i]
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
                v, (bool, np.bool_)
            ):
                x[i], ok[i] = float(v), math.isfinite(float(v))
        readable |= ok & present
        if ok.all() and len(units) <= 1:
            unit = next(iter(units), None)
            if unit in values.SCALE_UNITS:
                _check_bare(name, texts, x, present & ~units[unit], units[unit], unit, lines)
            fmt = {"decimal": dec, "unit": unit}
            return pd.Series(x, dtype=float), fmt
        if ok.all():
            (a, rows_a), (b, rows_b) = list(units.items())[:2]
            raise DataError(
                f"column {name!r} looks numeric but mixes the units {a!r} "
                f"({_lines(rows_a, lines)}) and {b!r} ({_lines(rows_b, lines)}); convert its "
                "values to one unit",
                code="looks_numeric",
            )
        n_ok = int((ok & present).sum())
        if best is None or n_ok > best[0]:
            best = (n_ok, dec, ok)
    assert best is not None
    n_ok, dec, ok = best
    n = int(present.sum())
    bad = present & ~ok
    example = next(texts[i] or str(cells[i]) for i in np.flatnonzero(bad))
    if kind == NUMERIC:
        raise DataError(
            f"column {name!r} is declared numeric but {int(bad.sum())} of {n} values are not "
            f"numbers, e.g. {example!r} ({_lines(bad, lines)}); correct or empty those cells",
            code="looks_numeric",
        )
    if readable[present].all():
        raise DataError(
            f"column {name!r} looks numeric but mixes decimal marks ('.' and ','), e.g. "
            f"{example!r} ({_lines(bad, lines)}); write every value with the same decimal mark",
            code="looks_numeric",
        )
    if n_ok >= _LOOKS_NUMERIC * n:
        raise DataError(
            f"column {name!r} looks numeric ({n_ok} of {n} values are numbers) but "
            f"{int(bad.sum())} are not, e.g. {example!r} ({_lines(bad, lines)}); correct or empty "
            f"those cells, or pass --categorical {name} to train it as a category",
            code="looks_numeric",
        )
    return None


def _check_bare(
    name: str,
    texts: Sequence[str | None],
    x: np.ndarray,
    bare: np.ndarray,
    with_unit: np.ndarray,
    unit: str,
    lines: Sequence[int],
) -> None:
    """Refuse non-zero numbers without `unit` in a column whose other values carry it, for
    a unit that may scale the number (`values.SCALE_UNITS`): beside `12%`, `0.12` may be
    0.12% or the fraction meaning 12%."""
    bare = bare & (x != 0)
    if not bare.any():
        return
    i, j = int(np.flatnonzero(bare)[0]), int(np.flatnonzero(with_unit)[0])
    plain, marked = texts[i] or _value(x[i]), texts[j] or ""
    raise DataError(
        f"column {name!r} mixes numbers with {unit!r} (e.g. {marked!r}, {_lines(with_unit, lines)}"
        f") and without (e.g. {plain!r}, {_lines(bare, lines)}): {plain!r} may mean "
        f"{x[i]:g}{unit} or the fraction {x[i] * 100:g}{unit}; write every value with "
        f"{unit!r} or none",
        code="looks_numeric",
    )


def _check_magnitude(name: str, x: pd.Series, lines: Sequence[int]) -> None:
    """Numbers beyond +-MAX_MAGNITUDE overflow the squares that standardising and the drift
    statistics take (1e300 squared is inf), so they are refused rather than trained on."""
    big = np.abs(x.to_numpy(dtype=float, na_value=np.nan)) > MAX_MAGNITUDE
    if big.any():
        example = float(x[np.flatnonzero(big)[0]])
        raise DataError(
            f"column {name!r} has {int(big.sum())} value(s) beyond +-{MAX_MAGNITUDE:.0e}, e.g. "
            f"{example:g} ({_lines(big, lines)}); rescale the column (e.g. to thousands, or its "
            "logarithm)",
            code="invalid_data",
        )


def _check_spread(name: str, col: pd.Series) -> None:
    """The data-quality gate's rule at the training end: no all-empty, no constant column."""
    present = col.dropna()
    if present.empty:
        raise DataError(
            f"column {name!r} is empty in every row; delete the column (a model cannot learn "
            "from it)",
            code="empty_column",
        )
    distinct = present.unique()
    if len(distinct) == 1:
        raise DataError(
            f"column {name!r} holds the single value {_value(distinct[0])} in every "
            f"non-empty row; delete the column: it cannot inform the model, and the retrain "
            "gate refuses constant columns, so the model could never be replaced",
            code="constant_column",
        )


def _value(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return repr(int(v))
    return repr(v)
