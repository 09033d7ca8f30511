"""Values as people write them: missing markers, numbers for people, booleans, codes.

One set of rules, used twice: by `datasets` when it reads a training CSV, and by
`schema.FeatureSchema.validate_record` when the served model checks a live record. A value
therefore means the same at both ends: `"52,000.00"` in the CSV and `"52,000.00"` or
`52000.0` in a request are the same number.

Numbers
-------
A number may carry, around its digits:

* a sign: a leading `+` or `-` (also the Unicode minus), or accounting parentheses
  `(1,234.50)` for a negative;
* thousands separators in groups of three: `,` `'` `_`, a space, a no-break or narrow
  no-break space with a decimal point (`1,234.5`, `1'234.5`, `1 234.5`), or `.` `'` and the
  spaces with a decimal comma (`1.234,5`, `1 234,5`);
* scientific notation without separators (`1.5e3`, `2E-4`);
* one unit: a currency symbol before or after it (`$`, `€`, `£`, `¥`, `₹`, `₩`, `₽`,
  `₺`, `₪`, `฿`), a three-letter currency code separated by a space (`USD 5`), or a `%`
  after it. The value is the number as written: `12.5%` is 12.5, `$5` is 5.

A column uses one decimal mark: `.` unless its values only read as numbers with `,` (or the
file is `;`-separated, where `,` is tried first). A column uses at most one unit, and a unit
is a label, never a scale: a number written without it, in a column whose other values carry
it, is in that unit (`5` beside `$5` is 5 dollars). The exception is the unit that is a scale
(`SCALE_UNITS`, i.e. `%`): beside `12%`, `0.12` may be 0.12% or the fraction meaning 12%, so
a `%` column with bare non-zero numbers is refused (`looks_numeric`, both readings named).
`inf`, `nan`, hex, dates, trailing minus signs, Indian grouping (`1,23,456`) and text longer
than `MAX_NUMBER_CHARS` are not numbers.

Missing values
--------------
An empty cell and the markers in `MISSING_MARKERS` (any case) are missing.

Text (categories)
-----------------
A category is read as a person reads it (`clean_text`): Unicode NFC (a composed and a
decomposed "é" are one letter), no surrounding whitespace, and every inner run of
whitespace (tabs, no-break spaces) one space. Case does not make a new category: at
training, levels that differ only in case are one level, spelled as most rows spell it;
at serving, a value that matches a level in another case is that level.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence

MISSING_MARKERS = frozenset(
    {"", "na", "n/a", "#n/a", "nan", "null", "none", "nil", "?", "-", "--", "."}
)
TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})
DECIMALS = (".", ",")
SCALE_UNITS = frozenset({"%"})  # units whose bare numbers are ambiguous (12% or 0.12)
MAX_NUMBER_CHARS = 64  # longer text is never read as a number (and costs no regex time)

_CURRENCY = "$€£¥₹₩₽₺₪฿"
_SPACES = " \u00a0\u202f"
_MINUS = "-\u2212"
_GROUPS = {".": ",'_" + _SPACES, ",": ".'" + _SPACES}
_UNIT_BEFORE = re.compile(rf"^(?P<unit>[{_CURRENCY}]|[A-Z]{{3}}(?=[{_SPACES}]))[{_SPACES}]*")


def _body(dec: str) -> re.Pattern[str]:
    d = re.escape(dec)
    g = "[" + re.escape(_GROUPS[dec]) + "]"
    exp = r"(?:[eE][+-]?\d+)?"
    plain = rf"\d+(?:{d}\d*)?{exp}|{d}\d+{exp}"
    grouped = rf"\d{{1,3}}(?P<sep>{g})\d{{3}}(?:(?P=sep)\d{{3}})*(?:{d}\d*)?"
    return re.compile(rf"^(?:{plain}|{grouped})$")


_BODIES = {dec: _body(dec) for dec in DECIMALS}
_PLAIN = {
    dec: re.compile(rf"[+-]?(?:\d+(?:{re.escape(dec)}\d*)?|{re.escape(dec)}\d+)(?:[eE][+-]?\d+)?")
    for dec in DECIMALS
}


def clean_text(text: str) -> str:
    """A category as people read it: NFC, stripped, inner whitespace runs one space.

    >>> clean_text("  North\u00a0 East ")
    'North East'
    """
    if text.isascii() and " " not in text and text.isprintable() and text == text.strip():
        return text  # the common case, fast: "east", "B2"
    return " ".join(unicodedata.normalize("NFC", text).split())


def clean_name(text: str) -> str:
    """A column name as people read it: NFC and stripped (inner spaces are kept: a request
    must send the name as the header wrote it).

    >>> clean_name(" Re\u0301gion ") == "R\u00e9gion"
    True
    """
    return unicodedata.normalize("NFC", text).strip()


def fold_case(levels: Iterable[str]) -> dict[str, str]:
    """`{level.casefold(): level}` for the levels whose case-folded form is unique."""
    out: dict[str, str] = {}
    clash: set[str] = set()
    for lv in levels:
        key = lv.casefold()
        if key in out and out[key] != lv:
            clash.add(key)
        out[key] = lv
    for key in clash:
        del out[key]
    return out


def is_missing(text: str) -> bool:
    """True for an empty (or blank) cell and the missing markers, in any case."""
    return text.strip().lower() in MISSING_MARKERS


def parse_number(text: str, decimal: str = ".") -> tuple[float, str | None] | None:
    """`(value, unit)` for a number as people write it (module docstring), else None.

    >>> parse_number("55,544.44"), parse_number("(1 234,5) €", ","), parse_number("abc")
    ((55544.44, None), (-1234.5, '€'), None)
    """
    s = text.strip()
    if len(s) > MAX_NUMBER_CHARS:
        return None
    if _PLAIN[decimal].fullmatch(s):  # the common case, fast: "-12.5", "3e4"
        x = float(s.replace(",", ".")) if decimal == "," else float(s)
        return (x, None) if math.isfinite(x) else None
    negative = False
    if len(s) > 2 and s[0] == "(" and s[-1] == ")":
        negative, s = True, s[1:-1].strip()
    unit: str | None = None
    signed = False
    if s and s[0] in _MINUS + "+":
        signed, negative = True, negative or s[0] in _MINUS
        s = s[1:].lstrip(_SPACES)
    m = _UNIT_BEFORE.match(s)
    if m:
        unit, s = m.group("unit"), s[m.end() :]
        if not signed and s and s[0] in _MINUS + "+":
            signed, negative = True, negative or s[0] in _MINUS
            s = s[1:]
    elif s and s[-1] in _CURRENCY + "%":
        unit, s = s[-1], s[:-1].rstrip(_SPACES)
    elif len(s) > 4 and s[-3:].isascii() and s[-3:].isupper() and s[-4] in _SPACES:
        unit, s = s[-3:], s[:-4].rstrip(_SPACES)
    if not negative and len(s) > 2 and s[0] == "(" and s[-1] == ")":  # "(5) €", "$(5)"
        negative, s = True, s[1:-1].strip()
    if not s or not _BODIES[decimal].match(s):
        return None
    for g in _GROUPS[decimal]:
        s = s.replace(g, "")
    try:
        x = float(s.replace(decimal, "."))
    except ValueError:  # pragma: no cover - the pattern admits only float syntax
        return None
    if not math.isfinite(x):
        return None
    return (-x if negative else x), unit


def decimal_order(sep: str | None) -> tuple[str, ...]:
    """The decimal marks to try, in order: `,` first in `;`-separated files (the list
    separator of spreadsheets in decimal-comma locales)."""
    return (",", ".") if sep == ";" else (".", ",")


def is_integer_code(text: str) -> bool:
    """A level that is an integer code (`"3"`, `"-1"`), which a live record may send as 3."""
    return bool(re.fullmatch(r"[+-]?\d+", text))


def bool_level(levels: Sequence[str], value: bool) -> str | None:
    """The one level of `levels` that means `value` (`"True"`, `"yes"`, `"Y"`...), or None
    when the levels are not a yes/no pair."""
    lowered = {lv.lower() for lv in levels}
    if not levels or not lowered <= TRUE_WORDS | FALSE_WORDS:
        return None
    words = TRUE_WORDS if value else FALSE_WORDS
    hits = [lv for lv in levels if lv.lower() in words]
    return hits[0] if len(hits) == 1 else None


def canonical_bool(values: Iterable[str]) -> bool:
    """True when every value is true/false in some case: such a column has the levels
    `"True"` and `"False"` (yes/no, Y/N... keep the words they were written with)."""
    return {v.lower() for v in values} <= {"true", "false"}
