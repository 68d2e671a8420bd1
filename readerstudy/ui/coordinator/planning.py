"""The coordinator's "Planning" tab: power of an MRMC study over readers x cases.

The pilot is the signed-in study (two of its arms) or variance components typed in; the plan
(:func:`readerstudy.services.planning.make_plan`) fills a table of power over readers x cases,
a plot of power against cases per number of readers, and the cases each reader count needs for
the target power. The pilot's components come from a background :class:`Worker` (the report
data of a large study take a second or more); the power computations are microseconds.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QThreadPool
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
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError, ValidationError
from readerstudy.services import planning
from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext
from readerstudy.ui.workers import Worker

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ValidationError(f"{what}: give whole numbers separated by spaces, e.g. 4 6 8 10.") from None
    if not values:
        raise ValidationError(f"{what}: give at least one number.")
    return values


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
        self._pilot: tuple[Any, str] | None = None

        self.from_study = QRadioButton(f"Pilot: reads of this study ({self._study})")
        self.from_study.setChecked(True)
        self.entered = QRadioButton("Pilot: variance components entered by hand")
        self.arms = QComboBox()
        self.components = QLineEdit("var_TR=0.0002,var_error=0.0008,cov1=0.00035,cov2=0.00034,cov3=0.00024,n_cases=114")
        self.components.setToolTip("Obuchowski-Rockette components of a published or earlier pilot (AUC units)")
        self.effect = QDoubleSpinBox()
        self.effect.setRange(0.0, 0.5)
        self.effect.setDecimals(3)
        self.effect.setSingleStep(0.01)
        self.effect.setValue(0.05)
        self.effect.setSpecialValueText("observed in the pilot")
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
        self.needed = QTableWidget(0, 2)
        self.needed.setHorizontalHeaderLabels(["Readers", "Cases for target power"])
        self.needed.verticalHeader().hide()
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "cases")
        self.plot.setLabel("left", "power")
        self.plot.addLegend(offset=(-10, -10), labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 220))
        self._build()
        self.compute_button.clicked.connect(self.compute)
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
        right = QVBoxLayout()
        right.addWidget(self.summary)
        right.addWidget(self.table, 1)
        right.addWidget(self.plot, 2)
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
            if self.entered.isChecked():
                self._show(planning.parse_components(self.components.text()), "entered components")
                return
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        arms = self.arms.currentData()
        if arms is None:
            self.error.setText("This study has no two arms read by two readers yet: enter components instead.")
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
            self.error.setText(str(exc))

    def _on_pilot_failed(self, message: str) -> None:
        self._worker = None
        self.compute_button.setEnabled(True)
        self.error.setText(message)

    def _show(self, components: Any, source: str) -> None:
        effect = self.effect.value() or None
        plan = planning.make_plan(components, source, effect=effect, readers=_ints(self.readers.text(), "Readers"),
                                  cases=_ints(self.cases.text(), "Cases"), target=self.target.value(),
                                  analysis=self.analysis.currentText())
        self.plan = plan
        c = plan.components
        self.summary.setText(
            f"{source}. Effect {plan.effect:.3f} (AUC difference), {plan.analysis}, alpha {plan.alpha:g}. "
            f"OR components: var_TR {c.var_TR:.2e}, var_error {c.var_error:.2e}, cov1 {c.cov1:.2e}, "
            f"cov2 {c.cov2:.2e}, cov3 {c.cov3:.2e} (pilot cases {c.n_cases}). "
            "Hillis, Obuchowski & Berbaum (2011).")
        g = plan.grid
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
        self.needed.setRowCount(len(plan.needed))
        for i, n in enumerate(plan.needed):
            self.needed.setItem(i, 0, QTableWidgetItem(str(n.readers)))
            text = f"{n.cases} (power {n.power:.3f})" if n.cases else f"more than {n.max_cases}"
            self.needed.setItem(i, 1, QTableWidgetItem(text))
        self.needed.resizeColumnsToContents()
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
