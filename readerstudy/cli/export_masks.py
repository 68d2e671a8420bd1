"""``readerstudy export-masks``: each annotator's latest mask of each case, plus ``index.csv``."""

from __future__ import annotations

import argparse
from pathlib import Path

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-masks", help="export annotation masks (NIfTI, DICOM SEG or PNG) with index.csv")
    add_db_argument(p)
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--format", required=True, choices=("nifti", "dicom-seg", "png"), dest="fmt",
                   help="file format (dicom-seg also writes the source image as DICOM under source/)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created if absent)")
    p.add_argument("--annotator", default=None, help="only this annotator's masks (default: all)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services.annotation import export_masks
    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context

    ctx = open_context(args.db, read_only=True)
    try:
        exported = export_masks(ctx, local_session(), args.study, args.fmt, args.out, annotator=args.annotator)
    finally:
        ctx.close()
    print(f"{len(exported)} mask(s) written to {args.out} (index: {args.out / 'index.csv'})")
    return 0
