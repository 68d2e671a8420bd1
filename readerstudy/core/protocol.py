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
from dataclasses import asdict, dataclass
from typing import Any

from readerstudy.core.errors import ValidationError

DESIGNS = ("counterbalanced", "all-arms-each-session")
_TOP_KEYS = {"study", "seed", "sessions", "washout_days", "design", "black_screen_ms", "contradiction_margin",
             "idle_timeout_s", "arms"}
_ARM_KEYS = {"name", "shows_ai", "sequential", "model"}


@dataclass(frozen=True)
class ArmSpec:
    """One reading condition. ``sequential`` needs ``shows_ai``: unaided read, locked, then AI, then aided."""

    name: str
    shows_ai: bool = False
    sequential: bool = False
    model: str | None = None  # model name whose predictions are shown; None = latest of any model


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arms"] = [asdict(a) for a in self.arms]
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


def _line_of(text: str, key: str, nth: int = 0) -> int | None:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if re.match(rf"\s*{re.escape(key)}\s*=", line)]
    return hits[nth] if len(hits) > nth else None


class _Checker:
    def __init__(self, text: str, source: str) -> None:
        self.text, self.source, self.errors = text, source, []

    def fail(self, key: str, message: str, nth: int = 0) -> None:
        line = _line_of(self.text, key.split(".")[-1], nth)
        where = f"{self.source} line {line}" if line else self.source
        self.errors.append(f"{where}: {key}: {message}")

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
    """Parse and validate a protocol written in TOML; raise :class:`ValidationError` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{source}: not valid TOML ({exc}); fix the syntax and apply again.") from exc
    return _validate(data, text, source)


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
    if design == "counterbalanced" and arms and (len(arms) != 2 or sessions != 2):
        c.fail("design", f"'counterbalanced' needs exactly 2 arms and sessions = 2 (got {len(arms)} arm(s), "
                         f"{sessions} session(s)); half the readers read arm 1 first, half arm 2 first.")
    if sessions > 1 and washout == 0:
        c.fail("washout_days", "several sessions but no washout; set washout_days (e.g. 28) so a case is "
                               "not re-read from memory.")
    if c.errors:
        raise ValidationError("Protocol refused, nothing changed: " + "; ".join(c.errors))
    return Protocol(arms=tuple(arms), seed=seed, sessions=sessions, washout_days=washout, design=design,
                    black_screen_ms=black, contradiction_margin=margin, idle_timeout_s=idle)


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
            c.fail(f"{label}.name", "every arm needs a non-empty name.", nth=i)
            continue
        if name in {o.name for o in out}:
            c.fail(f"{label}.name", f"duplicate arm name {name!r}; arm names must be unique.", nth=i)
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
    d = dict(data)
    d["arms"] = [dict(a) for a in d.get("arms", [])]
    for a in d["arms"]:
        if a.get("model") is None:
            a.pop("model", None)
    return _validate(d, "", "stored protocol")
