"""A study's annotation label set: what new masks of the study start with.

The coordinator defines it (e.g. tumour; Gleason non-cancer/GG3/GG4/GG5; liver/tumour, renamed or
recoloured); it is stored in the ``label_set`` table (one per study, revision 0008_label_sets) and
audited. A saved mask keeps the label set it was saved with (``annotation.label_set``), so changing
the study's set never rewrites existing masks. :func:`readerstudy.services.annotation.open_annotation`
uses it for a case the annotator has not saved yet.
"""

from __future__ import annotations

from readerstudy.core.annotation_labels import LabelSet
from readerstudy.core.errors import ValidationError
from readerstudy.core.models import Role
from readerstudy.services.auth import UserSession, require_study
from readerstudy.services.context import AppContext

EDIT_ROLES = (Role.ANNOTATOR, Role.COORDINATOR)


def study_label_set(ctx: AppContext, session: UserSession, study_name: str) -> LabelSet | None:
    """The study's label set, or None when the coordinator has set none (annotators and coordinators).

    Raises :class:`PermissionDenied` for readers and for a session of another study.
    """
    require_study(session, study_name, "the study's label set", roles=EDIT_ROLES)
    with ctx.uow(read=True) as uow:
        stored = uow.label_sets.get(uow.studies.by_name(study_name).id)
    return None if stored is None else LabelSet.from_dict(stored)


def set_study_label_set(ctx: AppContext, session: UserSession, study_name: str, label_set: LabelSet) -> LabelSet:
    """Make ``label_set`` the study's label set (coordinators only), in one audited transaction.

    Existing masks keep theirs. Raises :class:`ValidationError` for something that is not a
    :class:`LabelSet` (nothing is stored) and :class:`PermissionDenied` for other roles.
    """
    require_study(session, study_name, "setting the study's label set")
    if not isinstance(label_set, LabelSet):
        raise ValidationError(f"a study's label set must be a LabelSet, got {type(label_set).__name__}; "
                              "build one with LabelSet(name, (Label(1, 'tumour', (230, 40, 40)), ...))")
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        row_id = uow.label_sets.put(study.id, label_set.to_dict())
        uow.audit.append(session.name, "label_set.set", "label_set", row_id,
                         {"study_id": study.id, "labels": label_set.to_dict()})
        uow.commit()
    return label_set
