"""The keyboard tables of every window, in one place: the windows bind them and the help reads them.

Tables: :data:`READING_KEYS` (reading window), :data:`HANGING_KEYS` (its fused PET view),
:data:`ANNOTATION_KEYS` (annotation window), and the Session menu's sign-out and quit keys.

Each :class:`Key` names an action id, its title and its key sequences (QKeySequence strings). The
reading window maps ids to callbacks (:func:`action_specs`); the F1 help lists the same rows
(:func:`help_rows`), so what the help says is what the keys do. Window presets are bound per
modality (:func:`preset_rows`): Ctrl+1 ... Ctrl+n in the order of
:func:`readerstudy.imaging.windowing.modality_presets`, and the help lists only the presets of
the modality shown. :func:`ambiguous_shortcuts` finds two enabled shortcuts with the same key
sequence in one window (Qt then fires neither and prints "Ambiguous shortcut overload").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

from readerstudy.ui.actions import ActionSpec


@dataclass(frozen=True)
class Key:
    """One row of a shortcut table: action ``id``, ``title`` (help text), ``keys``; ``help`` lists it."""

    id: str
    title: str
    keys: tuple[str, ...]
    help: bool = True


MAX_PRESETS = 9
# Shift+Tab only: Qt delivers Shift+Tab as Backtab and matches it to "Shift+Tab"; binding "Backtab"
# as well made two entries match one key press (the ambiguous-overload warning, and no action).
READING_KEYS: tuple[Key, ...] = (
    Key("submit", "Submit the read / resume after a break", ("Return", "Enter")),
    Key("next_field", "Next answer field (probability → call → confidence → submit)", ("Tab",)),
    Key("prev_field", "Previous answer field", ("Shift+Tab",)),
    Key("positive", "Binary call: positive (1), then confidence", ("Y",)),
    Key("negative", "Binary call: negative (0), then confidence", ("N",)),
    Key("prob_up", "Probability +1 (Shift: +10)", ("Up",)),
    Key("prob_down", "Probability -1 (Shift: -10)", ("Down",)),
    Key("prob_up10", "Probability +10", ("Shift+Up",), help=False),
    Key("prob_down10", "Probability -10", ("Shift+Down",), help=False),
    Key("backspace", "Delete the last probability digit", ("Backspace",)),
    Key("reveal", "Reveal the AI output (sequential arm, after the unaided read)", ("A",)),
    Key("saliency", "Show/hide the AI saliency map", ("S",)),
    Key("opacity_down", "Saliency map opacity -10 %", ("[",)),
    Key("opacity_up", "Saliency map opacity +10 %", ("]",)),
    Key("slice_next", "Next slice / frame", ("PgDown",)),
    Key("slice_prev", "Previous slice / frame", ("PgUp",)),
    Key("cine", "Play / stop cine (multi-frame)", ("Space",)),
    Key("zoom_in", "Zoom in", ("+", "=")),
    Key("zoom_out", "Zoom out", ("-",)),
    Key("reset", "Reset zoom, pan and window (the image's own window)", ("R",)),
    Key("info", "Show / hide the image information (W/L, preset, zoom, slice, pixel value)", ("I",)),
    Key("fullscreen", "Full screen on / off", ("F11",)),
    Key("break", "Take a break (hides the case, pauses active time)", ("Esc",)),
    Key("help", "Show / hide this help", ("F1", "?")),
    Key("questions", "Go to the study questions (Tab / Shift+Tab between them)", ("Q",)),
    *(Key(f"digit{d}", f"Type {d}", (str(d),), help=False) for d in range(10)),
    *(Key(f"preset{i}", f"Window preset {i}", (f"Ctrl+{i}",), help=False) for i in range(1, MAX_PRESETS + 1)),
)
# the fused view of a hanging protocol (PET over CT), bound by the reading window with its own keys
HANGING_KEYS: tuple[Key, ...] = (
    Key("fusion_opacity_down", "Fused image (PET) opacity -10 %", (",",)),
    Key("fusion_opacity_up", "Fused image (PET) opacity +10 %", (".",)),
    Key("fusion_toggle", "Show / hide the fused image (PET)", ("F",)),
)
# the annotation window (plane keys 1-3 are axial, coronal, sagittal: readerstudy.ui.annotation_panels.PLANES)
ANNOTATION_KEYS: tuple[Key, ...] = (
    Key("tool.brush", "Brush", ("B",)),
    Key("tool.eraser", "Eraser", ("E",)),
    Key("tool.polygon", "Polygon", ("P",)),
    Key("tool.fill", "Fill", ("F",)),
    Key("edit.undo", "Undo", ("Ctrl+Z",)),
    Key("edit.redo", "Redo", ("Ctrl+Y", "Ctrl+Shift+Z")),
    Key("file.save", "Save", ("Ctrl+S",)),
    Key("file.reviewed", "Mark the saved mask reviewed", ("Ctrl+Shift+R",)),
    Key("polygon.close", "Close polygon", ("Return", "Enter")),
    Key("polygon.cancel", "Cancel polygon", ("Escape",)),
    Key("slice.next", "Next slice", ("PgDown",)),
    Key("slice.prev", "Previous slice", ("PgUp",)),
    Key("plane.axial", "Axial plane", ("1",)),
    Key("plane.coronal", "Coronal plane", ("2",)),
    Key("plane.sagittal", "Sagittal plane", ("3",)),
    Key("volume.interpolate", "Interpolate between slices", ("I",)),
    Key("volume.clean", "Clean up label", ("C",)),
    Key("view.reset_window", "Reset window/level", ("R",)),
    Key("view.three_planes", "Three planes with a linked crosshair (volumes)", ("T",)),
    Key("help.keys", "Show / hide this help", ("F1",)),
)
# every signed-in window's Session menu (readerstudy.ui.session_menu)
SIGN_OUT_SHORTCUT = "Ctrl+Shift+L"
QUIT_SHORTCUT = "Ctrl+Q"
READING_HELP_EXTRA = (
    ("0 – 9", "Number keys answer the active field: probability digits, call 0/1, confidence 1-5"),
    ("Mouse", "Right-drag: window/level · wheel: zoom · left-drag: pan · Ctrl+wheel: slice · "
              "click on the probability bar: that value"),
)


def keys_text(keys: Iterable[str]) -> str:
    """Key sequences as the platform writes them ("Ctrl+1 / F1")."""
    return " / ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) or k for k in keys)


def action_specs(table: Iterable[Key], callbacks: Mapping[str, Callable[[], None]]) -> list[ActionSpec]:
    """ActionSpecs for ``table``, each with ``callbacks[id]``; raises KeyError for an unbound id."""
    return [ActionSpec(k.id, k.title, k.keys, callbacks[k.id], k.help) for k in table]


def help_rows(table: Iterable[Key]) -> list[tuple[str, str]]:
    """(keys, title) of the rows the help lists, in table order."""
    return [(keys_text(k.keys), k.title) for k in table if k.help]


def preset_rows(names: Iterable[str]) -> list[tuple[str, str]]:
    """Help rows for the shown modality's presets: ("Ctrl+1", "Window preset: soft tissue"), ..."""
    return [(keys_text((f"Ctrl+{i}",)), f"Window preset: {name}")
            for i, name in enumerate(list(names)[:MAX_PRESETS], start=1)]


def _normal(seq: QKeySequence) -> str:
    text = seq.toString(QKeySequence.SequenceFormat.PortableText)
    # Qt matches Shift+Tab, Backtab and Shift+Backtab to the same key press
    return {"Backtab": "Shift+Tab", "Shift+Backtab": "Shift+Tab"}.get(text, text)


def ambiguous_shortcuts(window: QWidget) -> dict[str, list[str]]:
    """``{key sequence: [object names]}`` for every sequence bound more than once in ``window``.

    Looks at the enabled QActions and QShortcuts of the window and its children; one action
    binding two spellings of one key press (Shift+Tab and Backtab) counts twice, as Qt counts it.
    """
    seen: dict[str, list[str]] = defaultdict(list)
    actions = {id(a): a for a in (*window.actions(), *window.findChildren(QAction))}
    for action in actions.values():
        if action.isEnabled():
            for seq in action.shortcuts():
                if not seq.isEmpty():
                    seen[_normal(seq)].append(action.objectName() or action.text())
    for shortcut in window.findChildren(QShortcut):
        if shortcut.isEnabled() and not shortcut.key().isEmpty():
            seen[_normal(shortcut.key())].append(shortcut.objectName() or "QShortcut")
    return {k: v for k, v in seen.items() if len(v) > 1}


__all__ = ["ANNOTATION_KEYS", "HANGING_KEYS", "MAX_PRESETS", "QUIT_SHORTCUT", "SIGN_OUT_SHORTCUT", "READING_HELP_EXTRA", "READING_KEYS", "Key", "action_specs", "ambiguous_shortcuts",
           "help_rows", "keys_text", "preset_rows"]
