"""The coordinator's "AI readers" tab: the shipped model's card and the near-duplicate groups."""

from __future__ import annotations

import pytest

from readerstudy.services.auth import system_session
from readerstudy.services.context import open_context
from readerstudy.services.demo import BUSI_STUDY, SHIPPED_MODEL
from readerstudy.ui.app import ensure_app
from readerstudy.ui.coordinator.models import ModelsWidget


@pytest.fixture(autouse=True)
def _app(qapp):
    ensure_app()


def test_model_card_and_near_duplicate_groups(qtbot, fresh_demo_db, copy_db, tmp_path):
    ctx = open_context(copy_db(fresh_demo_db, tmp_path))
    w = ModelsWidget(ctx, system_session(ctx, BUSI_STUDY, actor="test"))
    qtbot.addWidget(w)
    text = w.cards_label.text()
    assert SHIPPED_MODEL in text and "busi-train" in text and "Held-out validation" in text
    assert "On this study (n = 79, 40 positive)" in text and "sha256" in text
    w.find_button.click()
    report = w.report
    assert report is not None and report.summary["straddling_groups"] == 0 and report.summary["n_cases"] == 79
    assert w.groups.rowCount() == len(report.groups) == 4
    biggest = w.groups.item(0, 5).text()
    assert all(f"malignant/malignant ({k}).png" in biggest for k in range(3, 10))
    assert w.groups.item(0, 2).text() == "7" and "held out" in w.groups_summary.text()
    w.close()
    ctx.close()


def test_reader_cannot_open_the_tab(fresh_demo_db, copy_db, tmp_path):
    from readerstudy.core.errors import PermissionDenied
    from readerstudy.services.auth import sign_in

    ctx = open_context(copy_db(fresh_demo_db, tmp_path))
    with pytest.raises(PermissionDenied):
        ModelsWidget(ctx, sign_in(ctx, BUSI_STUDY, "Senior radiologist", "0000"))
    ctx.close()


def test_realism_study_built_from_the_tab_and_its_coordinator_signs_in(qtbot, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
    from realism_support import PIN, SOURCE, source_study
    from test_reading_support import LOCAL

    from readerstudy.core.models import Role
    from readerstudy.services.auth import add_participant, scope, sign_in

    ctx = source_study(tmp_path / "r.db", n_cases=2)
    add_participant(ctx, scope(ctx, LOCAL, SOURCE), "carol", Role.COORDINATOR, PIN)
    w = ModelsWidget(ctx, sign_in(ctx, SOURCE, "carol", PIN))
    qtbot.addWidget(w)
    assert w.realism_name.text() == f"{SOURCE} realism"
    w.realism_name.setText("Turing test")
    w.realism_button.click()
    qtbot.waitUntil(lambda: w._realism_worker is None, timeout=60_000)
    assert w.realism_result is not None and (w.realism_result.synthetic, w.realism_result.real) == (4, 2)
    assert "Turing test" in w.realism_status.text() and "4 synthetic and 2 real" in w.realism_status.text()
    assert sign_in(ctx, "Turing test", "carol", PIN).role == Role.COORDINATOR
    w.realism_button.click()  # the same name again: refused in the tab, nothing new
    qtbot.waitUntil(lambda: w._realism_worker is None, timeout=60_000)
    assert "already" in w.realism_status.text() and w.realism_button.isEnabled()
    w.close()
    ctx.close()
