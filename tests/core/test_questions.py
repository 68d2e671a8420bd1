"""Study-defined questions: parsing and validation of the protocol's [[questions]], answer checks."""

from __future__ import annotations

import dataclasses
import re

import pytest

from readerstudy.core.errors import ValidationError
from readerstudy.core.protocol import ProtocolError, locked_changes, parse_protocol, protocol_from_dict
from readerstudy.core.questions import BIRADS_CATEGORIES, validate_question_answers
from readerstudy.services.protocol_toml import protocol_to_toml, read_protocol_toml

BASE = """seed = 5
[[arms]]
name = "unaided"
"""
FORM = BASE + """
[[questions]]
key = "birads"
kind = "birads"
label = "BI-RADS assessment"

[[questions]]
key = "shape"
kind = "single"
label = "Shape"
choices = ["oval", "round", "irregular"]
ordinal = true

[[questions]]
key = "features"
kind = "multiple"
label = "Associated features"
choices = ["calcifications", "posterior shadowing", "edema"]
required = false

[[questions]]
key = "suspicion"
kind = "likert"
label = "Suspicion"
points = 7
low_label = "benign"
high_label = "malignant"

[[questions]]
key = "size_mm"
kind = "number"
label = "Largest diameter"
min = 0
max = 120
unit = "mm"

[[questions]]
key = "comment"
kind = "text"
label = "Comment"
required = false
max_length = 200

[[questions]]
key = "lesion"
kind = "location"
label = "Lesion centre"
"""


def test_every_kind_parses_and_round_trips_through_the_stored_protocol_and_the_toml_writer() -> None:
    p = parse_protocol(FORM)
    assert [(q.key, q.kind) for q in p.questions] == [
        ("birads", "birads"), ("shape", "single"), ("features", "multiple"), ("suspicion", "likert"),
        ("size_mm", "number"), ("comment", "text"), ("lesion", "location")]
    q = {x.key: x for x in p.questions}
    assert q["birads"].categories == ("0", "1", "2", "3", "4a", "4b", "4c", "5", "6") and q["birads"].is_ordinal
    assert q["shape"].is_ordinal and not q["features"].required and q["suspicion"].categories[-1] == "7"
    assert (q["size_mm"].min, q["size_mm"].max, q["size_mm"].unit) == (0.0, 120.0, "mm")
    assert protocol_from_dict(p.to_dict()) == p
    assert protocol_to_toml(p, FORM) == FORM  # unchanged: byte for byte
    assert parse_protocol(protocol_to_toml(p)) == p  # a fresh file keeps every question
    fewer = dataclasses.replace(p, questions=p.questions[:2])
    assert parse_protocol(protocol_to_toml(fewer, FORM)).questions == p.questions[:2]
    raw, issues = read_protocol_toml(FORM)
    assert issues == () and len(raw["questions"]) == 7


@pytest.mark.parametrize(("table", "field", "message"), [
    ('key = "x"\nkind = "vas"\nlabel = "X"', "questions[0].kind", "'vas' is not a known question kind"),
    ('key = "n"\nkind = "number"\nlabel = "N"\nmin = 10\nmax = 2', "questions[0].min",
     "min (10) is greater than max (2)"),
    ('key = "n"\nkind = "number"\nlabel = "N"\nmin = 0', "questions[0].max", "needs both min and max"),
    ('key = "c"\nkind = "single"\nlabel = "C"\nchoices = ["a"]', "questions[0].choices", "at least two"),
    ('key = "c"\nkind = "single"\nlabel = "C"\nchoices = ["a", "a"]', "questions[0].choices", "duplicates"),
    ('key = "l"\nkind = "likert"\nlabel = "L"\npoints = 2', "questions[0].points", "from 3 to 11"),
    ('key = "Bad Key"\nkind = "text"\nlabel = "T"', "questions[0].key", "lower-case letters"),
    ('key = "probability"\nkind = "text"\nlabel = "T"', "questions[0].key", "a standard answer"),
    ('key = "t"\nkind = "text"\nlabel = ""', "questions[0].label", "non-empty text"),
    ('key = "b"\nkind = "birads"\nlabel = "B"\nchoices = ["x", "y"]', "questions[0].choices", "unknown field"),
])
def test_bad_questions_are_refused_with_the_field_the_line_and_what_to_do(table: str, field: str, message: str) -> None:
    text = BASE + "\n[[questions]]\n" + table + "\n"
    with pytest.raises(ProtocolError) as exc:
        parse_protocol(text)
    issues = exc.value.for_field(field)
    assert issues and message in issues[0].message, exc.value.issues
    line = text.splitlines()[issues[0].line - 1]  # the field's line, or its table's header when it is missing
    assert field.rsplit(".", 1)[1] in line or line == "[[questions]]"


def test_duplicate_keys_are_refused() -> None:
    text = FORM + '\n[[questions]]\nkey = "birads"\nkind = "birads"\nlabel = "Again"\n'
    with pytest.raises(ProtocolError, match="'birads' is used twice"):
        parse_protocol(text)


def test_questions_cannot_change_once_readers_have_their_orders() -> None:
    p = parse_protocol(FORM)
    issues = locked_changes(p, dataclasses.replace(p, questions=p.questions[:1]))
    assert [i.field for i in issues] == ["questions"]


def test_answers_are_checked_and_normalised() -> None:
    qs = parse_protocol(FORM).questions
    ok = validate_question_answers(qs, {"birads": "4A", "shape": "oval", "features": ["edema", "calcifications"],
                                        "suspicion": "6", "size_mm": 14, "comment": " ok ",
                                        "lesion": {"row": 10.256, "col": 3}}, shape=(50, 60))
    assert ok == {"birads": "4a", "shape": "oval", "features": ["calcifications", "edema"], "suspicion": 6,
                  "size_mm": 14.0, "comment": "ok", "lesion": {"row": 10.26, "col": 3.0}}
    assert validate_question_answers(qs, {**ok, "features": None, "comment": ""})["birads"] == "4a"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("birads", "7", "'7' is not one of ['0', '1', '2', '3', '4a', '4b', '4c', '5', '6']"),
    ("birads", 4, "4 is not one of"),
    ("shape", "square", "'square' is not one of"),
    ("features", ["fat"], "['fat'] are not among the choices"),
    ("suspicion", 8, "8 is not one of"),
    ("size_mm", 130, "130 is not from 0 to 120"),
    ("size_mm", True, "True is not a number"),
    ("comment", "x" * 201, "at most 200"),
    ("lesion", {"row": 10}, "is not a location"),
    ("lesion", {"row": -1, "col": 2}, "row = -1 is not a pixel coordinate"),
    ("lesion", {"row": 55, "col": 2}, "outside the image (50 x 60)"),
    ("lesion", {"row": 5, "col": 2, "slice": 0}, "the image is 2D"),
])
def test_bad_answers_are_refused_naming_the_question(key: str, value: object, message: str) -> None:
    qs = parse_protocol(FORM).questions
    good = {"birads": "3", "shape": "oval", "suspicion": 2, "size_mm": 5, "lesion": {"row": 1, "col": 1}}
    with pytest.raises(ValidationError) as exc:
        validate_question_answers(qs, {**good, key: value}, shape=(50, 60))
    assert message in str(exc.value) and f"({key})" in str(exc.value)


def test_a_mark_on_a_volume_needs_its_slice_inside_the_volume() -> None:
    qs = [q for q in parse_protocol(FORM).questions if q.key == "lesion"]
    assert validate_question_answers(qs, {"lesion": {"row": 3, "col": 4, "slice": 9}}, shape=(10, 50, 60)) == {
        "lesion": {"row": 3.0, "col": 4.0, "slice": 9}}
    for mark, message in (({"row": 3, "col": 4}, "give the slice"), ({"row": 3, "col": 4, "slice": 10},
                                                                     "slice 10 is outside the volume (10 slices)")):
        with pytest.raises(ValidationError, match=re.escape(message)):
            validate_question_answers(qs, {"lesion": mark}, shape=(10, 50, 60))


def test_missing_and_unknown_answers_are_all_named() -> None:
    qs = parse_protocol(FORM).questions
    with pytest.raises(ValidationError) as exc:
        validate_question_answers(qs, {"birads": "2", "colour": "red"})
    text = str(exc.value)
    for needed in ("'colour' is not a question", "(shape) needs an answer", "(lesion) needs an answer"):
        assert needed in text
    assert "(features)" not in text  # optional


def test_birads_categories_are_the_acr_atlas_ones() -> None:
    assert BIRADS_CATEGORIES == ("0", "1", "2", "3", "4a", "4b", "4c", "5", "6")
