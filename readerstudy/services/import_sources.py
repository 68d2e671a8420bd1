"""What an import will read: cases from a folder (labels from sub-folder names) or from a CSV manifest.

Nothing is imported here; a manifest is validated whole before anything is written.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from readerstudy.core.errors import ValidationError
from readerstudy.imaging.loaders import IMAGE_SUFFIXES, is_nifti

MANIFEST_COLUMNS = {"case_id", "image", "mask", "truth", "site", "split", "modality"}
SKIPPED_SUFFIXES = {".txt", ".md", ".csv", ".json", ".xml", ".pdf", ".html", ".ini", ".log", ".toml", ".py",
                    ".sqlite", ".sqlite-wal", ".sqlite-shm", ".db", ".npy", ".zip", ".tar", ".xlsx", ".docx"}
TRUTH_WORDS = {"0": 0, "1": 1, "negative": 0, "positive": 1, "benign": 0, "malignant": 1}


@dataclass(frozen=True)
class CaseSource:
    """One case to import. ``image`` is a file or a folder holding one DICOM series; ``files``, when
    given, are the series' files (a folder that holds several series)."""

    case_id: str
    image: Path
    masks: tuple[Path, ...] = ()
    truth: int | None = None
    site: str | None = None
    split: str = "test"
    modality: str | None = None
    files: tuple[Path, ...] = ()


def parse_truth(value: str, where: str) -> int | None:
    """'' -> None; 0/1, negative/positive, benign/malignant -> 0/1; anything else is refused."""
    v = value.strip().lower()
    if v in ("", "none"):
        return None
    if v not in TRUTH_WORDS:
        raise ValidationError(f"{where}: truth {value!r} is not 0/1 (or negative/positive); fix the manifest.")
    return TRUTH_WORDS[v]


def sources_from_manifest(manifest: Path) -> list[CaseSource]:
    """Read and fully validate a manifest before anything is imported.

    Columns: ``case_id, image`` (required), ``mask`` (``;``-separated), ``truth`` (0/1),
    ``site``, ``split``, ``modality``. Paths are relative to the manifest's folder.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ValidationError(f"{manifest}: manifest not found.")
    base = manifest.parent
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = {c.strip() for c in (reader.fieldnames or [])}
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items() if isinstance(v, str) or v is None}
                    for r in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError(f"{manifest.name}: not a UTF-8 CSV file ({exc}).") from exc
    missing = {"case_id", "image"} - cols
    if missing:
        raise ValidationError(f"{manifest.name}: missing column(s) {sorted(missing)}; "
                              f"expected some of {sorted(MANIFEST_COLUMNS)}.")
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
        if not r.get("image"):
            errors.append(f"{where}: empty image")
            continue
        image = base / r["image"]
        masks = tuple(base / m.strip() for m in r.get("mask", "").split(";") if m.strip())
        for p in (image, *masks):
            if not p.exists():
                errors.append(f"{where}: {p.name} does not exist")
        try:
            truth = parse_truth(r.get("truth", ""), where)
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


@dataclass
class _Found:
    """A case found in a folder, before labels: its image, masks and the folder name its label comes from."""

    case_id: str
    image: Path
    label_key: str
    masks: tuple[Path, ...] = ()
    files: tuple[Path, ...] = field(default_factory=tuple)


def _series_groups(files: list[Path]) -> list[list[Path]]:
    """Files of one folder grouped by SeriesInstanceUID (groups of >= 2 distinct single-frame instances);
    every other file is a group of its own."""
    import pydicom

    by_uid: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    single: list[list[Path]] = []
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True,
                                 specific_tags=["SeriesInstanceUID", "SOPInstanceUID", "NumberOfFrames"])
            uid, sop = str(ds.get("SeriesInstanceUID", "") or ""), str(ds.get("SOPInstanceUID", "") or "")
            frames = int(ds.get("NumberOfFrames", 1) or 1)
        except Exception:  # refused later, on its own, with its reason
            single.append([f])
            continue
        if uid and frames == 1:
            by_uid[uid].append((f, sop))
        else:
            single.append([f])
    groups = []
    for members in by_uid.values():
        if len(members) >= 2 and len({sop for _, sop in members}) == len(members):
            groups.append([f for f, _ in members])
        else:
            single.extend([f] for f, _ in members)
    return groups + single


def _scan(folder: Path) -> list[_Found]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))
    masks: dict[Path, list[Path]] = defaultdict(list)
    by_dir: dict[Path, list[Path]] = defaultdict(list)
    found: list[_Found] = []
    for p in files:
        stem = p.name.split(".")[0]
        if "_mask" in stem:
            masks[p.parent / stem.split("_mask")[0]].append(p)
        elif p.suffix.lower() in IMAGE_SUFFIXES or is_nifti(p):
            found.append(_Found(str(p.relative_to(folder)), p, p.parent.name))
        elif p.suffix.lower() not in SKIPPED_SUFFIXES:
            by_dir[p.parent].append(p)
    image_dirs = {f.image.parent for f in found}
    for d, dicoms in sorted(by_dir.items()):
        groups = [[f] for f in dicoms] if d == folder else _series_groups(dicoms)
        whole = len(groups) == 1 and len(groups[0]) > 1 and d not in image_dirs
        for k, g in enumerate(groups, start=1):
            if len(g) == 1:
                found.append(_Found(str(g[0].relative_to(folder)), g[0], d.name))
            elif whole:
                found.append(_Found(str(d.relative_to(folder)), d, d.parent.name if d.parent != folder else d.name))
            else:
                found.append(_Found(f"{d.relative_to(folder)}#series{k}", d, d.name, files=tuple(g)))
    for f in found:
        key = f.image.parent / f.image.name.split(".")[0] if f.image.is_file() else f.image
        f.masks = tuple(sorted(masks.get(key, [])))
    return found


def label_folders(folder: Path) -> dict[str, int]:
    """Sub-folder name -> number of cases whose truth ``labels`` would take from it (for the GUI's table)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"{folder}: not a folder.")
    out: dict[str, int] = {}
    for f in _scan(folder):
        out[f.label_key] = out.get(f.label_key, 0) + 1
    return dict(sorted(out.items()))


def sources_from_folder(folder: Path, labels: dict[str, int | None] | None = None,
                        modality: str | None = None) -> list[CaseSource]:
    """Every image file, every sub-folder holding one DICOM series, every series of a mixed sub-folder is a case.

    Files named ``<stem>_mask*.png`` / ``<stem>_mask*.nii.gz`` are masks of ``<stem>`` (of a series
    folder ``<stem>``). ``labels`` maps the name of the folder holding a case to its ground truth
    (0, 1 or None for "no truth"), e.g. ``{"benign": 0, "malignant": 1}``; with ``labels``, cases in
    folders it does not name are left out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"{folder}: not a folder.")
    out = []
    for f in _scan(folder):
        if labels is not None and f.label_key not in labels:
            continue
        truth = labels.get(f.label_key) if labels else None
        out.append(CaseSource(f.case_id, f.image, f.masks, truth, modality=modality, files=f.files))
    if not out:
        what = f" in the folders {sorted(labels)}" if labels else ""
        raise ValidationError(f"{folder}: no importable images (DICOM, NIfTI, PNG, JPEG) found{what}.")
    return out


__all__ = ["CaseSource", "MANIFEST_COLUMNS", "label_folders", "parse_truth", "sources_from_folder",
           "sources_from_manifest"]
