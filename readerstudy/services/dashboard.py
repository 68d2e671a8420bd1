"""Use case: the coordinator dashboard: reading progress, missing reads, reading-time outliers.

Everything here is plain data (frozen dataclasses); the Qt widget in :mod:`readerstudy.ui.coordinator.dashboard`
only displays it. Coordinator only: the counts include ground truth (positives).

Definitions
-----------
* A case is *done* in an assignment (reader x arm x session) when the reader's final read of it
  exists: the aided read in a sequential AI arm, the (only) unaided read otherwise; the same rule
  as the reader's own progress (:func:`readerstudy.services.assignments.my_assignments`).
* A case has a *missing read* for every assignment that lists it and where it is not done yet
  (sessions still in washout included: those reads are missing too, just not overdue).
* Reading-time outliers: see :data:`OUTLIER_RULE` and :func:`time_outliers`.
* AI gaps (:class:`AiGap`): per AI arm, the assigned cases without output of the arm's model and
  the cases readers had to set aside for that reason (``ai.missing`` audit events) that are still
  not read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from readerstudy.core.models import Arm, Assignment, Read, ReadPhase, Role
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext

__all__ = [
    "FAST_MS", "IQR_FACTOR", "OUTLIER_RULE", "AiGap", "DashboardCounts", "DashboardData", "MissingCase",
    "ProgressRow", "ReadTime", "TimeOutlier", "dashboard_data", "report_figures_png", "time_outliers",
]

IQR_FACTOR = 3.0
FAST_MS = 2000
OUTLIER_RULE = (f"Reading-time outlier: a read whose time to diagnosis (display to submit) is above "
                f"Q3 + {IQR_FACTOR:g} x IQR of that reader's own reads, or under {FAST_MS / 1000:g} s. "
                "Quartiles per reader over all their reads (every arm, session and phase; "
                "coordinator corrections left out).")

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ProgressRow:
    """One assignment's progress: ``done`` of ``total`` cases read by ``reader`` in ``arm``, ``session``."""

    reader: str
    arm: str
    session: int
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class MissingCase:
    """A case still lacking reads; ``missing`` holds ``(reader, arm, session)`` triples."""

    pseudonym: str
    missing: tuple[tuple[str, str, int], ...]

    def describe(self) -> str:
        return "; ".join(f"{r} · {a} (session {s})" for r, a, s in self.missing)


@dataclass(frozen=True)
class ReadTime:
    """The timing of one read, the input of :func:`time_outliers`. ``time_ms``: display to submit."""

    reader: str
    case: str
    arm: str
    session: int
    phase: str
    time_ms: int


@dataclass(frozen=True)
class TimeOutlier:
    """A read flagged by :data:`OUTLIER_RULE`; ``limit_ms`` is the reader's upper fence (Q3 + 3 IQR)."""

    read: ReadTime
    reason: str  # "slow" | "fast"
    limit_ms: float
    median_ms: float


@dataclass(frozen=True)
class AiGap:
    """An AI arm that cannot be read in full.

    ``without_output``: pseudonyms of assigned cases with no output of ``model`` (None = any model);
    ``set_aside``: ``(reader, pseudonym)`` of cases a reader set aside for want of it, still without it
    (once the output exists, such cases are ordinary missing reads: they come back at the next sign-in).
    """

    arm: str
    model: str | None
    without_output: tuple[str, ...]
    set_aside: tuple[tuple[str, str], ...]

    def describe_set_aside(self) -> str:
        """The cases readers set aside (the coverage itself is :mod:`readerstudy.services.ai_status`'s alert)."""
        by: dict[str, list[str]] = {}
        for reader, pseudonym in self.set_aside:
            by.setdefault(reader, []).append(pseudonym)
        who = "; ".join(f"{r}: {len(p)} ({', '.join(p[:5])}{', ...' if len(p) > 5 else ''})" for r, p in by.items())
        return (f"Arm {self.arm!r}: {len(self.set_aside)} case(s) set aside by readers ({who}); they come back for "
                "the aided read at the reader's next sign-in once the model's output exists.")

    def describe(self) -> str:
        who = f"model {self.model!r}" if self.model else "any model"
        text = (f"Arm {self.arm!r}: {len(self.without_output)} assigned case(s) have no output of {who}; "
                "run `readerstudy engine predict` (or add the model as a reader) on this study.")
        if self.set_aside:
            readers = sorted({r for r, _ in self.set_aside})
            text += f" {len(self.set_aside)} case(s) set aside by {', '.join(readers)} are waiting for it."
        return text


@dataclass(frozen=True)
class DashboardCounts:
    cases: int
    positives: int  # cases with truth 1 (malignant)
    reads: int  # the readers' own reads (both phases; corrections not counted)
    done: int  # completed (case, assignment) slots
    expected: int  # assigned (case, assignment) slots

    @property
    def completion_pct(self) -> float:
        return 100.0 * self.done / self.expected if self.expected else 0.0


@dataclass(frozen=True)
class DashboardData:
    study: str
    protocol_applied: bool
    counts: DashboardCounts
    progress: tuple[ProgressRow, ...]  # sorted by reader, session, arm position
    missing: tuple[MissingCase, ...]  # sorted by pseudonym
    outliers: tuple[TimeOutlier, ...]  # sorted by reader, then time (slowest first)
    rule: str = OUTLIER_RULE
    ai_gaps: tuple[AiGap, ...] = ()  # AI arms with cases lacking model output (empty = all can be read)


def time_outliers(reads: Iterable[ReadTime], *, factor: float = IQR_FACTOR,
                  fast_ms: int = FAST_MS) -> list[TimeOutlier]:
    """Reads whose ``time_ms`` is > Q3 + ``factor`` x IQR of the same reader's reads, or < ``fast_ms``.

    Quartiles are numpy's default (linear interpolation) over all of a reader's reads. A reader
    with fewer than 4 reads gets no upper fence (quartiles of so few reads mean nothing); the
    fast rule applies to every read. Sorted by reader, then slowest first.
    """
    by_reader: dict[str, list[ReadTime]] = {}
    for r in reads:
        by_reader.setdefault(r.reader, []).append(r)
    out: list[TimeOutlier] = []
    for reader in sorted(by_reader):
        rows = by_reader[reader]
        t = np.array([r.time_ms for r in rows], dtype=float)
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        upper = q3 + factor * (q3 - q1) if len(t) >= 4 else float("inf")
        flagged = [TimeOutlier(r, "slow" if r.time_ms > upper else "fast", float(upper), float(med))
                   for r in rows if r.time_ms > upper or r.time_ms < fast_ms]
        out.extend(sorted(flagged, key=lambda o: -o.read.time_ms))
    return out


def _final_phase(arm: Arm) -> ReadPhase:
    return ReadPhase.AIDED if arm.sequential else ReadPhase.UNAIDED


def _progress_and_missing(assignments: Sequence[Assignment], arms: dict[str, Arm], names: dict[str, str],
                          pseudonyms: dict[str, str], reads: Sequence[Read],
                          ) -> tuple[list[ProgressRow], list[MissingCase]]:
    done_slots = {(r.assignment_id, r.case_id) for r in reads if r.phase == _final_phase(arms[r.arm_id])}
    progress: list[ProgressRow] = []
    missing: dict[str, list[tuple[str, str, int]]] = {}
    order = sorted(assignments, key=lambda a: (names[a.reader_id], a.session, arms[a.arm_id].position))
    for a in order:
        arm = arms[a.arm_id]
        done = sum((a.id, cid) in done_slots for cid in a.case_ids)
        progress.append(ProgressRow(names[a.reader_id], arm.name, a.session, done, len(a.case_ids)))
        for cid in a.case_ids:
            if (a.id, cid) not in done_slots:
                missing.setdefault(pseudonyms[cid], []).append((names[a.reader_id], arm.name, a.session))
    return progress, [MissingCase(p, tuple(m)) for p, m in sorted(missing.items())]


def _ai_gaps(uow, study_id: str, arms: dict[str, Arm], assignments: Sequence[Assignment], names: dict[str, str],
             pseudonyms: dict[str, str], reads: Sequence[Read]) -> list[AiGap]:  # noqa: ANN001
    from readerstudy.services.ai_status import arm_model
    from readerstudy.services.assignments import study_protocol
    from readerstudy.services.reading import AI_MISSING_ACTION

    protocol = study_protocol(uow, study_id)
    models = uow.models.list(study_id)
    done = {(r.assignment_id, r.case_id) for r in reads if r.phase == _final_phase(arms[r.arm_id])}
    events = uow.audit.list(action=AI_MISSING_ACTION)
    out = []
    for arm in sorted((a for a in arms.values() if a.shows_ai), key=lambda a: a.position):
        spec = next((s for s in protocol.arms if s.name == arm.name), None) if protocol else None
        if spec is not None and spec.model:  # the reading service shows the newest model of that name
            shown = arm_model(uow, study_id, spec.model)
            named = [shown] if shown is not None else []
        else:  # ... or the newest prediction of any model
            named = models
        covered = {p.case_id for m in named for p in uow.models.predictions(m.id)}
        mine = {a.id: a for a in assignments if a.arm_id == arm.id}
        lacking = sorted({pseudonyms[c] for a in mine.values() for c in a.case_ids if c not in covered})
        aside = sorted({(names.get(mine[e.payload["assignment_id"]].reader_id, "?"), pseudonyms.get(e.entity_id, "?"))
                        for e in events if e.payload.get("assignment_id") in mine
                        and (e.payload["assignment_id"], e.entity_id) not in done and e.entity_id not in covered})
        if lacking or aside:
            out.append(AiGap(arm.name, spec.model if spec else None, tuple(lacking), tuple(aside)))
    return out


def dashboard_data(ctx: AppContext, coordinator: UserSession) -> DashboardData:
    """Progress per reader x arm x session, cases with missing reads, time outliers and counts.

    Raises :class:`~readerstudy.core.errors.PermissionDenied` for anyone but a coordinator.
    """
    require_coordinator(coordinator, "viewing the coordinator dashboard")
    with ctx.uow() as uow:
        study = uow.studies.get(coordinator.study_id)
        cases = uow.cases.list(study.id)
        arms = {a.id: a for a in uow.arms.list(study.id)}
        names = {r.id: r.name for r in uow.readers.list(study.id)}
        readers = {r.id for r in uow.readers.list(study.id, Role.READER)}
        assignments = [a for a in uow.assignments.list(study.id) if a.reader_id in readers]
        reads = [r for r in uow.reads.for_study(study.id) if r.revision == 0]
        protocol_applied = bool(study.protocol.get("reading"))
        pseudonyms = {c.id: c.pseudonym for c in cases}
        gaps = _ai_gaps(uow, study.id, arms, assignments, names, pseudonyms, reads)
    progress, missing = _progress_and_missing(assignments, arms, names, pseudonyms, reads)
    times = [ReadTime(names[r.reader_id], pseudonyms[r.case_id], arms[r.arm_id].name, r.session, str(r.phase),
                      r.time_ms) for r in reads]
    counts = DashboardCounts(
        cases=len(cases), positives=sum(c.truth == 1 for c in cases), reads=len(reads),
        done=sum(p.done for p in progress), expected=sum(p.total for p in progress))
    return DashboardData(study.name, protocol_applied, counts, tuple(progress), tuple(missing),
                         tuple(time_outliers(times)), ai_gaps=tuple(gaps))


def report_figures_png(ctx: AppContext, session: UserSession, study_name: str, reference: str | None = None,
                       arm: str | None = None, progress: Progress | None = None, dpi: int = 80) -> dict[str, bytes]:
    """The report's figures (:func:`readerstudy.reports.figures.build_figures`) as PNG bytes, by name.

    For showing the report's figures inside the app without writing a report (an export also
    writes them, at the report's resolution, into its ``figures/`` folder). ``progress(i, n, name)`` is called before
    each figure; it may raise :class:`~readerstudy.core.errors.Cancelled` to stop.
    """
    from readerstudy.reports.document import ReportOptions, build_tables
    from readerstudy.reports.figures import build_figures
    from readerstudy.services.report_data import collect_report_data

    data = collect_report_data(ctx, session, study_name)
    tables = build_tables(data, ReportOptions(arm=arm, reference=reference))
    figures = {s.key: s.figure for s in build_figures(data, tables) if s.figure is not None}
    out: dict[str, bytes] = {}
    for i, (name, fig) in enumerate(figures.items()):
        if progress is not None:
            progress(i, len(figures), f"figure {name}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        out[name] = buf.getvalue()
    if progress is not None:
        progress(len(figures), len(figures), "figures ready")
    return out

