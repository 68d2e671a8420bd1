"""Shared builders for the reading tests (imported by test_reading*, test_assignments, tests/ui).

Builds a small real study: BUSI PNGs imported with ``import_cases``, a coordinator and readers
with PINs, and a protocol applied through the services.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from readerstudy.core.models import Role
from readerstudy.core.protocol import parse_protocol
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import (
    add_participant,
    hash_pin,
    local_session,
    system_session,
)
from readerstudy.services.context import AppContext, open_context
from readerstudy.services.importing import CaseSource, import_cases

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)

BUSI = Path(__file__).resolve().parents[2] / "resources" / "demo" / "busi"
PIN = "2468"
COORD_PIN = "9999"

PLAIN = """
seed = 7
sessions = 1
black_screen_ms = 0
contradiction_margin = 20
idle_timeout_s = 30
[[arms]]
name = "unaided"
"""

SEQUENTIAL = """
seed = 11
black_screen_ms = 0
[[arms]]
name = "ai-sequential"
shows_ai = true
sequential = true
"""

COUNTERBALANCED = """
seed = 3
sessions = 2
washout_days = 28
design = "counterbalanced"
black_screen_ms = 0
[[arms]]
name = "unaided"
[[arms]]
name = "ai-aided"
shows_ai = true
"""


def busi_sources(n: int) -> list[CaseSource]:
    picks = [("benign", 0), ("malignant", 1)]
    out = []
    for i in range(n):
        folder, truth = picks[i % 2]
        out.append(CaseSource(f"{folder}-{i // 2 + 1}", BUSI / folder / f"{folder} ({i // 2 + 1}).png",
                              truth=truth, site="Site A"))
    return out


def build_study(tmp_path: Path, *, n_cases: int = 4, protocol: str = PLAIN,
                readers: tuple[tuple[str, str], ...] = (("alice", "senior"), ("bob", "junior")),
                predictions: bool = False, name: str = "Pilot") -> AppContext:
    ctx = open_context(tmp_path / "study.db")
    report = import_cases(ctx, LOCAL, name, busi_sources(n_cases))
    assert not report.refused, report.refused
    with ctx.uow() as uow:
        study = uow.studies.by_name(name)
        uow.readers.add(study.id, "carol", Role.COORDINATOR, pin_hash=hash_pin(COORD_PIN))
        uow.commit()
    system = system_session(ctx, name)
    for reader, seniority in readers:
        add_participant(ctx, system, reader, Role.READER, PIN, seniority=seniority)
    if predictions:
        add_predictions(ctx, name)
    apply_protocol(ctx, system, parse_protocol(protocol))
    return ctx


def add_predictions(ctx: AppContext, study_name: str, saliency: bool = True) -> None:
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        model_reader = uow.readers.add(study.id, "DiffKD-student", Role.MODEL)
        model = uow.models.add(study.id, model_reader.id, name="DiffKD-student", version="1.2.0",
                               checkpoint_hash="ab" * 16)
        run = uow.models.start_run(model.id)
        for i, case in enumerate(uow.cases.list(study.id)):
            rel = None
            if saliency:
                asset = uow.assets.image(case.id)
                shape = asset.shape[-2:]
                rel = f"{study.id}/{case.pseudonym}/saliency.npy"
                yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
                sal = np.exp(-(((yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2) / (2 * (shape[0] / 6) ** 2)))
                np.save(ctx.store.path(rel), sal.astype(np.float32))
            uow.models.add_prediction(run, model.id, case.id, 0.15 + 0.7 * (case.truth or 0) - 0.05 * (i % 3),
                                      saliency_path=rel)
        uow.models.finish_run(run)
        uow.commit()
