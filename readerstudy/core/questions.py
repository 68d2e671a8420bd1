"""Study-defined questions: the protocol's ``[[questions]]`` tables and the answers a read gives them.

Every read answers the standard four (probability 0-100, binary call, confidence 1-5 and the
reading time, stored in their own columns). A protocol may add questions of these kinds:

``birads``
    BI-RADS assessment category (ACR BI-RADS Atlas, 5th ed., 2013): ``0`` (incomplete), ``1``,
    ``2``, ``3``, ``4a``, ``4b``, ``4c``, ``5``, ``6``. Ordinal in that order.
``single`` / ``multiple``
    One / any number of the listed ``choices`` (strings). ``ordinal = true`` makes a single
    choice ordinal (in the listed order).
``likert``
    A whole number ``1 .. points`` (``points`` 3-11, default 5) with ``low_label`` /
    ``high_label`` at the ends. Ordinal.
``number``
    A number in ``[min, max]`` (both required; ``integer = true`` for whole numbers, ``unit``).
``text``
    Free text (``max_length`` characters, default 2000).
``location``
    A lesion location mark: a click on the image stored in image coordinates, pixels
    ``{"row": r, "col": c}`` (0-based, row down, column right) plus ``"slice"`` (0-based index
    along the stack) for volumes.

Each question has a ``key`` (``[a-z][a-z0-9_]*``, unique; the ``answer_<key>`` column of
``reads.csv``), a ``label`` (shown to the reader) and ``required`` (default true). Answers are
stored per read as ``{"schema": ANSWERS_SCHEMA, "values": {key: value}}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from readerstudy.core.errors import ValidationError

__all__ = ["ANSWERS_SCHEMA", "BIRADS_CATEGORIES", "BIRADS_MEANING", "KINDS", "QuestionSpec", "parse_questions",
           "stored_answers", "validate_question_answers"]

ANSWERS_SCHEMA = 1
BIRADS_CATEGORIES = ("0", "1", "2", "3", "4a", "4b", "4c", "5", "6")
BIRADS_MEANING = {
    "0": "incomplete: needs additional imaging", "1": "negative", "2": "benign", "3": "probably benign (<= 2%)",
    "4a": "low suspicion (2-10%)", "4b": "moderate suspicion (10-50%)", "4c": "high suspicion (50-95%)",
    "5": "highly suggestive of malignancy (>= 95%)", "6": "known biopsy-proven malignancy",
}
KINDS = ("birads", "single", "multiple", "likert", "number", "text", "location")
RESERVED_KEYS = ("probability", "binary", "confidence", "time", "time_ms", "active_ms")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_COMMON = {"key", "kind", "label", "required"}
_EXTRA = {"birads": set(), "single": {"choices", "ordinal"}, "multiple": {"choices"},
          "likert": {"points", "low_label", "high_label"}, "number": {"min", "max", "integer", "unit"},
          "text": {"max_length"}, "location": set()}


@dataclass(frozen=True)
class QuestionSpec:
    """One study-defined question (see the module docstring for the kinds and their fields)."""

    key: str
    kind: str
    label: str
    required: bool = True
    choices: tuple[str, ...] = ()
    ordinal: bool = False
    points: int = 5
    low_label: str = ""
    high_label: str = ""
    min: float | None = None
    max: float | None = None
    integer: bool = False
    unit: str = ""
    max_length: int = 2000

    @property
    def categories(self) -> tuple[str, ...]:
        """The answer categories of a categorical question, in order (empty for others)."""
        if self.kind == "birads":
            return BIRADS_CATEGORIES
        if self.kind == "single":
            return self.choices
        if self.kind == "likert":
            return tuple(str(i) for i in range(1, self.points + 1))
        return ()

    @property
    def is_ordinal(self) -> bool:
        """True for BI-RADS, Likert and single choices marked ordinal (weighted kappa applies)."""
        return self.kind in ("birads", "likert") or (self.kind == "single" and self.ordinal)

    def to_dict(self) -> dict[str, Any]:
        """The TOML fields of this question (defaults left out), as the protocol stores and writes them."""
        d: dict[str, Any] = {"key": self.key, "kind": self.kind, "label": self.label}
        if not self.required:
            d["required"] = False
        defaults = QuestionSpec(self.key, self.kind, self.label)
        for name in sorted(_EXTRA[self.kind]):
            value = getattr(self, name)
            if value != getattr(defaults, name):
                d[name] = list(value) if isinstance(value, tuple) else value
        return d


Fail = Callable[[str, str], None]


def _text(fail: Fail, where: str, q: Mapping[str, Any], key: str, default: str | None) -> str:
    v = q.get(key, default)
    if not isinstance(v, str) or (default is None and not v.strip()):
        fail(where, f"{v!r} is not valid; give a non-empty text." if default is None else f"{v!r} is not a text.")
        return default or ""
    return v.strip()


def _flag(fail: Fail, where: str, q: Mapping[str, Any], key: str, default: bool) -> bool:
    v = q.get(key, default)
    if not isinstance(v, bool):
        fail(where, f"{v!r} is not true/false.")
        return default
    return v


def _num(fail: Fail, where: str, v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        fail(where, f"{v!r} is not a number; give one, e.g. {where.rsplit('.', 1)[-1]} = 0.")
        return None
    return float(v)


def _kind_fields(fail: Fail, label: str, kind: str, q: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind in ("single", "multiple"):
        ch = q.get("choices")
        if not isinstance(ch, list) or len(ch) < 2 or not all(isinstance(c, str) and c.strip() for c in ch):
            fail(f"{label}.choices", "give at least two non-empty choices, e.g. choices = [\"mass\", \"cyst\"].")
        elif len({c.strip() for c in ch}) != len(ch):
            fail(f"{label}.choices", "the choices hold duplicates; list each choice once.")
        else:
            out["choices"] = tuple(c.strip() for c in ch)
        if kind == "single":
            out["ordinal"] = _flag(fail, f"{label}.ordinal", q, "ordinal", False)
    elif kind == "likert":
        p = q.get("points", 5)
        if isinstance(p, bool) or not isinstance(p, int) or not 3 <= p <= 11:
            fail(f"{label}.points", f"{p!r} is not valid; give a whole number of points from 3 to 11.")
        else:
            out["points"] = p
        out["low_label"] = _text(fail, f"{label}.low_label", q, "low_label", "")
        out["high_label"] = _text(fail, f"{label}.high_label", q, "high_label", "")
    elif kind == "number":
        lo = _num(fail, f"{label}.min", q.get("min")) if "min" in q else None
        hi = _num(fail, f"{label}.max", q.get("max")) if "max" in q else None
        if "min" not in q or "max" not in q:
            fail(f"{label}.{'min' if 'min' not in q else 'max'}", "a number question needs both min and max "
                                                                  "(the range the reader may answer in).")
        elif lo is not None and hi is not None and lo > hi:
            fail(f"{label}.min", f"min ({lo:g}) is greater than max ({hi:g}); swap them.")
        out.update(min=lo, max=hi, integer=_flag(fail, f"{label}.integer", q, "integer", False),
                   unit=_text(fail, f"{label}.unit", q, "unit", ""))
    elif kind == "text":
        n = q.get("max_length", 2000)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
            fail(f"{label}.max_length", f"{n!r} is not valid; give a whole number of characters from 1 to 100000.")
        else:
            out["max_length"] = n
    return out


def parse_questions(raw: Any, fail: Fail) -> tuple[QuestionSpec, ...]:
    """Validate the protocol's ``questions`` (a list of tables); report problems through ``fail(path, message)``.

    Paths are ``"questions"`` or ``"questions[i].field"`` (0-based ``i``). Returns the questions
    that are valid (the caller refuses the protocol when ``fail`` was called).
    """
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(q, dict) for q in raw):
        fail("questions", "write each question as a [[questions]] table with key, kind and label.")
        return ()
    out: list[QuestionSpec] = []
    for i, q in enumerate(raw):
        label = f"questions[{i}]"
        kind = q.get("kind")
        if kind not in KINDS:
            fail(f"{label}.kind", f"{kind!r} is not a known question kind; use one of {list(KINDS)}.")
            continue
        for extra in sorted(set(q) - _COMMON - _EXTRA[kind]):
            fail(f"{label}.{extra}", f"unknown field for a {kind!r} question; allowed are "
                                     f"{sorted(_COMMON | _EXTRA[kind])}.")
        key = q.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            fail(f"{label}.key", f"{key!r} is not valid; give a short key of lower-case letters, digits and _ "
                                 "starting with a letter (it names the reads.csv column), e.g. key = \"birads\".")
            continue
        if key in RESERVED_KEYS or key in {o.key for o in out}:
            fail(f"{label}.key", f"{key!r} is {'a standard answer' if key in RESERVED_KEYS else 'used twice'}; "
                                 "give each question its own key.")
            continue
        text = _text(fail, f"{label}.label", q, "label", None)
        required = _flag(fail, f"{label}.required", q, "required", True)
        out.append(QuestionSpec(key, kind, text, required, **_kind_fields(fail, label, kind, q)))
    return tuple(out)


def _answer(q: QuestionSpec, v: Any) -> Any:
    """The normalised answer ``v`` to ``q``; raises ValueError with what is wrong."""
    if q.kind in ("birads", "single", "likert"):
        s = str(v).strip().lower() if q.kind == "birads" else (str(v) if q.kind == "likert" else v)
        if isinstance(v, bool) or s not in q.categories:
            raise ValueError(f"{v!r} is not one of {list(q.categories)}")
        return int(s) if q.kind == "likert" else s
    if q.kind == "multiple":
        if not isinstance(v, list | tuple) or not all(isinstance(c, str) for c in v):
            raise ValueError(f"{v!r} is not a list of choices")
        unknown = [c for c in v if c not in q.choices]
        if unknown:
            raise ValueError(f"{unknown} are not among the choices {list(q.choices)}")
        return [c for c in q.choices if c in v]  # in the listed order, once each
    if q.kind == "number":
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{v!r} is not a number")
        assert q.min is not None and q.max is not None
        if not q.min <= v <= q.max or (q.integer and float(v) != int(v)):
            raise ValueError(f"{v!r} is not {'a whole number ' if q.integer else ''}from {q.min:g} to {q.max:g}")
        return int(v) if q.integer else float(v)
    if q.kind == "text":
        if not isinstance(v, str):
            raise ValueError(f"{v!r} is not a text")
        if len(v) > q.max_length:
            raise ValueError(f"the text has {len(v)} characters; at most {q.max_length} are allowed")
        return v.strip()
    return _location(v)


def _location(v: Any) -> dict[str, float | int]:
    if not isinstance(v, Mapping) or not {"row", "col"} <= set(v) or set(v) - {"row", "col", "slice"}:
        raise ValueError(f"{v!r} is not a location: give {{\"row\": r, \"col\": c}} (and \"slice\" for volumes)")
    out: dict[str, float | int] = {}
    for k in ("row", "col", "slice"):
        if k not in v:
            continue
        x = v[k]
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or x < 0:
            raise ValueError(f"{k} = {x!r} is not a pixel coordinate >= 0")
        if k == "slice" and float(x) != int(x):
            raise ValueError(f"slice = {x!r} is not a whole slice index")
        out[k] = int(x) if k == "slice" else round(float(x), 2)
    return out


def validate_question_answers(questions: Sequence[QuestionSpec], values: Mapping[str, Any] | None,
                              shape: Sequence[int] | None = None) -> dict[str, Any]:
    """Check a read's answers to the study-defined questions; return them normalised.

    ``values`` maps question keys to answers (an unanswered optional question may be absent or
    None). ``shape`` is the image's shape (rows, cols) or (slices, rows, cols): a location mark
    must lie inside it.

    Raises
    ------
    ValidationError
        Naming every unknown key, missing required answer and invalid answer (nothing is stored).
    """
    values = dict(values or {})
    by_key = {q.key: q for q in questions}
    problems = [f"{k!r} is not a question of this study" for k in values if k not in by_key]
    out: dict[str, Any] = {}
    for q in questions:
        v = values.get(q.key)
        if v is None or v == "" or v == []:
            if q.required:
                problems.append(f"{q.label!r} ({q.key}) needs an answer")
            continue
        try:
            out[q.key] = _answer(q, v)
            if q.kind == "location" and shape is not None:
                _inside(out[q.key], tuple(shape))
        except ValueError as exc:
            problems.append(f"{q.label!r} ({q.key}): {exc}")
    if problems:
        raise ValidationError("The answers were not stored: " + "; ".join(problems) + ".")
    return out


def _inside(mark: Mapping[str, Any], shape: tuple[int, ...]) -> None:
    rows, cols = shape[-2], shape[-1]
    if mark["row"] >= rows or mark["col"] >= cols:
        raise ValueError(f"the mark (row {mark['row']}, col {mark['col']}) lies outside the image ({rows} x {cols})")
    if len(shape) == 2 and "slice" in mark:
        raise ValueError("the image is 2D and has no slices; give row and col only")
    if len(shape) == 3 and "slice" not in mark:
        raise ValueError(f"the image has {shape[0]} slices/frames; give the slice of the mark too")
    if len(shape) == 3 and mark["slice"] >= shape[0]:
        raise ValueError(f"slice {mark['slice']} is outside the volume ({shape[0]} slices)")


def stored_answers(values: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON stored in ``read.answers``: ``{"schema": ANSWERS_SCHEMA, "values": {key: answer}}``."""
    return {"schema": ANSWERS_SCHEMA, "values": dict(values)}
