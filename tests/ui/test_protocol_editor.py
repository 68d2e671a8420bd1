"""The coordinator's Protocol tab: form <-> TOML, messages next to their fields, apply, assignments."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from test_reading_support import COUNTERBALANCED, PIN, build_study, busi_sources

from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.services.assignment_overview import assignment_overview
from readerstudy.services.auth import (
    add_participant,
    local_session,
    system_session,
)
from readerstudy.services.context import open_context
from readerstudy.services.importing import import_cases
from readerstudy.ui.coordinator.assignments_table import COLUMNS, cells
from readerstudy.ui.coordinator.protocol_editor import ProtocolEditorWidget

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

PROTOCOLS = Path(__file__).resolve().parents[2] / "resources" / "protocols"


class Confirm:
    """Stands in for the confirm dialog: records what it was shown, answers ``answer``."""

    def __init__(self, answer: bool = True) -> None:
        self.answer, self.shown = answer, []

    def __call__(self, parent, title: str, html: str) -> bool:  # noqa: ANN001
        self.shown.append((title, html))
        return self.answer


def _fresh_study(tmp_path: Path, n_cases: int = 4):
    """A study with cases and two readers, no protocol yet."""
    ctx = open_context(tmp_path / "fresh.db")
    import_cases(ctx, LOCAL, "Pilot", busi_sources(n_cases))
    system = system_session(ctx, "Pilot")
    for name, seniority in (("alice", "senior"), ("bob", "junior")):
        add_participant(ctx, system, name, Role.READER, PIN, seniority=seniority)
    return ctx, system


def _editor(qtbot, ctx, session, confirm=None) -> ProtocolEditorWidget:  # noqa: ANN001
    w = ProtocolEditorWidget(ctx, session, confirm=confirm or Confirm(), choose_open=lambda _: None,
                             choose_save=lambda _: None)
    qtbot.addWidget(w)
    return w


@pytest.mark.parametrize("name", ["example.toml", "demo_busi.toml", "realism.toml"])
def test_open_form_save_gives_the_same_file(qtbot, tmp_path, name):
    ctx, system = _fresh_study(tmp_path)
    w = _editor(qtbot, ctx, system)
    assert w.open_file(PROTOCOLS / name) and w.issues == ()
    text = (PROTOCOLS / name).read_text()
    assert w.protocol == parse_protocol(text)  # load TOML -> form
    assert w.save_file(tmp_path / "out.toml")  # form -> TOML
    assert (tmp_path / "out.toml").read_bytes() == (PROTOCOLS / name).read_bytes()
    # an edit in the form changes that one line, comments kept
    w.form.black_screen_ms.setValue(750)
    assert w.save_file(tmp_path / "edited.toml")
    edited = (tmp_path / "edited.toml").read_text()
    assert parse_protocol(edited).black_screen_ms == 750 and edited.count("#") == text.count("#")
    ctx.close()


def test_each_validator_message_appears_next_to_its_field(qtbot, tmp_path):
    ctx, system = _fresh_study(tmp_path)
    w = _editor(qtbot, ctx, system)
    w.show()
    w.open_file(PROTOCOLS / "demo_busi.toml")
    assert w.apply_button.isEnabled()
    w.form.washout_days.setValue(0)  # 2 sessions, no washout
    w.form.arm_rows[1].shows_ai.setChecked(False)  # sequential without the AI
    w.form.seed.setText("twelve")
    w.form.seed.textEdited.emit("twelve")
    w.form.idle_timeout_s.setValue(0)
    with pytest.raises(Exception) as toml_error:  # the TOML validator on the same values
        parse_protocol((PROTOCOLS / "demo_busi.toml").read_text().replace("washout_days = 28", "washout_days = 0")
                       .replace("shows_ai = true", "shows_ai = false").replace("seed = 20201104", 'seed = "twelve"')
                       .replace("idle_timeout_s = 30", "idle_timeout_s = 0.0"))
    expected = {i.field: i.message for i in toml_error.value.issues}
    assert {i.field: i.message for i in w.issues} == expected
    assert set(expected) == {"seed", "washout_days", "idle_timeout_s", "arms[1].sequential"}
    for field in ("seed", "washout_days", "idle_timeout_s"):
        assert w.form.error_text(field) == expected[field]
        label, widget = w.form.error_label(field), w.form.widget_for(field)
        below = label.mapTo(w, label.rect().topLeft()).y() - widget.mapTo(w, widget.rect().bottomLeft()).y()
        assert 0 <= below < 12  # right under its own field
        assert "b00020" in widget.styleSheet()  # the field is marked
    assert w.form.error_text("arms[1].sequential") == "sequential: " + expected["arms[1].sequential"]
    assert w.form.error_text("arms[0].name") == ""  # the first arm is fine
    assert not w.apply_button.isEnabled() and not w.save_button.isEnabled()
    assert not w.save_file(tmp_path / "bad.toml") and not (tmp_path / "bad.toml").exists()
    # fixing a field removes its message only
    w.form.washout_days.setValue(28)
    assert w.form.error_text("washout_days") == "" and w.form.error_text("seed") == expected["seed"]
    ctx.close()


def test_new_random_seed_and_arms_added_and_removed(qtbot, tmp_path):
    ctx, system = _fresh_study(tmp_path)
    w = _editor(qtbot, ctx, system)
    w.form._random_seed = lambda: 123456
    qtbot.mouseClick(w.form.new_seed, Qt.MouseButton.LeftButton)
    assert w.form.seed.text() == "123456" and w.protocol.seed == 123456
    qtbot.mouseClick(w.form.add_arm_button, Qt.MouseButton.LeftButton)
    assert len(w.form.arm_rows) == 2 and w.form.error_text("arms[1].name") == "name: every arm needs a non-empty name."
    w.form.arm_rows[1].name.setText("unaided")
    w.form.arm_rows[1].name.textEdited.emit("unaided")
    assert "duplicate arm name" in w.form.error_text("arms[1].name")
    qtbot.mouseClick(w.form.arm_rows[1].remove, Qt.MouseButton.LeftButton)
    assert len(w.form.arm_rows) == 1 and w.issues == ()
    ctx.close()


def test_apply_from_the_editor_creates_what_the_dialog_said(qtbot, tmp_path):
    ctx, system = _fresh_study(tmp_path)
    confirm = Confirm()
    w = _editor(qtbot, ctx, system, confirm)
    w.open_file(PROTOCOLS / "demo_busi.toml")
    confirm.answer = False
    qtbot.mouseClick(w.apply_button, Qt.MouseButton.LeftButton)
    assert assignment_overview(ctx, system).rows == () and w.message.text() == "Not applied."
    confirm.answer = True
    qtbot.mouseClick(w.apply_button, Qt.MouseButton.LeftButton)
    title, html = confirm.shown[-1]
    assert title == "Apply the protocol?" and "Create arm(s): unaided, AI-aided." in html
    assert "Give 2 reader(s) their orders (alice, bob): 4 assignment(s) of 4 case(s)" in html
    assert "The AI-aided arm cannot be read: no model output for 4 cases." in html  # the AI warning
    rows = assignment_overview(ctx, system).rows
    assert len(rows) == 4 and w.state.has_orders
    # the assignments table shows exactly the service's rows
    t = w.assignments.table
    assert t.rowCount() == 4
    for i, row in enumerate(rows):
        assert tuple(t.item(i, j).text() for j in range(len(COLUMNS))) == cells(row)
    assert {t.item(i, COLUMNS.index("Order seed")).text() for i in range(4)} == {str(r.seed) for r in rows}
    assert t.item(0, COLUMNS.index("Opens on")).text() == "from the start"
    assert t.item(1, COLUMNS.index("Opens on")).text() == "28 d after session 1 ends"
    assert t.cellWidget(0, COLUMNS.index("Read")).text() == "0 / 4"
    # after apply: what is fixed is disabled, the reading settings are not
    assert not w.form.sessions.isEnabled() and not w.form.seed.isEnabled() and not w.form.add_arm_button.isEnabled()
    assert w.form.black_screen_ms.isEnabled() and w.form.arm_rows[1].model.isEnabled()
    assert "Still changeable" in w.banner.text() and w.apply_button.text() == "Apply changes…"
    ctx.close()


def test_reading_settings_change_after_apply_the_design_does_not(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=4, protocol=COUNTERBALANCED)
    system = system_session(ctx, "Pilot")
    confirm = Confirm()
    w = _editor(qtbot, ctx, system, confirm)
    assert w.protocol == parse_protocol(COUNTERBALANCED)  # the applied protocol is shown
    before = assignment_overview(ctx, system).rows
    w.form.black_screen_ms.setValue(300)
    assert w.apply()
    assert "Change black_screen_ms: 0 -> 300." in confirm.shown[-1][1]
    assert w.message.text() == "Applied: the protocol is saved; no order changed."
    with ctx.uow() as uow:
        assert uow.studies.by_name("Pilot").protocol["reading"]["black_screen_ms"] == 300
    assert assignment_overview(ctx, system).rows == before
    # a file with another design: its fields say why they cannot change, Apply is off
    w.open_file(PROTOCOLS / "example.toml")
    assert "cannot change once readers have their orders (applied: 3, here: 20240917)" in w.form.error_text("seed")
    assert "cannot change" in w.form.error_text("arms[1].name")
    assert not w.apply_button.isEnabled()
    w.show_applied()
    assert w.issues == () and w.apply_button.isEnabled()
    ctx.close()


def test_update_assignments_extends_orders_from_the_tab(qtbot, tmp_path):
    ctx = build_study(tmp_path, n_cases=4)
    system = system_session(ctx, "Pilot")
    confirm = Confirm()
    w = _editor(qtbot, ctx, system, confirm)
    assert not w.update_button.isEnabled()
    import_cases(ctx, LOCAL, "Pilot", busi_sources(6)[4:])
    add_participant(ctx, system, "carla", Role.READER, PIN)
    w.refresh()
    assert w.update_button.isEnabled()
    assert "1 new reader(s), 2 new case(s)" in w.assignments.pending.text()
    before = {(r.reader, r.arm, r.session): r.seed for r in assignment_overview(ctx, system).rows}
    qtbot.mouseClick(w.update_button, Qt.MouseButton.LeftButton)
    title, html = confirm.shown[-1]
    assert title == "Update assignments?" and "Append 2 new case(s) to the end of 2 existing order(s)" in html
    rows = {(r.reader, r.arm, r.session): r for r in assignment_overview(ctx, system).rows}
    assert all(rows[k].seed == seed and rows[k].appended == 2 for k, seed in before.items())
    assert rows[("carla", "unaided", 1)].cases == 6 and rows[("carla", "unaided", 1)].appended == 0
    assert w.message.text() == "Applied: 1 assignment(s) created, 2 order(s) extended by 2 case(s)."
    assert not w.update_button.isEnabled() and w.assignments.table.rowCount() == 3
    cases_col = COLUMNS.index("Cases")
    assert {w.assignments.table.item(i, cases_col).text() for i in range(3)} == {"6 (4 + 2 appended)", "6"}
    ctx.close()


def test_home_window_has_the_protocol_tab(qtbot, tmp_path):
    from readerstudy.services.auth import sign_in
    from readerstudy.ui.coordinator.home import CoordinatorHomeWindow

    ctx = build_study(tmp_path, n_cases=2)
    win = CoordinatorHomeWindow(ctx, sign_in(ctx, "Pilot", "carol", "9999"))
    qtbot.addWidget(win)
    assert isinstance(win.tab("protocol"), ProtocolEditorWidget)
    assert "Protocol" in [win.tabs.tabText(i) for i in range(win.tabs.count())]
    ctx.close()


def test_a_broken_or_odd_file_changes_nothing_or_says_what_is_dropped(qtbot, tmp_path):
    ctx, system = _fresh_study(tmp_path)
    w = _editor(qtbot, ctx, system)
    before = w.form.values()
    (tmp_path / "broken.toml").write_text("seed = = 1\n")
    assert not w.open_file(tmp_path / "broken.toml")
    assert "broken.toml was not opened" in w.message.text() and "not valid TOML" in w.message.text()
    assert w.form.values() == before
    (tmp_path / "odd.toml").write_text('seed = 5\ncolour = "red"\n[[arms]]\nname = "unaided"\n')
    assert w.open_file(tmp_path / "odd.toml")
    assert "odd.toml line 2: colour: unknown field" in w.file_issues.text() and "dropped" in w.file_issues.text()
    assert w.protocol is not None and w.protocol.seed == 5  # the form itself is valid
    assert w.save_file(tmp_path / "odd.toml")
    assert "colour" not in (tmp_path / "odd.toml").read_text()
    ctx.close()


def test_the_reports_reference_round_trips_through_the_form(qtbot, tmp_path):
    ctx, system = _fresh_study(tmp_path)
    w = _editor(qtbot, ctx, system)
    assert w.open_file(PROTOCOLS / "example.toml")
    assert w.form.reference.text() == "" and w.protocol.reference is None
    w.form.reference.setText("senior-consensus")
    w.form.reference.textEdited.emit("senior-consensus")
    assert w.protocol.reference == "senior-consensus"
    assert w.save_file(tmp_path / "ref.toml")
    assert parse_protocol((tmp_path / "ref.toml").read_text()).reference == "senior-consensus"
    ctx.close()


def test_the_tab_shows_what_was_imported_and_added_since_it_was_built(qtbot, tmp_path):
    """The home window builds every tab at sign-in; an import and new readers come later, in other tabs."""
    ctx = open_context(tmp_path / "empty.db")
    from readerstudy.services.studies import create_study

    coord = create_study(ctx, "Later", "Dr Reed", "2468")
    w = _editor(qtbot, ctx, coord)
    w.show()
    assert "(0 case(s), 0 reader(s))" in w.banner.text()
    import_cases(ctx, coord, "Later", busi_sources(3))
    add_participant(ctx, coord, "alice", Role.READER, PIN)
    w.hide()
    w.show()  # the coordinator comes back to the tab
    assert "(3 case(s), 1 reader(s))" in w.banner.text()
    ctx.close()
