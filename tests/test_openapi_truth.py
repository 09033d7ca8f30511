"""The OpenAPI document's feature schema takes every value the server takes: a number
written as text as `values.parse_number` reads it, and a missing marker as
`values.is_missing` reads it (property tests over the grammar of both)."""

from __future__ import annotations

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal import values
from selfheal.openapi import MISSING_PATTERN, _number_text

SPACES = st.sampled_from(["", " ", "\u00a0", "  "])
UNITS = st.sampled_from(["", "$", "€", "£", "%", "USD ", " EUR"])


@st.composite
def written_numbers(draw: st.DrawFn, decimal: str) -> str:
    digits = draw(st.integers(min_value=0, max_value=10**9))
    text = str(digits)
    if draw(st.booleans()) and len(text) > 3:
        sep = draw(st.sampled_from([",", "'", "_", " ", "\u00a0"] if decimal == "." else
                                   [".", "'", " ", "\u00a0"]))  # fmt: skip
        head, rest = text[: len(text) % 3 or 3], text[len(text) % 3 or 3 :]
        text = head + "".join(sep + rest[i : i + 3] for i in range(0, len(rest), 3))
    elif draw(st.booleans()):
        text += draw(st.sampled_from(["e5", "E-3", "e+12"]))
    if draw(st.booleans()):
        text += decimal + draw(st.sampled_from(["", "5", "25", "000"]))
    unit = draw(UNITS)
    sign = draw(st.sampled_from(["", "-", "+", "\u2212"]))
    if unit.endswith(" ") or unit in ("$", "€", "£"):
        body = sign + unit + draw(SPACES) + text if draw(st.booleans()) else unit + sign + text
    else:
        body = sign + text + unit
    if draw(st.booleans()) and not sign:
        body = "(" + body + ")"
    return draw(SPACES) + body + draw(SPACES)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.sampled_from([".", ","]).flatmap(lambda d: st.tuples(st.just(d), written_numbers(d))))
def test_every_number_the_server_reads_matches_the_documented_pattern(
    case: tuple[str, str],
) -> None:
    decimal, text = case
    if values.parse_number(text, decimal) is None:
        return  # not a number for the server either (e.g. a unit before and after)
    assert jsonschema_rs.validator_for({"pattern": _number_text(decimal)}).is_valid(text), text


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.sampled_from(sorted(values.MISSING_MARKERS)),
    st.sampled_from([str.lower, str.upper, str.title, lambda s: s]),
    SPACES,
    SPACES,
)
def test_every_missing_marker_matches_the_documented_pattern(
    marker: str, case: object, left: str, right: str
) -> None:
    text = left + case(marker) + right  # type: ignore[operator]
    assert values.is_missing(text)
    assert jsonschema_rs.validator_for({"pattern": MISSING_PATTERN}).is_valid(text), text


def test_text_that_is_not_a_number_or_a_marker_does_not_match() -> None:
    number = jsonschema_rs.validator_for({"pattern": _number_text(".")})
    missing = jsonschema_rs.validator_for({"pattern": MISSING_PATTERN})
    for text in ("abc", "1,23,456", "1.2.3", "0x1F", "inf", "nan%", "12-"):
        assert not number.is_valid(text), text
    for text in ("east", "n a", "nan nan", "0"):
        assert not missing.is_valid(text), text
