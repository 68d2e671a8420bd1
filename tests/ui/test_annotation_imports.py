"""The annotation panels do not import the window that holds them (no import circle)."""

from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "readerstudy" / "ui"
WINDOWS = ("readerstudy.ui.annotation_window", "readerstudy.ui.annotation_workspace")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, TYPE_CHECKING blocks included."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_panels_do_not_import_the_window() -> None:
    panels = sorted((UI / "annotation").glob("*.py"))
    assert {p.name for p in panels} >= {"panels.py", "compare.py", "variants_panel.py", "host.py"}
    for path in panels:
        bad = {m for m in _imports(path) if m.startswith(WINDOWS)}
        assert not bad, f"{path.name} imports {bad}"
    assert not (UI / "annotation_panels.py").exists() and not (UI / "annotation_compare.py").exists()
    # the window does import its panels: the dependency goes one way
    assert "readerstudy.ui.annotation.panels" in _imports(UI / "annotation_window.py")


def test_the_import_linter_contract_names_the_rule() -> None:
    text = (UI.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'source_modules = ["readerstudy.ui.annotation"]' in text
    assert '"readerstudy.ui.annotation_window"' in text
