""""Reviewed": an annotator marks their latest saved mask of a case as checked and final.

The mark is an audit event (``annotation.review`` on the annotation version), append-only like the
rest of the trail: it names the version, so a later save (a new version) makes the case "saved"
again until it is reviewed anew. The annotation workspace's status column shows ``reviewed vN``.
"""

from __future__ import annotations

from readerstudy.core.errors import PermissionDenied, ValidationError
from readerstudy.core.models import Role
from readerstudy.services.auth import UserSession, require_role
from readerstudy.services.context import AppContext

EDIT_ROLES = (Role.ANNOTATOR, Role.COORDINATOR)
ACTION = "annotation.review"


def mark_reviewed(ctx: AppContext, session: UserSession, case_id: str) -> int:
    """Mark the signed-in person's latest saved mask of ``case_id`` reviewed; returns its version.

    Raises :class:`ValidationError` when there is no saved mask yet (save first; nothing is
    recorded) and :class:`PermissionDenied` for readers, the command line's own session and cases
    of another study.
    """
    require_role(session, EDIT_ROLES, "marking a mask reviewed")
    if session.participant_id.startswith("system:"):
        raise PermissionDenied("A mask is reviewed by the annotator who drew it: sign in as that annotator.")
    with ctx.uow() as uow:
        case = uow.cases.get(case_id)
        if session.study_id and case.study_id != session.study_id:
            raise PermissionDenied(f"That case belongs to another study than {session.study_name!r}.")
        latest = uow.annotations.latest(case_id, session.participant_id)
        if latest is None:
            raise ValidationError(f"{case.pseudonym} has no saved mask of {session.name!r}; save it (Ctrl+S), "
                                  "then mark it reviewed.")
        uow.audit.append(session.name, ACTION, "annotation", latest.id,
                         {"case_id": case_id, "version": latest.version, "annotator_id": session.participant_id})
        uow.commit()
        return latest.version


def reviewed_versions(ctx: AppContext, session: UserSession) -> dict[str, int]:
    """case_id -> the highest version of the signed-in person's masks marked reviewed (their study)."""
    require_role(session, EDIT_ROLES, "the review status of masks")
    with ctx.uow(read=True) as uow:
        cases = {c.id for c in uow.cases.list(session.study_id)}
        out: dict[str, int] = {}
        for ev in uow.audit.list(action=ACTION):
            p = ev.payload
            if p.get("annotator_id") == session.participant_id and p.get("case_id") in cases:
                out[p["case_id"]] = max(out.get(p["case_id"], 0), int(p["version"]))
        return out
