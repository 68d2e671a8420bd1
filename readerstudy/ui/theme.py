"""Reading-room theme: dark greys for a dimmed room (no bright surface next to the image).

Reading rooms are kept at about 20-50 lux, and the display around the image should stay dark
and even so that it neither glares nor changes the eye's adaptation (AAPM TG-18 / ACR-AAPM-SIIM
display guidance). The surfaces here are therefore near-black greys (luminance at most ~15 % of
white), text is a mid-light grey rather than white, and the one accent colour (the active answer
field) is a muted blue. :func:`apply_reading_theme` styles a window and its children.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

BACKGROUND = "#141414"  # window and break screen
SURFACE = "#1e1e1e"  # panels, group boxes
CONTROL = "#2a2a2a"  # buttons, spin boxes
CONTROL_CHECKED = "#3a4a60"
BORDER = "#3a3a3a"
TEXT = "#b4b4b4"
TEXT_DIM = "#7a7a7a"
ACCENT = "#5b84b8"
WARNING = "#c89040"

READING_QSS = f"""
QMainWindow, QStackedWidget, QWidget {{ background: {BACKGROUND}; color: {TEXT}; }}
QMenuBar, QMenu {{ background: {BACKGROUND}; color: {TEXT}; }}
QMenu::item:selected, QMenuBar::item:selected {{ background: {CONTROL}; }}
QGroupBox {{ background: {SURFACE}; }}
QLabel {{ background: transparent; }}
QPushButton {{ background: {CONTROL}; color: {TEXT}; border: 1px solid {BORDER}; border-radius: 4px;
              padding: 5px 10px; }}
QPushButton:checked {{ background: {CONTROL_CHECKED}; color: #d6d6d6; border: 1px solid {ACCENT}; }}
QPushButton:focus {{ border: 2px solid {ACCENT}; }}
QPushButton:disabled {{ color: {TEXT_DIM}; background: {SURFACE}; }}
QSpinBox {{ background: {CONTROL}; color: {TEXT}; border: 1px solid {BORDER}; }}
QSlider {{ background: transparent; }}
QSlider::groove:horizontal {{ background: {CONTROL}; border: 1px solid {BORDER}; height: 6px; border-radius: 3px; }}
QSlider::sub-page:horizontal {{ background: #34506f; border: 1px solid {BORDER}; height: 6px; border-radius: 3px; }}
QSlider::add-page:horizontal {{ background: {CONTROL}; border: 1px solid {BORDER}; height: 6px; border-radius: 3px; }}
QSlider::handle:horizontal {{ background: #8a8a8a; width: 14px; margin: -5px 0; border-radius: 7px; }}
QSlider:focus::handle:horizontal {{ background: {ACCENT}; }}
QCheckBox {{ color: {TEXT}; background: transparent; }}
QCheckBox::indicator {{ width: 12px; height: 12px; border: 1px solid #8a8a8a; background: {CONTROL}; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border: 1px solid #b0c4de; }}
QCheckBox::indicator:disabled {{ border: 1px solid {BORDER}; }}
QSplitter::handle {{ background: {BORDER}; }}
QScrollBar {{ background: {SURFACE}; }}
QLineEdit, QComboBox, QDoubleSpinBox {{ background: {CONTROL}; color: {TEXT}; border: 1px solid {BORDER};
                                       padding: 2px 4px; }}
QComboBox QAbstractItemView {{ background: {SURFACE}; color: {TEXT}; selection-background-color: {CONTROL_CHECKED}; }}
QTreeWidget, QListWidget, QTableWidget, QTextBrowser {{ background: {SURFACE}; color: {TEXT}; border: 1px solid {BORDER};
                                                        selection-background-color: {CONTROL_CHECKED}; }}
QHeaderView::section {{ background: {CONTROL}; color: {TEXT}; border: 0; border-right: 1px solid {BORDER};
                       padding: 2px 4px; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; background: {SURFACE}; }}
QTabBar::tab {{ background: {CONTROL}; color: {TEXT_DIM}; border: 1px solid {BORDER}; padding: 4px 10px; }}
QTabBar::tab:selected {{ background: {SURFACE}; color: {TEXT}; }}
"""


def group_box_style(active: bool) -> str:
    """The answer fields' frame: the active field in the accent colour, the others quiet."""
    colour, width = (ACCENT, 2) if active else (BORDER, 1)
    title = ACCENT if active else TEXT
    return (f"QGroupBox {{ border: {width}px solid {colour}; border-radius: 4px; margin-top: 14px; "
            f"background: {SURFACE}; }}"
            f"QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {title}; }}")


ACTIVE_PROPERTY = "activeField"


def answer_boxes_qss() -> str:
    """One style sheet for all answer fields, keyed on the boxes' ``activeField`` property.

    Moving the active field then only flips a property and re-polishes two boxes; a style sheet
    per box and move cost ~2 ms a box in the themed window (measured in bench_launch's case switch).
    """
    def rule(active: bool) -> str:
        sel = f'QGroupBox[{ACTIVE_PROPERTY}="{str(active).lower()}"]'
        return group_box_style(active).replace("QGroupBox", sel)
    return rule(True) + rule(False)


def dark_palette() -> QPalette:
    """A palette with the same greys, for widgets that paint from the palette (not the style sheet)."""
    pal = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, BACKGROUND), (QPalette.ColorRole.Base, SURFACE),
                         (QPalette.ColorRole.Button, CONTROL), (QPalette.ColorRole.WindowText, TEXT),
                         (QPalette.ColorRole.Text, TEXT), (QPalette.ColorRole.ButtonText, TEXT),
                         (QPalette.ColorRole.Highlight, ACCENT)):
        pal.setColor(role, QColor(colour))
    return pal


def apply_reading_theme(widget: QWidget) -> None:
    """Style ``widget`` (a reading or annotation window) and its children with the reading-room greys."""
    widget.setPalette(dark_palette())
    widget.setStyleSheet(READING_QSS)


def luminance(colour: QColor) -> float:
    """Relative luminance in [0, 1] (sRGB, ITU-R BT.709 weights), for checks on the theme."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(colour.redF()) + 0.7152 * lin(colour.greenF()) + 0.0722 * lin(colour.blueF())


__all__ = ["ACCENT", "BACKGROUND", "READING_QSS", "SURFACE", "TEXT", "apply_reading_theme", "dark_palette",
           "answer_boxes_qss", "group_box_style", "luminance"]
