"""Dialogs about studies and one's own account: new study (with its first coordinator), the first
coordinator of an imported study, a coordinator's "new study", changing one's PIN.

Each function returns a :class:`~readerstudy.ui.forms.FormDialog` (not yet shown) whose
``result_value`` is, once accepted, what the service returned (a signed-in
:class:`~readerstudy.services.auth.UserSession`, or None for a PIN change). The services check
everything; the dialogs only add "type the PIN twice".
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QWidget

from readerstudy.services import participants as people
from readerstudy.services import studies
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.forms import Field, FormDialog

PIN_HINT = f"{people.PIN_MIN_DIGITS}-{people.PIN_MAX_DIGITS} digits"


def _pin_fields(label: str = "PIN") -> list[Field]:
    return [Field("pin", label, "pin", placeholder=PIN_HINT), Field("pin_again", f"{label} again", "pin")]


def new_study_dialog(ctx: AppContext, parent: QWidget | None = None, *, first_run: bool = False) -> FormDialog:
    """Name the study and its first coordinator (name, PIN twice); accepted = created and signed in."""

    def submit(v: dict[str, Any]) -> UserSession:
        studies.validate_study_name(v["study"])  # errors in the order of the fields
        people.validate_name(v["coordinator"], "The coordinator's name")
        pin = people.validate_new_pin(v["pin"], v["pin_again"])
        return studies.create_study(ctx, v["study"], v["coordinator"], pin, description=v["description"])

    intro = ("<b>Welcome.</b> This database holds no study yet. Name the study and its first coordinator: "
             "you, who will import the cases, add the readers and apply the protocol."
             if first_run else
             "A new study starts empty and needs its first coordinator, who then imports cases and adds "
             "participants. A coordinator of another study can also use <i>Session → New study…</i> there.")
    fields = [Field("study", "Study name", placeholder="e.g. BUSI pilot 2026"),
              Field("description", "Description", placeholder="optional: what is read, by whom"),
              Field("coordinator", "Coordinator's name", placeholder="e.g. Dr A. Reed"), *_pin_fields()]
    return FormDialog("New study", fields, submit, intro=intro, ok_text="Create study and sign in", parent=parent)


def first_coordinator_dialog(ctx: AppContext, study_name: str, parent: QWidget | None = None) -> FormDialog:
    """A study imported on the command line has no coordinator: create the first one and sign in."""

    def submit(v: dict[str, Any]) -> UserSession:
        people.validate_name(v["coordinator"], "The coordinator's name")
        pin = people.validate_new_pin(v["pin"], v["pin_again"])
        return studies.add_first_coordinator(ctx, study_name, v["coordinator"], pin)

    intro = (f"Study <b>{study_name}</b> has no coordinator yet (it was created on the command line). "
             "Create its first coordinator; they add everyone else.")
    fields = [Field("coordinator", "Coordinator's name"), *_pin_fields()]
    return FormDialog("First coordinator", fields, submit, intro=intro, ok_text="Create and sign in", parent=parent)


def coordinator_new_study_dialog(ctx: AppContext, session: UserSession,
                                 parent: QWidget | None = None) -> FormDialog:
    """A signed-in coordinator creates another study and becomes its coordinator (same name and PIN)."""

    def submit(v: dict[str, Any]) -> UserSession:
        return studies.create_study_as(ctx, session, v["study"], description=v["description"])

    intro = (f"You, <b>{session.name}</b>, become the new study's first coordinator with your current PIN. "
             "No cases, participants or protocol are copied.")
    fields = [Field("study", "Study name"), Field("description", "Description", placeholder="optional")]
    return FormDialog("New study", fields, submit, intro=intro, ok_text="Create and open", parent=parent)


def change_pin_dialog(ctx: AppContext, session: UserSession, parent: QWidget | None = None) -> FormDialog:
    """A signed-in participant changes their own PIN (current PIN, new PIN twice)."""

    def submit(v: dict[str, Any]) -> None:
        people.change_own_pin(ctx, session, v["current"], people.validate_new_pin(v["pin"], v["pin_again"]))

    fields = [Field("current", "Current PIN", "pin"), *_pin_fields("New PIN")]
    return FormDialog("Change my PIN", fields, submit, intro=f"Signed in as <b>{session.name}</b>.",
                      ok_text="Change PIN", parent=parent)


def forced_pin_change_dialog(ctx: AppContext, session: UserSession, current_pin: str,
                             parent: QWidget | None = None) -> FormDialog:
    """After a coordinator's PIN reset: the participant chooses their own PIN before going on."""

    def submit(v: dict[str, Any]) -> UserSession:
        people.change_own_pin(ctx, session, current_pin, people.validate_new_pin(v["pin"], v["pin_again"]))
        return session

    intro = (f"<b>{session.name}</b>, your PIN was reset by the coordinator. Choose your own PIN "
             f"({PIN_HINT}) to go on.")
    return FormDialog("Choose your PIN", _pin_fields("New PIN"), submit, intro=intro, ok_text="Save PIN and go on",
                      parent=parent)


def sign_in_pin_change_dialog(ctx: AppContext, study_name: str, name: str,
                              parent: QWidget | None = None) -> FormDialog:
    """"Change my PIN" on the sign-in screen, for the participant picked there."""

    def submit(v: dict[str, Any]) -> None:
        people.change_pin_at_sign_in(ctx, study_name, name, v["current"], v["pin"], v["pin_again"])

    fields = [Field("current", "Current PIN", "pin"), *_pin_fields("New PIN")]
    return FormDialog("Change my PIN", fields, submit, intro=f"<b>{name}</b> · {study_name}", ok_text="Change PIN",
                      parent=parent)


__all__ = ["change_pin_dialog", "coordinator_new_study_dialog", "first_coordinator_dialog",
           "forced_pin_change_dialog", "new_study_dialog", "sign_in_pin_change_dialog"]
