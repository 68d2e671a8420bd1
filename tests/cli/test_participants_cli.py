"""``readerstudy study`` and ``readerstudy participants``: exit codes 0/2/3, PIN prompts, audit as cli."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from readerstudy.cli.app import main
from readerstudy.core.errors import AuthenticationError
from readerstudy.services.auth import sign_in
from readerstudy.services.context import open_context


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "s.sqlite")
    assert main(["study", "create", "--db", path, "--study", "Pilot", "--coordinator", "Dr Reed",
                 "--pin", "24680"]) == 0
    return path


def _prompts(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Answer getpass prompts in order; returns the prompts shown."""
    shown: list[str] = []
    queue = list(answers)

    def fake(prompt: str = "") -> str:
        shown.append(prompt)
        return queue.pop(0)

    monkeypatch.setattr(getpass, "getpass", fake)
    return shown


def _listed(db: str, capsys: pytest.CaptureFixture) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["participants", "list", "--db", db, "--study", "Pilot", "--json"]) == 0
    return {p["name"]: p for p in json.loads(capsys.readouterr().out)}


def _sign_in(db: str, name: str, pin: str):
    ctx = open_context(db)
    try:
        return sign_in(ctx, "Pilot", name, pin)
    finally:
        ctx.close()


def test_study_create_and_list(db: str, tmp_path: Path, capsys: pytest.CaptureFixture,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert _sign_in(db, "Dr Reed", "24680").is_coordinator
    capsys.readouterr()
    assert main(["study", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Pilot" in out and out.splitlines()[1].split()[1:5] == ["0", "0", "0", "1"]
    assert main(["study", "create", "--db", db, "--study", "Pilot", "--coordinator", "X", "--pin", "1234"]) == 3
    assert "participants add NAME --role coordinator" in capsys.readouterr().err
    shown = _prompts(monkeypatch, "1357", "1357")
    assert main(["study", "create", "--db", db, "--study", "Second", "--coordinator", "Dr Ames"]) == 0
    assert shown == ["New PIN for Dr Ames (4-12 digits): ", "Type the PIN again: "]
    _prompts(monkeypatch, "1357", "7531")
    assert main(["study", "create", "--db", db, "--study", "Third", "--coordinator", "Dr Ames"]) == 3
    assert "two PINs differ" in capsys.readouterr().err
    assert main(["study", "list", "--db", db, "--json"]) == 0
    assert [s["name"] for s in json.loads(capsys.readouterr().out)] == ["Pilot", "Second"]  # Third not created
    empty = str(tmp_path / "empty.sqlite")
    assert main(["study", "list", "--db", empty]) == 0
    assert "No study in this database yet" in capsys.readouterr().out


def test_add_list_and_manage(db: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["--db", db, "--study", "Pilot"]
    shown = _prompts(monkeypatch, "1111", "1111")
    assert main(["participants", "add", "Dr Senior", "--role", "reader", "--seniority", "senior", *base]) == 0
    assert "added 'Dr Senior' (reader, senior); PIN set" in capsys.readouterr().out
    assert len(shown) == 2
    assert main(["participants", "add", "Ann", "--role", "annotator", "--no-pin", *base]) == 0
    assert main(["participants", "add", "Dr Junior", "--role", "reader", "--seniority", "junior",
                 "--pin", "2222", *base]) == 0
    people = _listed(db, capsys)
    assert set(people) == {"Dr Reed", "Dr Senior", "Ann", "Dr Junior"}
    assert (people["Ann"]["pin_set"], people["Dr Senior"]["seniority"]) == (False, "senior")
    assert main(["participants", "list", *base]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["name", "role", "seniority", "active"] and "Dr Junior" in table

    _prompts(monkeypatch, "3333", "3333")
    assert main(["participants", "set-pin", "Ann", *base]) == 0
    assert _sign_in(db, "Ann", "3333").name == "Ann"
    assert main(["participants", "rename", "Dr Junior", "Dr J. Unior", *base]) == 0
    assert main(["participants", "set-seniority", "Dr J. Unior", "mid", *base]) == 0
    assert main(["participants", "deactivate", "Dr J. Unior", *base]) == 0
    assert "reads and masks are kept" in capsys.readouterr().out
    with pytest.raises(AuthenticationError, match="deactivated"):
        _sign_in(db, "Dr J. Unior", "2222")
    assert main(["participants", "reactivate", "Dr J. Unior", *base]) == 0
    assert _sign_in(db, "Dr J. Unior", "2222").seniority == "mid"
    capsys.readouterr()
    assert main(["participants", "reset-pin", "Ann", *base]) == 0
    temporary = capsys.readouterr().out.splitlines()[0].rsplit(" ", 1)[1]
    assert len(temporary) == 6 and _sign_in(db, "Ann", temporary).must_change_pin
    assert _listed(db, capsys)["Ann"]["must_change_pin"] is True

    ctx = open_context(db)
    with ctx.uow() as uow:
        events = uow.audit.list()
    ctx.close()
    actions = [e.action for e in events if e.actor == "cli"]
    assert actions == ["participant.add"] * 3 + ["participant.set_pin", "participant.rename", "participant.seniority",
                                                 "participant.deactivate", "participant.reactivate",
                                                 "participant.reset_pin"]
    dumped = json.dumps([e.payload for e in events])
    assert all(pin not in dumped for pin in ("1111", "2222", "3333", "24680", temporary))


def test_unlock(db: str, capsys: pytest.CaptureFixture) -> None:
    base = ["--db", db, "--study", "Pilot"]
    assert main(["participants", "add", "Bob", "--role", "reader", "--pin", "1111", *base]) == 0
    assert main(["participants", "unlock", "Bob", *base]) == 0
    assert "was not locked" in capsys.readouterr().out
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            _sign_in(db, "Bob", "0000")
    assert _listed(db, capsys)["Bob"]["locked_until"] is not None
    assert main(["participants", "unlock", "Bob", *base]) == 0
    assert "unlocked; they can sign in now" in capsys.readouterr().out
    assert _sign_in(db, "Bob", "1111").name == "Bob"


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["participants"], 2, "required: ACTION"),
    (["participants", "add", "X", "--study", "Pilot"], 2, "--role"),
    (["participants", "add", "X", "--role", "boss", "--study", "Pilot"], 2, "invalid choice"),
    (["participants", "add", "X", "--role", "reader", "--pin", "1", "--no-pin", "--study", "Pilot"], 2,
     "not allowed with"),
    (["participants", "add", "X", "--role", "reader", "--pin", "12a4"], 3, "digits only"),
    (["participants", "add", "X", "--role", "reader", "--pin", "123"], 3, "at least 4 digits"),
    (["participants", "add", "X", "--role", "annotator", "--seniority", "senior", "--pin", "1234"], 3,
     "Seniority is for readers"),
    (["participants", "add", "dr reed", "--role", "reader", "--pin", "1234"], 3, "ignoring case"),
    (["participants", "deactivate", "Dr Reed"], 3, "last active coordinator"),
    (["participants", "set-pin", "Nobody", "--pin", "1234"], 3, "No participant named 'Nobody'"),
    (["participants", "list", "--study", "Missing"], 3, "readerstudy study create --study 'Missing'"),
])
def test_exit_codes(db: str, capsys: pytest.CaptureFixture, argv: list[str], code: int, message: str) -> None:
    if "--study" not in argv and argv[1:]:
        argv = [*argv, "--study", "Pilot"]
    argv = [*argv, "--db", db] if argv[1:] else argv
    capsys.readouterr()
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if code == 3:
        assert err.count("\n") == 1


def test_set_pin_prompt_checks_the_name_first(db: str, capsys: pytest.CaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    shown = _prompts(monkeypatch)
    assert main(["participants", "set-pin", "Nobody", "--db", db, "--study", "Pilot"]) == 3
    assert shown == []  # no PIN asked for an unknown participant
    _prompts(monkeypatch, "12", "12")
    assert main(["participants", "set-pin", "Dr Reed", "--db", db, "--study", "Pilot"]) == 3
    assert "at least 4 digits" in capsys.readouterr().err
    assert _sign_in(db, "Dr Reed", "24680").is_coordinator  # unchanged
