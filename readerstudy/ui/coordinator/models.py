"""The coordinator's "AI readers" tab: each model reader's card, the study's near-duplicate groups,
and a realism study (real vs synthetic images, blind) built from the study's accepted synthetic images.

The card (:func:`readerstudy.services.model_card.model_cards`) says what the model was trained
on, its held-out validation figures, its figures on this study's ground truth, when it was
trained and the checksum of its weights. The groups
(:func:`readerstudy.services.near_duplicates.study_groups`) are the images the engine keeps on
one side of a train/test split; they are computed on request (the images are read from disk).
"""

from __future__ import annotations

import html
import logging

from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.services.model_card import ModelCard, model_cards
from readerstudy.services.near_duplicates import GroupReport, study_groups
from readerstudy.services.realism_study import RealismBuild, create_realism_study
from readerstudy.ui.workers import Worker

log = logging.getLogger(__name__)
GROUP_COLUMNS = ("Group", "Side", "Images", "r (min-max)", "Truths", "Members")


def _auc(a: dict | None) -> str:
    if not a or a.get("auc") is None:
        return "not computed" + (f" ({a['note']})" if a and a.get("note") else "")
    return f"{a['auc']:.3f} (DeLong 95 % CI {a['ci_low']:.3f}-{a['ci_high']:.3f})"


def card_html(card: ModelCard) -> str:
    """The card as HTML for a QLabel (every value escaped)."""
    e = html.escape
    rows = [("Trained on", e(card.trained_on or "unknown")), ("Trained at", e(card.trained_at or "unknown")),
            ("Weights (sha256)", f"<code>{e(card.checkpoint_hash)}</code>")]
    h = card.held_out
    if h:
        groups = h.get("groups") or {}
        held = f"AUC {_auc(h.get('auc'))}, n = {h.get('n', '?')}"
        if groups:
            held += (f"; {groups['test_cases']} cases in {groups['test_groups']} near-duplicate groups held out, "
                     f"{groups['straddling_groups']} groups on both sides")
        rows.append(("Held-out validation", e(held)))
    ev = card.evaluation
    if ev:
        acc = ev["accuracy"]
        rows.append((f"On this study (n = {ev['n']}, {ev['positives']} positive)",
                     e(f"AUC {_auc(ev['auc'])}; at {ev['threshold']:g}: sensitivity "
                       f"{acc['sensitivity']['value']:.3f} ({acc['sensitivity']['ci_low']:.3f}-"
                       f"{acc['sensitivity']['ci_high']:.3f}), specificity {acc['specificity']['value']:.3f} "
                       f"({acc['specificity']['ci_low']:.3f}-{acc['specificity']['ci_high']:.3f})")))
    details = card.details
    if details.get("preset"):
        rows.append(("Preset, seed", e(f"{details['preset']}, seed {details.get('seed', '?')}")))
    for i, cmd in enumerate(card.command):
        rows.append(("Command" if i == 0 else "", f"<code>{e(cmd)}</code>"))
    body = "".join(f"<tr><td valign=top><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    return f"<h3>{e(card.name)} <small>v{e(card.version)}</small></h3><table cellpadding=3>{body}</table>"


class ModelsWidget(QWidget):
    """Model cards (top) and near-duplicate groups (bottom) of the signed-in coordinator's study."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        require_coordinator(session, "viewing the model cards")
        self._ctx, self._session = ctx, session
        self.report: GroupReport | None = None
        self.cards_label = QLabel()
        self.cards_label.setTextFormat(Qt.TextFormat.RichText)
        self.cards_label.setWordWrap(True)
        self.cards_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cards_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        cards_scroll = QScrollArea()
        cards_scroll.setWidget(self.cards_label)
        cards_scroll.setWidgetResizable(True)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.5, 1.0)
        self.threshold.setSingleStep(0.01)
        self.threshold.setValue(0.9)
        self.find_button = QPushButton("Find near-duplicates")
        self.groups_summary = QLabel("Near-duplicate images (other frames or views of one lesion, one patient or "
                                     "series) are kept on one side of the engine's train/test split.")
        self.groups_summary.setWordWrap(True)
        self.groups = QTableWidget(0, len(GROUP_COLUMNS))
        self.groups.setHorizontalHeaderLabels(GROUP_COLUMNS)
        self.groups.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.groups.horizontalHeader().setStretchLastSection(True)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        self.find_button.clicked.connect(self.find_groups)

        row = QHBoxLayout()
        row.addWidget(QLabel("Thumbnail correlation r >="))
        row.addWidget(self.threshold)
        row.addWidget(self.find_button)
        row.addStretch(1)
        groups_box = QGroupBox("Near-duplicate groups and the engine's split")
        g = QVBoxLayout(groups_box)
        g.addLayout(row)
        g.addWidget(self.groups_summary)
        g.addWidget(self.groups, 1)
        cards_box = QGroupBox("Model cards (AI readers of this study)")
        QVBoxLayout(cards_box).addWidget(cards_scroll)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(cards_box)
        split.addWidget(groups_box)
        split.addWidget(self._realism_box())
        split.setSizes([380, 340, 160])
        lay = QVBoxLayout(self)
        lay.addWidget(self.error)
        lay.addWidget(split, 1)
        self.refresh()

    def _realism_box(self) -> QGroupBox:
        self.realism_name = QLineEdit(f"{self._session.study_name} realism")
        self.realism_button = QPushButton("Build realism study")
        self.realism_progress = QProgressBar()
        self.realism_progress.hide()
        self.realism_status = QLabel(
            "Mixes every accepted synthetic image of this study (Generate variants in the annotation "
            "window) with the real image of each source case, blind and in a shuffled order, as a new "
            "study with the realism protocol (call: Real / Synthetic, plus a 1-5 realism rating). You "
            "become its coordinator with your PIN: sign in to it to add readers.")
        self.realism_status.setWordWrap(True)
        self.realism_status.setTextFormat(Qt.TextFormat.PlainText)
        self.realism_button.clicked.connect(self.build_realism)
        self._realism_worker: Worker | None = None
        self.realism_result: RealismBuild | None = None
        row = QHBoxLayout()
        row.addWidget(QLabel("New study"))
        row.addWidget(self.realism_name, 1)
        row.addWidget(self.realism_button)
        box = QGroupBox("Real or synthetic? (visual Turing test of the generator)")
        lay = QVBoxLayout(box)
        lay.addLayout(row)
        lay.addWidget(self.realism_progress)
        lay.addWidget(self.realism_status)
        return box

    def build_realism(self) -> None:
        """Build the realism study in the background (imports every image: a few seconds)."""
        if self._realism_worker is not None:
            return
        worker = Worker(create_realism_study, self._ctx, self._session, self.realism_name.text())
        self._realism_worker = worker
        self.realism_button.setEnabled(False)
        self.realism_progress.setRange(0, 0)
        self.realism_progress.show()
        worker.signals.progressed.connect(self._realism_progressed)
        worker.signals.finished.connect(self._realism_built)
        worker.signals.failed.connect(self._realism_failed)
        QThreadPool.globalInstance().start(worker)

    def _realism_progressed(self, step: int, total: int, _message: str) -> None:
        self.realism_progress.setRange(0, max(total, 1))
        self.realism_progress.setValue(step)

    def _realism_done(self) -> None:
        self._realism_worker = None
        self.realism_button.setEnabled(True)
        self.realism_progress.hide()

    def _realism_built(self, built: RealismBuild) -> None:
        self._realism_done()
        self.realism_result = built
        self.realism_status.setStyleSheet("")
        self.realism_status.setText(
            f"Study \u201c{built.study}\u201d created: {built.synthetic} synthetic and {built.real} "
            f"real images of {built.image_size} x {built.image_size} px, blind, with the realism protocol. "
            "Sign out and sign in to it (same name and PIN) to add readers in its Participants tab.")

    def _realism_failed(self, message: str) -> None:
        self._realism_done()
        self.realism_status.setStyleSheet("color: #b00020;")
        self.realism_status.setText(message)

    def shutdown(self) -> None:
        """Wait for a realism build still running (the home window calls this on close)."""
        if self._realism_worker is not None:
            QThreadPool.globalInstance().waitForDone(60_000)

    def refresh(self) -> None:
        """Reload the model cards (a few queries)."""
        try:
            cards = model_cards(self._ctx, self._session, self._session.study_name)
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        self.cards_label.setText("<hr>".join(card_html(c) for c in cards) if cards else
                                 "No AI reader in this study yet: add one with <code>readerstudy engine predict</code>.")

    def find_groups(self) -> None:
        """Group the study's images (reads every image: a few seconds for hundreds of cases)."""
        try:
            report = study_groups(self._ctx, self._session, self._session.study_name, threshold=self.threshold.value())
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.report = report
        self.groups_summary.setText(html.escape(report.lines()[0]) + "<br>" + html.escape(report.lines()[1].strip()))
        self.groups.setRowCount(len(report.groups))
        for i, grp in enumerate(report.groups):
            truths = "/".join(str(t) for t in sorted({m.truth for m in grp.members}))
            values = (grp.group, grp.split, len(grp.members), f"{grp.r_min:.3f}-{grp.r_max:.3f}",
                      truths + (" (mixed)" if grp.mixed_truth else ""),
                      ", ".join(f"{m.pseudonym} ({m.source_ref})" for m in grp.members))
            for j, v in enumerate(values):
                self.groups.setItem(i, j, QTableWidgetItem(str(v)))
        self.groups.resizeColumnsToContents()


def models_tab(ctx: AppContext, session: UserSession) -> ModelsWidget:
    """The "AI readers" tab of the coordinator home."""
    return ModelsWidget(ctx, session)
