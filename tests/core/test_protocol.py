"""Protocol parsing and validation (TOML), schedules and seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from readerstudy.core.errors import ValidationError
from readerstudy.core.protocol import derive_seed, parse_protocol, protocol_from_dict

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "protocols" / "example.toml"


def test_example_protocol_parses_and_round_trips():
    p = parse_protocol(EXAMPLE.read_text(), EXAMPLE.name)
    assert p.design == "counterbalanced" and [a.name for a in p.arms] == ["unaided", "ai-sequential"]
    assert p.arms[1].sequential and p.arms[1].shows_ai and p.washout_days == 28
    assert protocol_from_dict(p.to_dict()) == p


def test_counterbalanced_schedule_swaps_arm_order():
    p = parse_protocol(EXAMPLE.read_text())
    assert p.schedule(0) == [(1, "unaided"), (2, "ai-sequential")]
    assert p.schedule(1) == [(1, "ai-sequential"), (2, "unaided")]


def test_errors_name_the_line_and_field():
    text = 'seed = 1\nsessions = 0\n[[arms]]\nname = "a"\nsequential = true\n'
    with pytest.raises(ValidationError) as exc:
        parse_protocol(text, "p.toml")
    msg = str(exc.value)
    assert "p.toml line 2: sessions" in msg
    assert "p.toml line 5: arms[0].sequential" in msg and "shows_ai = true" in msg


@pytest.mark.parametrize("text, needle", [
    ('[[arms]]\nname = "a"\n', "seed"),
    ("seed = 1\n", "arms"),
    ('seed = 1\ndesign = "latin"\n[[arms]]\nname = "a"\n', "design"),
    ('seed = 1\ncolour = 3\n[[arms]]\nname = "a"\n', "unknown field"),
    ('seed = 1\ndesign = "counterbalanced"\nsessions = 2\nwashout_days = 7\n[[arms]]\nname = "a"\n', "exactly 2 arms"),
    ('seed = 1\nsessions = 2\n[[arms]]\nname = "a"\n', "washout"),
    ('seed = 1\n[[arms]]\nname = "a"\n[[arms]]\nname = "a"\n', "duplicate"),
    ("seed = = 1", "not valid TOML"),
])
def test_bad_protocols_are_refused(text, needle):
    with pytest.raises(ValidationError, match="refused|TOML") as exc:
        parse_protocol(text)
    assert needle in str(exc.value)


def test_seeds_are_stable_and_distinct():
    assert derive_seed(7, "alice", "unaided", 1) == derive_seed(7, "alice", "unaided", 1)
    seeds = {derive_seed(7, r, a, s) for r in ("alice", "bob") for a in ("u", "ai") for s in (1, 2)}
    assert len(seeds) == 8 and all(0 <= s < 2**31 for s in seeds)


# --- field paths (the protocol editor shows each message next to its field) -----------------------

from readerstudy.core.protocol import (  # noqa: E402
    ProtocolError,
    locked_changes,
    protocol_changes,
    validate_protocol,
)


def _issues(text: str) -> dict[str, list[str]]:
    with pytest.raises(ProtocolError) as exc:
        parse_protocol(text, "p.toml")
    out: dict[str, list[str]] = {}
    for issue in exc.value.issues:
        out.setdefault(issue.field, []).append(issue.message)
    return out


def test_issues_carry_field_paths_and_the_line_of_the_right_arm():
    text = ('seed = 1\nsessions = 2\n[[arms]]\nname = "a"\nshows_ai = false\n'
            '[[arms]]\nname = "b"\nsequential = true\ncolour = 1\n')
    with pytest.raises(ProtocolError) as exc:
        parse_protocol(text, "p.toml")
    by_field = {i.field: i for i in exc.value.issues}
    assert set(by_field) == {"washout_days", "arms[1].sequential", "arms[1].colour"}
    assert by_field["arms[1].sequential"].line == 8  # the second arm's line, not the first "sequential ="
    assert by_field["arms[1].colour"].line == 9 and by_field["washout_days"].line is None
    assert exc.value.for_field("arms[1].sequential")[0].message.startswith("arm 'b' is sequential")
    # the flat message is unchanged: every issue with its place
    assert "p.toml line 8: arms[1].sequential: arm 'b' is sequential" in str(exc.value)


@pytest.mark.parametrize("text, field", [
    ('[[arms]]\nname = "a"\n', "seed"),
    ('seed = "x"\n[[arms]]\nname = "a"\n', "seed"),
    ("seed = 1\n", "arms"),
    ('seed = 1\nsessions = 0\n[[arms]]\nname = "a"\n', "sessions"),
    ('seed = 1\nblack_screen_ms = -1\n[[arms]]\nname = "a"\n', "black_screen_ms"),
    ('seed = 1\ncontradiction_margin = 80\n[[arms]]\nname = "a"\n', "contradiction_margin"),
    ('seed = 1\nidle_timeout_s = 0\n[[arms]]\nname = "a"\n', "idle_timeout_s"),
    ('seed = 1\ndesign = "latin"\n[[arms]]\nname = "a"\n', "design"),
    ('seed = 1\ndesign = "counterbalanced"\nsessions = 2\nwashout_days = 7\n[[arms]]\nname = "a"\n', "design"),
    ('seed = 1\n[[arms]]\nname = "a"\n[[arms]]\nname = "a"\n', "arms[1].name"),
    ('seed = 1\n[[arms]]\nname = ""\n', "arms[0].name"),
    ('seed = 1\n[[arms]]\nname = "a"\nshows_ai = 1\n', "arms[0].shows_ai"),
    ('seed = 1\n[[arms]]\nname = "a"\nmodel = 3\n', "arms[0].model"),
])
def test_each_problem_names_its_field(text, field):
    assert field in _issues(text)


def test_syntax_errors_concern_the_whole_text():
    with pytest.raises(ProtocolError) as exc:
        parse_protocol("seed = = 1", "p.toml")
    (issue,) = exc.value.issues
    assert issue.field == "" and issue.line == 1 and "not valid TOML" in issue.message


def test_validate_protocol_is_the_same_validator_as_the_toml_one():
    data = {"seed": 1, "sessions": 2, "washout_days": 0, "arms": [{"name": "a", "model": None}]}
    with pytest.raises(ProtocolError) as from_dict:
        validate_protocol(data, "form")
    with pytest.raises(ProtocolError) as from_text:
        parse_protocol('seed = 1\nsessions = 2\nwashout_days = 0\n[[arms]]\nname = "a"\n', "form")
    assert [(i.field, i.message) for i in from_dict.value.issues] == \
        [(i.field, i.message) for i in from_text.value.issues]
    ok = validate_protocol({**data, "washout_days": 28})
    assert ok.arms[0].model is None and ok.washout_days == 28.0


def test_changes_and_what_is_locked_after_orders_are_given():
    old = parse_protocol(EXAMPLE.read_text())
    from dataclasses import replace

    amended = replace(old, black_screen_ms=0, idle_timeout_s=60.0,
                      arms=(old.arms[0], replace(old.arms[1], model="Net")))
    assert [c[0] for c in protocol_changes(old, amended)] == ["black_screen_ms", "idle_timeout_s", "arms[1].model"]
    assert locked_changes(old, amended) == []
    (issue,) = locked_changes(old, amended, arms_with_reads={"ai-sequential"})
    assert issue.field == "arms[1].model" and "has reads already" in issue.message
    fixed = replace(old, sessions=3, washout_days=14.0, arms=old.arms[:1])
    issues = {i.field: i.message for i in locked_changes(old, fixed)}
    assert set(issues) == {"sessions", "washout_days", "arms"}
    assert "applied: 28, here: 14" in issues["washout_days"] and "new study" in issues["sessions"]


def test_reference_names_the_reports_reference():
    base = 'seed = 1\n{ref}\n[[arms]]\nname = "unaided"\n'
    assert parse_protocol(base.format(ref="")).reference is None
    p = parse_protocol(base.format(ref='reference = "senior-consensus"'))
    assert p.reference == "senior-consensus" and protocol_from_dict(p.to_dict()) == p
    assert parse_protocol(base.format(ref='reference = "Dr Who "')).reference == "Dr Who"
    for bad in ("reference = 3", 'reference = ""'):
        with pytest.raises(ValidationError, match=r"protocol.toml line 2: reference: .* a reader's name"):
            parse_protocol(base.format(ref=bad))
    from dataclasses import replace

    later = replace(p, reference="model")  # whom the report compares with may change after apply
    assert [c[0] for c in protocol_changes(p, later)] == ["reference"] and locked_changes(p, later) == []


REALISM = Path(__file__).resolve().parents[2] / "resources" / "protocols" / "realism.toml"


def test_form_labels_default_and_from_the_realism_protocol():
    from readerstudy.core.protocol import FormLabels

    plain = parse_protocol('seed = 1\n[[arms]]\nname = "a"\n')
    assert plain.form == FormLabels() and plain.form.positive == "Positive"
    assert plain.form.probability.startswith("Probability of malignancy")
    p = parse_protocol(REALISM.read_text(), REALISM.name)
    assert (p.form.probability, p.form.positive, p.form.negative) == (
        "Probability that the image is synthetic (0-100)", "Synthetic", "Real")
    (q,) = p.questions
    assert (q.key, q.kind, q.points, q.low_label, q.high_label) == (
        "realism", "likert", 5, "clearly synthetic", "indistinguishable from a real image")
    assert protocol_from_dict(p.to_dict()) == p
    stored = p.to_dict()
    del stored["form"]  # a protocol stored before [form] existed
    assert protocol_from_dict(stored).form == FormLabels()


@pytest.mark.parametrize("form, field, words", [
    ('positive = ""', "form.positive", "1-80 characters"),
    ("negative = 3", "form.negative", "1-80 characters"),
    ('probability = "' + "x" * 81 + '"', "form.probability", "1-80 characters"),
    ('positive = "Yes"\nnegative = " yes "', "form.positive", "different names"),
    ('colour = "red"', "form.colour", "unknown field"),
])
def test_bad_form_labels_name_the_field_and_line(form, field, words):
    from readerstudy.core.protocol import ProtocolError

    text = f'seed = 1\n[[arms]]\nname = "a"\n[form]\n{form}\n'
    with pytest.raises(ProtocolError) as exc:
        parse_protocol(text)
    (issue,) = exc.value.for_field(field)
    assert words in issue.message and issue.line is not None and issue.line >= 5


def test_form_labels_are_locked_once_readers_have_orders():
    from dataclasses import replace

    from readerstudy.core.protocol import locked_changes

    p = parse_protocol(REALISM.read_text())
    changed = replace(p, form=replace(p.form, positive="Fake"))
    (issue,) = locked_changes(p, changed)
    assert issue.field == "form" and "create a new study" in issue.message
    assert locked_changes(p, replace(p, black_screen_ms=0)) == []
