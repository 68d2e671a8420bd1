"""Simulated readers: drive the reading services exactly as a person would, with a seeded model.

Each simulated reader signs in with a PIN, opens their assignments and reads in their own order
through :class:`~readerstudy.services.reading.ReadingService`; times are produced by advancing a
:class:`~readerstudy.core.reading.ManualClock` that the service's timer reads, so nothing is
written around the services. Only the *generator* of answers looks at the ground truth (it is the
coordinator's tool, like the demo builder); the reading sessions themselves stay blinded.

Reader model (DiffKD-DCIS Table 5): time per case ~ Normal(28.7, 8.3) s senior, (32.1, 9.5) mid,
(45.3, 12.7) junior, floored at 4 s; latent evidence ``d' * truth + N(0, 1)`` with d' = 1.75 / 1.6 /
1.3 (accuracy about 79 / 78 / 74 %), turned into a 0-100 probability by a logistic; the binary
call follows the probability 92 % of the time; confidence grows with distance from 50.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from readerstudy.core.errors import AuthenticationError, ConflictError
from readerstudy.core.models import Role
from readerstudy.core.reading import ManualClock, ReadingState
from readerstudy.services.assignments import WashoutPending, apply_protocol, study_protocol
from readerstudy.services.auth import add_participant, sign_in, system_session
from readerstudy.services.context import AppContext
from readerstudy.services.reading import ReadingService

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

    def summary(self) -> str:
        text = f"{self.study}: {self.reads} read(s); {len(self.readers)} simulated reader(s) finished"
        if self.created:
            text += f"; created {', '.join(self.created)}"
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


def simulate_readers(ctx: AppContext, study_name: str, n_readers: int, seed: int, *, pin: str = "0000",
                     progress: Progress | None = None) -> SimulationReport:
    """Have ``n_readers`` readers read all their assignments (creating simulated readers if too few)."""
    system = system_session(ctx, study_name, actor="simulate-readers")
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
        counter = [0]
        try:
            _read_all(ctx, study_name, reader.name, pin, reader.seniority, truth, clock, rng, progress, counter)
        except (AuthenticationError, ConflictError) as exc:
            report.skipped.append((reader.name, str(exc)))
        else:
            report.readers.append(reader.name)
        report.reads += counter[0]
    return report


def _read_all(ctx: AppContext, study: str, name: str, pin: str, seniority: str, truth: dict[str, int | None],
              clock: ManualClock, rng: np.random.Generator, progress: Progress | None, counter: list[int]) -> None:
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
            while svc.start_case() is not None:
                clock.advance(svc.protocol.black_screen_ms / 1000)
                svc.display()
                cid = flow.current_case
                assert cid is not None
                if flow.state == ReadingState.DISPLAYED:
                    p, b, c, secs = model.read(truth.get(cid))
                    _think(flow, clock, secs, rng)
                    svc.submit(p, b, c, {"window": None, "zoom": 1.0, "simulated": True})
                    counter[0] += 1
                else:
                    p = 50.0
                if flow.state == ReadingState.UNAIDED_LOCKED:
                    ai = svc.reveal_ai()
                    q, b, c, secs = model.aided(p, ai.probability_pct)
                    _think(flow, clock, secs, rng)
                    svc.submit(q, b, c, {"window": None, "zoom": 1.0, "simulated": True})
                    counter[0] += 1
                if progress:
                    progress(flow.done, flow.total, name)
    finally:
        svc.close()


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
