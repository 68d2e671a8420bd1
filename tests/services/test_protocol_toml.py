"""Protocol TOML written back by the editor: unchanged files byte for byte, edits in place."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from readerstudy.core.protocol import ArmSpec, ProtocolError, parse_protocol
from readerstudy.services.protocol_toml import protocol_to_toml, read_protocol_toml

PROTOCOLS = Path(__file__).resolve().parents[2] / "resources" / "protocols"


@pytest.mark.parametrize("name", ["example.toml", "demo_busi.toml", "realism.toml"])
def test_unchanged_protocol_is_written_back_byte_for_byte(name):
    text = (PROTOCOLS / name).read_text()
    assert protocol_to_toml(parse_protocol(text), text) == text


def test_edits_keep_comments_and_change_only_what_changed():
    text = (PROTOCOLS / "example.toml").read_text()
    p = parse_protocol(text)
    q = replace(p, washout_days=14.5, black_screen_ms=0, design="all-arms-each-session",
                arms=(p.arms[0], replace(p.arms[1], model="Net"), ArmSpec("third", shows_ai=True)))
    out = protocol_to_toml(q, text)
    assert parse_protocol(out) == q
    assert "# Study seed. Each reader's case order" in out  # comments kept
    assert "washout_days = 14.5\n" in out and "black_screen_ms = 0\n" in out and 'model = "Net"' in out
    changed = [line for line in out.splitlines() if line not in text.splitlines()]
    assert changed == ["washout_days = 14.5", 'design = "all-arms-each-session"', "black_screen_ms = 0",
                       'model = "Net"', 'name = "third"', "shows_ai = true"]  # "[[arms]]" and "" exist already
    assert len(out.splitlines()) == len(text.splitlines()) + 5  # model, blank, header, name, shows_ai
    back = replace(q, arms=q.arms[:2])  # removing an arm, and the model again
    back = replace(back, arms=(back.arms[0], replace(back.arms[1], model=None)))
    again = protocol_to_toml(back, out)
    assert parse_protocol(again) == back and "third" not in again and 'model = "Net"' not in again


def test_fresh_file_and_unknown_fields_dropped():
    p = parse_protocol((PROTOCOLS / "demo_busi.toml").read_text())
    fresh = protocol_to_toml(p)
    assert parse_protocol(fresh) == p and protocol_to_toml(p, fresh) == fresh
    raw, issues = read_protocol_toml('seed = 1\ncolour = 3\n[[arms]]\nname = "a"\nhue = 2\n')
    assert raw["colour"] == 3 and {i.field for i in issues} == {"colour", "arms[0].hue"}
    good = parse_protocol('seed = 1\n[[arms]]\nname = "a"\n')
    written = protocol_to_toml(good, 'seed = 1\ncolour = 3\n[[arms]]\nname = "a"\nhue = 2\n')
    assert parse_protocol(written) == good and "colour" not in written and "hue" not in written
    with pytest.raises(ProtocolError, match="not valid TOML"):
        read_protocol_toml("seed = = 1")


def test_the_reports_reference_is_written_and_removed():
    text = (PROTOCOLS / "example.toml").read_text()
    p = parse_protocol(text)
    with_ref = protocol_to_toml(replace(p, reference="senior-consensus"), text)
    assert parse_protocol(with_ref).reference == "senior-consensus"
    assert 'reference = "senior-consensus"' in with_ref.split("[[arms]]")[0]  # a top-level key, before the arms
    assert parse_protocol(protocol_to_toml(p, with_ref)).reference is None
    fresh = protocol_to_toml(replace(p, reference="Senior radiologist"))
    assert parse_protocol(fresh).reference == "Senior radiologist"
    assert "reference" not in protocol_to_toml(p)  # no null in TOML: the default is an absent key


def test_form_labels_are_written_edited_and_removed():
    from readerstudy.core.protocol import FormLabels

    path = Path(__file__).resolve().parents[2] / "resources" / "protocols" / "realism.toml"
    text = path.read_text()
    p = parse_protocol(text)
    assert protocol_to_toml(p, text) == text
    edited = protocol_to_toml(replace(p, form=replace(p.form, negative="Genuine")), text)
    assert 'negative = "Genuine"' in edited and parse_protocol(edited).form.negative == "Genuine"
    assert edited.replace('negative = "Genuine"', 'negative = "Real"') == text  # only that line changed
    plain = protocol_to_toml(replace(p, form=FormLabels()), text)
    assert "\n[form]\n" not in plain and parse_protocol(plain).form == FormLabels()
    fresh = protocol_to_toml(p)
    assert "[form]" in fresh and parse_protocol(fresh) == p
