"""The sign-in screen comes up before pyqtgraph is imported; the signed-in windows get it configured."""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = """
import sys
from readerstudy.services.context import open_context
from readerstudy.ui.app import ensure_app
from readerstudy.ui.shell import AppShell
app = ensure_app(configure=False)
shell = AppShell(open_context(sys.argv[1]))
shell.start()
print("at sign-in:", "pyqtgraph" in sys.modules, shell.sign_in.isVisible())
from PySide6.QtCore import QEventLoop
import time
loop, end = QEventLoop(), time.time() + 3
while time.time() < end and "pyqtgraph" not in sys.modules:
    loop.processEvents()
import pyqtgraph as pg
print("after:", "pyqtgraph" in sys.modules, pg.getConfigOption("imageAxisOrder"))
shell.sign_in.close()
"""


def test_pyqtgraph_is_imported_after_the_sign_in_screen_is_shown(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "x.sqlite")], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "at sign-in: False True" in out.stdout
    assert "after: True row-major" in out.stdout
