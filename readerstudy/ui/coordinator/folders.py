"""Where exports go: the folder and file choosers, the user's Documents folder, opening a written file.

Used by the Exports tab and the dashboard. The folder chooser takes a folder that does not exist
yet (typed in its name field; the exports create it), which Qt's own refuses with "Directory not
found".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QTimer, QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QLineEdit, QPushButton, QWidget


def documents_dir() -> Path:
    """The user's Documents folder (else home): where the first export is proposed."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs) if docs else Path.home()


class FolderDialog(QFileDialog):
    """Qt's folder chooser that also takes a folder that does not exist yet, typed in its name field
    (the exports create it): Qt's own answers "Directory not found". ``chosen`` is the folder."""

    def __init__(self, parent: QWidget | None, title: str, start: str) -> None:
        super().__init__(parent, title, start)
        self.setFileMode(QFileDialog.FileMode.Directory)
        self.setOption(QFileDialog.Option.ShowDirsOnly, True)
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)  # the same dialog (and rule) everywhere
        self.setLabelText(QFileDialog.DialogLabel.FileName, "Folder:")
        self.chosen: str | None = None
        edit = self.findChild(QLineEdit, "fileNameEdit")
        if edit is not None:  # Qt greys "Choose" out for a name that is no folder yet: after it, allow a new one
            edit.textChanged.connect(lambda _t: QTimer.singleShot(0, self._allow_new))
        self.directoryEntered.connect(lambda _d: QTimer.singleShot(0, self._allow_new))

    def choose_button(self) -> QPushButton | None:
        box = self.findChild(QDialogButtonBox, "buttonBox")
        return box.button(QDialogButtonBox.StandardButton.Open) if box is not None else None

    def _allow_new(self) -> None:
        typed, button = self.typed(), self.choose_button()
        if button is not None and typed is not None and not typed.exists() and _creatable(typed):
            button.setEnabled(True)

    def typed(self) -> Path | None:
        """The folder typed in the name field (relative to the folder shown), or None."""
        edit = self.findChild(QLineEdit, "fileNameEdit")
        text = edit.text().strip().strip('"') if edit is not None else ""
        if not text:
            return None
        path = Path(text).expanduser()
        return path if path.is_absolute() else Path(self.directory().absolutePath()) / path

    def accept(self) -> None:
        typed = self.typed()
        if typed is not None and not typed.exists() and _creatable(typed):
            self.chosen = str(typed)
            self.done(int(QDialog.DialogCode.Accepted.value))
            return
        super().accept()  # an existing folder (or Qt's message for a path that cannot be a folder)
        if self.result() == int(QDialog.DialogCode.Accepted.value):
            self.chosen = next(iter(self.selectedFiles()), None)


def _creatable(path: Path) -> bool:
    """True when ``path`` can be made a folder: its nearest existing ancestor is a folder."""
    for parent in path.parents:
        if parent.exists():
            return parent.is_dir()
    return False


def ask_dir(parent: QWidget, title: str, start: str) -> str | None:
    """A folder chooser that can create folders ("Create New Folder", or type a new name)."""
    dialog = FolderDialog(parent, title, start)
    try:
        return dialog.chosen if dialog.exec() == int(QDialog.DialogCode.Accepted.value) and dialog.chosen else None
    finally:
        dialog.deleteLater()


def ask_save_file(parent: QWidget, title: str, start: str, filters: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, start, filters)
    return path or None


def open_file(open_url: Callable[[QUrl], object], path: str | Path) -> str | None:
    """Open ``path`` with the program the desktop uses for it; None when done, else what to do instead
    (``QDesktopServices.openUrl`` returns False when no program is set for the file type)."""
    if open_url(QUrl.fromLocalFile(str(path))) is False:
        return (f"No program on this computer is set to open {Path(path).name}; open {path} from your "
                "file manager or a web browser.")
    return None


__all__ = ["FolderDialog", "ask_dir", "ask_save_file", "documents_dir", "open_file"]
