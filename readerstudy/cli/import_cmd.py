"""``readerstudy import``: add cases to a study from a folder or a CSV manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import cases (DICOM, NIfTI, PNG/JPEG, masks), de-identified")
    add_db_argument(p)
    p.add_argument("--study", required=True, help="study name (created if absent)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--folder", type=Path, help="folder of images; <name>_mask*.png are masks of <name>")
    src.add_argument("--manifest", type=Path,
                     help="CSV with columns case_id,image[,mask,truth,site,split,modality]")
    p.add_argument("--labels", default=None,
                   help="with --folder: truth from the name of the folder holding each case, e.g. "
                        "'benign=0,malignant=1,normal=none' (folders not named are left out)")
    p.add_argument("--modality", default=None, help="modality to record for PNG/JPEG/NIfTI (e.g. US, CT)")
    p.add_argument("--annotator", default="import", help="annotator name recorded for imported masks")
    d = p.add_argument_group("de-identification (PS3.15 basic profile; saved as the study's setting)")
    d.add_argument("--burned-in", choices=("refuse", "flag"), default=None,
                   help="images whose DICOM says Burned In Annotation YES: refuse them (a new study's default) "
                        "or import them flagged, with a warning")
    d.add_argument("--clean-rect", action="append", default=[], metavar="X0,Y0,X1,Y1",
                   help="Clean Pixel Data: overwrite this rectangle (pixel columns X0..X1-1, rows Y0..Y1-1) in "
                        "every frame of every image of this import; repeat for several")
    d.add_argument("--dates", choices=("shift", "remove"), default=None,
                   help="shift dates per patient (Retain Longitudinal Temporal Information with Modified "
                        "Dates; a new study's default) or remove them as the basic profile does")
    p.set_defaults(func=_run)


def _parse_labels(text: str | None) -> dict[str, int | None] | None:
    from readerstudy.core.errors import ValidationError

    if not text:
        return None
    out: dict[str, int | None] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        v = value.strip().lower()
        if v not in {"0", "1", "none"} or not name.strip():
            raise ValidationError(f"--labels: {part!r} must look like folder=0, folder=1 or folder=none")
        out[name.strip()] = None if v == "none" else int(v)
    return out


def _deid_request(args: argparse.Namespace):  # noqa: ANN202 - DeidRequest (imported lazily)
    from readerstudy.services.deid_policy import DeidRequest, PixelRect

    dates = None if args.dates is None else args.dates == "shift"
    return DeidRequest(burned_in=args.burned_in, retain_longitudinal_modified_dates=dates,
                       clean_rects=tuple(PixelRect.parse(r) for r in args.clean_rect))


def print_report(report) -> None:  # noqa: ANN001 - services.importing.ImportReport, imported lazily
    """The summary, one line per refused file and per note, and the de-identification totals."""
    print(report.summary())
    for f in report.files:
        if f.status == "refused":
            print(f"  refused {f.file}: {f.reason}")
    for note in report.notes:
        print(f"  note: {note}")
    d = report.deid_totals()
    if d.files:
        print(f"de-identified {d.files} file(s) ({d.instances} DICOM object(s)): {d.removed} attribute(s) removed, "
              f"{d.replaced} replaced, {d.added} added; {d.burned_in} flagged as burned-in annotation")


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context
    from readerstudy.services.importing import import_cases, sources_from_folder, sources_from_manifest

    deid = _deid_request(args)
    if args.folder:
        sources = sources_from_folder(args.folder, _parse_labels(args.labels), args.modality)
    else:
        sources = sources_from_manifest(args.manifest)
    ctx = open_context(args.db)
    try:
        with tqdm(total=len(sources) + 1, unit="file", disable=None) as bar:
            def progress(i: int, total: int, msg: str) -> None:
                bar.n = i
                bar.set_postfix_str(msg[-30:])
                bar.refresh()

            report = import_cases(ctx, local_session(), args.study, sources, annotator=args.annotator, progress=progress,
                                  deid=deid)
    except KeyboardInterrupt:
        print("import interrupted: nothing of this run was written")
        raise
    finally:
        ctx.close()
    print_report(report)
    if report.refused and not report.imported:
        print(f"readerstudy: error: nothing imported: all {len(report.refused)} file(s) were refused (listed "
              "above); nothing was changed.", file=sys.stderr)
    return 3 if report.refused else 0
