"""Seeded simulated reads written through the repositories (a stand-in until a simulate service exists).

Each reader reads every case in the "unaided" arm and, in the sequential "AI-aided" arm, an
unaided then an aided read; a model "DemoNet" gets one prediction per case. Scores follow a
binormal model with reader-specific separation, so AUCs are realistic and not all equal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from readerstudy.core.models import ReadPhase, Role
from readerstudy.services.context import AppContext

MODEL_NAME = "DemoNet"


def simulate(ctx: AppContext, study_name: str, *, seed: int = 7, skip: int = 2, correct_one: bool = True) -> None:
    """Write seeded reads; the junior reader leaves ``skip`` unaided cases unread (missing reads)."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        cases = uow.cases.list(study.id)
        truth = np.array([c.truth for c in cases], dtype=float)
        readers = [r for r in uow.readers.list(study.id) if r.role == Role.READER]
        arms = {a.name: a for a in uow.arms.list(study.id)}
        bot = uow.readers.add(study.id, MODEL_NAME, Role.MODEL)
        model = uow.models.add(study.id, bot.id, name=MODEL_NAME, version="1.0")
        run = uow.models.start_run(model.id)
        latent_model = truth * 1.6 + rng.normal(0, 1, len(cases))
        for c, z in zip(cases, latent_model, strict=True):
            uow.models.add_prediction(run, model.id, c.id, float(1 / (1 + np.exp(-(z - 0.8)))))
        uow.models.finish_run(run)
        sep = {"senior": 1.8, "mid": 1.3, "junior": 0.9}
        when = t0
        for ri, r in enumerate(readers):
            for session, arm_name in enumerate(("unaided", "AI-aided"), start=1):
                arm = arms[arm_name]
                order = [cases[i] for i in rng.permutation(len(cases))]
                asg = uow.assignments.add(study.id, r.id, arm.id, session=session, seed=seed + ri,
                                          case_ids=[c.id for c in order])
                phases = [ReadPhase.UNAIDED, ReadPhase.AIDED] if arm.sequential else [ReadPhase.UNAIDED]
                for k, c in enumerate(order):
                    if arm_name == "unaided" and r.seniority == "junior" and k < skip:
                        continue
                    base = c.truth * sep.get(r.seniority, 1.0) + rng.normal(0, 1)
                    for phase in phases:
                        z = base
                        if phase == ReadPhase.AIDED:
                            zi = cases.index(c)
                            z = 0.6 * base + 0.5 * latent_model[zi] + rng.normal(0, 0.3)
                        prob = float(np.clip(np.round(100 / (1 + np.exp(-(z - 0.7) * 1.5))), 0, 100))
                        ms = int(rng.lognormal(np.log(20000 if r.seniority == "junior" else 12000), 0.4))
                        conf = int(np.clip(round(abs(prob - 50) / 10), 1, 5))
                        when += timedelta(milliseconds=ms + 1000)
                        uow.reads.add(assignment_id=asg.id, case_id=c.id, reader_id=r.id, arm_id=arm.id,
                                      session=session, phase=phase, probability=prob, binary=int(prob >= 50),
                                      confidence=conf, time_ms=ms, active_ms=int(ms * 0.9),
                                      started_at=when - timedelta(milliseconds=ms), submitted_at=when,
                                      app_version="sim", view_state={}, ai_shown=None)
                        if correct_one and k == 0 and ri == 0 and phase == ReadPhase.UNAIDED:
                            uow.reads.add(assignment_id=asg.id, case_id=c.id, reader_id=r.id, arm_id=arm.id,
                                          session=session, phase=phase, revision=1,
                                          probability=100.0 - prob, binary=int(100.0 - prob >= 50),
                                          confidence=conf, time_ms=ms, active_ms=int(ms * 0.9),
                                          started_at=when - timedelta(milliseconds=ms),
                                          submitted_at=when + timedelta(minutes=5), app_version="sim",
                                          view_state={}, ai_shown=None, corrected_by="coordinator",
                                          reason="typo")
        uow.commit()
