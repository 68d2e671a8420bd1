"""Simulated readers: drive the reading services exactly as a person would, with a seeded model.

Each simulated reader signs in with a PIN, opens their assignments and reads in their own order
through :class:`~readerstudy.services.reading.ReadingService`; times are produced by advancing a
:class:`~readerstudy.core.reading.ManualClock` that the service's timer reads, so nothing is
written around the services. Only the *generator* of answers looks at the ground truth (it is the
coordinator's tool, like the demo builder); the reading sessions themselves stay blinded.

Reader model (DiffKD-DCIS Table 5): time per case ~ Normal(28.7, 8.3) s senior, (32.1, 9.5) mid,
(45.3, 12.7) junior, floored at 4 s; latent evidence ``d' * truth + N(0, 1)`` with d' = 1.75 / 1.6 /
1.3 (accuracy about 79 / 78 / 74 %), turned into a 0-100 probability by a logistic; the binary
call follows the probability 92 % of the time; confidence grows with distance from 50. Study-defined
questions (:func:`simulated_answers`) follow the same read: the BI-RADS category from the probability
(with a little per-read jitter), a Likert point or an ordered choice from it too, the rest at random.
In a realism study (:mod:`readerstudy.services.realism_study`) the probability is that the image is
synthetic, so the Likert question keyed ``realism`` (5 = indistinguishable from a real image) follows
``100 - p``: an image the reader takes for synthetic looks less real.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from readerstudy.core.errors import AuthenticationError, ConflictError
from readerstudy.core.models import Role
from readerstudy.core.questions import QuestionSpec
from readerstudy.core.reading import ManualClock, ReadingFlow, ReadingState
from readerstudy.services.assignments import WashoutPending, apply_protocol, study_protocol
from readerstudy.services.auth import UserSession, add_participant, require_coordinator, scope, sign_in
from readerstudy.services.context import AppContext
from readerstudy.services.reading import AiOutputMissing, ReadingService

SKILL = {  # seniority: (d', mean s, sd s, AI reliance in the aided read)
    "senior": (1.75, 28.7, 8.3, 0.25),
    "mid": (1.6, 32.1, 9.5, 0.35),
    "junior": (1.3, 45.3, 12.7, 0.5),
}
SENIORITIES = ("senior", "mid", "junior")
Progress = Callable[[int, int, str], None]


@dataclass
class SimulationReport:
    study: str
    readers: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    reads: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    deferred: int = 0  # cases set aside because their AI output was missing (the coordinator is told)

    def summary(self) -> str:
        text = f"{self.study}: {self.reads} read(s); {len(self.readers)} simulated reader(s) finished"
        if self.created:
            text += f"; created {', '.join(self.created)}"
        if self.deferred:
            text += (f"; {self.deferred} case(s) set aside for want of AI output (see the dashboard; run "
                     "`readerstudy engine predict`, then simulate again)")
        for name, why in self.skipped:
            text += f"\n  {name}: stopped: {why}"
        return text


class _ReaderModel:
    def __init__(self, seniority: str, rng: np.random.Generator) -> None:
        self.d, self.mean, self.sd, self.reliance = SKILL.get(seniority, SKILL["mid"])
        self.rng = rng

    def read(self, truth: int | None) -> tuple[float, int, int, float]:
        t = 0 if truth is None else int(truth)
        z = self.d * t - self.d / 2 + self.rng.normal()
        p = float(np.clip(round(100 / (1 + math.exp(-1.4 * z))), 0, 100))
        return (p, *self._call(p), max(4.0, float(self.rng.normal(self.mean, self.sd))))

    def _call(self, p: float) -> tuple[int, int]:
        binary = int(p >= 50) if self.rng.random() < 0.92 else int(p < 50)
        conf = int(np.clip(round(1 + abs(p - 50) / 12.5 + self.rng.normal(0, 0.6)), 1, 5))
        return binary, conf

    def aided(self, p: float, ai_pct: float) -> tuple[float, int, int, float]:
        q = float(np.clip(round(p + self.reliance * (ai_pct - p) + self.rng.normal(0, 3)), 0, 100))
        return (q, *self._call(q), max(2.0, float(self.rng.normal(self.mean / 4, self.sd / 4))))


# BI-RADS category by the simulated reader's probability of malignancy (0-100), upper bounds: the ACR
# likelihood-of-malignancy bands (3: <= 2 %, 4a: <= 10 %, 4b: <= 50 %, 4c: < 95 %), widened because the
# simulated probabilities of benign cases are spread over 5-40 (a reader's probability is not calibrated).
BIRADS_CUTS = ((1.0, "1"), (6.0, "2"), (15.0, "3"), (35.0, "4a"), (60.0, "4b"), (85.0, "4c"), (101.0, "5"))


def simulated_answers(questions: tuple[QuestionSpec, ...], probability: float, rng: np.random.Generator,
                      shape: tuple[int, ...]) -> dict[str, object]:
    """Plausible answers to the study-defined questions of a read whose probability is ``probability``.

    ``shape`` is the displayed image's shape ((slices,) rows, cols): a location mark lies inside it.
    Optional free text is left blank; other optional questions are answered.
    """
    p = float(np.clip(probability + rng.normal(0, 4), 0, 100))
    out: dict[str, object] = {}
    for q in questions:
        if q.kind == "birads":
            out[q.key] = next(cat for bound, cat in BIRADS_CUTS if p < bound)
        elif q.kind in ("likert", "single") and (q.kind == "likert" or q.ordinal):
            cats = q.categories
            x = 100.0 - p if q.key == "realism" else p  # realism runs against "probably synthetic"
            out[q.key] = cats[min(len(cats) - 1, int(x / 100 * len(cats)))]
        elif q.kind == "single":
            out[q.key] = q.choices[int(rng.integers(len(q.choices)))]
        elif q.kind == "multiple":
            out[q.key] = [c for c in q.choices if rng.random() < 0.3]
        elif q.kind == "number":
            assert q.min is not None and q.max is not None
            x = float(rng.uniform(q.min, q.max))
            out[q.key] = round(x) if q.integer else round(x, 1)
        elif q.kind == "text" and q.required:
            out[q.key] = "simulated"
        elif q.kind == "location":
            mark = {"row": float(rng.uniform(0, shape[-2] - 1)), "col": float(rng.uniform(0, shape[-1] - 1))}
            out[q.key] = {**mark, "slice": int(rng.integers(shape[0]))} if len(shape) == 3 else mark
    return out


def simulate_readers(ctx: AppContext, session: UserSession, study_name: str, n_readers: int, seed: int, *,
                     pin: str = "0000", progress: Progress | None = None) -> SimulationReport:
    """Have ``n_readers`` readers read all their assignments (creating simulated readers if too few).

    A coordinator's tool (its answer generator sees the ground truth); the readers themselves sign
    in with their PINs and read blinded through the reading service.
    """
    system = scope(ctx, session, study_name)
    require_coordinator(system, "simulating readers")
    report = SimulationReport(study_name)
    with ctx.uow() as uow:
        protocol = study_protocol(uow, system.study_id)
        readers = uow.readers.list(system.study_id, Role.READER)
        truth = {c.id: c.truth for c in uow.cases.list(system.study_id)}
    if protocol is None:
        raise ConflictError(f"Study {study_name!r} has no reading protocol; apply one first "
                            "(readerstudy protocol apply).")
    for k in range(len(readers), n_readers):
        name = f"sim-reader-{k + 1:02d}"
        add_participant(ctx, system, name, Role.READER, pin, seniority=SENIORITIES[k % 3])
        report.created.append(name)
    if report.created:
        apply_protocol(ctx, system, protocol)  # same protocol: gives the new readers their orders
    with ctx.uow() as uow:
        readers = uow.readers.list(system.study_id, Role.READER)[:n_readers]
    root = np.random.default_rng(seed)
    span = timedelta(days=protocol.washout_days * max(protocol.sessions - 1, 0) + 1)
    for i, reader in enumerate(readers):
        rng = np.random.default_rng(root.integers(2**63))
        clock = ManualClock(start=datetime.now(UTC) - span - timedelta(hours=6 * (len(readers) - i)))
        counter = [0, 0]
        try:
            _read_all(ctx, study_name, reader.name, pin, reader.seniority, truth, clock, rng, progress, counter)
        except (AuthenticationError, ConflictError) as exc:
            report.skipped.append((reader.name, str(exc)))
        else:
            report.readers.append(reader.name)
        report.reads += counter[0]
        report.deferred += counter[1]
    return report


def _read_all(ctx: AppContext, study: str, name: str, pin: str, seniority: str, truth: dict[str, int | None],
              clock: ManualClock, rng: np.random.Generator, progress: Progress | None, counter: list[int]) -> None:
    """Read every assignment; ``counter`` = [reads stored, cases set aside for want of AI output].

    Raises ConflictError when an assignment cannot be finished because cases were set aside.
    """
    user = sign_in(ctx, study, name, pin, now=clock.now)
    model = _ReaderModel(seniority, rng)
    svc = ReadingService(ctx, user, clock=clock.monotonic_ns, wall_clock=clock.now, prefetch=False)
    try:
        while True:
            try:
                flow = svc.open()
            except WashoutPending as exc:
                clock.advance((exc.not_before - clock.now()).total_seconds() + 3600)
                continue
            if flow is None:
                return
            while _next(svc, counter) is not None:
                _read_case(svc, flow, model, truth, clock, rng, counter)
                if progress:
                    progress(flow.done, flow.total, name)
            if flow.deferred:
                raise ConflictError(f"{len(flow.deferred)} case(s) of arm {svc.arm.name!r} set aside: no AI output")
    finally:
        svc.close()


def _next(svc: ReadingService, counter: list[int]) -> object | None:
    """The next case view; cases of a concurrent AI arm without AI output are set aside on the way."""
    while True:
        try:
            return svc.start_case()
        except AiOutputMissing:
            svc.defer_case()
            counter[1] += 1


def _read_case(svc: ReadingService, flow: ReadingFlow, model: _ReaderModel, truth: dict[str, int | None],
               clock: ManualClock, rng: np.random.Generator, counter: list[int]) -> None:
    clock.advance(svc.protocol.black_screen_ms / 1000)
    svc.display()
    cid = flow.current_case
    assert cid is not None
    p = 50.0
    if flow.state == ReadingState.DISPLAYED:
        p, b, c, secs = model.read(truth.get(cid))
        _think(flow, clock, secs, rng)
        svc.submit(p, b, c, {"window": None, "zoom": 1.0, "simulated": True},
                   simulated_answers(svc.questions, p, rng, svc.mark_shape))
        counter[0] += 0 if svc.practice else 1  # practice reads are not reads (audit events only)
    if flow.state != ReadingState.UNAIDED_LOCKED:
        return
    try:
        ai = svc.reveal_ai()
    except AiOutputMissing:
        svc.defer_case()
        counter[1] += 1
        return
    q, b, c, secs = model.aided(p, ai.probability_pct)
    _think(flow, clock, secs, rng)
    svc.submit(q, b, c, {"window": None, "zoom": 1.0, "simulated": True},
               simulated_answers(svc.questions, q, rng, svc.mark_shape))
    counter[0] += 1


def _think(flow: object, clock: ManualClock, seconds: float, rng: np.random.Generator) -> None:
    """Spend ``seconds`` of active reading with input every few seconds; now and then an interruption."""
    left = seconds
    while left > 0:
        step = min(left, float(rng.uniform(2, 8)))
        if rng.random() < 0.02:  # interrupted: an input-free stretch beyond the idle timeout (not active time)
            clock.advance(float(rng.uniform(35, 90)))
        clock.advance(step)
        flow.touch()  # type: ignore[attr-defined]
        left -= step
