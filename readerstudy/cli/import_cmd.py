"""``readerstudy import``: add cases to a study from a folder or a CSV manifest."""

from __future__ import annotations

import argparse
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
                   help="with --folder: truth from the parent folder name, e.g. 'benign=0,malignant=1'")
    p.add_argument("--modality", default=None, help="modality to record for PNG/JPEG/NIfTI (e.g. US, CT)")
    p.add_argument("--annotator", default="import", help="annotator name recorded for imported masks")
    p.set_defaults(func=_run)


def _parse_labels(text: str | None) -> dict[str, int] | None:
    from readerstudy.core.errors import ValidationError

    if not text:
        return None
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if value.strip() not in {"0", "1"}:
            raise ValidationError(f"--labels: {part!r} must look like folder=0 or folder=1")
        out[name.strip()] = int(value)
    return out


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from readerstudy.services.context import open_context
    from readerstudy.services.importing import import_cases, sources_from_folder, sources_from_manifest

    if args.folder:
        sources = sources_from_folder(args.folder, _parse_labels(args.labels), args.modality)
    else:
        sources = sources_from_manifest(args.manifest)
    ctx = open_context(args.db)
    try:
        with tqdm(total=len(sources), unit="case", disable=None) as bar:
            def progress(i: int, total: int, msg: str) -> None:
                bar.n = i
                bar.set_postfix_str(msg[-30:])
                bar.refresh()

            report = import_cases(ctx, args.study, sources, annotator=args.annotator, progress=progress)
    finally:
        ctx.close()
    print(report.summary())
    for case_id, reason in report.refused:
        print(f"  refused {case_id}: {reason}")
    for note in report.notes:
        print(f"  note: {note}")
    return 0 if report.imported or not report.refused else 3
