"""Input checks and result plumbing shared by the statistics modules.

Every check raises :class:`readerstudy.core.errors.ValidationError` with a message that says
what was wrong and what to do, so that the CLI and the GUI can show it as is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from readerstudy.core.errors import ValidationError

from . import _dist

__all__ = [
    "ResultMixin",
    "as_1d",
    "as_finite_1d",
    "binary_labels",
    "check_choice",
    "check_level",
    "check_same_length",
    "jsonable",
    "two_sided_z",
]


def jsonable(value: Any) -> Any:
    """Convert *value* to plain JSON-serialisable Python types.

    numpy scalars become ``int``/``float``/``bool``, arrays and tuples become lists, mapping keys
    become strings, and non-finite floats (NaN, +/-inf: "undefined" or "not applicable") become
    ``None`` so that ``json.dumps(..., allow_nan=False)`` accepts the result.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return str(value)


class ResultMixin:
    """Adds ``to_dict()`` to the frozen result dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary of every field (NaN/inf become ``None``)."""
        out = jsonable(self)
        assert isinstance(out, dict)
        return out


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return *value* if it is one of *allowed*, else raise a ValidationError naming the options."""
    options = tuple(allowed)
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValidationError(f"Unknown {name} {value!r}: use one of {listed}.")
    return value


def check_level(level: float) -> float:
    """Confidence level strictly between 0 and 1 (e.g. 0.95)."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ValidationError(f"Confidence level must be a number such as 0.95, got {level!r}.") from None
    if not 0.0 < lv < 1.0:
        raise ValidationError(
            f"Confidence level must lie strictly between 0 and 1 (e.g. 0.95), got {level!r}."
        )
    return lv


def two_sided_z(level: float) -> float:
    """Standard normal quantile z such that P(|Z| <= z) = level."""
    return float(_dist.norm.ppf(0.5 + level / 2.0))


def as_1d(name: str, values: ArrayLike) -> NDArray[Any]:
    """A one-dimensional, non-empty array (any dtype)."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        raise ValidationError(f"{name} must be a sequence of values, got a single value {values!r}.")
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got an array of shape {arr.shape}.")
    if arr.size == 0:
        raise ValidationError(f"{name} is empty: pass at least one value.")
    return arr


def as_finite_1d(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """A one-dimensional float array without NaN or infinity."""
    arr = as_1d(name, values)
    try:
        out = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{name} must be numeric; it holds values such as {arr[:3].tolist()!r}."
        ) from None
    bad = ~np.isfinite(out)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{name} holds {int(bad.sum())} missing or infinite value(s) (first at position {first}): "
            "remove those cases or fill them in before computing the statistic."
        )
    return out


def check_same_length(**arrays: NDArray[Any]) -> int:
    """All arrays have the same length; return it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValidationError(f"Length mismatch: {listed} values; pass one value per case to each.")
    return next(iter(lengths.values()))


def binary_labels(name: str, y_true: ArrayLike, positive: Any = 1) -> NDArray[np.bool_]:
    """Boolean array ``y_true == positive`` after checking both classes are present.

    Labels may be any type; exactly two distinct labels must occur and one of them must be
    *positive*.
    """
    arr = as_1d(name, y_true)
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValidationError(f"{name} holds missing (NaN) labels: remove those cases first.")
    if arr.dtype.kind == "O" and any(v is None for v in arr.tolist()):
        raise ValidationError(f"{name} holds missing (None) labels: remove those cases first.")
    if arr.dtype.kind == "O":
        is_pos = arr.astype(str) == str(positive)
    else:
        is_pos = np.asarray(arr == positive)
        if is_pos.shape != arr.shape:
            is_pos = np.zeros(arr.shape, dtype=bool)
    is_pos = is_pos.astype(bool)
    if not is_pos.any():
        raise ValidationError(
            f"{name} has no case equal to positive={positive!r} (labels found: {np.unique(arr.astype(str)).tolist()!r}): "
            "pass the label of the diseased class as positive=."
        )
    others = arr[~is_pos]
    if others.size and np.any(others != others[0]):  # O(n): no sort unless there is an error
        labels = np.unique(arr.astype(str)) if arr.dtype.kind == "O" else np.unique(arr)
        raise ValidationError(
            f"{name} must hold two classes, found {len(labels)} ({labels[:5].tolist()!r}...): "
            "recode it to positive/negative."
        )
    if is_pos.all():
        raise ValidationError(
            f"{name} holds one class only (every case is {positive!r}): the statistic needs both "
            "positive and negative cases."
        )
    return is_pos
