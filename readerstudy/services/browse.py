"""Use case: the coordinator's overview of a study (cases with truth, sites, masks, read counts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from readerstudy.core.models import Case, ImageAsset, Study
from readerstudy.services.context import AppContext


@dataclass(frozen=True)
class CaseRow:
    case: Case
    masks: int
    reads: int


def list_studies(ctx: AppContext) -> list[Study]:
    with ctx.uow() as uow:
        return uow.studies.list()


def study_cases(ctx: AppContext, study_name: str) -> list[CaseRow]:
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        reads: dict[str, int] = {}
        for r in uow.reads.for_study(study.id):
            reads[r.case_id] = reads.get(r.case_id, 0) + 1
        return [CaseRow(c, len(uow.annotations.list(c.id)), reads.get(c.id, 0)) for c in uow.cases.list(study.id)]


def case_image(ctx: AppContext, case_id: str) -> tuple[ImageAsset, np.ndarray]:
    with ctx.uow() as uow:
        asset = uow.assets.image(case_id)
    return asset, ctx.store.load_array(asset.path, mmap=True)
