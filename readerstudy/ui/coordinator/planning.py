"""The coordinator's "Planning" tab: power of an MRMC study over readers x cases.

The pilot is the signed-in study (two of its arms) or variance components typed in; the plan
(:func:`readerstudy.services.planning.make_plan`) fills a table of power over readers x cases,
a plot of power against cases per number of readers, and the cases each reader count needs for
the target power. The pilot's components come from a background :class:`Worker` (the report
data of a large study take a second or more); the power computations are microseconds.

Inputs are used as typed, never rounded by a widget: the components line starts with the
Van Dyke components to full precision and the effect is a text field (blank: the difference
observed in the pilot), so the tab gives the cases the ``plan`` command prints for the same
inputs. A negative effect is taken as its size, and the summary says so. An input error clears
the previous results; an input edited after a computation marks them as not matching the inputs.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError, ValidationError
from readerstudy.services import planning
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.coordinator.table_fit import fit_columns
from readerstudy.ui.workers import Worker

#: Van Dyke et al.'s Obuchowski-Rockette components, as RJafroc's sample-size vignette and the README use them
VAN_DYKE = ("var_TR=0.000200402,var_error=0.000802288,cov1=0.000346609,cov2=0.000344066,cov3=0.000239034,"
            "n_cases=114")
PLACEHOLDER = "Press Compute power: the power over readers x cases, and its plot, appear here."
STALE = "The inputs changed since this was computed: press Compute power again."
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ValidationError(f"{what}: give whole numbers separated by spaces, e.g. 4 6 8 10.") from None
    if not values:
        raise ValidationError(f"{what}: give at least one number.")
    return values


def parse_effect(text: str) -> tuple[float | None, str]:
    """The effect typed (AUC difference) and a note for the summary ('' when none).

    Blank is None (the difference observed in the pilot). A negative difference is taken as its
    size: the test is two-sided, so its power depends only on ``|effect|``. Raises
    :class:`ValidationError` for text that is no number, or a difference of 1 or more.
    """
    text = text.strip()
    if not text:
        return None, ""
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise ValidationError(f"Effect: {text!r} is not a number; give the AUC difference to detect, e.g. "
                              "0.05, or leave it blank for the pilot's observed difference.") from None
    if not abs(value) < 1.0:  # also NaN and inf
        raise ValidationError(f"Effect: {text!r} is not an AUC difference (AUCs lie in [0, 1]); give e.g. 0.05.")
    if value < 0:
        return -value, (f"Effect {value:g} taken as its size {-value:g} (two-sided test: the power depends only "
                        "on the size of the difference).")
    return value, ""


def _pilot(ctx: AppContext, session: UserSession, arms: list[str] | None, progress: Any) -> tuple[Any, str]:
    progress(0, 1, "computing the pilot's variance components")
    return planning.pilot_components(ctx, session, session.study_name, arms)


class PlanningWidget(QWidget):
    """Pilot source, effect, readers and cases in; power table, plot and cases needed out."""

    def __init__(self, ctx: AppContext, session: UserSession) -> None:
        super().__init__()
        self._ctx, self._study, self._session = ctx, session.study_name, session
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._worker: Worker | None = None
        self.plan: planning.Plan | None = None
        self.stale = False  # an input changed since ``plan`` was computed
        self._note = ""  # what the summary says about the inputs (a negative effect taken as its size)

        self.from_study = QRadioButton(f"Pilot: reads of this study ({self._study})")
        self.from_study.setChecked(True)
        self.entered = QRadioButton("Pilot: variance components entered by hand")
        self.arms = QComboBox()
        self.components = QLineEdit(VAN_DYKE)
        self.components.setCursorPosition(0)  # the start of the line in view, not its end
        self.components.setToolTip("Obuchowski-Rockette components of a published or earlier pilot (AUC units), "
                                   "used as typed; pre-filled with Van Dyke et al.'s (RJafroc's example)")
        self.effect = QLineEdit("0.05")
        self.effect.setPlaceholderText("blank: the difference observed in the pilot")
        self.effect.setToolTip("AUC difference to detect, used as typed (e.g. 0.0438); blank takes the "
                               "pilot's observed difference")
        self.readers = QLineEdit("3 4 5 6 8 10 15")
        self.cases = QLineEdit("50 100 150 200 300 500")
        self.target = QDoubleSpinBox()
        self.target.setRange(0.5, 0.99)
        self.target.setSingleStep(0.05)
        self.target.setValue(0.8)
        self.analysis = QComboBox()
        self.analysis.addItems(["RRRC", "FRRC", "RRFC"])
        self.analysis.setToolTip("RRRC: random readers and cases (generalises to both); FRRC: these readers; "
                                 "RRFC: these cases")
        self.compute_button = QPushButton("Compute power")
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.needed = QTableWidget(0, 2)
        self.needed.setHorizontalHeaderLabels(["Readers", "Cases for the target power"])
        self.needed.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.needed.verticalHeader().hide()
        fit_columns(self.needed, (1,))  # headers never clipped: "Readers" fits, the other takes the rest
        self.placeholder = QLabel(PLACEHOLDER)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("color: #666;")
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "cases")
        self.plot.setLabel("left", "power")
        self.plot.addLegend(offset=(-10, -10), labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 220))
        self.results = QStackedWidget()  # the placeholder until there is a plan, then the table and plot
        self._build()
        self.compute_button.clicked.connect(self.compute)
        for edit in (self.components, self.effect, self.readers, self.cases):
            edit.textEdited.connect(self._mark_stale)
        self.target.valueChanged.connect(self._mark_stale)
        for combo in (self.arms, self.analysis):
            combo.activated.connect(self._mark_stale)
        for radio in (self.from_study, self.entered):
            radio.toggled.connect(self._mark_stale)
        self.refresh_arms()

    def _build(self) -> None:
        form = QFormLayout()
        form.addRow(self.from_study)
        form.addRow("Arms compared", self.arms)
        form.addRow(self.entered)
        form.addRow("Components", self.components)
        form.addRow("Effect (AUC difference)", self.effect)
        form.addRow("Readers", self.readers)
        form.addRow("Cases", self.cases)
        form.addRow("Target power", self.target)
        form.addRow("Analysis", self.analysis)
        form.addRow(self.compute_button)
        form.addRow(self.error)
        inputs = QGroupBox("Pilot and design")
        inputs.setLayout(form)
        left = QVBoxLayout()
        left.addWidget(inputs)
        needed = QGroupBox("Cases needed")
        QVBoxLayout(needed).addWidget(self.needed)
        left.addWidget(needed, 1)
        shown = QWidget()
        grid = QVBoxLayout(shown)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.table, 1)
        grid.addWidget(self.plot, 2)
        self.results.addWidget(self.placeholder)
        self.results.addWidget(shown)
        right = QVBoxLayout()
        right.addWidget(self.summary)
        right.addWidget(self.results, 1)
        lay = QHBoxLayout(self)
        lay.addLayout(left, 2)
        lay.addLayout(right, 3)

    def refresh_arms(self) -> None:
        """List the study's pairs of arms read by at least two readers."""
        self.arms.clear()
        try:
            arms = planning.pilot_arms(self._ctx, self._session, self._study)
        except ReaderStudyError as exc:
            arms = []
            self.error.setText(str(exc))
        for i, a in enumerate(arms):
            for b in arms[i + 1:]:
                self.arms.addItem(f"{a} vs {b}", [a, b])
        if not self.arms.count():
            self.arms.addItem("no two arms read by two readers yet", None)
            self.entered.setChecked(True)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def compute(self) -> None:
        """Compute the plan: the pilot's components in the background (study) or at once (entered)."""
        self.error.clear()
        try:
            _ints(self.readers.text(), "Readers"), _ints(self.cases.text(), "Cases")
            parse_effect(self.effect.text())
            if self.entered.isChecked():
                self._show(planning.parse_components(self.components.text()), "entered components")
                return
        except ReaderStudyError as exc:
            self._failed(str(exc))
            return
        arms = self.arms.currentData()
        if arms is None:
            self._failed("This study has no two arms read by two readers yet: enter components instead.")
            return
        self.compute_button.setEnabled(False)
        self._worker = Worker(_pilot, self._ctx, self._session, arms)
        self._worker.signals.finished.connect(self._on_pilot_finished)
        self._worker.signals.failed.connect(self._on_pilot_failed)
        self._worker.signals.cancelled.connect(lambda: self._on_pilot_failed("Cancelled."))
        self._pool.start(self._worker)

    def _on_pilot_finished(self, result: tuple[Any, str]) -> None:
        self._worker = None
        self.compute_button.setEnabled(True)
        try:
            self._show(*result)
        except ReaderStudyError as exc:
            self._failed(str(exc))

    def _on_pilot_failed(self, message: str) -> None:
        self._worker = None
        self.compute_button.setEnabled(True)
        self._failed(message)

    def _failed(self, message: str) -> None:
        """Say what is wrong and take the previous results away: they answer other inputs."""
        self.error.setText(message)
        self.clear_results()

    def clear_results(self) -> None:
        """Back to the state before the first computation (placeholder, empty tables)."""
        self.plan, self.stale = None, False
        self.summary.clear()
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.needed.setRowCount(0)
        self.plot.clear()
        self.results.setCurrentWidget(self.placeholder)

    def _mark_stale(self, *_: Any) -> None:
        if self.plan is None or self.stale:
            return
        self.stale = True
        self.summary.setText(f"<b>{STALE}</b><br>{self.summary.text()}")

    def _show(self, components: Any, source: str) -> None:
        effect, note = parse_effect(self.effect.text())
        plan = planning.make_plan(components, source, effect=effect, readers=_ints(self.readers.text(), "Readers"),
                                  cases=_ints(self.cases.text(), "Cases"), target=self.target.value(),
                                  analysis=self.analysis.currentText())
        self.plan, self.stale = plan, False
        c = plan.components
        observed = " (observed in the pilot)" if effect is None else ""
        self.summary.setText(
            f"{source}. Effect {plan.effect:.4f}{observed} (AUC difference), {plan.analysis}, alpha {plan.alpha:g}. "
            f"OR components: var_TR {c.var_TR:.6g}, var_error {c.var_error:.6g}, cov1 {c.cov1:.6g}, "
            f"cov2 {c.cov2:.6g}, cov3 {c.cov3:.6g} (pilot cases {c.n_cases}). "
            "Hillis, Obuchowski & Berbaum (2011)." + (f"<br><i>{note}</i>" if note else ""))
        self._fill_table(plan)
        self._fill_needed(plan)
        self._fill_plot(plan)
        self.results.setCurrentIndex(1)

    def _fill_table(self, plan: planning.Plan) -> None:
        g = plan.grid
        self.table.clear()
        self.table.setRowCount(len(g["readers"]))
        self.table.setColumnCount(len(g["cases"]))
        self.table.setHorizontalHeaderLabels([f"{k} cases" for k in g["cases"]])
        self.table.setVerticalHeaderLabels([f"{r} readers" for r in g["readers"]])
        for i, row in enumerate(g["power"]):
            for j, p in enumerate(row):
                item = QTableWidgetItem(f"{p:.3f}")
                if p >= plan.target:
                    item.setBackground(pg.mkColor("#d9f2d9"))
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()

    def _fill_needed(self, plan: planning.Plan) -> None:
        self.needed.setRowCount(len(plan.needed))
        for i, n in enumerate(plan.needed):
            self.needed.setItem(i, 0, QTableWidgetItem(str(n.readers)))
            text = f"{n.cases} (power {n.power:.3f})" if n.cases else f"more than {n.max_cases}"
            self.needed.setItem(i, 1, QTableWidgetItem(text))

    def _fill_plot(self, plan: planning.Plan) -> None:
        g = plan.grid
        self.plot.clear()
        for i, (r, row) in enumerate(zip(g["readers"], g["power"], strict=True)):
            self.plot.plot(g["cases"], row, pen=pg.mkPen(COLOURS[i % len(COLOURS)], width=2), symbol="o",
                           symbolSize=5, symbolBrush=COLOURS[i % len(COLOURS)], name=f"{r} readers")
        self.plot.addLine(y=plan.target, pen=pg.mkPen("#888", style=pg.QtCore.Qt.PenStyle.DashLine))
        self.plot.setYRange(0, 1)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Wait for a running pilot computation (called when the window closes)."""
        if self._worker is not None:
            self._worker.cancel()
        self._pool.waitForDone(timeout_ms)
