"""The demo study read by seeded simulated readers through the real services.

Model predictions are written by the coordinator-side repositories (as inference would), a
protocol with the demo's arms is applied, ``simulate_readers`` reads everything, one read is
corrected by the coordinator (a revision), and a late reader with assignments but no reads makes
the missing-read counts non-zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import (
    add_participant,
    local_session,
    system_session,
)
from readerstudy.services.context import AppContext
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.reading import correct_read
from readerstudy.services.simulate import simulate_readers

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

MODEL_NAME = "DemoNet"
EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "protocols" / "example.toml"


def demo_protocol_text(ai_arm: bool = True) -> str:
    text = EXAMPLE.read_text(encoding="utf-8").replace('name = "ai-sequential"', 'name = "AI-aided"')
    text = text.replace("washout_days = 28", "washout_days = 1")
    if not ai_arm:
        text = text.split("[[arms]]")[0] + "[[arms]]" + text.split("[[arms]]")[1]
        text = text.replace('design = "counterbalanced"', 'design = "all-arms-each-session"')
        text = text.replace("sessions = 2", "sessions = 1")
    return text


def add_model(ctx: AppContext, seed: int, study: str = BUSI_STUDY) -> None:
    rng = np.random.default_rng(seed)
    with ctx.uow() as uow:
        s = uow.studies.by_name(study)
        bot = uow.readers.add(s.id, MODEL_NAME, Role.MODEL)
        model = uow.models.add(s.id, bot.id, name=MODEL_NAME, version="1.0")
        run = uow.models.start_run(model.id)
        for c in uow.cases.list(s.id):
            z = 2.0 * (c.truth or 0) - 1.0 + rng.normal()
            uow.models.add_prediction(run, model.id, c.id, float(round(1 / (1 + np.exp(-1.5 * z)), 4)))
        uow.models.finish_run(run)
        uow.commit()


def simulate_demo(ctx: AppContext, seed: int = 11, *, late_reader: bool = True) -> dict[str, str]:
    """Simulate the demo study; returns the id of the corrected read and the late reader's name."""
    add_model(ctx, seed)
    coord = system_session(ctx, BUSI_STUDY, actor="test")
    apply_protocol(ctx, coord, parse_protocol(demo_protocol_text()))
    report = simulate_readers(ctx, LOCAL, BUSI_STUDY, 3, seed)
    assert not report.skipped, report.summary()
    with ctx.uow() as uow:
        s = uow.studies.by_name(BUSI_STUDY)
        first = uow.reads.for_study(s.id)[0]
    corrected = correct_read(ctx, coord, first.id, probability=100.0 - first.probability,
                             binary=1 - first.binary, confidence=first.confidence, reason="entry error")
    out = {"original": first.id, "corrected": corrected}
    if late_reader:
        add_participant(ctx, coord, "Late reader", Role.READER, "0000", seniority="junior")
        with ctx.uow() as uow:
            s = uow.studies.by_name(BUSI_STUDY)
            from readerstudy.services.assignments import study_protocol

            proto = study_protocol(uow, s.id)
        assert proto is not None
        apply_protocol(ctx, coord, proto)
        out["late"] = "Late reader"
    return out
