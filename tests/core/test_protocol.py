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
