"""Train the shipped lesion segmenter on busi-train and write its provenance.

    python benchmarks/shipped_segmenter.py --data ../shared/data/busi-train [--work DIR] [--steps N]

The segmenter (:class:`engine.models.segmenter.LesionSegmenter`, a MONAI residual U-Net) is the
segmentation-based mask-fidelity metric of the generator and the annotation window's "Suggest
mask". It trains on every busi-train image (benign, malignant and normal: normal images teach it
that there may be no lesion) except a seeded 10 % monitoring split, at the generator's 64 px. The
demo cases (``resources/demo/busi``, 79 benign/malignant) are never used for training or for any
choice: their Dice is the external test, reported at 64 px and at the images' own size.

Output: ``resources/models/lesion-segmenter-busi/segmenter/`` (fp16 weights + config),
``provenance.json`` and ``PROVENANCE.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import data_checksums, file_table, versions  # noqa: E402

TARGET = ROOT / "resources" / "models" / "lesion-segmenter-busi"
DEMO = ROOT / "resources" / "demo" / "busi"
CONFIG = dict(image_size=64, channels=(16, 32, 64, 128, 256), num_res_units=2, dropout=0.1)


def load_all(root: Path):
    """Benign, malignant and normal cases of a BUSI-style folder (normal masks are empty)."""
    from engine.data import load_busi

    cases = load_busi(root)
    if (root / "normal").is_dir():
        cases += [c for c in load_busi(root, classes=("normal", "benign")) if c.case_id.startswith("normal")]
    return cases


def dice_table(model, cases, device) -> dict:
    from engine.data.tensors import resize_image, resize_mask
    from engine.metrics.mask_fidelity import bootstrap_mean, dice
    from engine.pipelines.segment import segment

    size = int(model.config.image_size)
    small = [resize_image(c.image, size)[0].numpy() for c in cases]
    res_small = segment(model, small, device=device)
    d_small = [dice(p, resize_mask(c.mask, size)[0].numpy()) for p, c in zip(res_small.masks, cases, strict=True)]
    res_full = segment(model, [c.image for c in cases], device=device)
    d_full = [dice(p, c.mask) for p, c in zip(res_full.masks, cases, strict=True)]
    return {"n": len(cases), f"dice_{size}px": bootstrap_mean(d_small).as_dict(),
            "dice_native": bootstrap_mean(d_full).as_dict(),
            "per_case_native": {c.case_id: round(d, 4) for c, d in zip(cases, d_full, strict=True)}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "busi-train")
    ap.add_argument("--work", type=Path, default=Path("/tmp/segmenter-work"))
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a loaded 2-core VM)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from engine.data.tensors import cases_to_tensors
    from engine.models.segmenter import LesionSegmenter
    from engine.training.lesion_segmenter import train_lesion_segmenter
    from engine.training.loop import LoopConfig

    t0 = time.perf_counter()
    cases = load_all(args.data)
    rng = np.random.default_rng(args.seed)
    val_idx = set(rng.permutation(len(cases))[: len(cases) // 10].tolist())
    train = [c for i, c in enumerate(cases) if i not in val_idx]
    val = [c for i, c in enumerate(cases) if i in val_idx and c.mask.any()]
    data = cases_to_tensors(train, CONFIG["image_size"])
    torch.manual_seed(args.seed)
    model = LesionSegmenter(**CONFIG)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    loop = LoopConfig(steps=args.steps, batch_size=args.batch, seed=args.seed, checkpoint_dir=args.work,
                      checkpoint_every=500, log_every=100)

    def progress(step, total, msg):
        print(f"{time.strftime('%H:%M:%S')} {step}/{total} {msg}", flush=True)

    res = train_lesion_segmenter(model, opt, data["images"], data["masks"], loop=loop, device="cpu", progress=progress)
    train_s = time.perf_counter() - t0
    model.eval()
    from engine.data import load_busi

    demo = load_busi(DEMO)
    figures = {"validation_busi_train": dice_table(model, val, "cpu"), "demo_external": dice_table(model, demo, "cpu")}
    out = TARGET / "segmenter"
    model.to(torch.float16).save_pretrained(out)
    doc = {
        "what": "lesion segmenter (MONAI residual U-Net), the mask-fidelity metric and 'Suggest mask'",
        "command": f"python benchmarks/shipped_segmenter.py --steps {args.steps} --batch {args.batch} "
                   f"--lr {args.lr} --seed {args.seed}",
        "config": CONFIG, "steps": args.steps, "batch": args.batch, "lr": args.lr, "seed": args.seed,
        "optimizer": "AdamW(weight_decay=1e-4)", "loss": "MONAI DiceCELoss(sigmoid, batch Dice)",
        "augmentation": "flip, rotation 15 deg, scale 0.85-1.15, shift 10 %, brightness/contrast 0.1",
        "weights_dtype": "float16 (loaded as float32)",
        "data": {**data_checksums(args.data, ("benign", "malignant", "normal")), "n_train": len(train),
                 "n_validation_with_lesion": len(val), "validation": "seeded random 10 % of busi-train (monitoring only)"},
        "final_loss": res.final_loss, "loss_every_100": res.losses[::100],
        "wall_s": round(train_s, 1), "torch_threads": args.threads,
        "figures": figures, "versions": versions(ROOT), "files": file_table(out),
    }
    (TARGET / "provenance.json").write_text(json.dumps(doc, indent=2))
    print(json.dumps({k: figures[k][f"dice_{CONFIG['image_size']}px"] for k in figures}, indent=2))
    print(json.dumps({k: figures[k]["dice_native"] for k in figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
