"""The HTML templates of the pages (the dashboard, the drift and replay reports, `/docs`) and
the one Jinja2 environment that renders them.

Every value a template prints is escaped exactly as :func:`html.escape` does it (quotes as
``&quot;`` and ``&#x27;``, so a value is safe inside an attribute too), unless it is
:class:`~markupsafe.Markup`: the inline SVG charts the report module draws, which escape
their own text. A missing variable is an error, never an empty string.
"""

from __future__ import annotations

import html
import math
import numbers
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

__all__ = ["DASH", "ENV", "render"]


def _escape(value: Any) -> Any:
    """What a template prints: :func:`html.escape` of the text (markupsafe's own escape
    writes ``&#34;``), nothing for None, :class:`~markupsafe.Markup` as it is."""
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


# ----------------------------------------------------------------------------- filters
# How the templates show a value. Each returns plain text (escaped when printed) or DASH.

#: What stands for a missing or non-finite number.
DASH = Markup("&mdash;")


def num(value: Any) -> float | None:
    """A finite float, or None for None / NaN / inf / strings / anything non-numeric."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt(value: Any, spec: str = ".3g", dash: str = DASH) -> str:
    """A finite number formatted with ``spec``, or ``dash`` when there is none."""
    v = num(value)
    return dash if v is None else format(v, spec)


def fmt_p(value: Any) -> str:
    """p-value: 4 decimals down to 1e-4, scientific below, ``< 1e-300`` at zero."""
    v = num(value)
    if v is None:
        return DASH
    return "< 1e-300" if v == 0.0 else (f"{v:.4f}" if v >= 1e-4 else f"{v:.2e}")


def show(value: Any, spec: str = ".3f") -> str:
    """A real number formatted (a dash when not finite), an integer / bool as such, None as
    a dash, any other value as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if value is None or isinstance(value, numbers.Number):
        return fmt(value, spec)
    return str(value)


def sig(value: Any) -> str:
    """3 significant digits; from 1,000 on, whole numbers with separators (not 5.8e+03)."""
    v = num(value)
    if v is None:
        return DASH
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def plain(value: Any) -> str:
    """Text of a value; empty for None and non-finite floats."""
    bad = value is None or (isinstance(value, float) and not math.isfinite(value))
    return "" if bad else str(value)


def utc(value: Any) -> datetime | None:
    """An ISO-8601 time as an aware UTC datetime (a naive one is taken as UTC); None for
    anything else."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    text = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def css_class(text: str) -> str:
    """Only the characters of ``text`` a class name may take here: ``[0-9A-Za-z_-]``."""
    return re.sub(r"[^0-9A-Za-z_-]", "", text)


def scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple))


def kind(value: Any) -> str:
    """How the macro ``brief`` shows a value: bool, int, number (None too), text, mapping,
    list or other."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if value is None or isinstance(value, numbers.Number):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "mapping"
    return "list" if isinstance(value, (list, tuple)) else "other"


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def fields(value: Any, scalars: bool = False) -> list[tuple[str, Any]]:
    """(label, value) of a mapping, the label its key with spaces for underscores;
    ``scalars`` keeps only the plain values."""
    return [
        (str(k).replace("_", " "), v) for k, v in mapping(value).items() if scalar(v) or not scalars
    ]


_FILTERS: dict[str, Any] = {
    "num": num,
    "fmt": fmt,
    "fmt_p": fmt_p,
    "show": show,
    "sig": sig,
    "plain": plain,
    "utc": utc,
    "css_class": css_class,
    "kind": kind,
    "mapping": mapping,
    "fields": fields,
    "squash": lambda text: " ".join(text.split()),
    "all_scalar": lambda values: all(scalar(v) for v in values),
}


ENV = Environment(
    loader=PackageLoader("selfheal", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    finalize=_escape,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(_FILTERS)


def render(name: str, **context: Any) -> str:
    """The template ``name`` rendered with ``context``."""
    return ENV.get_template(name).render(**context)
