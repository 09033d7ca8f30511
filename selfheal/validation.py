"""Input validators shared by the metrics, the gates and the configuration dataclasses.

Every check raises :class:`ValueError` with a message that names the function, the argument
and what is allowed, e.g. ``labeled_metrics: y_true must contain only 0 and 1; found [2]``.
Degenerate but valid input (a single class, a constant score) is not an error here: the
callers give it a documented result.

* :func:`labels` -- a 1-D array of 0/1 labels (bools and 0.0/1.0 accepted);
* :func:`probabilities` -- a 1-D array of finite probabilities in [0, 1];
* :func:`numbers` -- a 1-D numeric array, values not judged (a gate judges them itself);
* :func:`unit_number` -- one number in [0, 1] (a threshold, a rate);
* :func:`constraint` and :func:`check_fields` -- declared bounds on dataclass fields;
* :func:`unique_keys` -- a ``json.loads`` object hook that refuses a repeated key
  (:class:`DuplicateKeyError`), for request bodies and schema files alike.

Plain NumPy: pandas objects are accepted through their ``to_numpy`` without importing pandas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Bounds",
    "DuplicateKeyError",
    "check_fields",
    "constraint",
    "unique_keys",
    "labels",
    "numbers",
    "probabilities",
    "unit_number",
]


def _length(arr: np.ndarray, func: str, arg: str, n: int | None, other: str) -> None:
    if n is not None and arr.size != n:
        raise ValueError(f"{func}: {arg} has {arr.size} rows but {other} has {n}; they must match")


def _one_dimensional(arr: np.ndarray, func: str, arg: str) -> None:
    if arr.ndim != 1:
        raise ValueError(f"{func}: {arg} must be 1-D, got an array of shape {arr.shape}")


def labels(
    y: Any,
    *,
    func: str,
    arg: str = "y_true",
    n: int | None = None,
    other: str = "proba",
    allow_empty: bool = False,
) -> NDArray[np.int64]:
    """Validate 0/1 labels and return them as an int64 array.

    Parameters
    ----------
    y : array-like of shape (n,)
        Labels: 0/1 in any integer or float dtype, or bools. A pandas Series or Index may
        not hold missing values.
    func, arg : str
        The public function and its argument, for the error message.
    n : int, optional
        Required length; `other` names the argument that set it.
    other : str
        Name of the argument whose length is `n`.
    allow_empty : bool
        Return an empty array for empty input instead of raising.

    Returns
    -------
    ndarray of int64

    Raises
    ------
    ValueError
        If `y` is not 1-D, is empty (unless allowed), has a length other than `n`, has a
        non-numeric dtype, or holds anything but 0 and 1 (NaN included).
    """
    if hasattr(y, "isna") and hasattr(y, "to_numpy"):  # a pandas Series or Index
        if bool(y.isna().any()):
            raise ValueError(f"{func}: {arg} contains missing labels; only 0 and 1 are allowed")
        y = y.to_numpy()
    arr = np.asarray(y)
    _one_dimensional(arr, func, arg)
    if arr.size == 0:
        if allow_empty:
            _length(arr, func, arg, n, other)
            return np.zeros(0, dtype=np.int64)
        raise ValueError(f"{func}: {arg} is empty; at least one row is required")
    _length(arr, func, arg, n, other)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{func}: {arg} must hold 0/1 labels, got dtype {arr.dtype}")
    # isin on the numeric values accepts 0/1 in any int or float dtype and rejects NaN.
    valid = np.isin(arr, (0, 1))
    if not valid.all():
        bad = np.unique(arr[~valid])[:5].tolist()
        raise ValueError(f"{func}: {arg} must contain only 0 and 1; found {bad}")
    return arr.astype(np.int64)


def numbers(x: ArrayLike, *, func: str, arg: str) -> NDArray[np.float64]:
    """A 1-D float64 array of `x`; its values (NaN, range) are left to the caller."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{func}: {arg} must be a 1-D sequence of numbers: {exc}") from None
    _one_dimensional(arr, func, arg)
    return arr


def probabilities(
    p: ArrayLike,
    *,
    func: str,
    arg: str = "proba",
    n: int | None = None,
    other: str = "y_true",
) -> NDArray[np.float64]:
    """Validate probabilities and return them as a float64 array.

    Parameters
    ----------
    p : array-like of shape (n,)
        Probabilities of the positive class.
    func, arg : str
        The public function and its argument, for the error message.
    n : int, optional
        Required length; `other` names the argument that set it.
    other : str
        Name of the argument whose length is `n`.

    Returns
    -------
    ndarray of float64

    Raises
    ------
    ValueError
        If `p` is not numeric, not 1-D, empty, of a length other than `n`, not finite or
        outside [0, 1].
    """
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{func}: {arg} must be a 1-D sequence of numbers in [0, 1]: {exc}"
        ) from None
    _one_dimensional(arr, func, arg)
    if arr.size == 0:
        raise ValueError(f"{func}: {arg} is empty; at least one row is required")
    _length(arr, func, arg, n, other)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{func}: {arg} must be finite; found NaN or infinity")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(
            f"{func}: {arg} must lie in [0, 1]; got values in [{arr.min():.6g}, {arr.max():.6g}]"
        )
    return arr


def unit_number(value: Any, *, func: str, arg: str) -> float:
    """A real number (not a bool, not a string) in [0, 1], as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{func}: {arg} must be a number in [0, 1], got {value!r}")
    out = float(value)
    if not (math.isfinite(out) and 0.0 <= out <= 1.0):
        raise ValueError(f"{func}: {arg} must be a number in [0, 1], got {value!r}")
    return out


# --------------------------------------------------------------------------------------------
# Declared constraints on dataclass fields
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """What a numeric field allows: its kind, and optional lower and upper bounds.

    ``kind="int"`` accepts Python and NumPy integers, ``kind="number"`` any finite real
    number; bools are neither. A bound is inclusive unless its ``*_open`` flag is set.
    """

    kind: Literal["int", "number"]
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """The allowed range as text: ``>= 1``, ``> 0``, ``in (0, 1)``, ``in [0, 0.5]``."""
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "finite" if self.kind == "number" else "an integer"

    def admits(self, value: float) -> bool:
        """Whether `value` (already of the right kind) lies within the bounds."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )


def constraint(
    default: Any,
    kind: Literal["int", "number"],
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """A dataclass field with `default` whose value :func:`check_fields` checks against bounds.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Window:
    ...     size: int = constraint(10, "int", low=1)
    ...     def __post_init__(self) -> None:
    ...         check_fields(self)
    >>> Window(0)
    Traceback (most recent call last):
    ...
    ValueError: Window: argument 'size' must be >= 1, got 0
    """
    bounds = Bounds(kind, low, high, low_open, high_open)
    return field(default=default, metadata={"bounds": bounds})


def check_fields(instance: Any) -> None:
    """Check every field of a dataclass `instance` declared with :func:`constraint`.

    Fields are checked in declaration order; the first violation raises.

    Raises
    ------
    ValueError
        ``"<Class>: argument '<field>' must be <what is allowed>, got <value>"``.
    """
    owner = type(instance).__name__
    for f in fields(instance):
        bounds = f.metadata.get("bounds")
        if bounds is None:
            continue
        value = getattr(instance, f.name)
        prefix = f"{owner}: argument {f.name!r} must be"
        if bounds.kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{prefix} an integer, got {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{prefix} a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{prefix} finite, got {value!r}")
        if not bounds.admits(value):
            raise ValueError(f"{prefix} {bounds.describe()}, got {value!r}")


class DuplicateKeyError(ValueError):
    """A JSON object named `key` twice; parsers disagree on which copy wins."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} appears more than once in one JSON object")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads(..., object_pairs_hook=unique_keys)``: a dict, or
    :class:`DuplicateKeyError` naming the first repeated key (the standard library keeps
    the last copy silently)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return out
