"""The report export's choices and its last result, shared by the dashboard and the Exports tab.

The Exports tab is the one place where the report's reference and compared arm are chosen; the
dashboard's *Export report…* uses the same choices (and says which), and each widget's status
shows the last report written from either of them. The coordinator window holds one
:class:`ReportState` and hands it to every tab that has ``use_report(state)``; a widget built on
its own (tests) has a private one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import exports as svc
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext

if TYPE_CHECKING:
    from readerstudy.ui.coordinator.exports import ExportResult

log = logging.getLogger(__name__)

DEFAULT_REFERENCE = "Default (the protocol's reference, else the most senior reader)"
DEFAULT_ARM = "Default (the first arm with reads)"
FILES = "report.html, report.pdf, report.json, reads.csv"


class ReportState(QObject):
    """``reference`` / ``arm``: the values passed to the export (None: the defaults), with the labels
    the Exports tab shows; ``last``: the last report written this session and ``last_from`` (which
    screen wrote it). ``changed`` is emitted after either changes."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.reference: str | None = None
        self.reference_label = DEFAULT_REFERENCE
        self.arm: str | None = None
        self.arm_label = DEFAULT_ARM
        self.last: ExportResult | None = None
        self.last_from = ""
        self.last_choices = (DEFAULT_REFERENCE, DEFAULT_ARM)  # (reference, arm) labels of the last report

    def choose(self, reference: str | None, reference_label: str, arm: str | None, arm_label: str) -> None:
        """The Exports tab's choice (its combo boxes)."""
        new = (reference, reference_label, arm, arm_label)
        if new != (self.reference, self.reference_label, self.arm, self.arm_label):
            self.reference, self.reference_label, self.arm, self.arm_label = new
            self.changed.emit()

    def name_default(self, ctx: AppContext, session: UserSession) -> None:
        """Say which reader the default reference is (the Exports tab does once it is built)."""
        if self.reference is not None or self.reference_label != DEFAULT_REFERENCE:
            return
        try:
            label = svc.reference_choices(ctx, session)[0].label
        except ReaderStudyError as exc:  # e.g. not a coordinator: the generic text stays
            log.info("report reference default not named: %s", exc)
            return
        self.choose(None, label, self.arm, self.arm_label)

    def exported(self, result: ExportResult, where: str, reference_label: str, arm_label: str) -> None:
        """A report was written from ``where`` ("dashboard", "Exports tab") with these choices."""
        self.last, self.last_from, self.last_choices = result, where, (reference_label, arm_label)
        self.changed.emit()

    def choices_text(self) -> str:
        return f"Reference: {self.reference_label}; compared arm: {self.arm_label} (chosen in the Exports tab)."

    def status_text(self, here: str) -> str | None:
        """The last report, as the widget ``here`` says it; None when none was written this session."""
        if self.last is None:
            return None
        where = "" if self.last_from == here else f" from the {self.last_from}"
        reference, arm = self.last_choices
        return (f"Report written to {Path(self.last.out_dir)}{where} ({FILES}, {len(self.last.figures)} figures); "
                f"reference {reference}, compared arm {arm}.")


__all__ = ["DEFAULT_ARM", "DEFAULT_REFERENCE", "ReportState"]
