"""Column and row sizing of the coordinator's small read-only tables (dashboard, AI arms, calendar).

Two faults these helpers exist for: a table filled before its window is laid out sizes its
wrapped rows for the few pixels its stretched columns have then, and keeps them hundreds of pixels
tall, the text centred out of view (:func:`rows_follow_columns`); and a header wider than its
column, or a table wider than its view, is shown clipped ("eader medi") (:func:`fit_columns`).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHeaderView, QTableWidget

FLIP_S = 0.2  # seconds: a width change back within this is the scroll bar's, not the user's


def rows_follow_columns(table: QTableWidget) -> None:
    """Recompute the rows' heights whenever a column's width changes (once per event-loop turn).

    Taller rows can bring the vertical scroll bar, which narrows the columns, which can make the
    rows short enough to drop it again: widths going straight back (within :data:`FLIP_S`) to the
    ones before the last are left as they are, so the two never chase each other.
    """
    timer = QTimer(table)
    timer.setSingleShot(True)
    timer.setInterval(0)
    seen: list[tuple[tuple[int, ...], float]] = []  # (column widths, when) of the last two resizes

    def resize() -> None:
        widths = tuple(table.columnWidth(j) for j in range(table.columnCount()))
        now = time.monotonic()
        if len(seen) == 2 and widths == seen[0][0] and now - seen[1][1] < FLIP_S:
            return
        seen[:] = [*seen[-1:], (widths, now)]
        table.resizeRowsToContents()

    timer.timeout.connect(resize)
    table.horizontalHeader().sectionResized.connect(lambda *_: timer.start())


def fit_columns(table: QTableWidget, stretch: tuple[int, ...]) -> None:
    """Every column but ``stretch`` fits its text and its header; the ``stretch`` columns share the
    rest of the width (their text wraps), so the table fits its view and no header is cut."""
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    for j in range(table.columnCount()):
        header.setSectionResizeMode(j, QHeaderView.ResizeMode.Stretch if j in stretch
                                    else QHeaderView.ResizeMode.ResizeToContents)
    table.resizeRowsToContents()


__all__ = ["fit_columns", "rows_follow_columns"]
