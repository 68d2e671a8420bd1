"""The coordinator's home window builds a tab when it is first shown: signing in is quick."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from readerstudy.services.studies import create_study
from readerstudy.ui.coordinator.home import TABS, CoordinatorHomeWindow

HEAVY = ("scipy", "statsmodels", "sklearn", "weasyprint", "readerstudy.reports.build", "readerstudy.stats")


def test_tabs_are_built_when_first_shown(qtbot, ctx):  # noqa: ANN001
    coord = create_study(ctx, "Lazy", "Dr Reed", "2468")
    home = CoordinatorHomeWindow(ctx, coord)
    qtbot.addWidget(home)
    assert list(home._tabs) == [TABS[0].key]  # the first (current) tab only
    assert [home.tabs.tabText(i) for i in range(home.tabs.count())] == [t.title for t in TABS]
    home.tabs.setCurrentIndex([t.key for t in TABS].index("participants"))  # a click on its tab
    assert "participants" in home._tabs and home.tabs.currentWidget().isAncestorOf(home.tab("participants"))
    protocol = home.show_tab("protocol")
    assert home.tabs.currentWidget().isAncestorOf(protocol) and home.tab("protocol") is protocol
    assert set(home._tabs) == {TABS[0].key, "participants", "protocol"}


def test_signing_in_as_coordinator_loads_no_statistics(tmp_path: Path):
    """A fresh process: the home window of a new study imports neither scipy nor the report builder
    (they took ~5 s of a blank screen at sign-in on a loaded 2-core machine)."""
    code = f"""
import json, sys
from readerstudy.services.context import open_context
from readerstudy.services.studies import create_study
from readerstudy.ui.app import ensure_app
from readerstudy.ui.shell import open_window_for
app = ensure_app()
ctx = open_context({str(tmp_path / "s.sqlite")!r})
window = open_window_for(ctx, create_study(ctx, "Quick", "Dr Reed", "2468"))
window.show()
app.processEvents()
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
