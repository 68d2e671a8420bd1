"""The whole SSL-guided LDM pipeline on 2D cases (BUSI-style images cut into patches).

Mapping of the paper onto ultrasound: an image plays the whole-slide image, its patches the
WSI patches, and a patch inherits its image's label (benign 0 / malignant 1).

Stages (``stop_after``; rerunning the same ``out_dir`` resumes):

1. ``train``: DINO ViT on the training patches (student/teacher EMA, multi-crop), VAE, and the LDM
   conditioned on the teacher's class-token embedding by cross-attention, 10 % condition dropout.
2. ``sample``: synthetic patches from the embeddings of ``synth_fraction`` of the training patches
   (stratified), 50 DDIM steps with classifier-free guidance; grids.
3. ``evaluate``: patch classifier (the DiffKD student CNN) on real and on real + synthetic patches;
   image level by mean patch probability > threshold (paper 0.2) and a threshold sweep; FID
   (torchmetrics) on features of the real-only classifier (not Inception: see
   :mod:`engine.metrics.fid`); k-NN accuracy of the SSL embeddings vs a random ViT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from engine.data.cases import Case
from engine.data.patches import image_patches
from engine.data.tensors import resize_image
from engine.metrics.classification import binary_at_threshold, threshold_sweep
from engine.metrics.fid import fid
from engine.models import USVAE, ConvClassifier
from engine.models.classifier_cnn import student_config
from engine.models.ssl_unet import SSLGuidedUNet
from engine.models.ssl_vit import SSLViT
from engine.pipelines.paper_grids import save_tile_grid
from engine.pipelines.paper_run import StageRunner, cached_array, write_metrics
from engine.pipelines.ssl import SSLGuidedPipeline, aggregate_mean
from engine.presets_papers import SSLPreset, get_paper_preset
from engine.progress import CancelToken, ProgressCallback
from engine.training import (
    ImagePool,
    fit_scaling_factor,
    make_train_scheduler,
    predict_proba,
    train_classifier,
    train_vae,
)
from engine.training.ssl import DINOLoss, embed_patches, encode_ssl_latents, train_dino, train_ssl_ldm

__all__ = ["run_ssl_pipeline", "SSLResult", "STAGES"]

STAGES = ("train", "sample", "evaluate")


@dataclass
class SSLResult:
    out_dir: Path
    metrics_path: Path | None
    metrics: dict = field(default_factory=dict)
    grids: list[Path] = field(default_factory=list)
    checkpoints: dict[str, str] = field(default_factory=dict)


@dataclass
class _Split:
    images: np.ndarray      # (N, S, S)
    labels: np.ndarray      # (N,)
    patches: np.ndarray     # (M, p, p)
    owner: np.ndarray       # (M,)

    @property
    def patch_labels(self) -> np.ndarray:
        return self.labels[self.owner]


def _split(cases: list[Case], split: str, p: SSLPreset) -> _Split:
    sel = [c for c in cases if c.split == split]
    if {c.label for c in sel} != {0, 1}:
        raise ValueError(f"the {split} split needs cases of both labels (0 and 1)")
    imgs = np.stack([resize_image(c.image, p.image_size)[0].numpy() for c in sel])
    patches, owner = image_patches(imgs, p.patch_size, p.patch_stride)
    return _Split(imgs, np.array([c.label for c in sel], dtype=np.int64), patches, owner)


def _train(run: StageRunner, p: SSLPreset, tr: _Split) -> SSLGuidedPipeline:
    x = torch.from_numpy(tr.patches)[:, None]
    run.seeded(10)
    student = SSLViT(image_size=p.patch_size, **p.vit).to(run.device)
    loss = DINOLoss(p.vit["out_dim"], p.teacher_temp, p.student_temp, p.center_momentum)
    opt = torch.optim.AdamW(student.parameters(), lr=p.dino_lr, weight_decay=0.04)
    encoder, res = run.timed("dino", train_dino, student, opt, x, loss, loop=run.loop(p.dino_steps, p.dino_batch, 10),
                             device=run.device, local_size=p.local_crop, n_local=p.n_local,
                             ema_momentum=p.ema_momentum, progress=run.stage_progress("dino"), cancel=run.cancel)
    run.dino_losses = res.losses
    run.seeded(20)
    vae = USVAE(image_size=p.patch_size, **p.vae).to(run.device)
    run.timed("vae", train_vae, vae, torch.optim.Adam(vae.parameters(), lr=p.vae_lr), x,
              loop=run.loop(p.vae_steps, p.vae_batch, 20), device=run.device, teacher=None,
              progress=run.stage_progress("vae"), cancel=run.cancel)
    fit_scaling_factor(vae, x, run.device)
    ctx = embed_patches(encoder, x, run.device, cancel=run.cancel)
    data = encode_ssl_latents(vae, x, ctx, run.device)
    run.seeded(30)
    unet = SSLGuidedUNet(latent_size=vae.latent_size, latent_channels=p.vae["latent_channels"],
                         context_dim=p.vit["dim"], **p.unet).to(run.device)
    sched = make_train_scheduler()
    res = run.timed("ldm", train_ssl_ldm, unet, torch.optim.AdamW(unet.parameters(), lr=p.ldm_lr, weight_decay=1e-5),
                    data, loop=run.loop(p.ldm_steps, p.ldm_batch, 30), device=run.device, scheduler=sched,
                    p_uncond=p.p_uncond, progress=run.stage_progress("ldm"), cancel=run.cancel)
    run.ldm_losses = res.losses
    pipe = SSLGuidedPipeline(encoder, vae, unet, sched, run.device)
    pipe.save_pretrained(run.out / "checkpoints" / "generator")
    run.ckpt["generator"] = str(run.out / "checkpoints" / "generator")
    return pipe


def _synth_sources(p: SSLPreset, tr: _Split, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 40)
    lab = tr.patch_labels
    n = max(2, int(round(p.synth_fraction * len(lab))))
    idx = []
    for c in (0, 1):
        pool = np.flatnonzero(lab == c)
        k = max(1, int(round(n * len(pool) / len(lab))))
        idx += rng.choice(pool, size=min(k, len(pool)), replace=False).tolist()
    return np.asarray(sorted(idx))


def _sample(run: StageRunner, p: SSLPreset, pipe: SSLGuidedPipeline, tr: _Split):
    src = _synth_sources(p, tr, run.seed)
    ctx = pipe.embed(tr.patches[src])
    seeds = [run.seed * 1_000_003 + 50_000 + i for i in range(len(src))]
    syn = cached_array(run.out / "cache" / "synthetic_patches.npy", lambda: run.timed(
        "synthesis", pipe, ctx, seeds=seeds, num_inference_steps=p.sample_steps, guidance_scale=p.guidance_scale,
        batch_size=p.sample_batch, progress=run.stage_progress("synthesis"), cancel=run.cancel))
    rows = []
    for j in range(min(p.grid_rows, len(src))):
        c = ctx[j:j + 1].repeat(4, 1, 1)
        s = [run.seed + 900 + 10 * j + k for k in range(4)]
        w = pipe(c[:3], seeds=s[:3], num_inference_steps=p.sample_steps, guidance_scale=p.guidance_scale)
        u = pipe(c[3:], seeds=s[3:], num_inference_steps=p.sample_steps, guidance_scale=0.0)
        rows.append([tr.patches[src[j]], *w, u[0]])
    grid = save_tile_grid(rows, run.out / "samples_ssl_guided.png",
                          ["source", f"w={p.guidance_scale:g}", "seed 2", "seed 3", "uncond"], scale=3)
    return src, syn, [grid]


def _classify(run: StageRunner, p: SSLPreset, name: str, pool: ImagePool, te: _Split, offset: int):
    run.seeded(offset)
    model = ConvClassifier(**student_config(p.patch_size)).to(run.device)
    run.timed(name, train_classifier, model, torch.optim.Adam(model.parameters(), lr=p.clf_lr), pool,
              loop=run.loop(p.clf_steps, p.clf_batch, offset), device=run.device, augment="flip",
              progress=run.stage_progress(name), cancel=run.cancel, name=name)
    run.save(name, model)
    probs = predict_proba(model, torch.from_numpy(te.patches)[:, None], run.device).numpy()
    img = aggregate_mean(probs, te.owner, len(te.labels))
    return model, {"patch_auc": _auc(te.patch_labels, probs), "image_auc_mean_prob": _auc(te.labels, img),
                   "image_at_threshold": binary_at_threshold(te.labels, img, p.threshold),
                   "threshold_sweep": threshold_sweep(te.labels, img, p.sweep),
                   "image_mean_probability": img.tolist()}


def _auc(y, s) -> float | None:
    return float(roc_auc_score(y, s)) if len(set(np.asarray(y).tolist())) == 2 else None


def _knn(encoder, tr: _Split, te: _Split, device) -> float:
    a = embed_patches(encoder, torch.from_numpy(tr.patches)[:, None], device)[:, 0].numpy()
    b = embed_patches(encoder, torch.from_numpy(te.patches)[:, None], device)[:, 0].numpy()
    knn = KNeighborsClassifier(n_neighbors=min(5, len(a))).fit(a, tr.patch_labels)
    return float((knn.predict(b) == te.patch_labels).mean())


def run_ssl_pipeline(cases: list[Case], *, preset: str | SSLPreset = "default", out_dir: str | Path, device="cpu",
                     seed: int = 0, progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                     stop_after: str | None = None) -> SSLResult:
    """Train and evaluate the SSL-guided LDM on ``cases`` (``split`` decides train/test; both
    splits need both labels). See the module docstring for the stages and outputs."""
    if stop_after is not None and stop_after not in STAGES:
        raise ValueError(f"stop_after must be one of {STAGES}, not {stop_after!r}")
    p = get_paper_preset("ssl", preset)
    if p.num_threads:
        torch.set_num_threads(p.num_threads)
    run = StageRunner(out_dir, device, seed, progress, cancel)
    tr, te = _split(cases, "train", p), _split(cases, "test", p)
    pipe = _train(run, p, tr)
    if stop_after == "train":
        return SSLResult(run.out, None, {}, [], dict(run.ckpt))
    src, syn, grids = _sample(run, p, pipe, tr)
    if stop_after == "sample":
        return SSLResult(run.out, None, {}, grids, dict(run.ckpt))
    real = ImagePool(torch.from_numpy(tr.patches)[:, None], torch.from_numpy(tr.patch_labels))
    synthetic = ImagePool(torch.from_numpy(syn)[:, None], torch.from_numpy(tr.patch_labels[src]),
                          torch.ones(len(syn), dtype=torch.bool))
    ref, res_real = _classify(run, p, "classifier_real", real, te, 60)
    _, res_mixed = _classify(run, p, "classifier_real_syn", ImagePool.concat(real, synthetic), te, 70)
    feat = int(ref.config.channels[-1])
    rng = np.random.default_rng(seed + 80)
    n = min(p.n_fid, len(tr.patches))
    pick = rng.choice(len(tr.patches), size=n, replace=False)
    fids = {"real_train_vs_synthetic": fid(ref, feat, tr.patches[pick], syn, run.device),
            "real_train_vs_real_test": fid(ref, feat, tr.patches[pick], te.patches[: max(2, n)], run.device),
            "feature_extractor": "classifier_real (our own CNN trained on the real patches; not Inception-v3)"}
    torch.manual_seed(seed + 90)
    random_vit = SSLViT(image_size=p.patch_size, **p.vit).to(run.device)
    knn = {"ssl_teacher": _knn(pipe.encoder, tr, te, run.device), "random_vit": _knn(random_vit, tr, te, run.device)}
    n_loss = max(1, len(run.ldm_losses) // 10)
    doc = {"method": "SSL-guided LDM", "preset": p.name, "device": str(run.device), "seed": seed,
           "image_size": p.image_size, "patch_size": p.patch_size, "n_train_images": len(tr.labels),
           "n_test_images": len(te.labels), "n_train_patches": len(tr.patches), "n_test_patches": len(te.patches),
           "n_synthetic": len(syn), "p_uncond": p.p_uncond, "sampler": "ddim", "sample_steps": p.sample_steps,
           "guidance_scale": p.guidance_scale, "threshold": p.threshold,
           "test_labels": te.labels.tolist(), "classifiers": {"real": res_real, "real_synthetic": res_mixed},
           "fid": fids, "ssl_knn_patch_accuracy": knn,
           "losses": {"dino_first": float(np.mean(run.dino_losses[:max(1, len(run.dino_losses) // 10)])),
                      "dino_last": float(np.mean(run.dino_losses[-max(1, len(run.dino_losses) // 10):])),
                      "ldm_first": float(np.mean(run.ldm_losses[:n_loss])),
                      "ldm_last": float(np.mean(run.ldm_losses[-n_loss:]))},
           "timings_s": {**run.timings, "total": run.total()}, "checkpoints": dict(run.ckpt),
           "grids": [str(g) for g in grids]}
    path = write_metrics(run.out / "metrics.json", doc)
    run.progress(1, 1, f"done in {run.timings['total']:.0f} s")
    return SSLResult(run.out, path, doc, grids, dict(run.ckpt))
