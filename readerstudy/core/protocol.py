"""Reader-study protocol: arms, sessions, randomization seed, washout and reading settings.

A protocol is written by the coordinator in TOML (see ``resources/protocols/example.toml``) and
validated here with messages that name the line and field and say what to do. Qt-free and
storage-free: :func:`parse_protocol` turns text into a frozen :class:`Protocol`, and
:meth:`Protocol.to_dict` / :func:`protocol_from_dict` round-trip it through the study's JSON.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from readerstudy.core.errors import ValidationError
from readerstudy.core.hanging import HangingSpec, check_hanging, check_practice
from readerstudy.core.questions import QuestionSpec, parse_questions

DESIGNS = ("counterbalanced", "all-arms-each-session")
_TOP_KEYS = {"study", "seed", "sessions", "washout_days", "design", "black_screen_ms", "contradiction_margin",
             "idle_timeout_s", "arms", "reference", "questions", "hanging", "practice", "form"}
REFERENCE_KEYWORDS = ("senior-consensus", "model")
_ARM_KEYS = {"name", "shows_ai", "sequential", "model"}


@dataclass(frozen=True)
class ArmSpec:
    """One reading condition. ``sequential`` needs ``shows_ai``: unaided read, locked, then AI, then aided."""

    name: str
    shows_ai: bool = False
    sequential: bool = False
    model: str | None = None  # model name whose predictions are shown; None = latest of any model


@dataclass(frozen=True)
class FormLabels:
    """What the reader's form calls the standard answers (the protocol's optional ``[form]`` table).

    ``probability`` titles the 0-100 probability; ``positive`` / ``negative`` name the binary call's
    1 and 0 (e.g. a realism study: "Synthetic" / "Real", the probability that the image is synthetic).
    The stored answers stay probability 0-100 and binary 0/1; only their names on the screen change.
    """

    probability: str = "Probability of malignancy / upgrade (0-100)"
    positive: str = "Positive"
    negative: str = "Negative"


_FORM_MAX = 80  # characters of a form label


@dataclass(frozen=True)
class Protocol:
    """A validated reading protocol.

    ``washout_days`` is the minimum time between the end of one session and the start of the next
    (days, may be fractional); ``black_screen_ms`` the black screen between cases (ms);
    ``contradiction_margin`` (probability points) the tolerance before the app warns that the
    binary call contradicts the probability; ``idle_timeout_s`` the input-free time after which the
    active-time counter pauses.
    """

    arms: tuple[ArmSpec, ...]
    seed: int
    sessions: int = 1
    washout_days: float = 0.0
    design: str = "all-arms-each-session"
    black_screen_ms: int = 500
    contradiction_margin: float = 20.0
    idle_timeout_s: float = 30.0
    reference: str | None = None  # the report's reference: a reader's name, "senior-consensus" or "model"
    questions: tuple[QuestionSpec, ...] = ()  # study-defined questions beyond the standard four
    hanging: HangingSpec = HangingSpec()  # how multi-image cases hang (readerstudy.core.hanging)
    practice: tuple[str, ...] | int = ()  # practice cases (references, or a count) read first, never scored
    form: FormLabels = FormLabels()  # names of the standard answers on the reader's form

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arms"] = [asdict(a) for a in self.arms]
        d["questions"] = [q.to_dict() for q in self.questions]
        d["hanging"] = {**asdict(self.hanging), "secondary": list(self.hanging.secondary)}
        d["practice"] = self.practice if isinstance(self.practice, int) else list(self.practice)
        d["form"] = asdict(self.form)
        return d

    def arm(self, name: str) -> ArmSpec:
        for a in self.arms:
            if a.name == name:
                return a
        raise ValidationError(f"No arm named {name!r} in the protocol (arms: {[a.name for a in self.arms]}).")

    def schedule(self, group: int) -> list[tuple[int, str]]:
        """(session, arm name) pairs a reader of counterbalancing ``group`` (0 or 1) reads, in order."""
        if self.design == "counterbalanced":
            names = [a.name for a in self.arms]
            if group % 2:
                names.reverse()
            return [(s + 1, names[s]) for s in range(self.sessions)]
        return [(s + 1, a.name) for s in range(self.sessions) for a in self.arms]


def derive_seed(study_seed: int, reader: str, arm: str, session: int) -> int:
    """A reproducible 31-bit seed for one reader's order in one arm and session."""
    digest = hashlib.sha256(f"{study_seed}:{reader}:{arm}:{session}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def derive_extension_seed(assignment_seed: int, extension: int) -> int:
    """The 31-bit seed that shuffles the cases appended to an order by its ``extension``-th extension (1, 2...)."""
    digest = hashlib.sha256(f"{assignment_seed}:extend:{extension}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# Fields a coordinator may still change once readers have their orders: they change how a case is
# shown and timed (or, ``reference``, whom the report compares the readers with), not which cases a
# reader reads in which arm and session. An AI arm's ``model`` may change too while nobody has read
# in that arm (the services check the reads).
AMENDABLE_FIELDS = ("black_screen_ms", "contradiction_margin", "idle_timeout_s", "reference", "hanging")
# ``practice`` is locked: practice cases are kept out of the readers' orders.
_SCALAR_FIELDS = ("seed", "sessions", "washout_days", "design", "practice") + AMENDABLE_FIELDS


def protocol_changes(old: Protocol, new: Protocol) -> list[tuple[str, Any, Any]]:
    """What differs between two protocols, as ``(field path, old value, new value)``.

    Paths as in :class:`ProtocolIssue`: top-level keys, ``"arms[i].key"`` for an arm's key (arms
    compared by position), ``"arms"`` when the number of arms differs.
    """
    out: list[tuple[str, Any, Any]] = [(f, getattr(old, f), getattr(new, f)) for f in _SCALAR_FIELDS
                                       if getattr(old, f) != getattr(new, f)]
    if old.questions != new.questions:  # never amendable: every read must answer the same form
        out.append(("questions", [q.key for q in old.questions], [q.key for q in new.questions]))
    if old.form != new.form:  # never amendable either: the labels say what the answers mean
        out.append(("form", asdict(old.form), asdict(new.form)))
    if len(old.arms) != len(new.arms):
        out.append(("arms", [a.name for a in old.arms], [a.name for a in new.arms]))
        return out
    for i, (a, b) in enumerate(zip(old.arms, new.arms, strict=True)):
        out.extend((f"arms[{i}].{k}", getattr(a, k), getattr(b, k)) for k in ("name", "shows_ai", "sequential", "model")
                   if getattr(a, k) != getattr(b, k))
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "latest model"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def amendable(path: str, applied: Protocol, arms_with_reads: Collection[str] = ()) -> bool:
    """May field ``path`` still change once readers have their orders under ``applied``?

    True for :data:`AMENDABLE_FIELDS`, and for ``arms[i].model`` while arm ``i`` (by its applied
    name) is not in ``arms_with_reads``; False for everything else.
    """
    if path in AMENDABLE_FIELDS:
        return True
    model = re.fullmatch(r"arms\[(\d+)\]\.model", path)
    if model is None or int(model.group(1)) >= len(applied.arms):
        return False
    return applied.arms[int(model.group(1))].name not in arms_with_reads


def locked_changes(applied: Protocol, new: Protocol, arms_with_reads: Collection[str] = ()) -> list[ProtocolIssue]:
    """The changes ``new`` makes to ``applied`` that are refused once readers have their orders
    (see :func:`amendable`), as issues with field paths and what to do."""
    out: list[ProtocolIssue] = []
    for path, old, value in protocol_changes(applied, new):
        if amendable(path, applied, arms_with_reads):
            continue
        if path.endswith(".model"):
            arm = applied.arms[int(path[5:path.index("]")])].name
            out.append(ProtocolIssue(path, f"arm {arm!r} has reads already with "
                                           f"{f'model {old!r}' if old else 'the latest model'} shown; "
                                           "its model cannot change now (the reads must stay comparable)."))
            continue
        out.append(ProtocolIssue(path, f"cannot change once readers have their orders (applied: {_shown(old)}, "
                                       f"here: {_shown(value)}); create a new study to change it."))
    return out


def _line_of(text: str, path: str) -> int | None:
    """The line (1-based) where field ``path`` (``"seed"``, ``"arms[1].model"``) is written, if it is."""
    lines = text.splitlines()
    start, stop, key = 0, len(lines), path
    m = re.fullmatch(r"(arms|questions)\[(\d+)\](?:\.(\w+))?", path)
    if m:
        heads = [i for i, line in enumerate(lines) if re.match(rf"\s*\[\[\s*{m.group(1)}\s*\]\]", line)]
        index = int(m.group(2))
        if index >= len(heads):
            return None
        if m.group(3) is None:
            return heads[index] + 1
        start, key = heads[index], m.group(3)
        stop = next((i for i, line in enumerate(lines) if i > start and re.match(r"\s*\[", line)), len(lines))
    elif path.startswith(("hanging.", "form.")):  # a key of the [hanging] or [form] table
        table = path.split(".", 1)[0]
        head = next((i for i, line in enumerate(lines) if re.match(rf"\s*\[\s*{table}\s*\]", line)), None)
        if head is None:
            return None
        start, key = head, path.split(".", 1)[1]
        stop = next((i for i, line in enumerate(lines) if i > start and re.match(r"\s*\[", line)), len(lines))
    else:  # a top-level key is written before the first table
        stop = next((i for i, line in enumerate(lines) if re.match(r"\s*\[", line)), len(lines))
    for i in range(start, stop):
        if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return start + 1 if m else None  # a missing key of a table: the table's [[header]] line


@dataclass(frozen=True)
class ProtocolIssue:
    """One problem of a protocol, tied to the field it concerns.

    ``field`` is the field's path: a top-level key (``"seed"``, ``"washout_days"``, ``"design"``),
    ``"arms"`` for the list of arms, ``"arms[i].key"`` (0-based ``i``) for one arm's key, or ``""``
    for the text as a whole (TOML syntax). ``message`` says what is wrong and what to do, without
    the location; ``line`` is the 1-based line in the TOML text, when the field is written there.
    """

    field: str
    message: str
    line: int | None = None
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source} line {self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ProtocolError(ValidationError):
    """A protocol was refused; ``issues`` lists every problem with its field path (nothing was changed)."""

    def __init__(self, issues: list[ProtocolIssue] | tuple[ProtocolIssue, ...]) -> None:
        self.issues = tuple(issues)
        super().__init__("Protocol refused, nothing changed: " + "; ".join(str(i) for i in self.issues))

    def for_field(self, field: str) -> list[ProtocolIssue]:
        """The issues of one field path (``"arms[0].sequential"``...)."""
        return [i for i in self.issues if i.field == field]


class _Checker:
    def __init__(self, text: str, source: str) -> None:
        self.text, self.source = text, source
        self.errors: list[ProtocolIssue] = []

    def fail(self, key: str, message: str) -> None:
        self.errors.append(ProtocolIssue(key, message, _line_of(self.text, key), self.source))

    def number(self, data: dict[str, Any], key: str, default: Any, *, kind: type, lo: float, hi: float,
               what: str, label: str | None = None) -> Any:
        value = data.get(key, default)
        label = label or key
        ok_type = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is int:
            ok_type = isinstance(value, int) and not isinstance(value, bool)
        if not ok_type or (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi:
            self.fail(label, f"{value!r} is not valid; give {what}.")
            return default
        return kind(value)


def parse_protocol(text: str, source: str = "protocol.toml") -> Protocol:
    """Parse and validate a protocol written in TOML.

    Raises :class:`ProtocolError` (a :class:`ValidationError`) listing every problem; each of its
    ``issues`` names the field path and the line.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ProtocolError([ProtocolIssue("", f"not valid TOML ({exc}); fix the syntax and apply again.",
                                           int(line.group(1)) if line else None, source)]) from exc
    return _validate(data, text, source)


def validate_protocol(data: dict[str, Any], source: str = "protocol") -> Protocol:
    """Validate a protocol given as a dict of TOML values (the protocol editor's form).

    The same checks and messages as :func:`parse_protocol` (one validator); ``data`` has the keys
    of the TOML file (``seed``, ``sessions``, ..., ``arms``: a list of dicts with ``name``,
    ``shows_ai``, ``sequential``, ``model``; ``model`` None or absent means the latest model).
    Raises :class:`ProtocolError`, whose ``issues`` carry the field paths.
    """
    d = dict(data)
    if isinstance(d.get("arms"), list):
        d["arms"] = [{k: v for k, v in a.items() if not (k == "model" and v is None)} if isinstance(a, dict) else a
                     for a in d["arms"]]
    if d.get("reference") is None:  # None or absent: the report's default reference
        d.pop("reference", None)
    return _validate(d, "", source)


def _validate(data: dict[str, Any], text: str, source: str) -> Protocol:
    c = _Checker(text, source)
    for key in sorted(set(data) - _TOP_KEYS):
        c.fail(key, f"unknown field; allowed fields are {sorted(_TOP_KEYS)}.")
    seed = c.number(data, "seed", None, kind=int, lo=0, hi=2**63 - 1, what="a whole number >= 0 (required)")
    sessions = c.number(data, "sessions", 1, kind=int, lo=1, hi=20, what="a whole number from 1 to 20")
    washout = c.number(data, "washout_days", 0.0, kind=float, lo=0, hi=3650, what="days >= 0, e.g. 28")
    black = c.number(data, "black_screen_ms", 500, kind=int, lo=0, hi=10_000, what="milliseconds 0-10000")
    margin = c.number(data, "contradiction_margin", 20.0, kind=float, lo=0, hi=50,
                      what="probability points 0-50, e.g. 20")
    idle = c.number(data, "idle_timeout_s", 30.0, kind=float, lo=1, hi=3600, what="seconds 1-3600, e.g. 30")
    design = data.get("design", "all-arms-each-session")
    if design not in DESIGNS:
        c.fail("design", f"{design!r} is not a known design; use one of {list(DESIGNS)}.")
    arms = _arms(c, data.get("arms"))
    questions = parse_questions(data.get("questions"), c.fail)
    reference = data.get("reference")
    if reference is not None and (not isinstance(reference, str) or not reference.strip()):
        c.fail("reference", f"{reference!r} is not valid; name the report's reference: a reader's name, "
                            "\"senior-consensus\" or \"model\" (or leave it out: the most senior reader).")
        reference = None
    if design == "counterbalanced" and arms and (len(arms) != 2 or sessions != 2):
        c.fail("design", f"'counterbalanced' needs exactly 2 arms and sessions = 2 (got {len(arms)} arm(s), "
                         f"{sessions} session(s)); half the readers read arm 1 first, half arm 2 first.")
    if sessions > 1 and washout == 0:
        c.fail("washout_days", "several sessions but no washout; set washout_days (e.g. 28) so a case is "
                               "not re-read from memory.")
    hanging = check_hanging(data.get("hanging"), c.fail)
    practice = check_practice(data.get("practice"), c.fail)
    form = _form(c, data.get("form"))
    if c.errors:
        raise ProtocolError(c.errors)
    return Protocol(arms=tuple(arms), seed=seed, sessions=sessions, washout_days=washout, design=design,
                    black_screen_ms=black, contradiction_margin=margin, idle_timeout_s=idle,
                    reference=reference.strip() if reference else None, questions=questions,
                    hanging=hanging, practice=practice, form=form)


def _form(c: _Checker, raw: Any) -> FormLabels:
    if raw is None:
        return FormLabels()
    if not isinstance(raw, dict):
        c.fail("form", "write the form's labels as a [form] table: probability, positive, negative.")
        return FormLabels()
    default = FormLabels()
    for key in sorted(set(raw) - {"probability", "positive", "negative"}):
        c.fail(f"form.{key}", "unknown field; allowed are ['negative', 'positive', 'probability'].")
    out = {}
    for key in ("probability", "positive", "negative"):
        v = raw.get(key, getattr(default, key))
        if not isinstance(v, str) or not v.strip() or len(v.strip()) > _FORM_MAX:
            c.fail(f"form.{key}", f"{v!r} is not valid; give a label of 1-{_FORM_MAX} characters, e.g. "
                                  f"{key} = {getattr(default, key)!r}.")
            continue
        out[key] = v.strip()
    if out.get("positive", default.positive).casefold() == out.get("negative", default.negative).casefold():
        c.fail("form.positive", "positive and negative have the same label; give the two calls different names.")
    return FormLabels(**out)


def _arms(c: _Checker, raw: Any) -> list[ArmSpec]:
    if not isinstance(raw, list) or not raw or not all(isinstance(a, dict) for a in raw):
        c.fail("arms", "give at least one [[arms]] table with a name, e.g. [[arms]] name = \"unaided\".")
        return []
    out: list[ArmSpec] = []
    for i, a in enumerate(raw):
        label = f"arms[{i}]"
        for key in sorted(set(a) - _ARM_KEYS):
            c.fail(f"{label}.{key}", f"unknown field; allowed are {sorted(_ARM_KEYS)}.")
        name = a.get("name")
        if not isinstance(name, str) or not name.strip():
            c.fail(f"{label}.name", "every arm needs a non-empty name.")
            continue
        if name in {o.name for o in out}:
            c.fail(f"{label}.name", f"duplicate arm name {name!r}; arm names must be unique.")
        flags = {}
        for key in ("shows_ai", "sequential"):
            v = a.get(key, False)
            if not isinstance(v, bool):
                c.fail(f"{label}.{key}", f"{v!r} is not true/false.")
                v = False
            flags[key] = v
        if flags["sequential"] and not flags["shows_ai"]:
            c.fail(f"{label}.sequential", f"arm {name!r} is sequential but does not show the AI; "
                                          "set shows_ai = true or sequential = false.")
        model = a.get("model")
        if model is not None and not isinstance(model, str):
            c.fail(f"{label}.model", "the model is given by its name (a string).")
            model = None
        out.append(ArmSpec(name.strip(), flags["shows_ai"], flags["sequential"], model))
    return out


def protocol_from_dict(data: dict[str, Any]) -> Protocol:
    """Rebuild a protocol stored with :meth:`Protocol.to_dict` (validated again)."""
    return validate_protocol(data, "stored protocol")
