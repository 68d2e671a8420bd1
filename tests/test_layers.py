"""Architecture gates: import-linter contracts, and every non-ui module imports with Qt absent."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import readerstudy

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    names = []
    for pkg in ("readerstudy", "engine"):
        base = ROOT / pkg
        for info in pkgutil.walk_packages([str(base)], prefix=f"{pkg}."):
            if not info.name.startswith(("readerstudy.ui", "readerstudy.cli.gui", "readerstudy.__main__")):
                names.append(info.name)
    return names


def test_import_linter_contracts_hold() -> None:
    out = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_non_ui_modules_import_without_qt() -> None:
    mods = _modules()
    assert "readerstudy.storage.repositories" in mods and "readerstudy.services.importing" in mods
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'):\n"
        "            raise ImportError('Qt is blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {mods!r}:\n"
        "    __import__(m)\n"
        "assert not any(k.startswith('PySide6') for k in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


def test_resources_and_migrations_resolve() -> None:
    from readerstudy.paths import demo_dir, migrations_dir

    assert (migrations_dir() / "env.py").exists() and (migrations_dir() / "versions").is_dir()
    assert (demo_dir() / "LICENSE.txt").exists() and len(list((demo_dir() / "malignant").glob("*.png"))) >= 80
    assert readerstudy.__version__
