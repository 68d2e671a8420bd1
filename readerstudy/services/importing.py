"""Use case: import cases into a study (folder or CSV manifest), de-identified, with masks.

A run has two phases, so that it is all or nothing and never holds the database's write lock
while it reads pixels:

1. every file is read (:mod:`readerstudy.imaging.image_reader`: pixels, geometry, modality LUT),
   checked (regular grid, masks on the image grid), de-identified and written into the run's
   staging folder, *on its own*: any exception inside one file's processing becomes that file's
   one-line refusal and its staged files are removed; the next file goes on;
2. one transaction writes the study (when it is new), the cases, images, masks, the private
   identifier mapping and the audit events of every accepted file, and moves their folders into
   the pixel store.

Rules: a cancelled run (``Cancelled`` raised by ``progress``, or ``cancel`` set) writes nothing; a
run in which every file is refused writes nothing either (no study row, no audit event); a file
already in the study is refused ("already in study"), so running the same import again adds only
what is new.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.errors import (
    Cancelled,
    ConflictError,
    PermissionDenied,
    ReaderStudyError,
    ValidationError,
)
from readerstudy.core.models import Role, Study
from readerstudy.imaging import loaders
from readerstudy.imaging.image_reader import read_dicom_series
from readerstudy.imaging.nifti import write_nifti
from readerstudy.services import deid_policy
from readerstudy.services.auth import UserSession, is_local_session, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.services.import_deid import DeidCounts, write_deidentified
from readerstudy.services.import_sources import (
    MANIFEST_COLUMNS,
    CaseSource,
    label_folders,
    parse_truth,
    sources_from_folder,
    sources_from_manifest,
)
from readerstudy.storage.store import sha256_file

log = logging.getLogger(__name__)

DEFAULT_LABEL_SET = {"name": "tumour", "labels": [{"id": 1, "name": "tumour", "color": "#ff3030"}]}
IMPORTED, REFUSED = "imported", "refused"
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class FileReport:
    """What happened to one source (a file, or a folder holding one series).

    ``reason`` is one line: why it was refused ("" when imported). ``unexpected`` marks a refusal
    caused by an exception the app did not anticipate (its traceback is in the log file).
    """

    file: str  # the case id: the path relative to the folder, or the manifest's case_id
    status: str
    reason: str = ""
    pseudonym: str | None = None
    notes: tuple[str, ...] = ()
    masks: int = 0
    deid: DeidCounts = field(default_factory=DeidCounts)
    unexpected: bool = False


@dataclass
class ImportReport:
    """Every file of a run, in order; ``created_study`` when the run created the study."""

    study: str
    files: list[FileReport] = field(default_factory=list)
    created_study: bool = False

    @property
    def imported(self) -> list[str]:
        return [f.file for f in self.files if f.status == IMPORTED]

    @property
    def refused(self) -> list[tuple[str, str]]:
        return [(f.file, f.reason) for f in self.files if f.status == REFUSED]

    @property
    def crashed(self) -> int:
        """Refusals caused by unexpected exceptions (each is a bug to report; 0 is the goal)."""
        return sum(1 for f in self.files if f.unexpected)

    @property
    def masks(self) -> int:
        return sum(f.masks for f in self.files if f.status == IMPORTED)

    @property
    def notes(self) -> list[str]:
        return [n for f in self.files if f.status == IMPORTED for n in f.notes]

    def deid_totals(self) -> DeidCounts:
        """De-identification summed over the imported files (``files`` = files with DICOM objects)."""
        total = DeidCounts()
        for f in self.files:
            if f.status == IMPORTED:
                total = total + f.deid
        return total

    def summary(self) -> str:
        return (f"{self.study}: imported {len(self.imported)} case(s) ({self.masks} mask(s)), "
                f"refused {len(self.refused)}")


@dataclass
class _Plan:
    """What phase 1 needs to know of the study, read once (the study may not exist yet)."""

    name: str
    study: Study | None
    secret: str
    sources: set[str]
    pseudonyms: set[str]
    policy: deid_policy.ImportPolicy
    save_policy: bool  # the study's de-identification settings are written with the cases

    def new_pseudonym(self) -> str:
        """An opaque id as :meth:`CaseRepository.new_pseudonym` makes: ``RS-`` + 8 random hex digits."""
        while True:
            p = "RS-" + secrets.token_hex(4).upper()
            if p not in self.pseudonyms:
                self.pseudonyms.add(p)
                return p


@dataclass
class _Staged:
    src: CaseSource
    pseudonym: str
    folder: Path
    modality: str
    meta: dict[str, Any]
    dicoms: list[Path]
    phi: dict[str, Any]
    shift: int
    mask_file: Path | None
    deid: DeidCounts
    notes: tuple[str, ...]  # as the report shows them (stored without the source names)


def _may_import_into(session: UserSession, study: Study | None) -> None:
    """Coordinators import into their own study, or create a new one; the CLI's local session anywhere."""
    require_coordinator(session, "importing cases")
    if study is not None and session.study_id and study.id != session.study_id:
        raise PermissionDenied(f"{session.name!r} coordinates {session.study_name!r}, not {study.name!r}; sign in "
                               "to that study to import into it.")


def ensure_study(ctx: AppContext, session: UserSession, name: str, description: str = "") -> Study:
    """The study named ``name``, created empty (with its de-identification secret) when absent.

    Coordinators of that study (or creating it), and the CLI's local session.
    """
    with ctx.uow() as uow:
        study = uow.studies.find(name)
        _may_import_into(session, study)
        if study is None:
            study = uow.studies.add(name, description, {"deid_secret": secrets.token_hex(16)})
            uow.audit.append(session.name, "study.create", "study", study.id, {"name": name})
            uow.commit()
        return study


def _plan(ctx: AppContext, name: str, deid: deid_policy.DeidRequest | None) -> _Plan:
    with ctx.uow() as uow:
        study = uow.studies.find(name)
        cases = uow.cases.list(study.id) if study else []
    secret = str(study.protocol.get("deid_secret", study.id)) if study else secrets.token_hex(16)
    policy, save = deid_policy.plan_policy(study, deid, has_cases=bool(cases))
    return _Plan(name, study, secret, {c.source_ref for c in cases}, {c.pseudonym for c in cases}, policy, save)


def _check_new_name(ctx: AppContext, name: str) -> None:
    """A new study's name must be a valid name that no study has already, ignoring case (as
    :func:`readerstudy.services.studies.create_study` requires)."""
    from readerstudy.services.studies import validate_study_name

    validate_study_name(name)
    with ctx.uow() as uow:
        for other in uow.studies.list():
            if other.name.casefold() == name.strip().casefold():
                raise ValidationError(f"A study named {other.name!r} already exists; choose another name, or "
                                      "import into that study.")


def _cancelled(cancel: Any) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(getattr(cancel, "cancelled", False))


def _step(progress: Progress | None, cancel: Any, i: int, total: int, message: str) -> None:
    if _cancelled(cancel):
        raise Cancelled(f"Import cancelled at file {i + 1} of {total - 1}; nothing of this run was written.")
    if progress:
        progress(i, total, message)


def import_cases(ctx: AppContext, session: UserSession, study_name: str, sources: list[CaseSource], *,
                 annotator: str = "import", progress: Progress | None = None, cancel: Any = None,
                 description: str = "", label_set: dict | None = None,
                 deid: deid_policy.DeidRequest | None = None) -> ImportReport:
    """Import ``sources`` into ``study_name`` (created if absent) and report on every file.

    Masks become version-1 annotations of ``annotator`` with ``label_set`` (default: one label,
    tumour). ``deid`` changes the study's de-identification settings (burned-in policy, date
    option; saved with the cases) and gives rectangles to mask (:mod:`readerstudy.services.deid_policy`).
    ``progress(step, total, message)`` is called before each file and before the write;
    ``cancel`` is a token (``is_set()`` or ``.cancelled``). ``session`` must be a coordinator's (of the
    study, or creating it: the coordinator of a new study is then that coordinator, same name and
    PIN), or the CLI's local session.

    Raises
    ------
    Cancelled
        The run was cancelled; nothing of it was written.
    ConflictError
        The final transaction failed; nothing of the run was written.
    """
    require_coordinator(session, "importing cases")
    if not study_name.strip():
        raise ValidationError("Give the study a name.")
    plan = _plan(ctx, study_name, deid)
    _may_import_into(session, plan.study)
    gui = None if is_local_session(session) else session  # the CLI creates a study without a coordinator
    if plan.study is None and gui is not None:
        _check_new_name(ctx, study_name)
    report = ImportReport(study=study_name)
    total = len(sources) + 1
    staged: list[_Staged] = []
    with ctx.store.staging_area() as area:
        for i, src in enumerate(sources):
            _step(progress, cancel, i, total, src.case_id)
            file_report, item = _stage_guarded(plan, src, area, annotator)
            report.files.append(file_report)
            if item is not None:
                staged.append(item)
        _step(progress, cancel, len(sources), total, "writing to the database")
        if staged:
            late = _commit(ctx, plan, staged, annotator=annotator, label_set=label_set or DEFAULT_LABEL_SET,
                           description=description, session=gui, report=report)
            report.files = [_late_refusal(f, study_name) if f.file in late else f for f in report.files]
    if progress:
        progress(total, total, "done")
    return report


@dataclass(frozen=True)
class ImportRequest:
    """What the coordinator asked for (the GUI's form): a folder (truth by sub-folder name) or a manifest.

    ``labels`` maps a sub-folder name to 0, 1 or None (no truth); sub-folders it leaves out are not
    imported. ``modality`` is recorded for PNG/JPEG/NIfTI (DICOM says its own).
    """

    study: str
    folder: str | None = None
    manifest: str | None = None
    labels: dict[str, int | None] | None = None
    modality: str | None = None
    annotator: str = "import"
    description: str = ""
    deid: deid_policy.DeidRequest | None = None  # None keeps the study's de-identification settings


def run_import(ctx: AppContext, session: UserSession, request: ImportRequest, *,
               progress: Progress | None = None, cancel: Any = None) -> ImportReport:
    """Read the request's sources (the manifest is validated whole first), then :func:`import_cases`."""
    require_coordinator(session, "importing cases")
    if bool(request.folder) == bool(request.manifest):
        raise ValidationError("Choose a folder or a manifest (CSV) to import from.")
    if progress:
        progress(0, 1, "looking for images")
    if request.folder:
        sources = sources_from_folder(Path(request.folder), request.labels, request.modality)
    else:
        sources = sources_from_manifest(Path(str(request.manifest)))
    return import_cases(ctx, session, request.study.strip(), sources, annotator=request.annotator or "import",
                        progress=progress, cancel=cancel, description=request.description, deid=request.deid)


def _late_refusal(f: FileReport, study: str) -> FileReport:
    return FileReport(f.file, REFUSED, f"case id {f.file!r} was imported into study {study!r} meanwhile; skipped.")


def _one_line(text: str, src: CaseSource) -> str:
    """One line without the leading "<file name>: " (the case is known; source names may identify a patient)."""
    line = " ".join(str(text).split())
    names = {src.image.name, src.case_id, *(p.name for p in src.masks), *(p.name for p in src.files)}
    for name in sorted(names, key=len, reverse=True):
        prefix = f"{name}: "
        if line.startswith(prefix) and len(line) > len(prefix):
            line = line[len(prefix):]
            break
    return line[:400]


def _stage_guarded(plan: _Plan, src: CaseSource, area: Path, annotator: str) -> tuple[FileReport, _Staged | None]:
    """Stage one source; every exception except a cancel becomes its refusal (nothing of it stays staged)."""
    folder: list[Path] = []
    try:
        item = _stage(plan, src, area, annotator, folder)
    except Cancelled:
        raise
    except ReaderStudyError as exc:
        _discard(folder)
        return FileReport(src.case_id, REFUSED, _one_line(str(exc), src)), None
    except Exception as exc:
        log.exception("import of %s failed unexpectedly", src.case_id)
        _discard(folder)
        msg = _one_line(str(exc), src)
        return FileReport(src.case_id, REFUSED, f"unexpected error {type(exc).__name__}{': ' + msg if msg else ''} "
                          "(details in the log file)", unexpected=True), None
    return FileReport(src.case_id, IMPORTED, "", item.pseudonym, item.notes, 1 if item.mask_file else 0,
                      item.deid), item


def _discard(folder: list[Path]) -> None:
    import shutil

    for f in folder:
        shutil.rmtree(f, ignore_errors=True)
    folder.clear()


def _stage(plan: _Plan, src: CaseSource, area: Path, annotator: str, created: list[Path]) -> _Staged:
    if src.case_id in plan.sources:
        raise ValidationError(f"case id {src.case_id!r} is already in study {plan.name!r}; skipped.")
    loaded = read_dicom_series(list(src.files)) if src.files else loaders.load_image(src.image)
    pixels, deid_meta, deid_notes = plan.policy.screen(src.case_id, loaded.pixels, loaded.datasets)
    mask = loaders.load_mask(list(src.masks), loaded) if src.masks else None
    pseudonym = plan.new_pseudonym()
    folder = area / pseudonym
    folder.mkdir()
    created.append(folder)
    dicoms, phi, shift, deid = write_deidentified(loaded.datasets, folder, secret=plan.secret, pseudonym=pseudonym,
                                                  where=src.image.name, options=plan.policy.options)
    np.save(folder / "image.npy", pixels, allow_pickle=False)
    mask_file = None
    if mask is not None:
        (folder / "masks").mkdir()
        mask_file = folder / "masks" / f"{annotator}-v1.nii.gz"
        write_nifti(mask.labels, mask_file, spacing=loaded.spacing, origin=loaded.origin, direction=loaded.direction)
    notes = [*loaded.notes, *(mask.notes if mask else []), *deid_notes]
    meta = {**loaded.meta(), **deid_meta, "notes": [_one_line(n, src) for n in notes]}
    plan.sources.add(src.case_id)
    return _Staged(src, pseudonym, folder, src.modality or loaded.modality, meta, dicoms, phi, shift, mask_file,
                   deid, tuple(notes))


def _commit(ctx: AppContext, plan: _Plan, staged: list[_Staged], *, annotator: str, label_set: dict,
            description: str, session: UserSession | None, report: ImportReport) -> set[str]:
    """Phase 2: one transaction for every staged case; returns the case ids refused because they arrived meanwhile."""
    actor = session.name if session is not None else "coordinator"
    placed: list[str] = []
    late: set[str] = set()
    try:
        with ctx.uow() as uow:
            study = uow.studies.find(plan.name)
            if study is None:
                study = uow.studies.add(plan.name, description, {"deid_secret": plan.secret})
                uow.audit.append(actor, "study.create", "study", study.id, {"name": plan.name})
                report.created_study = True
                if session is not None:
                    _copy_coordinator(uow, session, study.id)
            if plan.save_policy or report.created_study:
                deid_policy.save_settings(uow, study.id, plan.policy, actor)
            annotator_id = _annotator_id(uow, study.id, annotator) if any(s.mask_file for s in staged) else None
            for s in staged:
                if uow.cases.by_source(study.id, s.src.case_id) is not None:
                    late.add(s.src.case_id)
                    continue
                _add_case(uow, study.id, s, f"{study.id}/{s.pseudonym}", annotator, annotator_id, label_set, actor)
            uow.audit.append(actor, "import.run", "study", study.id,
                             {"files": len(report.files), "imported": len(staged) - len(late),
                              "refused": len(report.files) - len(staged) + len(late)})
            uow.session.flush()  # surface constraint errors before the folders are moved into place
            for s in staged:
                if s.src.case_id not in late:
                    ctx.store.place(s.folder, f"{study.id}/{s.pseudonym}")
                    placed.append(f"{study.id}/{s.pseudonym}")
            uow.commit()
    except ReaderStudyError:
        for rel in placed:
            ctx.store.remove(rel)
        raise
    except Exception as exc:
        for rel in placed:
            ctx.store.remove(rel)
        log.exception("import transaction failed")
        raise ConflictError(f"The import could not be written ({type(exc).__name__}: {exc}); nothing of this run "
                            "was stored. Run it again.") from exc
    return late


def _add_case(uow: Any, study_id: str, s: _Staged, rel: str, annotator: str, annotator_id: str | None,
              label_set: dict, actor: str) -> None:
    case = uow.cases.add(study_id, source_ref=s.src.case_id, modality=s.modality, truth=s.src.truth,
                         split=s.src.split, site=s.src.site, pseudonym=s.pseudonym)
    uow.assets.add(case.id, kind="image", path=f"{rel}/image.npy", checksum=sha256_file(s.folder / "image.npy"),
                   format="npy", meta=s.meta)
    for f in s.dicoms:
        uow.assets.add(case.id, kind="dicom", path=f"{rel}/dicom/{f.name}", checksum=sha256_file(f),
                       format="dicom", meta={})
    if s.phi:
        uow.cases.set_phi(case.id, s.phi, s.shift)
    if s.mask_file is not None and annotator_id is not None:
        uow.annotations.add(case.id, annotator_id, label_set=label_set, path=f"{rel}/masks/{s.mask_file.name}",
                            checksum=sha256_file(s.mask_file))
    uow.audit.append(actor, "case.import", "case", case.id,
                     {"pseudonym": s.pseudonym, "masks": len(s.src.masks), "modality": case.modality,
                      "notes": len(s.meta.get("notes", [])),
                      **uow.audit.case_files(case.id)})  # the pixel files' and masks' sha256: verifiable


def _annotator_id(uow: Any, study_id: str, name: str) -> str:
    for r in uow.readers.list(study_id, Role.ANNOTATOR):
        if r.name == name:
            return str(r.id)
    return str(uow.readers.add(study_id, name, Role.ANNOTATOR).id)


def _copy_coordinator(uow: Any, session: UserSession, study_id: str) -> None:
    """The coordinator who creates a study from the GUI coordinates it (same name and PIN hash), as
    :func:`readerstudy.services.studies.create_study_as` does for an empty study."""
    pin_hash = ""
    if not session.participant_id.startswith("system:"):
        me = uow.readers.get(session.participant_id)
        if me.study_id != session.study_id or me.role != Role.COORDINATOR or not me.active:
            raise PermissionDenied(f"{session.name!r} is no longer an active coordinator; sign in again.")
        pin_hash = uow.readers.credentials(session.participant_id)[0]
    r = uow.readers.add(study_id, session.name, Role.COORDINATOR, pin_hash=pin_hash)
    uow.audit.append(session.name, "participant.add", "reader", r.id,
                     {"name": session.name, "role": str(Role.COORDINATOR), "from_study": session.study_id})


__all__ = ["DEFAULT_LABEL_SET", "IMPORTED", "MANIFEST_COLUMNS", "REFUSED", "CaseSource", "DeidCounts",
           "FileReport", "ImportReport", "ImportRequest", "ensure_study", "import_cases", "label_folders", "parse_truth",
           "run_import", "sources_from_folder", "sources_from_manifest"]
