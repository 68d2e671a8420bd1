"""Synthesis benchmarks: seconds per variant, cost of the concatenated mask, mask fidelity.

Rows (``python benchmarks/bench_synthesis.py [--cases N] [--device cuda]`` or :func:`run`):

* ``variant_s_default``: seconds per variant of "Generate variants" with the shipped generator
  (default preset, DPM-Solver++ 20 steps, CFG 4, 4 variants, figures and segmenter included),
  against engine.md's one 50-step DDIM image without CFG;
* ``unet_step_cfg_ms_concat``: one U-Net call at batch 2 (CFG) with the concatenated mask, against
  the same U-Net with the paper-literal global mask code only (the issue measured 1.05x);
* ``pauc_own_generated``, ``pauc_moved_generated``, ``pauc_shuffled_generated``,
  ``dice_own_generated``: the shipped generator's mask fidelity on ``cases`` demo masks (never
  seen in training), against the real images' own-mask figures (or chance, 0.5, for shuffled);
* ``suggest_mask_dice_demo``: "Suggest mask" against the 79 demo cases' expert masks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
NOTE_DDIM50_S = 0.65  # engine.md section 2: one tiny-U-Net image, 50 DDIM steps, no CFG, 2 cores


def _row(name, value, unit, baseline, baseline_value):
    ratio = value / baseline_value if baseline_value else float("nan")
    return {"name": name, "value": round(float(value), 6), "unit": unit, "baseline": baseline,
            "baseline_value": round(float(baseline_value), 6), "ratio": round(ratio, 4)}


def bench_variant_seconds(device: str) -> list[dict]:
    from readerstudy.services import synthesis as syn

    mask = np.zeros((300, 400), np.uint8)
    mask[100:180, 150:260] = 1
    settings = syn.SamplerSettings("dpm", 20, 4.0, 0, 4)
    syn.generate_variants(mask, 1, syn.prompt_templates()[1], syn.SamplerSettings("dpm", 2, 4.0, 0, 1),
                          device=device)  # warm-up: loads and caches the models
    times = []
    for _ in range(2):
        batch = syn.generate_variants(mask, 1, syn.prompt_templates()[1], settings, device=device)
        times.append(batch.seconds_per_variant)
    return [_row("variant_s_default", statistics.median(times), "s", "engine_md_ddim50_no_cfg", NOTE_DDIM50_S)]


def bench_concat_cost(device: str, repeat: int = 20) -> list[dict]:
    from engine.models import ConditionalLatentUNet
    from engine.presets import get_preset, unet_kwargs

    out = {}
    for cond in ("concat", "paper-literal"):
        p = get_preset("default", mask_conditioning=cond)
        torch.manual_seed(0)
        unet = ConditionalLatentUNet(latent_size=16, latent_channels=4, **unet_kwargs(p)).to(device).eval()
        args = (torch.randn(2, 4, 16, 16, device=device), torch.tensor([500, 500], device=device),
                torch.tensor([1, 2], device=device), torch.ones(2, 1, 64, 64, device=device),
                torch.zeros(2, 384, device=device))
        with torch.no_grad():
            for _ in range(3):
                unet(*args)
            ts = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                unet(*args)
                ts.append(time.perf_counter() - t0)
        out[cond] = statistics.median(ts) * 1e3
    return [_row("unet_step_cfg_ms_concat", out["concat"], "ms", "unet_step_cfg_ms_paper_literal", out["paper-literal"])]


def bench_fidelity(device: str, cases: int) -> list[dict]:
    from engine.data import load_busi
    from engine.pipelines.fidelity import fidelity_table
    from readerstudy.services import synthesis as syn

    demo = load_busi(ROOT / "resources" / "demo" / "busi")
    demo = demo[:: max(1, len(demo) // cases)][:cases]
    pipe, _ = syn.load_generator(device=device)
    seg, _ = syn.load_segmenter(device=device)
    t = fidelity_table(demo, {"shipped": pipe}, segmenter=seg, guidance_scale=4.0)
    r = {(x["images"], x["mask"]): x for x in t["rows"]}
    real = r[("real", "own")]
    return [
        _row("pauc_own_generated", r[("shipped", "own")]["pauc"]["mean"], "pAUC", "pauc_own_real", real["pauc"]["mean"]),
        _row("pauc_moved_generated", r[("shipped", "moved")]["pauc"]["mean"], "pAUC", "pauc_own_generated",
             r[("shipped", "own")]["pauc"]["mean"]),
        _row("pauc_shuffled_generated", r[("shipped", "shuffled")]["pauc"]["mean"], "pAUC", "chance", 0.5),
        _row("dice_own_generated", r[("shipped", "own")]["dice"]["mean"], "Dice", "dice_own_real", real["dice"]["mean"]),
    ]


def bench_suggest_mask() -> list[dict]:
    """Dice of "Suggest mask" (the annotation window's path: image through the default display window,
    largest component) against the expert masks of all 79 demo cases, vs the segmenter at 64 px."""
    from engine.data import load_busi
    from engine.metrics.mask_fidelity import dice
    from readerstudy.services.mask_suggestion import display_grey, suggest_mask

    demo = load_busi(ROOT / "resources" / "demo" / "busi")
    d = []
    for c in demo:
        px = c.image * 255.0
        d.append(dice(suggest_mask(display_grey(px, tuple(np.percentile(px, [0.5, 99.5])))).mask, c.mask))
    prov = json.loads((ROOT / "resources" / "models" / "lesion-segmenter-busi" / "provenance.json").read_text())
    ref = prov["figures"]["demo_external"]["dice_64px"]["mean"]
    return [_row("suggest_mask_dice_demo", float(np.mean(d)), "Dice", "segmenter_dice_demo_64px", ref)]


def run(device: str = "cpu", cases: int = 24, threads: int | None = 1) -> list[dict]:
    """All synthesis benchmarks; ``threads=1`` is the fastest on a shared 2-core machine (small convolutions)."""
    if threads and device == "cpu":
        torch.set_num_threads(threads)
    return (bench_variant_seconds(device) + bench_concat_cost(device) + bench_fidelity(device, cases)
            + bench_suggest_mask())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rows = run(a.device, a.cases, a.threads)
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['name']:28s} {r['value']:>10.4g} {r['unit']:5s} vs {r['baseline']:32s} "
              f"{r['baseline_value']:>10.4g}  ratio {r['ratio']:.3f}")


if __name__ == "__main__":
    main()
