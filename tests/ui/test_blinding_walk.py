"""Blinding, walked: every value the reader-session services return and every text on the reading
screens of the demo study carry no ground truth, PHI, other readers' answers, or model output
outside a revealed AI arm.

Canaries are planted where a leak would come from (PHI mapping, another reader's read, the
model's prediction, source file names) and searched for in everything a reader can reach.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QListWidget, QWidget

from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.core.reading import ManualClock, ReadingState
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import sign_in, system_session
from readerstudy.services.demo import BUSI_STUDY, DEMO_PIN
from readerstudy.services.reading import ReadingService
from readerstudy.ui.app import ensure_app
from readerstudy.ui.reading_window import ReadingWindow

TWO_ARMS = """
seed = 4
sessions = 1
black_screen_ms = 0
[[arms]]
name = "unaided"
[[arms]]
name = "AI-aided"
shows_ai = true
sequential = true
"""
FORBIDDEN_KEYS = {"truth", "source_ref", "phi", "pin_hash", "original", "site", "reader_id"}
MODEL = "Canary-model"
P_MODEL = 0.4321


@pytest.fixture(autouse=True)
def _app(qapp):  # noqa: ANN001
    ensure_app()
    assert pg.getConfigOption("imageAxisOrder") == "row-major"


def _plant(ctx) -> dict[str, set[str]]:  # noqa: ANN001
    """Protocol, PHI, a model's predictions and another reader's reads, each with its canaries."""
    system = system_session(ctx, BUSI_STUDY, "test")
    apply_protocol(ctx, system, parse_protocol(TWO_ARMS))
    with ctx.uow() as uow:
        study = uow.studies.by_name(BUSI_STUDY)
        cases = uow.cases.list(study.id)
        bot = uow.readers.add(study.id, MODEL, Role.MODEL)
        model = uow.models.add(study.id, bot.id, name=MODEL, version="canary-version-77")
        run = uow.models.start_run(model.id)
        preds = [uow.models.add_prediction(run, model.id, c.id, P_MODEL) for c in cases]
        for c in cases:
            uow.cases.set_phi(c.id, {"PatientName": "DOE^JANE", "PatientID": "PID-CANARY-1"}, 9)
        uow.commit()
    senior = ReadingService(ctx, sign_in(ctx, BUSI_STUDY, "Senior radiologist", DEMO_PIN), prefetch=False)
    senior.open()
    for _ in range(3):
        senior.start_case()
        senior.display()
        senior.submit(83, 1, 5, {"note": "SENIOR-CANARY"})
    senior.close()
    with ctx.uow() as uow:
        senior_reads = [r.id for r in uow.reads.for_study(study.id)]
    return {
        "always": {c.source_ref for c in cases} | {"DOE^JANE", "PID-CANARY-1", "SENIOR-CANARY", *senior_reads,
                                                   senior.user.participant_id},
        "ai": {MODEL, "canary-version-77", "43.21", str(P_MODEL), model.id, *(p.id for p in preds)},
    }


def _walk(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name), f"{path}.{f.name}", out)
    elif isinstance(value, dict):
        for k, v in value.items():
            out.append((f"{path}[key]", str(k)))
            _walk(v, f"{path}[{k}]", out)
    elif isinstance(value, list | tuple | set | frozenset):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", out)
    elif isinstance(value, np.ndarray):
        out.append((path, f"array{value.shape}"))
    elif value is not None:
        out.append((path, str(value)))


def _screen(window: QWidget) -> list[tuple[str, str]]:
    texts = []
    for w in [window, *window.findChildren(QWidget)]:
        if not w.isVisible():
            continue
        for attr in ("text", "toolTip", "windowTitle", "placeholderText", "statusTip"):
            fn = getattr(w, attr, None)
            if callable(fn):
                try:
                    t = fn()
                except TypeError:
                    continue
                if isinstance(t, str) and t:
                    texts.append((f"{type(w).__name__}.{attr}", t))
        if isinstance(w, QComboBox):
            texts += [("QComboBox.item", w.itemText(i)) for i in range(w.count())]
        if isinstance(w, QListWidget):
            texts += [("QListWidget.item", w.item(i).text()) for i in range(w.count())]
    return texts


def _check(where: str, items: list[tuple[str, str]], canaries: dict[str, set[str]], ai_allowed: bool) -> int:
    bad = [c for c in canaries["always"] | (set() if ai_allowed else canaries["ai"])]
    for path, text in items:
        for c in bad:
            assert c not in text, f"{where}: {path} shows {c!r}: {text[:200]}"
        if path.endswith("[key]"):
            assert text not in FORBIDDEN_KEYS, f"{where}: {path} is a {text!r} field"
    return len(items)


def _values(svc: ReadingService) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    _walk(svc.assignments(), "assignments()", out)
    flow = svc.flow
    if flow is not None:
        _walk({"case_ids": list(flow.case_ids), "state": str(flow.state), "progress": flow.progress_text(),
               "ai_shown": flow.ai_shown, "unaided": flow.unaided_draft}, "flow", out)
        if flow.current_case is not None and flow.state != ReadingState.FINISHED:
            _walk(dataclasses.replace(svc.case_view(), pixels=np.zeros(1)), "case_view()", out)
    return out


def _keys(qtbot, w, text: str) -> None:  # noqa: ANN001
    for ch in text:
        key = {"\n": Qt.Key.Key_Return}.get(ch) or getattr(Qt.Key, f"Key_{ch.upper()}")
        qtbot.keyClick(w, key)


def _window(qtbot, svc: ReadingService) -> ReadingWindow:  # noqa: ANN001
    w = ReadingWindow(svc)
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    qtbot.waitUntil(lambda: w.page == "reading")
    return w


def test_reader_reaches_no_truth_phi_other_reads_or_unrevealed_ai(qtbot, demo_ctx) -> None:  # noqa: ANN001
    ctx = demo_ctx
    canaries = _plant(ctx)
    user = sign_in(ctx, BUSI_STUDY, "Junior radiologist", DEMO_PIN)
    checked = 0
    # arm 1 (unaided): the model's output must never be reachable
    w = _window(qtbot, ReadingService(ctx, user))
    for _ in range(2):
        checked += _check("unaided screen", _screen(w), canaries, ai_allowed=False)
        checked += _check("unaided values", _values(w.service), canaries, ai_allowed=False)
        index = w.service.flow.index
        _keys(qtbot, w, "40")
        _keys(qtbot, w, "03\n")
        qtbot.waitUntil(lambda i=index: w.service.flow.index == i + 1)
    w.close()
    clock = ManualClock()
    rest = ReadingService(ctx, user, clock=clock.monotonic_ns, wall_clock=clock.now, prefetch=False)
    flow = rest.open()
    while flow is not None and flow.done < flow.total and rest.start_case() is not None:
        rest.display()
        rest.submit(20, 0, 2)
    rest.close()
    # arm 2 (sequential AI): nothing of the model before the reveal; after it, the name and score only
    w = _window(qtbot, ReadingService(ctx, user))
    assert w.service.arm.name == "AI-aided"
    for _ in range(2):
        checked += _check("AI arm before the unaided read", _screen(w) + _values(w.service), canaries, False)
        _keys(qtbot, w, "30")
        _keys(qtbot, w, "03\n")
        assert w.service.flow.state == ReadingState.UNAIDED_LOCKED
        checked += _check("AI arm, unaided read locked", _screen(w) + _values(w.service), canaries, False)
        _keys(qtbot, w, "a")
        assert w.service.flow.state == ReadingState.AI_REVEALED
        shown = _screen(w)
        assert any(MODEL in t for _, t in shown) and any("43" in t for _, t in shown)  # the reveal is visible
        checked += _check("AI revealed", shown + _values(w.service), canaries, ai_allowed=True)
        index = w.service.flow.index
        _keys(qtbot, w, "60")
        _keys(qtbot, w, "14\n")
        qtbot.waitUntil(lambda i=index: w.service.flow.index == i + 1)
    w.close()
    assert checked > 200
    for leak in ([("x", "DOE^JANE")], [("x", MODEL)], [("x[key]", "truth")]):  # the walk does catch a leak
        with pytest.raises(AssertionError):
            _check("self-test", leak, canaries, ai_allowed=False)
