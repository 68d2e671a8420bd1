"""Protocol TOML files for the protocol editor: read raw values, write a protocol back.

Writing edits the opened file in place with tomlkit (style-preserving): comments, key order and
layout stay, a key is rewritten only when its value changes, and a protocol that was not changed
is written back byte for byte. Validation is :mod:`readerstudy.core.protocol`'s (one validator);
the written text is parsed again and must give the same protocol.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from readerstudy.core.hanging import HangingSpec
from readerstudy.core.protocol import FormLabels, Protocol, ProtocolError, ProtocolIssue, parse_protocol

TOP_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Protocol)
                                 if f.name not in ("arms", "seed", "questions", "hanging", "practice", "form")}
ARM_DEFAULTS: dict[str, Any] = {"shows_ai": False, "sequential": False, "model": None}
_TOP_ORDER = ("seed", "sessions", "washout_days", "design", "black_screen_ms", "contradiction_margin",
              "idle_timeout_s", "reference")
_KNOWN_TOP = {*_TOP_ORDER, "study", "arms", "questions", "hanging", "practice", "form"}
_KNOWN_ARM = {"name", *ARM_DEFAULTS}


def read_protocol_toml(text: str, source: str = "protocol.toml") -> tuple[dict[str, Any], tuple[ProtocolIssue, ...]]:
    """The file's raw values (for the form) and its validation issues (empty when it is valid).

    Raises :class:`~readerstudy.core.protocol.ProtocolError` when the text is not TOML at all.
    """
    try:
        parse_protocol(text, source)
        issues: tuple[ProtocolIssue, ...] = ()
    except ProtocolError as exc:
        if any(i.field == "" for i in exc.issues):
            raise
        issues = exc.issues
    return tomllib.loads(text), issues


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new
    return bool(old == new)


def _toml_value(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _set(table: Table | TOMLDocument, key: str, value: Any, default: Any) -> None:
    """Write ``key`` only when its effective value (written or default) changes; None removes it."""
    current = table.get(key, default)
    current = current.unwrap() if hasattr(current, "unwrap") else current
    if _same(current, value):
        return
    if value is None:
        if key in table:
            del table[key]
        return
    table[key] = _toml_value(value)


def _arm_table(arm: Any) -> Table:
    t = tomlkit.table()
    t["name"] = arm.name
    t["shows_ai"] = arm.shows_ai
    if arm.sequential:
        t["sequential"] = True
    if arm.model is not None:
        t["model"] = arm.model
    return t


def _questions_aot(protocol: Protocol) -> AoT:
    aot = tomlkit.aot()
    for q in protocol.questions:
        t = tomlkit.table()
        for key, value in q.to_dict().items():
            t[key] = _toml_value(value)
        aot.append(t)
    return aot


def _edit_questions(doc: TOMLDocument, protocol: Protocol) -> None:
    """Rewrite the ``[[questions]]`` tables only when the questions changed (a changed form is rewritten whole)."""
    current = doc.get("questions")
    raw = current.unwrap() if hasattr(current, "unwrap") else current
    if raw == [q.to_dict() for q in protocol.questions] or (not raw and not protocol.questions):
        return
    if "questions" in doc:
        del doc["questions"]
    if protocol.questions:
        doc.append("questions", _questions_aot(protocol))


def _edit(doc: TOMLDocument, protocol: Protocol) -> None:
    for key in [k for k in doc if k not in _KNOWN_TOP]:  # the validator would refuse them
        del doc[key]
    for key in _TOP_ORDER:
        _set(doc, key, getattr(protocol, key), TOP_DEFAULTS.get(key))
    arms = doc.get("arms")
    if not isinstance(arms, AoT):
        if "arms" in doc:
            del doc["arms"]
        doc.append("arms", tomlkit.aot())
        arms = doc["arms"]
    while len(arms) > len(protocol.arms):
        del arms[len(arms) - 1]
    for table, arm in zip(list(arms), protocol.arms, strict=False):
        for key in [k for k in table if k not in _KNOWN_ARM]:
            del table[key]
        _set(table, "name", arm.name, None)
        for key, default in ARM_DEFAULTS.items():
            _set(table, key, getattr(arm, key), default)
    for arm in protocol.arms[len(arms):]:
        if len(arms):
            arms[len(arms) - 1].add(tomlkit.nl())  # a blank line before the new [[arms]] header
        arms.append(_arm_table(arm))
    _edit_questions(doc, protocol)
    _edit_practice_hanging(doc, protocol)
    _edit_form(doc, protocol)


def _form_table(form: FormLabels) -> Table:
    t = tomlkit.table()
    t["probability"], t["positive"], t["negative"] = form.probability, form.positive, form.negative
    return t


def _edit_form(doc: TOMLDocument, protocol: Protocol) -> None:
    """``[form]``: kept in place when unchanged, removed when back to the default labels."""
    if protocol.form == FormLabels():
        doc.pop("form", None)
        return
    table = doc.get("form")
    if not isinstance(table, Table):
        doc.pop("form", None)
        doc["form"] = _form_table(protocol.form)
        return
    for key in [k for k in table if k not in ("probability", "positive", "negative")]:
        del table[key]
    default = FormLabels()
    for key in ("probability", "positive", "negative"):
        _set(table, key, getattr(protocol.form, key), getattr(default, key))


def _practice_value(protocol: Protocol) -> Any:
    return protocol.practice if isinstance(protocol.practice, int) else list(protocol.practice)


def _hanging_table(spec: HangingSpec) -> Table:
    t = tomlkit.table()
    t["layout"], t["secondary"], t["colormap"] = spec.layout, list(spec.secondary), spec.colormap
    t["opacity"] = spec.opacity
    return t


def _edit_practice_hanging(doc: TOMLDocument, protocol: Protocol) -> None:
    """``practice`` and ``[hanging]``: kept in place when unchanged, removed when back to the default.

    A ``practice`` key new to the file may land after a table; the caller's re-parse then falls back
    to a fresh file.
    """
    if protocol.practice in ((), 0):
        doc.pop("practice", None)
    elif "practice" not in doc or doc["practice"].unwrap() != _practice_value(protocol):
        doc["practice"] = _practice_value(protocol)
    if protocol.hanging == HangingSpec():
        doc.pop("hanging", None)
        return
    table = doc.get("hanging")
    if not isinstance(table, Table):
        doc.pop("hanging", None)
        doc["hanging"] = _hanging_table(protocol.hanging)
        return
    for key in [k for k in table if k not in ("layout", "secondary", "colormap", "opacity")]:
        del table[key]
    spec, default = protocol.hanging, HangingSpec()
    _set(table, "layout", spec.layout, default.layout)
    _set(table, "colormap", spec.colormap, default.colormap)
    _set(table, "opacity", spec.opacity, default.opacity)
    if list(table.get("secondary", list(default.secondary))) != list(spec.secondary):
        table["secondary"] = list(spec.secondary)


def _fresh(protocol: Protocol) -> TOMLDocument:
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Reading protocol written by the readerstudy protocol editor."))
    doc.add(tomlkit.comment("Fields: see resources/protocols/example.toml."))
    for key in _TOP_ORDER:
        if getattr(protocol, key) is not None:  # TOML has no null: an absent key is the default
            doc[key] = _toml_value(getattr(protocol, key))
    if protocol.practice not in ((), 0):
        doc["practice"] = _practice_value(protocol)
    doc.add(tomlkit.nl())
    aot = tomlkit.aot()
    for arm in protocol.arms:
        aot.append(_arm_table(arm))
    doc["arms"] = aot
    if protocol.questions:
        doc["questions"] = _questions_aot(protocol)
    if protocol.hanging != HangingSpec():
        doc["hanging"] = _hanging_table(protocol.hanging)
    if protocol.form != FormLabels():
        doc["form"] = _form_table(protocol.form)
    return doc


def protocol_to_toml(protocol: Protocol, base: str | None = None) -> str:
    """TOML text of ``protocol``; with ``base`` (the opened file's text), that file edited in place.

    Unchanged values keep their text (so ``protocol_to_toml(parse_protocol(t), t) == t`` for a
    valid ``t``); fields the validator refuses (unknown keys) are dropped. The result is parsed
    again; should it not give ``protocol`` (a file tomlkit cannot edit), a fresh file is written.
    """
    if base is not None:
        try:
            doc = tomlkit.parse(base)
            _edit(doc, protocol)
            text = tomlkit.dumps(doc)
            if parse_protocol(text) == protocol:
                return text
        except (TOMLKitError, ProtocolError):
            pass
    text = tomlkit.dumps(_fresh(protocol))
    if parse_protocol(text) != protocol:
        raise RuntimeError(f"the protocol TOML writer lost a value of {protocol}; please report this")
    return text
