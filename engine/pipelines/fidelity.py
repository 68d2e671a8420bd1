"""The mask-fidelity table: real images, VAE reconstructions and generators, each read with the
case's own mask, a shuffled mask and (for generators) a moved mask.

Rows (all at the generators' image size, 4-px ring; :mod:`engine.metrics.mask_fidelity`):

* ``real / own``: real image, its expert mask (the target a generator should reach);
* ``real / shuffled``: real image read with another case's mask (chance: contrast 0, pAUC 0.5);
* ``vae / own``: VAE reconstruction of the real image (the ceiling of a latent model);
* ``<generator> / own``: generated with the case's mask, label and prompt, read with that mask;
* ``<generator> / shuffled``: the same images read with another case's mask (chance if the lesion
  is where the conditioning mask put it, and nowhere else);
* ``<generator> / moved``: generated with the mask moved by a quarter image
  (:func:`~engine.metrics.mask_fidelity.move_mask`), read at the new place; within 0.03 of ``own``
  when the model follows the mask;
* ``<generator> / moved, read at the old place``: the same images read with the unmoved mask
  (falls towards chance when the lesion moved away).

Each row has contrast, pAUC and, with a segmenter, the Dice of the segmenter's mask of the image
against the mask it is read with; every figure is the mean over cases with a bootstrap 95 % CI.
With ``variants > 1`` a case's figure is the mean over its variants.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from engine.data.tensors import resize_image, resize_mask
from engine.metrics.mask_fidelity import (
    RING_PX,
    dice,
    fidelity_per_case,
    move_mask,
    shuffled_pairs,
    summarize_fidelity,
)
from engine.progress import ProgressCallback, null_progress

__all__ = ["fidelity_table", "fidelity_rows", "format_table"]


def _state_hash(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def fidelity_rows(images: np.ndarray, read_masks: np.ndarray, segmenter=None, variants: int = 1) -> dict:
    """Per-case contrast, pAUC (and Dice with a segmenter) of ``images`` (N*variants, S, S) read with
    ``read_masks`` (N, S, S); image ``k`` belongs to case ``k // variants``."""
    reps = np.repeat(read_masks, variants, axis=0)
    per = fidelity_per_case(images, reps)
    if segmenter is not None:
        from engine.pipelines.segment import segment

        pred = segment(segmenter, list(images)).masks
        per["dice"] = np.asarray([dice(p, m) for p, m in zip(pred, reps, strict=True)])
    n = len(read_masks)
    return {k: np.nanmean(v.reshape(n, variants), axis=1) if variants > 1 else v for k, v in per.items()}


def _vae_rows(gens: dict, real: torch.Tensor, masks: np.ndarray, segmenter) -> dict:
    out, seen = {}, set()
    for name, g in gens.items():
        key = _state_hash(g.vae)
        if key in seen:
            continue
        seen.add(key)
        with torch.no_grad():
            rec = torch.cat([g.vae.reconstruct(real[i:i + 32].to(g.device)).cpu()
                             for i in range(0, len(real), 32)])[:, 0].numpy()
        label = "vae" if len(gens) == 1 or len(seen) == 1 else f"vae ({name})"
        out[(label, "own")] = fidelity_rows(rec, masks, segmenter)
    return out


def fidelity_table(cases, generators: dict, *, segmenter=None, seed: int = 0, variants: int = 1,
                   sampler: str = "dpm", steps: int = 20, guidance_scale: float = 2.0,
                   progress: ProgressCallback | None = None) -> dict:
    """Measure the mask fidelity of ``generators`` on ``cases`` (``engine.data.Case`` with masks).

    Parameters
    ----------
    cases
        Held-out cases with non-empty masks (cases with empty masks are dropped).
    generators
        Name -> :class:`~engine.pipelines.generation.GenerationPipeline` (all of one image size).
    segmenter
        Optional :class:`~engine.models.segmenter.LesionSegmenter` for the Dice figures.
    seed, variants
        Case ``i``'s variant ``k`` uses seed ``seed * 100_000 + i * variants + k``; the shuffled
        control uses :func:`~engine.metrics.mask_fidelity.shuffled_pairs` with ``seed``.
    sampler, steps, guidance_scale
        Sampler settings (default: the ``default`` preset's DPM-Solver++ 20 steps, CFG 2).

    Returns
    -------
    dict
        ``rows`` (list of ``{"images", "mask", "contrast", "pauc"[, "dice"]}`` summaries with
        ``mean``, ``ci_low``, ``ci_high``, ``n``), ``per_case`` (the same figures per case),
        ``case_ids`` and the settings.
    """
    progress = progress or null_progress
    cases = [c for c in cases if np.asarray(c.mask).any()]
    sizes = {int(g.vae.config.image_size) for g in generators.values()}
    if len(sizes) != 1:
        raise ValueError(f"all generators must have one image size, got {sorted(sizes)}")
    size = sizes.pop()
    real = torch.stack([resize_image(c.image, size) for c in cases])
    masks = np.stack([resize_mask(c.mask, size)[0].numpy() for c in cases]).astype(np.uint8)
    perm = shuffled_pairs(len(cases), seed)
    moved = np.stack([move_mask(m) for m in masks])
    rows = {("real", "own"): fidelity_rows(real[:, 0].numpy(), masks, segmenter),
            ("real", "shuffled"): fidelity_rows(real[:, 0].numpy(), masks[perm], segmenter)}
    rows.update(_vae_rows(generators, real, masks, segmenter))
    labels = [c.label for c in cases for _ in range(variants)]
    prompts = [c.prompt for c in cases for _ in range(variants)]
    seeds = [seed * 100_000 + i for i in range(len(cases) * variants)]
    kw = dict(seeds=seeds, num_inference_steps=steps, guidance_scale=guidance_scale, sampler=sampler)
    for name, g in generators.items():
        progress(0, 1, f"{name}: generating {len(seeds)} images with their own masks")
        own = g(list(np.repeat(masks, variants, axis=0)), labels, prompts, **kw)
        progress(0, 1, f"{name}: generating {len(seeds)} images with moved masks")
        mov = g(list(np.repeat(moved, variants, axis=0)), labels, prompts, **kw)
        rows[(name, "own")] = fidelity_rows(own, masks, segmenter, variants)
        rows[(name, "shuffled")] = fidelity_rows(own, masks[perm], segmenter, variants)
        rows[(name, "moved")] = fidelity_rows(mov, moved, segmenter, variants)
        rows[(name, "moved, read at the old place")] = fidelity_rows(mov, masks, segmenter, variants)
    return {
        "image_size": size, "ring_px": RING_PX, "n_cases": len(cases), "variants": variants, "seed": seed,
        "sampler": sampler, "steps": steps, "guidance_scale": guidance_scale,
        "case_ids": [c.case_id for c in cases],
        "rows": [{"images": i, "mask": m, **summarize_fidelity(v, seed=seed)} for (i, m), v in rows.items()],
        "per_case": {f"{i} / {m}": {k: [round(float(x), 4) for x in a] for k, a in v.items()}
                     for (i, m), v in rows.items()},
    }


def _cell(s: dict, ci: bool) -> str:
    if s["n"] == 0:
        return "-"
    return f"{s['mean']:+.3f} [{s['ci_low']:+.3f}, {s['ci_high']:+.3f}]" if ci else f"{s['mean']:.3f}"


def format_table(table: dict) -> str:
    """The rows of :func:`fidelity_table` as a Markdown table (contrast with CI, pAUC, Dice)."""
    has_dice = any("dice" in r for r in table["rows"])
    head = "| images | mask | contrast [95 % CI] | pAUC [95 % CI] |" + (" Dice [95 % CI] |" if has_dice else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in table["rows"]:
        cells = [r["images"], r["mask"], _cell(r["contrast"], True), _cell(r["pauc"], True).replace("+", "")]
        if has_dice:
            cells.append(_cell(r["dice"], True).replace("+", "") if "dice" in r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
