"""Use case: build the built-in demo studies.

* "BUSI benign vs malignant": the 79 benign and malignant breast-ultrasound images of the
  bundled BUSI sample (Al-Dhabyani et al. 2020, CC0) with their tumour masks as annotations,
  3 readers (senior, mid-level, junior; PIN 0000), one annotator, one coordinator, arms
  "unaided" and "AI-aided" (sequential).
* "Phantom liver CT/PET": 6 deterministic synthetic CT volumes with PET and liver/tumour masks,
  for the volume paths.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from readerstudy.core.models import Role
from readerstudy.imaging.nifti import write_nifti
from readerstudy.imaging.phantom import make_phantom
from readerstudy.paths import demo_dir, resources_dir
from readerstudy.services.context import AppContext
from readerstudy.services.importing import CaseSource, import_cases
from readerstudy.storage.store import sha256_file

BUSI_STUDY = "BUSI benign vs malignant"
PHANTOM_STUDY = "Phantom liver CT/PET"
DEMO_PIN = "0000"
BUSI_READERS = (("Senior radiologist", "senior"), ("Mid-level radiologist", "mid"),
                ("Junior radiologist", "junior"))
PHANTOM_LABELS = {"name": "liver/tumour", "labels": [{"id": 1, "name": "liver", "color": "#a0522d"},
                                                     {"id": 2, "name": "tumour", "color": "#ff3030"}]}
Progress = Callable[[int, int, str], None]


@dataclass
class DemoSummary:
    studies: dict[str, dict[str, int]] = field(default_factory=dict)
    created: bool = True

    def lines(self) -> list[str]:
        out = []
        for name, s in self.studies.items():
            out.append(f"{name}: {s['cases']} cases ({s['positives']} positive), {s['masks']} masks, "
                       f"{s['readers']} readers, {s['annotators']} annotator(s), {s['coordinators']} coordinator(s), "
                       f"{s['arms']} arms, {s['assignments']} reading assignments")
        return out


def busi_sources(root: Path | None = None) -> list[CaseSource]:
    """Benign (truth 0) and malignant (truth 1) BUSI images with all their ``_mask*.png``, in number order."""
    root = root or demo_dir()
    out = []
    for label, truth in (("benign", 0), ("malignant", 1)):
        images = [p for p in (root / label).glob("*.png") if "_mask" not in p.name]
        for img in sorted(images, key=lambda p: int(p.stem.split("(")[1].rstrip(")"))):
            masks = tuple(sorted(img.parent.glob(f"{img.stem}_mask*.png")))
            out.append(CaseSource(f"{label}/{img.name}", img, masks, truth, site="Baheya (Cairo)", modality="US"))
    return out


def _add_people(ctx: AppContext, study_id: str, readers: tuple[tuple[str, str], ...]) -> None:
    from readerstudy.services.auth import hash_pin

    with ctx.uow() as uow:
        existing = {r.name for r in uow.readers.list(study_id)}
        for name, seniority in readers:
            if name not in existing:
                uow.readers.add(study_id, name, Role.READER, seniority=seniority, pin_hash=hash_pin(DEMO_PIN))
        if "Study coordinator" not in existing:
            uow.readers.add(study_id, "Study coordinator", Role.COORDINATOR, pin_hash=hash_pin(DEMO_PIN))
        uow.commit()


def _set_pin(ctx: AppContext, study_id: str, name: str) -> None:
    from readerstudy.services.auth import hash_pin

    with ctx.uow() as uow:
        uow.readers.set_pin_hash(uow.readers.by_name(study_id, name).id, hash_pin(DEMO_PIN))
        uow.commit()


def _apply_protocol(ctx: AppContext, study_name: str) -> None:
    """Arms, sessions and each reader's seeded order, from ``resources/protocols/demo_busi.toml``."""
    from readerstudy.services.assignments import apply_protocol, load_protocol_file
    from readerstudy.services.auth import system_session

    protocol = load_protocol_file(resources_dir() / "protocols" / "demo_busi.toml")
    apply_protocol(ctx, system_session(ctx, study_name, "demo"), protocol)


def _summarise(ctx: AppContext, name: str) -> dict[str, int]:
    with ctx.uow() as uow:
        study = uow.studies.by_name(name)
        cases = uow.cases.list(study.id)
        people = uow.readers.list(study.id)
        return {
            "cases": len(cases),
            "positives": sum(1 for c in cases if c.truth == 1),
            "masks": uow.annotations.count_for_study(study.id),
            "readers": sum(1 for p in people if p.role == Role.READER),
            "annotators": sum(1 for p in people if p.role == Role.ANNOTATOR),
            "coordinators": sum(1 for p in people if p.role == Role.COORDINATOR),
            "arms": len(uow.arms.list(study.id)),
            "assignments": len(uow.assignments.list(study.id)),
        }


def build_busi(ctx: AppContext, progress: Progress | None = None, *, with_protocol: bool = True) -> None:
    report = import_cases(ctx, BUSI_STUDY, busi_sources(), annotator="Expert annotator", progress=progress,
                          description="Real breast ultrasound (BUSI, Al-Dhabyani et al. 2020, CC0): "
                                      "benign vs malignant, with tumour masks.")
    if report.refused:
        raise RuntimeError(f"bundled BUSI images were refused: {report.refused[:3]}")
    with ctx.uow() as uow:
        study_id = uow.studies.by_name(BUSI_STUDY).id
    _add_people(ctx, study_id, BUSI_READERS)
    _set_pin(ctx, study_id, "Expert annotator")
    if with_protocol:
        _apply_protocol(ctx, BUSI_STUDY)


def build_phantom(ctx: AppContext, n: int = 6, progress: Progress | None = None, *,
                  with_protocol: bool = True) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        for i in range(n):
            p = make_phantom(i)
            img, msk = Path(tmp) / f"phantom{i:02d}_ct.nii.gz", Path(tmp) / f"phantom{i:02d}_ct_mask.nii.gz"
            write_nifti(p.ct, img, spacing=p.spacing)
            write_nifti(p.mask, msk, spacing=p.spacing)
            sources.append(CaseSource(f"phantom{i:02d}", img, (msk,), p.malignant, site="synthetic", modality="CT"))
        report = import_cases(ctx, PHANTOM_STUDY, sources, annotator="Expert annotator", progress=progress,
                              label_set=PHANTOM_LABELS,
                              description="Deterministic synthetic abdomen CT/PET with liver and 1-3 tumours.")
    if report.refused:
        raise RuntimeError(f"phantom volumes were refused: {report.refused[:3]}")
    with ctx.uow() as uow:
        study = uow.studies.by_name(PHANTOM_STUDY)
        for case in uow.cases.list(study.id):
            index = int(case.source_ref[-2:])
            pet_rel = f"{study.id}/{case.pseudonym}/pet.npy"
            np.save(ctx.store.path(pet_rel), make_phantom(index).pet, allow_pickle=False)
            image = uow.assets.image(case.id)
            meta = {"shape": list(image.shape), "dtype": "float32", "spacing": list(image.spacing),
                    "origin": list(image.origin), "direction": list(image.direction), "is_volume": True,
                    "window": [3.0, 6.0]}
            uow.assets.add(case.id, kind="pet", path=pet_rel, checksum=sha256_file(ctx.store.path(pet_rel)),
                           format="npy", meta=meta)
        uow.commit()
        study_id = study.id
    _add_people(ctx, study_id, (("Reader 1", "senior"), ("Reader 2", "junior")))
    _set_pin(ctx, study_id, "Expert annotator")
    if with_protocol:
        _apply_protocol(ctx, PHANTOM_STUDY)


def build_demo(ctx: AppContext, *, progress: Progress | None = None, with_protocol: bool = True) -> DemoSummary:
    """Build both demo studies unless they exist; return their summary.

    ``with_protocol=False`` leaves the reading protocol (arms, sessions, orders) to the caller.
    """
    created = False
    with ctx.uow() as uow:
        have = {s.name for s in uow.studies.list()}
    if BUSI_STUDY not in have:
        build_busi(ctx, progress, with_protocol=with_protocol)
        created = True
    if PHANTOM_STUDY not in have:
        build_phantom(ctx, progress=progress, with_protocol=with_protocol)
        created = True
    return DemoSummary({name: _summarise(ctx, name) for name in (BUSI_STUDY, PHANTOM_STUDY)}, created)
