"""Engine benchmarks: teacher vs student size and latency, U-Net step and 50-step DDIM image time.

Run as a script (``python benchmarks/bench_engine.py [--device cuda] [--preset paper]``) or import
and call :func:`run`, which returns rows ``{"name", "value", "unit", "baseline", "baseline_value",
"ratio"}`` with ``ratio = value / baseline_value``. Baselines are either the other model of a pair
(teacher for the student, contiguous for channels_last) or the paper's / ``engine.md``'s figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

# engine.md section 2 (2-core EPYC, clean runs): U-Net sampling step b1 and 50-step DDIM image b1.
NOTE_UNET_STEP_MS = {"tiny": 13.0, "default": 13.0, "paper": 329.0}
NOTE_DDIM50_S = {"tiny": 0.65, "default": 0.65, "paper": 20.5}
PAPER_PARAM_FRACTION = 9.7 / 25.8  # the paper's own student/teacher sizes (37.6 %; it prints 37.3 %)
PAPER_SPEEDUP = 2.7


def _row(name, value, unit, baseline, baseline_value):
    ratio = value / baseline_value if baseline_value else float("nan")
    return {"name": name, "value": round(float(value), 6), "unit": unit, "baseline": baseline,
            "baseline_value": round(float(baseline_value), 6), "ratio": round(ratio, 4)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn, device, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def bench_classifiers(size: int, device: torch.device, repeat: int = 10) -> list[dict]:
    """Parameters and batch-1 latency of the paper's teacher and student at ``size`` px."""
    from engine.models import ConvClassifier, student_config, teacher_config

    t = ConvClassifier(**teacher_config(size)).to(device).eval()
    s = ConvClassifier(**student_config(size)).to(device).eval()
    nt, ns = (sum(p.numel() for p in m.parameters()) for m in (t, s))
    rows = [_row(f"student_params_{size}", ns, "params", f"teacher_params_{size}", nt),
            _row(f"student_param_fraction_{size}", ns / nt, "fraction", "paper_9.7M/25.8M",
                 PAPER_PARAM_FRACTION)]
    x = torch.rand(1, 1, size, size, device=device)
    lat = {}
    for fmt in ("contiguous", "channels_last"):
        mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
        xi = x.contiguous(memory_format=mf)
        for name, m in (("teacher", t), ("student", s)):
            m.to(memory_format=mf)
            lat[name, fmt] = _median_time(lambda m=m, xi=xi: m(xi), device, repeat) * 1e3
    for fmt in ("contiguous", "channels_last"):
        rows.append(_row(f"student_b1_ms_{size}_{fmt}", lat["student", fmt], "ms",
                         f"teacher_b1_ms_{size}_{fmt}", lat["teacher", fmt]))
        rows.append(_row(f"student_speedup_b1_{size}_{fmt}", lat["teacher", fmt] / lat["student", fmt],
                         "x", "paper_speedup", PAPER_SPEEDUP))
    for name in ("teacher", "student"):
        rows.append(_row(f"{name}_b1_ms_{size}_channels_last", lat[name, "channels_last"], "ms",
                         f"{name}_b1_ms_{size}_contiguous", lat[name, "contiguous"]))
    return rows


@torch.no_grad()
def bench_generation(preset: str, device: torch.device, repeat: int = 5, batch: int = 0) -> list[dict]:
    """U-Net step (b1), 50-step DDIM image (b1, with the preset's CFG) and batched images/s."""
    from engine.models import USVAE, ConditionalLatentUNet, TextEmbedder
    from engine.pipelines.generation import GenerationPipeline
    from engine.presets import get_preset, unet_kwargs
    from engine.training import make_train_scheduler

    p = get_preset(preset)
    torch.manual_seed(0)
    vae = USVAE(image_size=p.image_size, **p.vae)
    unet = ConditionalLatentUNet(latent_size=vae.latent_size, latent_channels=p.vae["latent_channels"], **unet_kwargs(p))
    pipe = GenerationPipeline(vae, unet, make_train_scheduler(), TextEmbedder("hashed"), device)
    n_params = sum(q.numel() for q in unet.parameters())
    ls = vae.latent_size
    z = torch.randn(1, p.vae["latent_channels"], ls, ls, device=device)
    args = (z, torch.tensor([500], device=device), torch.tensor([1], device=device),
            torch.ones(1, 1, p.image_size, p.image_size, device=device), torch.zeros(1, 384, device=device))
    step_ms = _median_time(lambda: unet(*args), device, max(repeat, 5)) * 1e3
    mask = (torch.rand(p.image_size, p.image_size) > 0.5).numpy()
    one = lambda: pipe([mask], [1], ["oval"], seeds=[0], num_inference_steps=50,  # noqa: E731
                       guidance_scale=p.guidance_scale, sampler="ddim")
    img_s = _median_time(one, device, max(1, repeat // 2), warmup=1)
    rows = [_row(f"unet_params_{preset}", n_params, "params", "engine_md_paper_unet", 56.1e6),
            _row(f"unet_step_b1_ms_{preset}", step_ms, "ms", "engine_md_cpu", NOTE_UNET_STEP_MS[preset]),
            _row(f"ddim50_image_b1_s_{preset}", img_s, "s", "engine_md_cpu", NOTE_DDIM50_S[preset])]
    if batch:
        many = lambda: pipe([mask] * batch, [1] * batch, ["oval"] * batch,  # noqa: E731
                            seeds=list(range(batch)), num_inference_steps=50,
                            guidance_scale=p.guidance_scale, batch_size=batch)
        t = _median_time(many, device, 1, warmup=1)
        rows.append(_row(f"ddim50_images_per_s_b{batch}_{preset}", batch / t, "images/s",
                         f"ddim50_images_per_s_b1_{preset}", 1.0 / img_s))
    return rows


def run(device: str = "cpu", presets: tuple[str, ...] = ("tiny", "default"),
        classifier_sizes: tuple[int, ...] = (64, 256), batch: int = 0, threads: int | None = 2) -> list[dict]:
    """All engine benchmarks on ``device``; returns the rows (see module docstring)."""
    if threads and device == "cpu":
        torch.set_num_threads(threads)
    dev = torch.device(device)
    rows: list[dict] = []
    for size in classifier_sizes:
        rows += bench_classifiers(size, dev)
    for preset in presets:
        rows += bench_generation(preset, dev, batch=batch)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", action="append", help="tiny, default or paper (repeatable)")
    ap.add_argument("--batch", type=int, default=None, help="batched-generation size (0 = skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = ap.parse_args(argv)
    presets = tuple(a.preset or ("tiny", "default"))
    sizes = (256,) if "paper" in presets else (64, 256)
    batch = a.batch if a.batch is not None else (32 if a.device.startswith("cuda") else 0)
    rows = run(a.device, presets, sizes, batch, a.threads)
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['name']:42s} {r['value']:>14.4g} {r['unit']:9s} vs {r['baseline']:32s} "
              f"{r['baseline_value']:>12.4g}  ratio {r['ratio']:.3f}")


if __name__ == "__main__":
    main()
