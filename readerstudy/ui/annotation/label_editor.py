"""The label editor: add, rename and recolour the labels of the mask being edited.

The edited :class:`~readerstudy.core.annotation_labels.LabelSet` goes to
:meth:`AnnotationLayer.set_label_set`, which refuses to drop a label that still has voxels; it is
stored with the next saved version of the mask (each annotation records its label set). Renamed
and recoloured labels keep their DICOM SEG codes; added labels get the default "lesion" codes. A
coordinator may also make the edited set the study's label set
(:func:`readerstudy.services.annotation_labels.set_study_label_set`).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.annotation_labels import Label, LabelSet
from readerstudy.core.errors import ReaderStudyError

NEW_COLOURS = ((31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189), (23, 190, 207), (188, 189, 34))


def _ask_colour(parent: QWidget, rgb: tuple[int, int, int]) -> tuple[int, int, int] | None:
    c = QColorDialog.getColor(QColor(*rgb), parent, "Label colour")
    return (c.red(), c.green(), c.blue()) if c.isValid() else None


class LabelEditorDialog(QDialog):
    """Rows of (id, name, colour); Add appends the next free id; OK builds the new label set.

    ``result_set`` holds the accepted :class:`LabelSet` (None until OK succeeds); a name clash or an
    empty name is reported in the dialog and OK stays open.
    """

    def __init__(self, label_set: LabelSet, parent: QWidget | None = None, ask_colour=_ask_colour,
                 can_set_study: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Labels")
        self._base = label_set
        self._ask_colour = ask_colour
        self.colours: list[tuple[int, int, int]] = []
        self.ids: list[int] = []
        self.result_set: LabelSet | None = None
        lay = QVBoxLayout(self)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Id", "Name", "Colour"])
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        lay.addWidget(self.table)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add label")
        self.add_button.clicked.connect(lambda: self.add_label())
        row.addWidget(self.add_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.study_check = QCheckBox("Also make this the study's label set (new masks start with it)")
        self.study_check.setVisible(can_set_study)
        lay.addWidget(self.study_check)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        for lab in label_set:
            self._append(lab.id, lab.name, lab.color)

    def _append(self, label_id: int, name: str, rgb: tuple[int, int, int]) -> int:
        r = self.table.rowCount()
        self.table.insertRow(r)
        id_item = QTableWidgetItem(str(label_id))
        id_item.setFlags(id_item.flags() & ~id_item.flags().ItemIsEditable)
        self.table.setItem(r, 0, id_item)
        self.table.setItem(r, 1, QTableWidgetItem(name))
        button = QPushButton()
        button.clicked.connect(lambda _=False, row=r: self._pick_colour(row))
        self.table.setCellWidget(r, 2, button)
        self.ids.append(label_id)
        self.colours.append(tuple(rgb))  # type: ignore[arg-type]
        self._paint_swatch(r)
        return r

    def _paint_swatch(self, row: int) -> None:
        rgb = self.colours[row]
        button = self.table.cellWidget(row, 2)
        button.setText("#" + "".join(f"{c:02x}" for c in rgb))
        button.setStyleSheet(f"background: rgb{rgb}; color: {'black' if sum(rgb) > 380 else 'white'};")

    def _pick_colour(self, row: int) -> None:
        rgb = self._ask_colour(self, self.colours[row])
        if rgb is not None:
            self.set_colour(row, rgb)

    # ----------------------------------------------------------------- edits (also used by tests)
    def add_label(self, name: str | None = None) -> int:
        """Append a label with the next free id; returns its row."""
        new_id = max(self.ids, default=0) + 1
        return self._append(new_id, name or f"label {new_id}", NEW_COLOURS[(new_id - 1) % len(NEW_COLOURS)])

    def rename(self, row: int, name: str) -> None:
        self.table.item(row, 1).setText(name)

    def set_colour(self, row: int, rgb: tuple[int, int, int]) -> None:
        self.colours[row] = tuple(int(c) for c in rgb)  # type: ignore[assignment]
        self._paint_swatch(row)

    def label_set(self) -> LabelSet:
        """The edited label set; raises :class:`ValidationError` for empty or duplicate names."""
        old = {lab.id: lab for lab in self._base}
        labels = []
        for r, label_id in enumerate(self.ids):
            name = self.table.item(r, 1).text().strip()
            base = old.get(label_id)
            if base is not None:
                labels.append(replace(base, name=name, color=self.colours[r]))
            else:
                labels.append(Label(label_id, name, self.colours[r]))
        return LabelSet(self._base.name, tuple(labels))

    def accept(self) -> None:
        try:
            self.result_set = self.label_set()
        except ReaderStudyError as exc:
            self.error.setText(str(exc))
            return
        super().accept()
