"""The coordinator's main window lists the studies and shows the selected case."""

from __future__ import annotations

import pyqtgraph as pg


def test_main_window_lists_demo_cases(qtbot, demo_ctx) -> None:  # noqa: ANN001
    from readerstudy.ui.app import configure_pyqtgraph
    from readerstudy.ui.coordinator.cases import MainWindow

    configure_pyqtgraph()
    assert pg.getConfigOption("imageAxisOrder") == "row-major"
    from readerstudy.services.auth import local_session

    w = MainWindow(demo_ctx, local_session("test"))  # the CLI's local session sees every study
    qtbot.addWidget(w)
    assert w.studies.count() == 2 and w.studies.currentItem().text() == "BUSI benign vs malignant"
    assert w.cases.rowCount() == 79
    w.cases.setCurrentCell(5, 0)
    shown = w.preview.getImageItem().image
    assert shown is not None and shown.ndim == 2 and shown.shape[0] < shown.shape[1]  # BUSI: wider than tall
    assert w.caption.text().startswith(w.cases.item(5, 0).text())
    w.studies.setCurrentRow(1)
    assert w.cases.rowCount() == 6 and "volume (48, 96, 96)" in w.caption.text()
