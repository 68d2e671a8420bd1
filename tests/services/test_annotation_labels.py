"""A study's label set: set by a coordinator (audited), used by new masks, never rewriting saved ones."""

from __future__ import annotations

import pytest

from readerstudy.core.annotation_labels import Label, LabelSet
from readerstudy.core.errors import PermissionDenied, ValidationError
from readerstudy.core.models import Role
from readerstudy.services import participants as people
from readerstudy.services.annotation import open_annotation, save_annotation
from readerstudy.services.annotation_labels import set_study_label_set, study_label_set
from readerstudy.services.auth import sign_in
from readerstudy.services.demo import BUSI_STUDY, DEMO_PIN

LESIONS = LabelSet("busi lesions", (Label(1, "mass", (200, 30, 30)), Label(2, "calcification", (30, 200, 200))))


def _case_id(ctx) -> str:  # noqa: ANN001
    with ctx.uow() as uow:
        return uow.cases.list(uow.studies.by_name(BUSI_STUDY).id)[0].id


def test_the_study_label_set_is_what_a_new_mask_starts_with(demo_ctx) -> None:  # noqa: ANN001
    coord = sign_in(demo_ctx, BUSI_STUDY, "Study coordinator", DEMO_PIN)
    expert = sign_in(demo_ctx, BUSI_STUDY, "Expert annotator", DEMO_PIN)
    assert study_label_set(demo_ctx, expert, BUSI_STUDY) is None
    assert set_study_label_set(demo_ctx, coord, BUSI_STUDY, LESIONS) == LESIONS
    assert study_label_set(demo_ctx, expert, BUSI_STUDY) == LESIONS
    with demo_ctx.uow() as uow:
        events = [e for e in uow.audit.list() if e.action == "label_set.set"]
    assert [e.actor for e in events] == ["Study coordinator"]
    people.add_participant(demo_ctx, coord, "New annotator", Role.ANNOTATOR, pin="2468")
    new = sign_in(demo_ctx, BUSI_STUDY, "New annotator", "2468")
    case_id = _case_id(demo_ctx)
    layer, _, _ = open_annotation(demo_ctx, new, case_id)
    assert layer.label_set == LESIONS and not layer.data.any()  # a new mask, with the study's labels
    saved, _, _ = open_annotation(demo_ctx, expert, case_id)
    assert [lab.name for lab in saved.label_set] == ["tumour"]  # a saved mask keeps its own
    layer.paint((0, 20, 20), 3, label=2)
    save_annotation(demo_ctx, new, case_id, layer)
    set_study_label_set(demo_ctx, coord, BUSI_STUDY, LabelSet.preset("tumour"))  # replaced, not added
    again, _, _ = open_annotation(demo_ctx, new, case_id)
    assert again.label_set == LESIONS and again.data[0, 20, 20] == 2


def test_only_coordinators_set_it_and_bad_input_changes_nothing(demo_ctx) -> None:  # noqa: ANN001
    coord = sign_in(demo_ctx, BUSI_STUDY, "Study coordinator", DEMO_PIN)
    expert = sign_in(demo_ctx, BUSI_STUDY, "Expert annotator", DEMO_PIN)
    reader = sign_in(demo_ctx, BUSI_STUDY, "Junior radiologist", DEMO_PIN)
    with pytest.raises(PermissionDenied, match="coordinator"):
        set_study_label_set(demo_ctx, expert, BUSI_STUDY, LESIONS)
    with pytest.raises(PermissionDenied, match="annotators and coordinators"):
        study_label_set(demo_ctx, reader, BUSI_STUDY)
    with pytest.raises(ValidationError, match="must be a LabelSet"):
        set_study_label_set(demo_ctx, coord, BUSI_STUDY, {"name": "x"})  # type: ignore[arg-type]
    assert study_label_set(demo_ctx, coord, BUSI_STUDY) is None
