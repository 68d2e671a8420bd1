"""Use case: the coordinator's overview of a study (cases with truth, sites, masks, read counts).

Coordinators only: the rows carry the ground truth and the source references.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from readerstudy.core.errors import PermissionDenied
from readerstudy.core.models import Case, ImageAsset, Study
from readerstudy.services.auth import UserSession, require_coordinator, require_study
from readerstudy.services.context import AppContext


def _same_study(session: UserSession, study_id: str) -> None:
    if session.study_id and session.study_id != study_id:
        raise PermissionDenied(f"That case belongs to another study than {session.study_name!r}.")


@dataclass(frozen=True)
class CaseRow:
    case: Case
    masks: int
    reads: int
    burned_in: str = ""  # "YES", "YES, masked", "masked", "NO", or "" when the source does not say

    @property
    def burned_in_warning(self) -> bool:
        """True when the pixels are flagged as holding burned-in text that no rectangle masked."""
        return self.burned_in == "YES"


def burned_in_label(asset: ImageAsset) -> str:
    """How the case browser states an image's burned-in annotation."""
    if asset.clean_pixel_rects:
        return "YES, masked" if asset.burned_in_annotation == "YES" else "masked"
    return asset.burned_in_annotation


def list_studies(ctx: AppContext, session: UserSession) -> list[Study]:
    """The studies a coordinator may browse: their own (the CLI's local session: all)."""
    require_coordinator(session, "browsing studies")
    with ctx.uow(read=True) as uow:
        return [s for s in uow.studies.list() if not session.study_id or s.id == session.study_id]


def study_cases(ctx: AppContext, session: UserSession, study_name: str) -> list[CaseRow]:
    """Every case of the study with truth, site, masks and reads (coordinators of that study)."""
    require_study(session, study_name, "browsing cases with their ground truth")
    with ctx.uow(read=True) as uow:
        study = uow.studies.by_name(study_name)
        reads: dict[str, int] = {}
        for r in uow.reads.for_study(study.id):
            reads[r.case_id] = reads.get(r.case_id, 0) + 1
        return [CaseRow(c, len(uow.annotations.list(c.id)), reads.get(c.id, 0), _burned_in(uow, c.id))
                for c in uow.cases.list(study.id)]


def _burned_in(uow, case_id: str) -> str:  # noqa: ANN001 - UnitOfWork
    assets = uow.assets.for_case(case_id, "image")
    return burned_in_label(assets[0]) if assets else ""


def case_image(ctx: AppContext, session: UserSession, case_id: str) -> tuple[ImageAsset, np.ndarray]:
    """A case's stored image (coordinators of the case's study)."""
    require_coordinator(session, "previewing a case")
    with ctx.uow(read=True) as uow:
        _same_study(session, uow.cases.get(case_id).study_id)
        asset = uow.assets.image(case_id)
    return asset, ctx.store.load_array(asset.path, mmap=True)
