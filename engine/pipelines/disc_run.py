"""The whole DISC pipeline on multi-label phantom slices (or arrays passed in).

Stages (``stop_after`` names the last one to run; rerunning the same ``out_dir`` resumes):

1. ``train``: VAE (L1 + beta*KL) and **SD**, the LDM conditioned by the K-label mask through
   cross-attention (eq. 1).
2. ``distill``: tile-mask sampling (section 2.2) of ``n_distill`` random masks, their SC-fused
   latents from SD (eq. 2, copies batched), then **SD-DISC** (fine-tuned on them alone, eq. 3)
   and **SD-DISC-CoTrain** (the average of L_LDM on real and L_DISC on fused latents).
3. ``evaluate``: balanced tile masks per primary grade; images from SD, SD-SC, SD-DISC and
   SD-DISC-CoTrain (seconds per image each); label fidelity by a segmenter trained on real slices
   (real test slices as the ceiling, shuffled masks as the floor); the downstream grade-presence
   classifier trained with the balance weight lambda (eq. 4); grids; ``metrics.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.data.phantom import SLICE_LABELS, make_slices
from engine.data.tile_masks import sample_tile_masks, to_shape_mask
from engine.metrics.classification import multilabel_auc
from engine.metrics.label_fidelity import fidelity_report
from engine.models import USVAE, ConvClassifier
from engine.models.classifier_cnn import student_config
from engine.models.disc_unet import DISCLatentUNet
from engine.models.label_segmenter import LabelSegmenter
from engine.pipelines.disc import DISCPipeline
from engine.pipelines.paper_grids import colour_labels, outline_labels, save_tile_grid
from engine.pipelines.paper_run import StageRunner, cached_array, write_metrics
from engine.presets_papers import DISCPreset, get_paper_preset
from engine.progress import CancelToken, ProgressCallback
from engine.training import fit_scaling_factor, make_train_scheduler, train_vae
from engine.training.balanced import predict_sigmoid, train_balanced_classifier
from engine.training.disc import MaskLatents, encode_mask_latents, train_disc_ldm
from engine.training.segmenter import train_segmenter

__all__ = ["run_disc_pipeline", "DISCResult", "STAGES", "GENERATORS"]

STAGES = ("train", "distill", "evaluate")
#: Generator name -> (U-Net checkpoint, sampling mode), the paper's four models.
GENERATORS = {"sd": ("sd", "vanilla"), "sd_sc": ("sd", "sc"), "sd_disc": ("sd_disc", "vanilla"),
              "sd_disc_cotrain": ("sd_disc_cotrain", "vanilla")}
RELABEL = (2, 3, 4)  # tumour grades: the reassignable labels of tile-mask sampling
GRADE_NAMES = ("well", "moderate", "poor")


@dataclass
class DISCResult:
    """``metrics`` as written to ``metrics_path``; ``grids`` PNG paths; ``checkpoints`` name -> folder."""

    out_dir: Path
    metrics_path: Path | None
    metrics: dict = field(default_factory=dict)
    grids: list[Path] = field(default_factory=list)
    checkpoints: dict[str, str] = field(default_factory=dict)


def _presence(labels: np.ndarray) -> torch.Tensor:
    """(N, 3) float: which tumour grades occur in each mask."""
    return torch.tensor(np.stack([(labels == k).any(axis=(1, 2)) for k in RELABEL], 1), dtype=torch.float32)


def _train_generator(run: StageRunner, p: DISCPreset, images: torch.Tensor, labels: torch.Tensor):
    run.seeded(10)
    vae = USVAE(image_size=p.image_size, **p.vae).to(run.device)
    run.timed("vae", train_vae, vae, torch.optim.Adam(vae.parameters(), lr=p.vae_lr), images,
              loop=run.loop(p.vae_steps, p.vae_batch, 10), device=run.device, teacher=None,
              progress=run.stage_progress("vae"), cancel=run.cancel)
    fit_scaling_factor(vae, images, run.device)
    real = encode_mask_latents(vae, images, labels, run.device, cancel=run.cancel)
    run.seeded(20)
    unet = DISCLatentUNet(latent_size=vae.latent_size, latent_channels=p.vae["latent_channels"],
                          image_size=p.image_size, num_labels=len(SLICE_LABELS), token_grid=p.token_grid,
                          token_dim=p.token_dim, tokenizer_channels=p.tokenizer_channels, **p.unet).to(run.device)
    sched = make_train_scheduler()
    opt = torch.optim.AdamW(unet.parameters(), lr=p.ldm_lr, weight_decay=1e-5)
    res = run.timed("sd", train_disc_ldm, unet, opt, real=real, loop=run.loop(p.ldm_steps, p.ldm_batch, 20),
                    device=run.device, scheduler=sched, progress=run.stage_progress("sd"), cancel=run.cancel,
                    name="sd")
    pipe = DISCPipeline(vae, unet, sched, run.device)
    pipe.save_pretrained(run.out / "checkpoints" / "generator")
    run.ckpt["generator"] = str(run.out / "checkpoints" / "generator")
    run.save("sd", unet)
    return pipe, real, res.losses


def _distill(run: StageRunner, p: DISCPreset, pipe: DISCPipeline, real: MaskLatents, shapes) -> dict:
    rng = np.random.default_rng(run.seed + 30)
    masks = sample_tile_masks(shapes, p.n_distill, RELABEL, rng)
    seeds = [run.seed * 1_000_003 + 30_000 + i for i in range(len(masks))]
    fused = cached_array(run.out / "cache" / "distill_fused_latents.npy", lambda: run.timed(
        "sc_distill_samples", pipe.latents, masks, seeds=seeds, mode="sc", num_inference_steps=p.sample_steps,
        batch_size=p.sample_batch, progress=run.stage_progress("sc samples"), cancel=run.cancel).numpy())
    synthetic = MaskLatents(torch.from_numpy(fused), torch.from_numpy(masks).long())
    losses = {}
    for name, use_real, offset in (("sd_disc", False, 40), ("sd_disc_cotrain", True, 50)):
        unet = DISCLatentUNet.from_config(pipe.unet.config).to(run.device)
        unet.load_state_dict(pipe.unet.state_dict())
        opt = torch.optim.AdamW(unet.parameters(), lr=p.distill_lr, weight_decay=1e-5)
        res = run.timed(name, train_disc_ldm, unet, opt, real=real if use_real else None, synthetic=synthetic,
                        loop=run.loop(p.distill_steps, p.ldm_batch, offset), device=run.device,
                        scheduler=pipe.scheduler, progress=run.stage_progress(name), cancel=run.cancel, name=name)
        run.save(name, unet.eval())
        losses[name] = res.losses
    return losses


def _eval_masks(p: DISCPreset, shapes, seed: int) -> np.ndarray:
    """Balanced tile masks: ``n_eval`` split evenly over the primary grades."""
    rng = np.random.default_rng(seed + 60)
    per = max(1, p.n_eval // len(RELABEL))
    return np.concatenate([sample_tile_masks(shapes, per, RELABEL, rng, primary=g) for g in RELABEL])


def _generate_all(run: StageRunner, p: DISCPreset, pipe: DISCPipeline, masks: np.ndarray, tag: str):
    """Images of every generator for ``masks`` and seconds per image; cached per tag."""
    seeds = [run.seed * 1_000_003 + 70_000 + i for i in range(len(masks))]
    secs_path = run.out / "cache" / f"{tag}_seconds_per_image.json"
    secs = json.loads(secs_path.read_text()) if secs_path.exists() else {}
    images, unets = {}, {}
    for gen, (ckpt, mode) in GENERATORS.items():
        path = run.out / "cache" / f"{tag}_{gen}.npy"
        if ckpt not in unets:
            unets[ckpt] = DISCLatentUNet.from_pretrained(run.ckpt[ckpt], low_cpu_mem_usage=False)
        gpipe = DISCPipeline(pipe.vae, unets[ckpt], pipe.scheduler, run.device)
        fresh = not path.exists()
        if fresh:  # warm-up (first-call kernel set-up) so that seconds per image compare like with like
            gpipe.latents(masks[:1], seeds=seeds[:1], mode=mode, num_inference_steps=1)
        t0 = time.perf_counter()
        images[gen] = cached_array(path, lambda g=gpipe, m=mode, n=gen: g(
            masks, seeds=seeds, mode=m, num_inference_steps=p.sample_steps, batch_size=p.sample_batch,
            progress=run.stage_progress(f"{tag} {n}"), cancel=run.cancel))
        if fresh or gen not in secs:
            secs[gen] = (time.perf_counter() - t0) / max(1, len(masks))
    secs_path.write_text(json.dumps(secs))
    return images, secs


def _classifiers(run: StageRunner, p: DISCPreset, train, test, syn: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Grade-presence classifiers: real only, then lambda-balanced with each generator's tiles."""
    xr, yr = train[0], _presence(train[1].numpy())
    xt, yt = test[0], _presence(test[1].numpy())
    runs = [("real_only", None, 0.0)] + [(g, g, p.balance_lambda) for g in GENERATORS]
    runs += [("sd_disc", "sd_disc", lam) for lam in p.lambda_sweep]
    out: dict[str, dict] = {}
    for i, (label, gen, lam) in enumerate(runs):
        run.seeded(100 + i)
        model = ConvClassifier(**student_config(p.image_size), num_classes=len(RELABEL)).to(run.device)
        s = None if gen is None else (torch.from_numpy(syn[gen][0])[:, None], _presence(syn[gen][1]))
        name = f"clf_{label}_lambda{lam:g}"
        train_balanced_classifier(model, torch.optim.Adam(model.parameters(), lr=p.clf_lr), (xr, yr), s,
                                  balance=lam, loop=run.loop(p.clf_steps, p.clf_batch, 100 + i), device=run.device,
                                  progress=run.stage_progress(name), cancel=run.cancel, name=name)
        auc = multilabel_auc(yt.numpy(), predict_sigmoid(model, xt, run.device).numpy(), GRADE_NAMES)
        out[name] = {"generator": gen, "lambda": lam, "test_auc": auc}
    return out


def _grids(run: StageRunner, p: DISCPreset, eval_masks, eval_imgs, test, test_imgs) -> list[Path]:
    titles = ["mask"] + list(GENERATORS)
    rows = [[colour_labels(eval_masks[i])] + [outline_labels(eval_imgs[g][i], eval_masks[i], (0, 1))
                                              for g in GENERATORS] for i in range(min(p.grid_rows, len(eval_masks)))]
    paths = [save_tile_grid(rows, run.out / "samples_tile_masks.png", titles)]
    rows = [[test[0][i, 0].numpy(), colour_labels(test[1][i].numpy())] + [test_imgs[g][i] for g in GENERATORS]
            for i in range(min(p.grid_rows, len(test[0])))]
    paths.append(save_tile_grid(rows, run.out / "samples_test_masks.png", ["real", "mask"] + list(GENERATORS)))
    return paths


def run_disc_pipeline(*, preset: str | DISCPreset = "default", out_dir: str | Path, device="cpu", seed: int = 0,
                      data: tuple[np.ndarray, np.ndarray] | None = None, progress: ProgressCallback | None = None,
                      cancel: CancelToken | None = None, stop_after: str | None = None) -> DISCResult:
    """Train and evaluate DISC; see the module docstring for the stages.

    Parameters
    ----------
    preset
        ``tiny`` / ``default`` / ``paper`` or a :class:`~engine.presets_papers.DISCPreset`.
    out_dir
        Output folder (``metrics.json``, ``samples_*.png``, ``checkpoints/``, ``train_state/``, ``cache/``).
    data
        Optional ``(images (N, S, S) in [0, 1], labels (N, S, S) uint8 in 0..4)`` at the preset's
        size; default: ``n_train + n_test`` phantom slices (:func:`engine.data.phantom.make_slices`).
        The first ``n_train`` are the training split.
    stop_after
        One of :data:`STAGES`.
    """
    if stop_after is not None and stop_after not in STAGES:
        raise ValueError(f"stop_after must be one of {STAGES}, not {stop_after!r}")
    p = get_paper_preset("disc", preset)
    if p.num_threads:
        torch.set_num_threads(p.num_threads)
    run = StageRunner(out_dir, device, seed, progress, cancel)
    imgs, labs = data if data is not None else make_slices(p.n_train + p.n_test, p.image_size)
    if imgs.shape[1:] != (p.image_size, p.image_size) or labs.shape != imgs.shape:
        raise ValueError(f"data must be two (N, {p.image_size}, {p.image_size}) arrays, got {imgs.shape}, {labs.shape}")
    if int(labs.max()) >= len(SLICE_LABELS) or len(imgs) <= p.n_train:
        raise ValueError(f"labels must lie in 0..{len(SLICE_LABELS) - 1} and there must be more than "
                         f"n_train={p.n_train} slices")
    x = torch.from_numpy(np.asarray(imgs, dtype=np.float32))[:, None]
    y = torch.from_numpy(np.asarray(labs)).long()
    train, test = (x[:p.n_train], y[:p.n_train]), (x[p.n_train:], y[p.n_train:])
    pipe, real, sd_losses = _train_generator(run, p, *train)
    if stop_after == "train":
        return DISCResult(run.out, None, {}, [], dict(run.ckpt))
    shapes = [to_shape_mask(m, RELABEL) for m in train[1].numpy()]
    dlosses = _distill(run, p, pipe, real, shapes)
    if stop_after == "distill":
        return DISCResult(run.out, None, {}, [], dict(run.ckpt))
    return _evaluate(run, p, pipe, shapes, train, test, {"sd": sd_losses, **dlosses})


def _loss_summary(losses: list[float]) -> dict:
    n = max(1, len(losses) // 10)
    return {"first_tenth_mean": float(np.mean(losses[:n])), "last_tenth_mean": float(np.mean(losses[-n:])),
            "steps": len(losses)}


def _evaluate(run: StageRunner, p: DISCPreset, pipe, shapes, train, test, losses) -> DISCResult:
    masks = _eval_masks(p, shapes, run.seed)
    eval_imgs, secs = _generate_all(run, p, pipe, masks, "eval")
    test_masks = test[1].numpy().astype(np.uint8)
    test_imgs, _ = _generate_all(run, p, pipe, test_masks, "test")
    run.seeded(90)
    seg = LabelSegmenter(num_labels=len(SLICE_LABELS)).to(run.device)
    run.timed("segmenter", train_segmenter, seg, torch.optim.Adam(seg.parameters(), lr=2e-3), *train,
              loop=run.loop(p.segmenter_steps, p.segmenter_batch, 90), device=run.device,
              progress=run.stage_progress("segmenter"), cancel=run.cancel)
    run.save("segmenter", seg)
    focus = RELABEL
    fid = {"real_test_images": fidelity_report(seg, test[0][:, 0].numpy(), test_masks, SLICE_LABELS, run.device, focus)}
    for g in GENERATORS:
        fid[f"{g}_tile_masks"] = fidelity_report(seg, eval_imgs[g], masks, SLICE_LABELS, run.device, focus)
        fid[f"{g}_test_masks"] = fidelity_report(seg, test_imgs[g], test_masks, SLICE_LABELS, run.device, focus)
    shuffled = np.roll(masks, 1, axis=0)
    fid["sd_shuffled_masks"] = fidelity_report(seg, eval_imgs["sd"], shuffled, SLICE_LABELS, run.device, focus)
    clfs = run.timed("classifiers", _classifiers, run, p, train, test,
                     {g: (eval_imgs[g], masks) for g in GENERATORS})
    grids = _grids(run, p, masks, eval_imgs, test, test_imgs)
    doc = {"method": "DISC", "preset": p.name, "image_size": p.image_size, "device": str(run.device),
           "seed": run.seed, "labels": list(SLICE_LABELS), "n_train": len(train[0]), "n_test": len(test[0]),
           "n_distill": p.n_distill, "n_eval_masks": len(masks), "sampler": "ddim", "sample_steps": p.sample_steps,
           "sample_batch": p.sample_batch, "seconds_per_image": secs,
           "sc_cost_vs_vanilla": secs["sd_sc"] / secs["sd"] if secs["sd"] else None,
           "losses": {k: _loss_summary(v) for k, v in losses.items()}, "fidelity": fid, "classifiers": clfs,
           "timings_s": {**run.timings, "total": run.total()}, "checkpoints": dict(run.ckpt),
           "grids": [str(g) for g in grids]}
    path = write_metrics(run.out / "metrics.json", doc)
    run.progress(1, 1, f"done in {run.timings['total']:.0f} s")
    return DISCResult(run.out, path, doc, grids, dict(run.ckpt))
