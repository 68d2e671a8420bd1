"""Use case: import cases into a study (folder or CSV manifest), de-identified, with masks.

Each case is imported in its own transaction and staging folder: a refused file is reported
with a one-line reason and leaves nothing behind; the other files still import.
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from readerstudy.core.errors import ReaderStudyError, ValidationError
from readerstudy.core.models import Role, Study
from readerstudy.imaging import loaders
from readerstudy.imaging.deid import date_shift_days, deidentify
from readerstudy.imaging.nifti import write_nifti
from readerstudy.services.context import AppContext
from readerstudy.storage.store import sha256_file

DEFAULT_LABEL_SET = {"name": "tumour", "labels": [{"id": 1, "name": "tumour", "color": "#ff3030"}]}
MANIFEST_COLUMNS = {"case_id", "image", "mask", "truth", "site", "split", "modality"}
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CaseSource:
    """One case to import. ``image`` is a file or a folder holding one DICOM series."""

    case_id: str
    image: Path
    masks: tuple[Path, ...] = ()
    truth: int | None = None
    site: str | None = None
    split: str = "test"
    modality: str | None = None


@dataclass
class ImportReport:
    study: str
    imported: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    masks: int = 0

    def summary(self) -> str:
        return (f"{self.study}: imported {len(self.imported)} case(s) ({self.masks} mask(s)), "
                f"refused {len(self.refused)}")


def _parse_truth(value: str, where: str) -> int | None:
    v = value.strip().lower()
    if v == "":
        return None
    mapping = {"0": 0, "1": 1, "negative": 0, "positive": 1, "benign": 0, "malignant": 1}
    if v not in mapping:
        raise ValidationError(f"{where}: truth {value!r} is not 0/1 (or negative/positive); fix the manifest.")
    return mapping[v]


def sources_from_manifest(manifest: Path) -> list[CaseSource]:
    """Read and fully validate a manifest before anything is imported.

    Columns: ``case_id, image`` (required), ``mask`` (``;``-separated), ``truth`` (0/1),
    ``site``, ``split``, ``modality``. Paths are relative to the manifest's folder.
    """
    if not manifest.is_file():
        raise ValidationError(f"{manifest}: manifest not found.")
    base = manifest.parent
    with open(manifest, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip() for c in (reader.fieldnames or [])}
        missing = {"case_id", "image"} - cols
        if missing:
            raise ValidationError(f"{manifest.name}: missing column(s) {sorted(missing)}; "
                                  f"expected some of {sorted(MANIFEST_COLUMNS)}.")
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    errors: list[str] = []
    out: list[CaseSource] = []
    seen: set[str] = set()
    for n, r in enumerate(rows, start=2):
        where = f"{manifest.name} line {n}"
        cid = r.get("case_id", "")
        if not cid:
            errors.append(f"{where}: empty case_id")
            continue
        if cid in seen:
            errors.append(f"{where}: duplicate case_id {cid!r}")
            continue
        seen.add(cid)
        image = base / r["image"]
        masks = tuple(base / m for m in r.get("mask", "").split(";") if m.strip())
        for p in (image, *masks):
            if not p.exists():
                errors.append(f"{where}: {p.name} does not exist")
        try:
            truth = _parse_truth(r.get("truth", ""), where)
        except ValidationError as exc:
            errors.append(str(exc))
            continue
        out.append(CaseSource(cid, image, masks, truth, r.get("site") or None, r.get("split") or "test",
                              r.get("modality") or None))
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ValidationError("Manifest refused, nothing imported: " + "; ".join(errors[:3]) + more)
    if not out:
        raise ValidationError(f"{manifest.name}: the manifest lists no cases.")
    return out


def sources_from_folder(folder: Path, labels: dict[str, int] | None = None,
                        modality: str | None = None) -> list[CaseSource]:
    """Every image file (or every sub-folder of DICOM files) is a case.

    Files named ``<stem>_mask*.png`` / ``<stem>_mask*.nii.gz`` are masks of ``<stem>``. ``labels``
    maps a parent-folder name to the ground truth (e.g. ``{"benign": 0, "malignant": 1}``).
    """
    if not folder.is_dir():
        raise ValidationError(f"{folder}: not a folder.")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    masks: dict[Path, list[Path]] = {}
    images: list[Path] = []
    series_dirs: set[Path] = set()
    for p in files:
        stem = p.name.split(".")[0]
        if "_mask" in stem:
            masks.setdefault(p.parent / stem.split("_mask")[0], []).append(p)
        elif p.suffix.lower() in loaders.IMAGE_SUFFIXES or loaders.is_nifti(p):
            images.append(p)
        elif p.suffix.lower() in {".txt", ".md", ".csv", ".json"}:
            continue
        elif p.parent != folder and sum(1 for q in p.parent.iterdir() if q.is_file()) > 1 and \
                not any(q.suffix.lower() in loaders.IMAGE_SUFFIXES for q in p.parent.iterdir()):
            series_dirs.add(p.parent)
        else:
            images.append(p)
    out: list[CaseSource] = []
    for p in images:
        key = p.parent / p.name.split(".")[0]
        truth = labels.get(p.parent.name) if labels else None
        if labels and p.parent.name not in labels:
            continue
        out.append(CaseSource(str(p.relative_to(folder)), p, tuple(sorted(masks.get(key, []))), truth,
                              modality=modality))
    for d in sorted(series_dirs):
        out.append(CaseSource(str(d.relative_to(folder)), d, (), labels.get(d.parent.name) if labels else None,
                              modality=modality))
    if not out:
        raise ValidationError(f"{folder}: no importable images (DICOM, NIfTI, PNG, JPEG) found.")
    return out


def ensure_study(ctx: AppContext, name: str, description: str = "") -> Study:
    with ctx.uow() as uow:
        study = uow.studies.find(name)
        if study is None:
            study = uow.studies.add(name, description, {"deid_secret": secrets.token_hex(16)})
            uow.audit.append("coordinator", "study.create", "study", study.id, {"name": name})
            uow.commit()
        return study


def import_cases(ctx: AppContext, study_name: str, sources: list[CaseSource], *, annotator: str = "import",
                 progress: Progress | None = None, description: str = "",
                 label_set: dict | None = None) -> ImportReport:
    """Import ``sources`` into ``study_name`` (created if absent); masks become version-1 annotations
    of ``annotator`` with ``label_set`` (default: one label, tumour)."""
    study = ensure_study(ctx, study_name, description)
    report = ImportReport(study=study_name)
    for i, src in enumerate(sources):
        if progress:
            progress(i, len(sources), src.case_id)
        try:
            n_masks, notes = _import_one(ctx, study, src, annotator, label_set or DEFAULT_LABEL_SET)
        except ReaderStudyError as exc:
            report.refused.append((src.case_id, str(exc)))
            continue
        report.imported.append(src.case_id)
        report.masks += n_masks
        report.notes.extend(notes)
    if progress:
        progress(len(sources), len(sources), "done")
    return report


def _annotator_id(ctx: AppContext, study_id: str, name: str) -> str:
    with ctx.uow() as uow:
        for r in uow.readers.list(study_id, Role.ANNOTATOR):
            if r.name == name:
                return r.id
        rid = uow.readers.add(study_id, name, Role.ANNOTATOR).id
        uow.commit()
        return rid


def _import_one(ctx: AppContext, study: Study, src: CaseSource, annotator: str,
                label_set: dict) -> tuple[int, list[str]]:
    with ctx.uow() as uow:
        if uow.cases.by_source(study.id, src.case_id) is not None:
            raise ValidationError(f"case id {src.case_id!r} is already in study {study.name!r}; skipped.")
    loaded = loaders.load_image(src.image)
    mask = loaders.load_mask(list(src.masks), loaded.pixels.shape) if src.masks else None
    annotator_id = _annotator_id(ctx, study.id, annotator) if mask is not None else None
    secret = str(study.protocol.get("deid_secret", study.id))
    with ctx.uow() as uow:
        pseudonym = uow.cases.new_pseudonym(study.id)
        rel = f"{study.id}/{pseudonym}"
        with ctx.store.staging(rel) as tmp:
            phi, shift = _write_dicoms(loaded, tmp, secret, pseudonym)
            np.save(tmp / "image.npy", loaded.pixels, allow_pickle=False)
            if mask is not None:
                (tmp / "masks").mkdir()
                write_nifti(mask, tmp / "masks" / f"{annotator}-v1.nii.gz", spacing=loaded.spacing,
                            origin=loaded.origin, direction=loaded.direction)
            case = uow.cases.add(study.id, source_ref=src.case_id, modality=src.modality or loaded.modality,
                                 truth=src.truth, split=src.split, site=src.site, pseudonym=pseudonym)
            uow.assets.add(case.id, kind="image", path=f"{rel}/image.npy", checksum=sha256_file(tmp / "image.npy"),
                           format="npy", meta=loaded.meta())
            for f in sorted((tmp / "dicom").glob("*.dcm")) if (tmp / "dicom").exists() else []:
                uow.assets.add(case.id, kind="dicom", path=f"{rel}/dicom/{f.name}", checksum=sha256_file(f),
                               format="dicom", meta={})
            if phi:
                uow.cases.set_phi(case.id, phi, shift)
            if mask is not None and annotator_id is not None:
                mfile = tmp / "masks" / f"{annotator}-v1.nii.gz"
                uow.annotations.add(case.id, annotator_id, label_set=label_set,
                                    path=f"{rel}/masks/{mfile.name}", checksum=sha256_file(mfile))
            uow.audit.append("coordinator", "case.import", "case", case.id,
                             {"pseudonym": pseudonym, "masks": len(src.masks), "modality": case.modality})
            uow.session.flush()  # surface constraint errors before the folder is moved into place
        try:
            uow.commit()
        except Exception:
            ctx.store.remove(rel)
            raise
    return (1 if mask is not None else 0), loaded.notes


def _write_dicoms(loaded: loaders.LoadedImage, folder: Path, secret: str, pseudonym: str) -> tuple[dict, int]:
    """De-identify and store the source DICOM objects; return the original identifiers and date shift."""
    if not loaded.datasets:
        return {}, 0
    (folder / "dicom").mkdir()
    first = loaded.datasets[0]
    shift = date_shift_days(str(first.get("PatientID", "")) + str(first.get("PatientName", "")), secret)
    originals = []
    for i, ds in enumerate(loaded.datasets):
        originals.append(deidentify(ds, secret=secret, pseudonym=pseudonym, shift_days=shift))
        try:
            ds.save_as(folder / "dicom" / f"{i:05d}.dcm", enforce_file_format=False)
        except Exception as exc:  # a dataset pydicom can read but not write back
            raise ValidationError(f"cannot write the de-identified DICOM ({type(exc).__name__}: {exc}).") from exc
    return {"instances": originals}, shift
