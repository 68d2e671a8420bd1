"""Use cases of expert annotation: open/save versioned masks, inter-annotator agreement,
consensus and export.

Every save is a NEW version (``parent_id`` = the previous version) stored as a compressed
NIfTI with the image's geometry under ``<study_id>/<pseudonym>/masks/<annotator>-v<N>.nii.gz``,
recorded with its sha256 and an audit event in one transaction.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.annotation import AnnotationLayer
from readerstudy.core.annotation_labels import LABEL_SET_PRESETS, Label, LabelSet
from readerstudy.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from readerstudy.core.models import AnnotationRecord, ImageAsset, Reader, Role
from readerstudy.imaging import mask_agreement, mask_io, mask_ops
from readerstudy.services.auth import UserSession, require_role, require_study
from readerstudy.services.context import AppContext
from readerstudy.storage.uow import UnitOfWork

EDIT_ROLES = frozenset({Role.ANNOTATOR, Role.COORDINATOR})
Progress = Callable[[int, int, str], None]
EXPORT_FORMATS = ("nifti", "dicom-seg", "png")
DEFAULT_PRESET = "tumour"


# ----------------------------------------------------------------------------- label sets
def _rgb(value: Any) -> tuple[int, int, int]:
    if isinstance(value, str):
        h = value.lstrip("#")
        if len(h) != 6:
            raise ValidationError(f"label colour {value!r} is not #rrggbb")
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
    r, g, b = value
    return (int(r), int(g), int(b))


def label_set_from_stored(d: dict[str, Any] | None) -> LabelSet:
    """The :class:`LabelSet` of a stored annotation's ``label_set`` dict.

    Accepts :meth:`LabelSet.to_dict` output and the short import form
    (``{"name", "labels": [{"id", "name", "color": "#rrggbb"}]}``); codes missing there are taken
    from the preset label of the same name. Empty/None gives the tumour preset.
    """
    if not d or not d.get("labels"):
        return LabelSet.preset(DEFAULT_PRESET)
    known = {lab.name.lower(): lab for ls in LABEL_SET_PRESETS.values() for lab in ls}
    labels = []
    for item in d["labels"]:
        name = str(item["name"])
        base = known.get(name.lower())
        kwargs: dict[str, Any] = {}
        if base is not None:
            kwargs = {"category": base.category, "type": base.type}
        if "category" in item and "type" in item:
            from readerstudy.core.annotation_labels import Code

            kwargs = {"category": Code(**item["category"]), "type": Code(**item["type"])}
        labels.append(Label(int(item["id"]), name, _rgb(item["color"]), **kwargs))
    return LabelSet(str(d.get("name") or "labels"), tuple(labels))


# ----------------------------------------------------------------------------- helpers
def _geometry(asset: ImageAsset) -> mask_io.MaskGeometry:
    return mask_io.MaskGeometry(tuple(asset.spacing), tuple(asset.origin), tuple(asset.direction))


def _grid_shape(pixels: np.ndarray, asset: ImageAsset) -> tuple[int, ...]:
    """The (y, x) or (z, y, x) label grid of an image (colour channels dropped)."""
    if asset.is_volume or asset.is_cine:
        return tuple(pixels.shape[:3])
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        return tuple(pixels.shape[:2])
    if pixels.ndim == 3 and pixels.shape[0] == 1:
        return tuple(pixels.shape[1:3])
    return tuple(pixels.shape[:2])


def _annotator(uow: UnitOfWork, study_id: str, name: str, *, edit: bool) -> Reader:
    person = uow.readers.by_name(study_id, name)
    if edit and person.role not in EDIT_ROLES:
        raise PermissionDenied(f"{name!r} is a {person.role}; only an annotator or coordinator may save "
                               "annotations. Sign in as an annotator.")
    return person


def _case_for(uow: UnitOfWork, session: UserSession, case_id: str, what: str,
              roles: frozenset[Role] = EDIT_ROLES) -> Any:
    """The case, once ``session`` may do ``what`` on it (role, and the case is of the session's study)."""
    require_role(session, roles, what)
    case = uow.cases.get(case_id)
    if session.study_id and case.study_id != session.study_id:
        raise PermissionDenied(f"That case belongs to another study than {session.study_name!r}.")
    return case


def annotator_cases(ctx: AppContext, session: UserSession) -> list[tuple[str, str, int | None]]:
    """The study's cases for a signed-in annotator (or coordinator): ``(case_id, pseudonym, latest
    version of this person's mask or None)``, blinded (no truth, no source)."""
    require_role(session, EDIT_ROLES, "the annotation workspace")
    with ctx.uow(read=True) as uow:
        out = []
        for case in uow.cases.list(session.study_id):
            latest = uow.annotations.latest(case.id, session.participant_id)
            out.append((case.id, case.pseudonym, latest.version if latest else None))
        return out


def _safe(name: str) -> str:
    s = re.sub(r"[^\w.\- ]+", "_", name).strip()
    return s or "annotator"


def _read_mask(ctx: AppContext, record: AnnotationRecord) -> np.ndarray:
    labels, _ = mask_io.read_nifti_mask(ctx.store.path(record.path))
    return labels


def _latest_by_annotator(uow: UnitOfWork, case_id: str) -> dict[str, tuple[Reader, AnnotationRecord]]:
    latest: dict[str, AnnotationRecord] = {}
    for rec in uow.annotations.list(case_id):
        if rec.annotator_id not in latest or rec.version > latest[rec.annotator_id].version:
            latest[rec.annotator_id] = rec
    out = {}
    for aid, rec in latest.items():
        person = uow.readers.get(aid)
        out[person.name] = (person, rec)
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------- open / save
def open_annotation(ctx: AppContext, session: UserSession, case_id: str, annotator_name: str | None = None
                    ) -> tuple[AnnotationLayer, np.ndarray, ImageAsset]:
    """The latest version of a case's mask (or an empty layer), the image, its asset.

    Annotators open their own masks (``annotator_name`` None or their own name; the compare panel
    shows others' through :func:`case_masks`); coordinators open anyone's. Readers are refused.
    The label set is the stored annotation's; without one, the study's label set
    (:mod:`readerstudy.services.annotation_labels`), else that of any annotator of this case;
    otherwise the tumour preset. The layer's spacing is the image's (z, y, x) mm, or None when the
    source gave none (PNG/JPEG, DICOM without PixelSpacing): then sizes are in pixels.
    """
    name = annotator_name or session.name
    with ctx.uow(read=True) as uow:
        case = _case_for(uow, session, case_id, "opening an annotation")
        if session.role == Role.ANNOTATOR and name != session.name:
            raise PermissionDenied(f"{session.name!r} may open only their own mask, not {name!r}'s.")
        person = _annotator(uow, case.study_id, name, edit=False)
        asset = uow.assets.image(case_id)
        record = uow.annotations.latest(case_id, person.id)
        others = uow.annotations.list(case_id)
        study_labels = uow.label_sets.get(case.study_id)
    pixels = ctx.store.load_array(asset.path)
    shape = _grid_shape(pixels, asset)
    spacing = asset.spacing if asset.spacing_known else None  # no mm where the file gave none
    if record is not None:
        label_set = label_set_from_stored(record.label_set)
        data = _read_mask(ctx, record)
        if len(shape) == 2:
            data = data.reshape(shape) if data.size == math.prod(shape) else data
        if data.shape != shape:
            raise ValidationError(f"stored mask {record.path} has shape {data.shape}, the image {shape}")
        layer = AnnotationLayer(data, label_set, spacing=spacing)
    else:
        if study_labels is not None:  # the coordinator's label set for the study (services.annotation_labels)
            label_set = LabelSet.from_dict(study_labels)
        else:
            label_set = label_set_from_stored(others[0].label_set if others else None)
        layer = AnnotationLayer.empty(shape, label_set, spacing=spacing)
    layer.mark_saved()
    return layer, pixels, asset


def case_modality(ctx: AppContext, session: UserSession, case_id: str) -> str:
    """The case's modality (e.g. ``CT``, ``US``), for choosing a display window (annotators, coordinators)."""
    with ctx.uow(read=True) as uow:
        return _case_for(uow, session, case_id, "opening a case for annotation").modality


def save_annotation(ctx: AppContext, session: UserSession, case_id: str, layer: AnnotationLayer,
                    provenance: dict[str, Any] | None = None) -> AnnotationRecord:
    """Store ``layer`` as a new version of the signed-in annotator's (or coordinator's) mask of the
    case, in one transaction; it is saved and audited as ``session``'s participant only.

    ``provenance`` (e.g. ``{"ai_suggested": {...}}`` from ``services.mask_suggestion``) is written
    into the version's ``annotation.save`` audit event.
    """
    if layer.in_stroke:
        raise ValidationError("a stroke is still in progress; finish it before saving")
    if session.participant_id.startswith("system:"):
        raise PermissionDenied("An annotation is saved by the annotator who drew it: sign in as that annotator "
                               "(the command line's own session cannot save masks).")
    with ctx.uow() as uow:
        case = _case_for(uow, session, case_id, "saving an annotation")
        person = _annotator(uow, case.study_id, session.name, edit=True)
        if person.id != session.participant_id:
            raise PermissionDenied(f"{session.name!r} is not the signed-in participant; sign in to save.")
        annotator_name = person.name
        asset = uow.assets.image(case_id)
        previous = uow.annotations.latest(case_id, person.id)
        version = (previous.version if previous else 0) + 1
        shape = _grid_shape(ctx.store.load_array(asset.path, mmap=True), asset)
        expected = shape if len(shape) == 3 else (1, *shape)
        if layer.shape != expected:
            raise ValidationError(f"the layer's shape {layer.shape} does not match the image {expected}")
        rel = f"{case.study_id}/{case.pseudonym}/masks/{_safe(annotator_name)}-v{version}.nii.gz"
        target = ctx.store.path(rel)
        if target.exists():
            raise ConflictError(f"{rel} already exists (saved concurrently?); reopen the case and save again.")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part.nii.gz")
        try:
            written = mask_io.write_nifti_mask(tmp, layer.data, _geometry(asset), label_set=layer.label_set)
            tmp.rename(target)
            record = uow.annotations.add(case_id, person.id, label_set=layer.label_set.to_dict(), path=rel,
                                         checksum=written.sha256, parent_id=previous.id if previous else None)
            uow.audit.append_row(person.name, "annotation.save", "annotation", record.id,
                             {"case_id": case_id, "version": record.version, "parent_id": record.parent_id,
                              "checksum": record.checksum, "voxels": layer.voxel_counts(),
                              **({"provenance": provenance} if provenance else {})})
            uow.commit()
        except BaseException:
            tmp.unlink(missing_ok=True)
            ctx.store.remove(rel)
            raise
    layer.mark_saved()
    return record


# ----------------------------------------------------------------------------- agreement
@dataclass(frozen=True)
class AgreementRow:
    """Agreement of annotators ``a`` (reference) and ``b`` on one label of one case."""

    case: str  # pseudonym
    a: str
    b: str
    version_a: int
    version_b: int
    label: str
    dice: float
    jaccard: float
    hd95_mm: float
    volume_a_ml: float
    volume_b_ml: float
    volume_difference_ml: float  # B - A

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class AgreementMean:
    """Study mean over cases of one annotator pair and label (hd95 over finite values only)."""

    a: str
    b: str
    label: str
    cases: int
    dice: float
    jaccard: float
    hd95_mm: float
    volume_difference_ml: float


@dataclass(frozen=True)
class AgreementReport:
    study: str
    rows: tuple[AgreementRow, ...]
    means: tuple[AgreementMean, ...]

    def write_csv(self, path: str | Path) -> Path:
        """Rows, then one ``(mean)`` row per annotator pair and label."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        cols = list(AgreementRow.__dataclass_fields__)
        with open(p, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            for r in self.rows:
                w.writerow(r.to_dict())
            for m in self.means:
                w.writerow({"case": "(mean)", "a": m.a, "b": m.b, "label": m.label, "dice": m.dice,
                            "jaccard": m.jaccard, "hd95_mm": m.hd95_mm,
                            "volume_difference_ml": m.volume_difference_ml})
        return p


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def agreement(ctx: AppContext, session: UserSession, study_name: str,
              progress: Progress | None = None) -> AgreementReport:
    """Pairwise agreement of every annotator pair on every case, per label, on latest versions (coordinators).

    ``progress(i, n, pseudonym)`` is called before each case (it may raise ``Cancelled``)."""
    require_study(session, study_name, "inter-annotator agreement")
    rows: list[AgreementRow] = []
    with ctx.uow(read=True) as uow:
        study = uow.studies.by_name(study_name)
        plan = []
        for case in uow.cases.list(study.id):
            latest = _latest_by_annotator(uow, case.id)
            if len(latest) >= 2:
                plan.append((case, uow.assets.image(case.id), latest))
    for i, (case, asset, latest) in enumerate(plan):
        if progress is not None:
            progress(i, len(plan), case.pseudonym)
        masks = {name: _read_mask(ctx, rec) for name, (_, rec) in latest.items()}
        first = next(iter(latest.values()))[1]
        label_set = label_set_from_stored(first.label_set)
        names = {lab.id: lab.name for lab in label_set}
        version = {name: rec.version for name, (_, rec) in latest.items()}
        for pair in mask_agreement.pairwise_agreement(masks, list(label_set.ids), asset.spacing):
            ag = pair.agreement
            rows.append(AgreementRow(case.pseudonym, pair.a, pair.b, version[pair.a], version[pair.b],
                                     names[pair.label], ag.dice, ag.jaccard, ag.hd95_mm,
                                     float(ag.volume_a_ml or 0.0), float(ag.volume_b_ml or 0.0),
                                     float(ag.volume_difference_ml or 0.0)))
    groups: dict[tuple[str, str, str], list[AgreementRow]] = {}
    for r in rows:
        groups.setdefault((r.a, r.b, r.label), []).append(r)
    means = tuple(AgreementMean(a, b, lab, len(rs), _mean([r.dice for r in rs]), _mean([r.jaccard for r in rs]),
                                _mean([r.hd95_mm for r in rs]), _mean([r.volume_difference_ml for r in rs]))
                  for (a, b, lab), rs in sorted(groups.items()))
    return AgreementReport(study_name, tuple(rows), means)


def consensus(ctx: AppContext, session: UserSession, case_id: str,
              method: str = "majority") -> mask_agreement.Consensus:
    """Consensus of the latest versions of all annotators of a case: ``majority`` or ``staple``."""
    if method not in ("majority", "staple"):
        raise ValidationError(f"consensus method must be 'majority' or 'staple', got {method!r}")
    with ctx.uow(read=True) as uow:
        _case_for(uow, session, case_id, "a consensus of annotators' masks")
        latest = _latest_by_annotator(uow, case_id)
    if len(latest) < 2:
        raise ValidationError(f"consensus needs masks of at least 2 annotators; this case has {len(latest)}")
    masks = [_read_mask(ctx, rec) for _, rec in latest.values()]
    return mask_agreement.majority_vote(masks) if method == "majority" else mask_agreement.staple(masks)


# ----------------------------------------------------------------------------- editor volume tools
def interpolate_label(layer: AnnotationLayer, label: int, axis: int = 0) -> Any:
    """Fill the slices (normal to ``axis``) between annotated slices of ``label``: one undo step.

    Returns the changed box, or None when there was nothing to fill."""
    return layer.transform(lambda d: mask_ops.interpolate_between_slices(d, label, axis=axis, spacing=layer.spacing),
                           description="interpolate")


def clean_up_label(layer: AnnotationLayer, label: int) -> Any:
    """Keep the largest component of ``label`` and close small holes: one undo step (None: no change)."""
    return layer.transform(lambda d: mask_ops.clean_label(d, label), description="clean up")


def layer_volumes(layer: AnnotationLayer) -> dict[int, mask_ops.LabelVolume]:
    """Volume in mL (and components) of every label present in the layer; needs its spacing."""
    return mask_ops.label_volumes(layer.data, layer.spacing)


def case_masks(ctx: AppContext, session: UserSession, case_id: str) -> dict[str, tuple[int, np.ndarray]]:
    """Latest saved mask of every annotator of the case: name -> (version, (z, y, x) labels).

    For the compare panel of annotators and coordinators; readers are refused.
    """
    with ctx.uow(read=True) as uow:
        _case_for(uow, session, case_id, "comparing annotators' masks")
        latest = _latest_by_annotator(uow, case_id)
    out = {}
    for name, (_, rec) in latest.items():
        m = _read_mask(ctx, rec)
        out[name] = (rec.version, m[None] if m.ndim == 2 else m)
    return out


def compare_labels(mine: np.ndarray, other: np.ndarray, label_ids: list[int], spacing: Any
                   ) -> dict[int, mask_agreement.MaskAgreement]:
    """Per label, agreement of ``other`` (B) with ``mine`` (A, the reference): Dice, HD95 mm, volume B - A."""
    return {lab: mask_agreement.compare_masks(mine == lab, other == lab, spacing) for lab in label_ids}


def consensus_of(masks: list[np.ndarray], method: str = "majority") -> mask_agreement.Consensus:
    """Majority vote or STAPLE of label volumes already in memory (e.g. unsaved edits + others' masks)."""
    if method not in ("majority", "staple"):
        raise ValidationError(f"consensus method must be 'majority' or 'staple', got {method!r}")
    return mask_agreement.majority_vote(masks) if method == "majority" else mask_agreement.staple(masks)


# ----------------------------------------------------------------------------- export
@dataclass(frozen=True)
class ExportedMask:
    case: str  # pseudonym
    annotator: str
    version: int
    label_set: str
    file: str  # relative to the export folder


def _source_for_dicom(pixels: np.ndarray, asset: ImageAsset) -> np.ndarray:
    img = np.asarray(pixels)
    if not (asset.is_volume or asset.is_cine):
        if img.ndim == 3 and img.shape[-1] in (3, 4):
            img = img[..., :3].mean(axis=-1)
        img = img.reshape(img.shape[-2:])
        if img.dtype not in (np.uint8, np.uint16):
            lo, hi = float(img.min()), float(img.max())
            img = ((img - lo) / (hi - lo or 1.0) * 65535).round().astype(np.uint16)
    return img


def _side_and_body_part(ctx: AppContext, case_id: str) -> dict[str, str | None]:
    """Laterality and body part as the case's stored DICOM gives them (none for PNG/NIfTI cases)."""
    import pydicom

    with ctx.uow() as uow:
        stored = uow.assets.for_case(case_id, "dicom")
    if not stored:
        return {"laterality": None, "body_part": None}
    ds = pydicom.dcmread(ctx.store.path(stored[0].path), stop_before_pixels=True)
    side = str(ds.get("Laterality") or ds.get("ImageLaterality") or "").upper()
    return {"laterality": side if side in ("R", "L") else None, "body_part": str(ds.get("BodyPartExamined") or "") or None}


def export_masks(ctx: AppContext, session: UserSession, study_name: str, fmt: str, out_dir: str | Path,
                 annotator: str | None = None, progress: Progress | None = None) -> list[ExportedMask]:
    """Write each annotator's latest mask of each case to ``out_dir`` plus ``index.csv``.

    ``progress(i, n, pseudonym)`` is called before each case (it may raise ``Cancelled``).

    Files are ``<pseudonym>__<annotator>.nii.gz|.dcm|.png``. With ``dicom-seg`` the source image is
    written as DICOM under ``source/<pseudonym>/`` and the SEG references it.
    """
    require_study(session, study_name, "exporting masks")
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with ctx.uow() as uow:
        study = uow.studies.by_name(study_name)
        if annotator is not None:
            uow.readers.by_name(study.id, annotator)  # NotFoundError with a clear message
        plan = []
        for case in uow.cases.list(study.id):
            latest = {n: v for n, v in _latest_by_annotator(uow, case.id).items()
                      if annotator is None or n == annotator}
            if latest:
                plan.append((case, uow.assets.image(case.id), latest))
    exported: list[ExportedMask] = []
    ext = {"nifti": ".nii.gz", "dicom-seg": ".dcm", "png": ".png"}[fmt]
    for i, (case, asset, latest) in enumerate(plan):
        if progress is not None:
            progress(i, len(plan), case.pseudonym)
        sources = None
        for name, (_, rec) in latest.items():
            labels = _read_mask(ctx, rec)
            label_set = label_set_from_stored(rec.label_set)
            fname = f"{case.pseudonym}__{_safe(name).replace(' ', '_')}{ext}"
            if fmt == "nifti":
                mask_io.write_nifti_mask(out / fname, labels, _geometry(asset), label_set=label_set)
            elif fmt == "png":
                mask_io.write_png_mask(out / fname, labels)
            else:
                if sources is None:
                    import pydicom

                    pixels = _source_for_dicom(ctx.store.load_array(asset.path), asset)
                    files = mask_io.write_source_dicom(pixels, out / "source" / case.pseudonym,
                                                       geometry=_geometry(asset), patient_id=case.pseudonym,
                                                       **_side_and_body_part(ctx, case.id))
                    sources = [pydicom.dcmread(f.path) for f in files]
                mask_io.write_dicom_seg(out / fname, labels, label_set, sources, content_creator=name,
                                        include_empty_labels=True)
            exported.append(ExportedMask(case.pseudonym, name, rec.version, label_set.name, fname))
    with open(out / "index.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "annotator", "version", "label_set", "file"])
        for e in exported:
            w.writerow([e.case, e.annotator, e.version, e.label_set, e.file])
    if not exported:
        raise NotFoundError(f"study {study_name!r} has no masks"
                            + (f" by {annotator!r}" if annotator else "") + "; nothing exported")
    return exported
