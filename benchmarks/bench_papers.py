"""Benchmarks of the DISC, SSL-guided and REACT-KD engines.

* DISC: seconds per image of separated-conditions sampling with K = 4 labels, the copies batched
  (this engine) and run one after the other (the paper's cost), against vanilla sampling. Target:
  batched SC at most 1.5x vanilla on CPU.
* SSL-guided LDM: one CFG sampling step (cond + uncond in one batch of 2) vs the conditional step.
* REACT-KD: student vs teacher parameters and batch-1 latency at the ``default`` volume size.
* Region-graph GW: POT exact vs the pure-torch log-domain Sinkhorn, forward + backward.

Run as ``python benchmarks/bench_papers.py [--device cuda] [--steps 20]`` or through
``benchmarks/run.py``. The models are randomly initialised at the ``default`` preset sizes
(timing does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

SC_TARGET = 1.5


def _row(name, value, unit, baseline, baseline_value):
    ratio = value / baseline_value if baseline_value else float("nan")
    return {"name": name, "value": round(float(value), 6), "unit": unit, "baseline": baseline,
            "baseline_value": round(float(baseline_value), 6), "ratio": round(ratio, 4)}


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median(fn, device, repeat: int = 3, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def _disc_pipe(device):
    from engine.models import USVAE
    from engine.models.disc_unet import DISCLatentUNet
    from engine.pipelines.disc import DISCPipeline
    from engine.presets_papers import get_paper_preset
    from engine.training import make_train_scheduler

    p = get_paper_preset("disc", "default")
    torch.manual_seed(0)
    vae = USVAE(image_size=p.image_size, **p.vae)
    unet = DISCLatentUNet(latent_size=vae.latent_size, latent_channels=p.vae["latent_channels"], image_size=p.image_size,
                          num_labels=4, token_grid=p.token_grid, token_dim=p.token_dim,
                          tokenizer_channels=p.tokenizer_channels, **p.unet)
    return DISCPipeline(vae, unet, make_train_scheduler(), device), p.image_size


@torch.no_grad()
def bench_disc_sc(device, steps: int, repeat: int) -> list[dict]:
    pipe, size = _disc_pipe(device)
    lab = torch.zeros(1, size, size, dtype=torch.long)
    q = size // 2
    lab[:, :q, q:], lab[:, q:, :q], lab[:, q:, q:] = 1, 2, 3  # all K = 4 labels present

    def vanilla():
        pipe.latents(lab, seeds=[0], mode="vanilla", num_inference_steps=steps)

    def sc_batched():
        pipe.latents(lab, seeds=[0], mode="sc", num_inference_steps=steps, batch_size=64)

    def sc_sequential():
        pipe.latents(lab, seeds=[0], mode="sc", num_inference_steps=steps, batch_size=1)

    tv, tb, ts = (_median(f, device, repeat) for f in (vanilla, sc_batched, sc_sequential))
    return [_row(f"disc_sc_batched_K4_{steps}steps", tb, "s/image", "vanilla", tv),
            _row(f"disc_sc_sequential_K4_{steps}steps", ts, "s/image", "vanilla", tv),
            _row("disc_sc_batched_vs_target", tb / tv, "x vanilla", f"target_{SC_TARGET}x", SC_TARGET)]


@torch.no_grad()
def bench_ssl_cfg(device, repeat: int) -> list[dict]:
    from engine.models.ssl_unet import SSLGuidedUNet
    from engine.presets_papers import get_paper_preset

    p = get_paper_preset("ssl", "default")
    torch.manual_seed(0)
    unet = SSLGuidedUNet(latent_size=p.patch_size // 4, latent_channels=p.vae["latent_channels"],
                         context_dim=p.vit["dim"], **p.unet).to(device).eval()
    z = torch.randn(1, p.vae["latent_channels"], p.patch_size // 4, p.patch_size // 4, device=device)
    ctx = torch.randn(1, 1, p.vit["dim"], device=device)
    t = torch.tensor([500], device=device)
    tc = _median(lambda: unet.guided(z, t, ctx, 1.0), device, repeat * 5)
    tg = _median(lambda: unet.guided(z, t, ctx, 2.0), device, repeat * 5)
    return [_row("ssl_cfg_step_b1", tg * 1e3, "ms", "conditional_step_b1", tc * 1e3)]


@torch.no_grad()
def bench_react(device, repeat: int) -> list[dict]:
    from engine.models.react3d import ReactStudent3D, ReactTeacher3D
    from engine.presets_papers import get_paper_preset

    p = get_paper_preset("reactkd", "default")
    s = p.volume_size
    teacher = ReactTeacher3D(in_channels=2, channels=p.teacher_channels).to(device).eval()
    student = ReactStudent3D(channels=p.student_channels, feature_channels=p.teacher_channels[-1]).to(device).eval()
    x = torch.randn(1, 2, s, s, s, device=device)
    nt, ns = (sum(q.numel() for q in m.parameters()) for m in (teacher, student))
    tt = _median(lambda: teacher(x), device, repeat * 5)
    ts = _median(lambda: student(x), device, repeat * 5)
    return [_row(f"reactkd_student_params_{s}^3", ns, "params", "teacher_petct_params", nt),
            _row(f"reactkd_student_latency_b1_{s}^3", ts * 1e3, "ms", "teacher_petct_latency_b1", tt * 1e3)]


def bench_gw(repeat: int) -> list[dict]:
    from engine.losses.graph_kd import cosine_edges, gromov_wasserstein, pot_available

    torch.manual_seed(0)
    f1, f2 = torch.randn(5, 64), torch.randn(4, 64)

    def run(backend):
        c1 = cosine_edges(f1).requires_grad_(True)
        gromov_wasserstein(c1, cosine_edges(f2), backend=backend).backward()

    ts = _median(lambda: run("sinkhorn"), torch.device("cpu"), repeat * 3)
    if not pot_available():
        return [_row("gw_sinkhorn_5x4_fwd_bwd", ts * 1e3, "ms", "pot_missing", float("nan"))]
    tp = _median(lambda: run("pot"), torch.device("cpu"), repeat * 3)
    return [_row("gw_pot_exact_5x4_fwd_bwd", tp * 1e3, "ms", "sinkhorn_log_domain", ts * 1e3)]


def run(device: str | None = None, steps: int = 20, repeat: int = 3) -> list[dict]:
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rows = bench_disc_sc(dev, steps, repeat) + bench_ssl_cfg(dev, repeat) + bench_react(dev, repeat) + bench_gw(repeat)
    for r in rows:
        r["device"] = str(dev)
        r["threads"] = torch.get_num_threads()
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(json.dumps(run(a.device, a.steps, a.repeat), indent=2))
