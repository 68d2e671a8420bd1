"""``readerstudy engine generate-from-mask``: synthetic images of a lesion where a mask puts it.

    readerstudy engine generate-from-mask --mask MASK.png [--model DIR] [--label L] [--prompt TEXT]
                                          --count N --seed S --out DIR [--sampler dpm|ddim]
                                          [--steps K] [--guidance G] [--image REAL.png]

Without ``--model`` the generator shipped in the repository is used. ``OUT`` receives
``variant-<k>-seed<seed>.png`` at the generator's size, ``mask-as-used.png`` and one provenance JSON
per image (generator checkpoint hash, seed, sampler, steps, guidance, class, prompt, mask checksums,
mask-fidelity figures). Exit codes: 0 ok, 2 usage, 3 invalid input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register_actions(esub: argparse._SubParsersAction) -> None:
    """Add the synthesis actions to ``readerstudy engine``."""
    p = esub.add_parser("generate-from-mask", help="generate images with the lesion where MASK.png puts it")
    p.add_argument("--mask", type=Path, required=True, help="PNG mask (non-zero = lesion), any size")
    p.add_argument("--model", type=Path, default=None,
                   help="generator folder (vae/, unet/, scheduler/); default: the shipped generator")
    p.add_argument("--label", type=int, choices=(0, 1), default=1, help="class: 0 benign, 1 malignant (default 1)")
    p.add_argument("--prompt", default=None, help="text condition (default: the class's template prompt)")
    p.add_argument("--count", type=int, required=True, help="number of images")
    p.add_argument("--seed", type=int, required=True, help="seed of the first image (image k uses seed + k)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--sampler", choices=("dpm", "ddim"), default="dpm")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=4.0,
                   help="classifier-free guidance scale (1 = none; default 4: see engine/README.md)")
    p.add_argument("--image", type=Path, default=None, help="the real image, for PSNR/SSIM in the provenance")
    p.add_argument("--no-segmenter", action="store_true", help="skip the segmenter's Dice figure")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_generate)


def _read_image(path: Path):  # noqa: ANN202
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from readerstudy.core.errors import ValidationError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise ValidationError(f"{path}: cannot read the image ({exc}).") from exc


def _generate(args: argparse.Namespace) -> int:
    from readerstudy.core.errors import ValidationError
    from readerstudy.services import synthesis as syn

    mask = syn.read_mask_png(args.mask)
    image = _read_image(args.image) if args.image else None
    if image is not None and image.shape != mask.shape:
        raise ValidationError(f"--image is {image.shape[1]}x{image.shape[0]} px but --mask is "
                              f"{mask.shape[1]}x{mask.shape[0]}; give the mask of that image.")
    prompt = args.prompt if args.prompt is not None else syn.prompt_templates()[args.label]
    settings = syn.SamplerSettings(args.sampler, args.steps, args.guidance, args.seed, args.count)
    batch = syn.generate_variants(mask, args.label, prompt, settings, image=image, model_dir=args.model,
                                  use_segmenter=not args.no_segmenter,
                                  mask_source={"file": str(args.mask)}, device=args.device)
    paths = syn.write_variants(batch, args.out)
    for path, v in zip(paths, batch.variants, strict=True):
        figs = ", ".join(f"{k} {x:.3f}" for k, x in v.metrics.items())
        print(f"{path}  ({figs})")
    print(json.dumps({"images": len(paths), "out": str(args.out), "generator_sha256": batch.model["sha256"],
                      "seconds_per_variant": round(batch.seconds_per_variant, 3)}))
    return 0
