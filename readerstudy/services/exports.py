"""Use cases behind the coordinator's Exports tab: the report, the reads for R, masks, annotator agreement.

Each export takes the coordinator's session (ground truth leaves the study: coordinators only),
reports ``progress(step, total, message)`` (which may raise ``Cancelled``) and returns an
:class:`ExportOutcome` saying what was written. The CLI commands call the same services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from readerstudy.core.models import Role
from readerstudy.reports.reference_keys import CONSENSUS, MODEL
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext

__all__ = ["MASK_FORMATS", "READ_FORMATS", "ExportOutcome", "ReferenceChoice", "annotators", "arm_names", "export_agreement",
           "export_masks_to", "export_reads_to", "export_report_to", "reference_choices"]

Progress = Callable[[int, int, str], None]
READ_FORMATS = {  # format -> (label, default file name)
    "imrmc": ("iMRMC (long CSV with truth rows)", "reads_imrmc.csv"),
    "rjafroc": ("RJafroc (ROC workbook, .xlsx)", "reads_rjafroc.xlsx"),
    "mrmcaov": ("MRMCaov (long CSV)", "reads_mrmcaov.csv"),
    "csv": ("reads.csv (every stored field)", "reads.csv"),
}
MASK_FORMATS = {"nifti": "NIfTI (.nii.gz)", "dicom-seg": "DICOM SEG (with the source image as DICOM)", "png": "PNG"}


@dataclass(frozen=True)
class ExportOutcome:
    """What an export wrote: the main file or folder, every file, a one-line summary, figure PNGs by key."""

    target: Path
    files: tuple[Path, ...]
    summary: str
    figures: dict[str, Path] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferenceChoice:
    label: str
    value: str | None  # None = the default (the protocol's reference, else the most senior reader)


def reference_choices(ctx: AppContext, session: UserSession) -> list[ReferenceChoice]:
    """The references a coordinator can pick: default, each reader (most senior first), the consensus, the model."""
    require_coordinator(session, "choosing the report's reference")
    from readerstudy.services.assignments import study_protocol

    with ctx.uow() as uow:
        people = uow.readers.list(session.study_id)
        proto = study_protocol(uow, session.study_id)
        models = uow.models.list(session.study_id)
    order = {"senior": 0, "mid": 1, "junior": 2}
    readers = sorted((p for p in people if p.role == Role.READER), key=lambda p: (order.get(p.seniority, 3), p.name))
    default = (f"the protocol's: {proto.reference}" if proto and proto.reference
               else f"most senior reader: {readers[0].name}" if readers else "most senior reader")
    out = [ReferenceChoice(f"Default ({default})", None)]
    out += [ReferenceChoice(f"{p.name} ({p.seniority or 'no seniority'})", p.name) for p in readers]
    out.append(ReferenceChoice("Consensus of the senior readers", CONSENSUS))
    if models:
        out.append(ReferenceChoice(f"The model ({models[0].name})", MODEL))
    return out


def arm_names(ctx: AppContext, session: UserSession) -> list[str]:
    """The study's arms in protocol order, for the report's arm choice (coordinators)."""
    require_coordinator(session, "choosing the report's arm")
    with ctx.uow(read=True) as uow:
        return [a.name for a in uow.arms.list(session.study_id)]


def annotators(ctx: AppContext, session: UserSession) -> list[str]:
    require_coordinator(session, "exporting masks")
    with ctx.uow() as uow:
        return sorted(r.name for r in uow.readers.list(session.study_id, Role.ANNOTATOR))


def export_report_to(ctx: AppContext, session: UserSession, out_dir: str | Path, progress: Progress, *,
                     reference: str | None = None, arm: str | None = None) -> ExportOutcome:
    require_coordinator(session, "exporting the report (it holds the ground truth)")
    from readerstudy.services.reporting import export_report, report_command

    cmd = report_command(ctx, session.study_name, out_dir, reference, arm) + f"  # from the app, by {session.name}"
    f = export_report(ctx, session, session.study_name, out_dir, reference=reference, arm=arm, progress=progress, command=cmd)
    return ExportOutcome(f.html, (f.html, f.pdf, f.json, f.csv, *f.figures.values()),
                         f"Report written to {Path(out_dir)}: report.html, report.pdf, report.json, reads.csv and "
                         f"{len(f.figures)} figures.", dict(f.figures), dict(f.captions))


def export_reads_to(ctx: AppContext, session: UserSession, fmt: str, path: str | Path,
                    progress: Progress) -> ExportOutcome:
    require_coordinator(session, "exporting the reads (they hold the ground truth)")
    from readerstudy.services.reporting import export_reads

    progress(0, 1, f"writing {READ_FORMATS[fmt][0] if fmt in READ_FORMATS else fmt}")
    out = export_reads(ctx, session, session.study_name, fmt, path)
    progress(1, 1, "done")
    return ExportOutcome(out, (out,), f"Reads written to {out}.")


def export_masks_to(ctx: AppContext, session: UserSession, fmt: str, out_dir: str | Path, progress: Progress, *,
                    annotator: str | None = None) -> ExportOutcome:
    require_coordinator(session, "exporting masks")
    from readerstudy.services.annotation import export_masks

    done = export_masks(ctx, session, session.study_name, fmt, out_dir, annotator=annotator, progress=progress)
    out = Path(out_dir)
    return ExportOutcome(out, tuple(out / m.file for m in done) + (out / "index.csv",),
                         f"{len(done)} mask(s) written to {out} (index.csv lists them).")


def export_agreement(ctx: AppContext, session: UserSession, path: str | Path, progress: Progress) -> ExportOutcome:
    require_coordinator(session, "exporting annotator agreement")
    from readerstudy.services.annotation import agreement

    report = agreement(ctx, session, session.study_name, progress=progress)
    out = report.write_csv(path)
    return ExportOutcome(out, (out,), f"{len(report.rows)} case x pair x label row(s) written to {out}.")
