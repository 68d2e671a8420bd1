"""Use case: build the built-in demo studies.

* "BUSI benign vs malignant": the 79 benign and malignant breast-ultrasound images of the
  bundled BUSI sample (Al-Dhabyani et al. 2020, CC0) with their tumour masks as annotations,
  3 readers (senior, mid-level, junior; PIN 0000), one annotator, one coordinator, arms
  "unaided" and "AI-aided" (sequential).
  The AI reader of the AI-aided arm is the shipped DiffKD student (``resources/models/
  diffkd-student-busi``, trained on busi-train, never on these cases): its probability and
  Grad-CAM map are stored for every case, and its AUC on the 79 cases (an external test) is
  stored on the model (``Model.config["study_evaluation"]``). Nothing is trained here.
* "Phantom liver CT/PET": 6 deterministic synthetic CT volumes, each with a PET (SUV, float32)
  on the same grid (registered; PET-avid tumours) stored as a ``"pet"`` asset, and liver/tumour
  masks, for the volume paths. ``resources/protocols/demo_phantom.toml``: one unaided arm, PET
  hung fused over the CT (hot colour map, 50 %), and phantom00 as the practice case.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from readerstudy.core.errors import PermissionDenied
from readerstudy.core.models import Role
from readerstudy.imaging.nifti import write_nifti
from readerstudy.imaging.phantom import make_phantom
from readerstudy.paths import demo_dir, resources_dir, shipped_model_dir
from readerstudy.services.auth import UserSession, is_local_session, scope
from readerstudy.services.context import AppContext
from readerstudy.services.importing import CaseSource, import_cases
from readerstudy.storage.store import sha256_file

BUSI_STUDY = "BUSI benign vs malignant"
PHANTOM_STUDY = "Phantom liver CT/PET"
DEMO_PIN = "0000"
#: Reader name of the shipped model in the demo study (the AI-aided arm of demo_busi.toml shows it).
SHIPPED_MODEL = "DiffKD-student (busi-train)"
BUSI_READERS = (("Senior radiologist", "senior"), ("Mid-level radiologist", "mid"),
                ("Junior radiologist", "junior"))
PHANTOM_LABELS = {"name": "liver/tumour", "labels": [{"id": 1, "name": "liver", "color": "#a0522d"},
                                                     {"id": 2, "name": "tumour", "color": "#ff3030"}]}
Progress = Callable[[int, int, str], None]


@dataclass
class DemoSummary:
    studies: dict[str, dict[str, int]] = field(default_factory=dict)
    created: bool = True
    models: list[str] = field(default_factory=list)  # one line per model reader (its figures)

    def lines(self) -> list[str]:
        out = []
        def n(k: int, noun: str) -> str:
            return f"{k} {noun}" if k == 1 else f"{k} {noun}s"

        for name, s in self.studies.items():
            out.append(f"{name}: {n(s['cases'], 'case')} ({s['positives']} positive), {n(s['masks'], 'mask')}, "
                       f"{n(s['readers'], 'reader')}, {n(s['annotators'], 'annotator')}, "
                       f"{n(s['coordinators'], 'coordinator')}, {n(s['arms'], 'arm')}, "
                       f"{n(s['assignments'], 'reading assignment')}")
        return out + self.models


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


def _require_cli(session: UserSession) -> None:
    """The demo studies are built by ``readerstudy demo`` (the CLI's local session), not from a window."""
    if not is_local_session(session):
        raise PermissionDenied("The demo studies are built with `readerstudy demo` on the command line.")


def _apply_protocol(ctx: AppContext, session: UserSession, study_name: str, file: str = "demo_busi.toml",
                    n_cases: int | None = None) -> None:
    """Arms, sessions and each reader's seeded order, from ``resources/protocols/<file>``.

    ``n_cases`` < 2 (a one-case phantom) leaves out the protocol's practice cases (nothing would be scored).
    """
    import dataclasses

    from readerstudy.services.assignments import apply_protocol, load_protocol_file

    protocol = load_protocol_file(resources_dir() / "protocols" / file)
    if n_cases is not None and n_cases < 2:
        protocol = dataclasses.replace(protocol, practice=())
    apply_protocol(ctx, scope(ctx, session, study_name), protocol)


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


def add_shipped_model(ctx: AppContext, session: UserSession, study_name: str = BUSI_STUDY,
                      progress: Progress | None = None) -> dict:
    """Add the shipped DiffKD student as a model reader of ``study_name``: a prediction and a
    saliency map per case (inference only, CPU), then its figures on the study's ground truth.

    Returns the evaluation (:func:`readerstudy.services.model_card.evaluate_model_on_study`).
    Raises :class:`~readerstudy.core.errors.NotFoundError` when the checkpoint is missing.
    """
    from readerstudy.services.engine_adapter import predict_study
    from readerstudy.services.model_card import evaluate_model_on_study

    predict_study(ctx, session, study_name, shipped_model_dir() / "student", model_name=SHIPPED_MODEL,
                  device="cpu", progress=progress)
    return evaluate_model_on_study(ctx, session, study_name, SHIPPED_MODEL) or {}


def build_busi(ctx: AppContext, session: UserSession, progress: Progress | None = None, *,
               with_protocol: bool = True, with_model: bool = True) -> None:
    _require_cli(session)
    report = import_cases(ctx, session, BUSI_STUDY, busi_sources(), annotator="Expert annotator", progress=progress,
                          description="Real breast ultrasound (BUSI, Al-Dhabyani et al. 2020, CC0): "
                                      "benign vs malignant, with tumour masks.")
    if report.refused:
        raise RuntimeError(f"bundled BUSI images were refused: {report.refused[:3]}")
    with ctx.uow() as uow:
        study_id = uow.studies.by_name(BUSI_STUDY).id
    _add_people(ctx, study_id, BUSI_READERS)
    _set_pin(ctx, study_id, "Expert annotator")
    if with_model:
        add_shipped_model(ctx, session, BUSI_STUDY, progress)
    if with_protocol:
        _apply_protocol(ctx, session, BUSI_STUDY)


def build_phantom(ctx: AppContext, session: UserSession, n: int = 6, progress: Progress | None = None, *,
                  with_protocol: bool = True) -> None:
    _require_cli(session)
    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        for i in range(n):
            p = make_phantom(i)
            img, msk = Path(tmp) / f"phantom{i:02d}_ct.nii.gz", Path(tmp) / f"phantom{i:02d}_ct_mask.nii.gz"
            write_nifti(p.ct, img, spacing=p.spacing)
            write_nifti(p.mask, msk, spacing=p.spacing)
            sources.append(CaseSource(f"phantom{i:02d}", img, (msk,), p.malignant, site="synthetic", modality="CT"))
        report = import_cases(ctx, session, PHANTOM_STUDY, sources, annotator="Expert annotator", progress=progress,
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
            uow.audit.append("demo", "asset.add", "case", case.id, {"kind": "pet", **uow.audit.case_files(case.id)})
        uow.commit()
        study_id = study.id
    _add_people(ctx, study_id, (("Reader 1", "senior"), ("Reader 2", "junior")))
    _set_pin(ctx, study_id, "Expert annotator")
    if with_protocol:
        _apply_protocol(ctx, session, PHANTOM_STUDY, "demo_phantom.toml", n)


def build_demo(ctx: AppContext, session: UserSession, *, progress: Progress | None = None,
               with_protocol: bool = True, with_model: bool = True) -> DemoSummary:
    """Build both demo studies unless they exist; return their summary.

    ``with_protocol=False`` leaves the reading protocol (arms, sessions, orders) to the caller;
    ``with_model=False`` leaves out the shipped model's predictions (the AI-aided arm then sets
    its cases aside until a model is run).
    """
    _require_cli(session)
    created = False
    with ctx.uow(read=True) as uow:
        have = {s.name for s in uow.studies.list()}
    if BUSI_STUDY not in have:
        build_busi(ctx, session, progress, with_protocol=with_protocol, with_model=with_model)
        created = True
    if PHANTOM_STUDY not in have:
        build_phantom(ctx, session, progress=progress, with_protocol=with_protocol)
        created = True
    return DemoSummary({name: _summarise(ctx, name) for name in (BUSI_STUDY, PHANTOM_STUDY)}, created,
                       _model_lines(ctx, session, BUSI_STUDY))


def _model_lines(ctx: AppContext, session: UserSession, study_name: str) -> list[str]:
    from readerstudy.services.model_card import model_cards

    out = []
    for card in model_cards(ctx, session, study_name):
        e = card.evaluation
        if e.get("auc", {}).get("auc") is None:
            out.append(f"{study_name}: AI reader {card.name} v{card.version}")
            continue
        a, acc = e["auc"], e["accuracy"]
        out.append(f"{study_name}: AI reader {card.name} v{card.version}, trained on {card.trained_on or 'unknown data'}; "
                   f"on these {e['n']} cases{' (external test)' if card.name == SHIPPED_MODEL else ''}: AUC {a['auc']:.3f} (DeLong 95% CI {a['ci_low']:.3f}-"
                   f"{a['ci_high']:.3f}), sensitivity {acc['sensitivity']['value']:.3f}, specificity "
                   f"{acc['specificity']['value']:.3f} at 50 %")
    return out
