"""Use case: show the coordinator the near-duplicate groups of a study and the split the engine uses.

Near-duplicates (other frames or views of one lesion; images of one patient or series) must stay
on one side of a train/test split, or the held-out figures are optimistic. The engine groups
them before it splits (:func:`readerstudy.services.engine_adapter.engine_cases`); this module
reports those groups, so a coordinator can check them before training and see how many groups
and cases the evaluation holds out. Coordinator data: it names ground truth and source files.
"""

from __future__ import annotations

from dataclasses import dataclass

from readerstudy.services.auth import UserSession
from readerstudy.services.context import AppContext

__all__ = ["GroupMember", "DuplicateGroup", "GroupReport", "study_groups"]


@dataclass(frozen=True)
class GroupMember:
    pseudonym: str
    source_ref: str
    truth: int
    split: str  # "train" | "test" in the engine's split (seeded)


@dataclass(frozen=True)
class DuplicateGroup:
    """Images kept together. ``r_min``/``r_max``: thumbnail correlation over the linked pairs."""

    group: str
    members: tuple[GroupMember, ...]
    r_min: float
    r_max: float
    by_identifier: bool  # at least one link is a shared patient ID / series UID

    @property
    def mixed_truth(self) -> bool:
        """Near-copies filed under both truths (label noise worth a look)."""
        return len({m.truth for m in self.members}) > 1

    @property
    def split(self) -> str:
        return self.members[0].split


@dataclass(frozen=True)
class GroupReport:
    """All groups of two or more images, largest first, and the split summary of the engine.

    ``summary`` keys: see :func:`engine.data.grouping.split_summary`.
    """

    study: str
    threshold: float
    seed: int
    test_fraction: float
    groups: tuple[DuplicateGroup, ...]
    summary: dict

    def lines(self) -> list[str]:
        s = self.summary
        out = [f"{self.study}: {s['n_cases']} cases with ground truth in {s['n_groups']} groups "
               f"({s['multi_image_groups']} of 2+ images; thumbnail r >= {self.threshold:g} or a shared "
               "patient/series ID)",
               f"  split (seed {self.seed}, test fraction {self.test_fraction:g}): train {s['train_cases']} "
               f"cases in {s['train_groups']} groups; held out {s['test_cases']} cases "
               f"({s['test_positives']} positive, {s['test_negatives']} negative) in {s['test_groups']} groups; "
               f"groups on both sides: {s['straddling_groups']}"]
        for g in self.groups:
            flags = (" MIXED TRUTH" if g.mixed_truth else "") + (" (shared ID)" if g.by_identifier else "")
            names = ", ".join(f"{m.source_ref} [{m.truth}]" for m in g.members)
            out.append(f"  {g.group} {g.split:<5} {len(g.members)} images, r {g.r_min:.3f}-{g.r_max:.3f}"
                       f"{flags}: {names}")
        return out


def study_groups(ctx: AppContext, session: UserSession, study_name: str, *, threshold: float | None = None, seed: int = 0,
                 test_fraction: float = 0.2) -> GroupReport:
    """The near-duplicate groups of ``study_name`` and the engine's split of them.

    Same inputs and rule as training (:func:`~readerstudy.services.engine_adapter.engine_cases`
    with the same ``seed``/``test_fraction``), so what is shown is what the engine holds out.

    Raises
    ------
    NotFoundError
        No such study.
    ValidationError
        The study lacks cases of both truths.
    """
    from engine.data.grouping import DEFAULT_THRESHOLD, near_duplicate_groups, split_summary
    from readerstudy.services.engine_adapter import engine_cases
    from readerstudy.services.phi import grouping_keys

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    cases = engine_cases(ctx, session, study_name, test_fraction=test_fraction, seed=seed, threshold=threshold)
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        rows = {c.pseudonym: c for c in uow.cases.list(study.id)}
        keys = [grouping_keys(uow, rows[c.case_id].id) for c in cases]
    grouping = near_duplicate_groups([c.image for c in cases], threshold=threshold, keys=keys)
    links: dict[str, list[tuple[float, str]]] = {}
    for i, _j, r, why in grouping.pairs:
        links.setdefault(cases[i].group, []).append((r, why))
    groups = []
    for idx in grouping.members():
        name = cases[idx[0]].group
        members = tuple(GroupMember(cases[i].case_id, rows[cases[i].case_id].source_ref, cases[i].label,
                                    cases[i].split) for i in idx)
        rs = [r for r, _ in links.get(name, [])]
        groups.append(DuplicateGroup(name, members, min(rs), max(rs),
                                     any(w == "id" for _, w in links.get(name, []))))
    index = {g: k for k, g in enumerate(dict.fromkeys(c.group for c in cases))}
    summary = split_summary([index[c.group] for c in cases], [c.split == "test" for c in cases],
                            [c.label for c in cases])
    return GroupReport(study_name, threshold, seed, test_fraction, tuple(groups), summary)
