"""Annotation use cases on the demo studies: versioned saves, reload, roles, agreement, consensus."""

from __future__ import annotations

import numpy as np
import pytest

from readerstudy.core.errors import PermissionDenied, ValidationError
from readerstudy.core.models import Role
from readerstudy.services import annotation as svc
from readerstudy.services.auth import local_session

BUSI = "BUSI benign vs malignant"
PHANTOM = "Phantom liver CT/PET"
EXPERT = "Expert annotator"


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _as(ctx, case, name: str):  # noqa: ANN001, ANN202
    """The session ``name`` would have after signing in to the case's study."""
    from readerstudy.services.auth import UserSession

    with ctx.uow() as uow:
        study = uow.studies.get(case.study_id)
        p = uow.readers.by_name(study.id, name)
    return UserSession(study.id, study.name, p.id, p.name, p.role, p.seniority)

def _first_case(ctx, study_name: str):
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        return study, uow.cases.list(study.id)[0]


def _add_person(ctx, study_id: str, name: str, role: Role) -> None:
    with ctx.uow() as uow:
        uow.readers.add(study_id, name, role)
        uow.commit()


def test_open_loads_imported_mask_with_label_set(demo_ctx) -> None:
    _, case = _first_case(demo_ctx, PHANTOM)
    layer, pixels, asset = svc.open_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id)
    assert layer.shape == pixels.shape == (48, 96, 96)
    assert [lab.name for lab in layer.label_set] == ["liver", "tumour"]
    assert layer.spacing == pytest.approx((2.5, 1.5, 1.5))
    counts = layer.voxel_counts()
    assert counts.get(1, 0) > 0 and counts.get(2, 0) > 0
    assert not layer.is_modified


def test_save_creates_versions_with_parents_and_reload_equals(demo_ctx) -> None:
    _, case = _first_case(demo_ctx, BUSI)
    layer, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id)
    before = layer.data.copy()
    layer.begin_stroke()
    layer.paint((0, 40, 50), radius=6)
    layer.end_stroke()
    assert layer.is_modified
    rec2 = svc.save_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id, layer)
    assert not layer.is_modified
    layer.erase((0, 40, 50), radius=3)
    rec3 = svc.save_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id, layer)
    with demo_ctx.uow() as uow:
        versions = uow.annotations.list(case.id)
        audit = uow.audit.list(rec3.id)
    assert [r.version for r in versions] == [1, 2, 3]
    assert rec2.version == 2 and rec2.parent_id == versions[0].id
    assert rec3.version == 3 and rec3.parent_id == rec2.id
    assert rec3.path.endswith("masks/Expert annotator-v3.nii.gz") and rec3.path != rec2.path
    assert demo_ctx.store.verify(rec3.path, rec3.checksum)
    assert [e.action for e in audit] == ["annotation.save"] and audit[0].payload["version"] == 3
    reloaded, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id)
    np.testing.assert_array_equal(reloaded.data, layer.data)
    assert not np.array_equal(reloaded.data, before)
    assert reloaded.data[0, 40, 50] == 0 and reloaded.data[0, 40, 55] == 1


def test_new_annotator_starts_empty_with_study_labels(demo_ctx) -> None:
    study, case = _first_case(demo_ctx, PHANTOM)
    _add_person(demo_ctx, study.id, "Second", Role.ANNOTATOR)
    layer, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, "Second"), case.id)
    assert layer.voxel_counts() == {} or sum(layer.voxel_counts().values()) == 0
    assert [lab.name for lab in layer.label_set] == ["liver", "tumour"]
    layer.active_label = 2
    layer.paint((10, 20, 20), radius=2)
    rec = svc.save_annotation(demo_ctx, _as(demo_ctx, case, "Second"), case.id, layer)
    assert rec.version == 1 and rec.parent_id is None


def test_reader_may_not_open_or_save(demo_ctx) -> None:
    _, case = _first_case(demo_ctx, BUSI)
    reader = _as(demo_ctx, case, "Junior radiologist")
    with pytest.raises(PermissionDenied, match="annotators and coordinators"):
        svc.open_annotation(demo_ctx, reader, case.id)
    layer, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id)
    layer.paint((0, 10, 10), radius=2)
    with pytest.raises(PermissionDenied):
        svc.save_annotation(demo_ctx, reader, case.id, layer)
    with pytest.raises(PermissionDenied):
        svc.case_masks(demo_ctx, reader, case.id)
    with demo_ctx.uow() as uow:
        assert [r.version for r in uow.annotations.list(case.id)] == [1]


def test_an_annotator_saves_and_opens_only_as_themselves(demo_ctx) -> None:
    study, case = _first_case(demo_ctx, BUSI)
    _add_person(demo_ctx, study.id, "Second", Role.ANNOTATOR)
    second = _as(demo_ctx, case, "Second")
    with pytest.raises(PermissionDenied, match="only their own mask"):
        svc.open_annotation(demo_ctx, second, case.id, EXPERT)
    layer, _, _ = svc.open_annotation(demo_ctx, second, case.id)
    layer.paint((0, 10, 10), radius=2)
    rec = svc.save_annotation(demo_ctx, second, case.id, layer)  # there is no way to name someone else
    with demo_ctx.uow() as uow:
        assert rec.annotator_id == second.participant_id
        assert [e.actor for e in uow.audit.list(rec.id)] == ["Second"]
    assert set(svc.case_masks(demo_ctx, second, case.id)) == {EXPERT, "Second"}  # the compare panel


def test_coordinator_may_save(demo_ctx) -> None:
    _, case = _first_case(demo_ctx, BUSI)
    layer, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, "Study coordinator"), case.id)
    layer.paint((0, 10, 10), radius=2)
    assert svc.save_annotation(demo_ctx, _as(demo_ctx, case, "Study coordinator"), case.id, layer).version == 1


def test_wrong_shape_refused(demo_ctx) -> None:
    from readerstudy.core.annotation import AnnotationLayer
    from readerstudy.core.annotation_labels import LabelSet

    _, case = _first_case(demo_ctx, BUSI)
    with pytest.raises(ValidationError):
        svc.save_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id, AnnotationLayer.empty((10, 10), LabelSet.preset("tumour")))


def _rect(shape, y0, x0, h=20, w=20) -> np.ndarray:
    m = np.zeros(shape, dtype=np.uint8)
    m[..., y0:y0 + h, x0:x0 + w] = 1
    return m


def test_agreement_of_known_shift(demo_ctx) -> None:
    study, case = _first_case(demo_ctx, BUSI)
    _add_person(demo_ctx, study.id, "Second", Role.ANNOTATOR)
    for name, x0 in ((EXPERT, 100), ("Second", 105)):
        layer, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, name), case.id)
        layer.replace_data(_rect(layer.shape, 100, x0))
        svc.save_annotation(demo_ctx, _as(demo_ctx, case, name), case.id, layer)
    report = svc.agreement(demo_ctx, LOCAL, BUSI)
    assert len(report.rows) == 1  # only this case has two annotators
    row = report.rows[0]
    assert (row.case, row.a, row.b, row.label) == (case.pseudonym, EXPERT, "Second", "tumour")
    assert (row.version_a, row.version_b) == (2, 1)
    # 20x20 squares overlapping 20x15: Dice 2*300/800, Jaccard 300/500
    assert row.dice == pytest.approx(0.75)
    assert row.jaccard == pytest.approx(0.6)
    assert 0 < row.hd95_mm <= 5.0 + 1e-9
    assert row.volume_difference_ml == pytest.approx(0.0)
    (mean,) = report.means
    assert mean.cases == 1 and mean.dice == pytest.approx(0.75)


def test_agreement_volume_difference_uses_spacing(demo_ctx, tmp_path) -> None:
    study, case = _first_case(demo_ctx, PHANTOM)
    _add_person(demo_ctx, study.id, "Second", Role.ANNOTATOR)
    layer, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, EXPERT), case.id)
    data = layer.data.copy()
    liver = data == 1
    idx = np.argwhere(liver)[:100]
    data[tuple(idx.T)] = 0  # the second annotator leaves out 100 liver voxels
    second, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, "Second"), case.id)
    second.replace_data(data)
    svc.save_annotation(demo_ctx, _as(demo_ctx, case, "Second"), case.id, second)
    report = svc.agreement(demo_ctx, LOCAL, PHANTOM)
    rows = {r.label: r for r in report.rows}
    assert set(rows) == {"liver", "tumour"}
    assert rows["liver"].volume_difference_ml == pytest.approx(-100 * 2.5 * 1.5 * 1.5 / 1000)
    assert rows["tumour"].dice == pytest.approx(1.0)
    n = int(liver.sum())
    assert rows["liver"].dice == pytest.approx(2 * (n - 100) / (2 * n - 100))
    out = report.write_csv(tmp_path / "a.csv")
    lines = out.read_text().splitlines()
    assert lines[0].startswith("case,a,b,version_a") and len(lines) == 1 + 2 + 2
    assert lines[-1].startswith("(mean),")


def test_consensus_majority_and_staple(demo_ctx) -> None:
    study, case = _first_case(demo_ctx, BUSI)
    masks = {EXPERT: _rect((1, 471, 562), 100, 100), "B": _rect((1, 471, 562), 100, 104),
             "C": _rect((1, 471, 562), 100, 108)}
    for name in ("B", "C"):
        _add_person(demo_ctx, study.id, name, Role.ANNOTATOR)
    for name, m in masks.items():
        layer, _, _ = svc.open_annotation(demo_ctx, _as(demo_ctx, case, name), case.id)
        layer.replace_data(m[0] if layer.source_ndim == 2 else m)
        svc.save_annotation(demo_ctx, _as(demo_ctx, case, name), case.id, layer)
    maj = svc.consensus(demo_ctx, LOCAL, case.id, "majority")
    expected = (sum(m.astype(int) for m in masks.values()) >= 2).astype(np.uint8)
    np.testing.assert_array_equal(maj.labels.reshape(expected.shape), expected)
    st = svc.consensus(demo_ctx, LOCAL, case.id, "staple")
    assert st.labels.sum() > 0
    with pytest.raises(ValidationError):
        svc.consensus(demo_ctx, LOCAL, case.id, "mean")


def test_consensus_needs_two_annotators(demo_ctx) -> None:
    _, case = _first_case(demo_ctx, BUSI)
    with pytest.raises(ValidationError):
        svc.consensus(demo_ctx, LOCAL, case.id)


def test_label_set_from_import_form() -> None:
    ls = svc.label_set_from_stored({"name": "t", "labels": [{"id": 1, "name": "tumour", "color": "#ff3030"}]})
    assert ls.get(1).color == (255, 48, 48) and ls.get(1).type.meaning == "Neoplasm"
    assert svc.label_set_from_stored(ls.to_dict()) == ls
    assert svc.label_set_from_stored(None).name == "tumour"
