"""Inference with a trained student (or teacher): probabilities and Grad-CAM saliency maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.data.tensors import resize_image
from engine.models.classifier_cnn import ConvClassifier
from engine.progress import CancelToken, ProgressCallback, check_cancel, null_progress

__all__ = ["predict", "PredictResult", "grad_cam", "load_classifier"]


@dataclass(frozen=True)
class PredictResult:
    """``probabilities``: float32 (N,) P(label 1). ``saliency``: list of float32 (H_i, W_i) Grad-CAM
    maps in [0, 1], each at the size of its input image (row-major, same pixel grid)."""

    probabilities: np.ndarray
    saliency: list[np.ndarray]


def load_classifier(checkpoint_dir: str | Path, device: str | torch.device = "cpu") -> ConvClassifier:
    """Load a ``save_pretrained`` folder of a :class:`ConvClassifier` (local files only), eval mode,
    channels_last (faster for these CNNs on CPU)."""
    model = ConvClassifier.from_pretrained(Path(checkpoint_dir), low_cpu_mem_usage=False)
    return model.to(device).to(memory_format=torch.channels_last).eval()


def grad_cam(model: ConvClassifier, x: torch.Tensor, target: int = 1, layer: int = -1) -> tuple[float, torch.Tensor]:
    """Grad-CAM (Selvaraju et al. 2017) of class ``target`` at conv block ``layer`` for one input.

    ``x``: (1, 1, S, S). Returns ``(P(target), cam (S, S) in [0, 1])``; an all-zero map when the
    gradients vanish.
    """
    acts: list[torch.Tensor] = []
    handle = model.features[layer].register_forward_hook(lambda _m, _i, o: acts.append(o))
    try:
        with torch.enable_grad():
            x = x.detach().requires_grad_(False)
            logits = model(x)
            a = acts[0]
            grads = torch.autograd.grad(logits[0, target], a)[0]
    finally:
        handle.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * a).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    peak = cam.max()
    cam = cam / peak if peak > 0 else torch.zeros_like(cam)
    prob = float(F.softmax(logits.detach(), dim=1)[0, target])
    return prob, cam.detach()


def predict(checkpoint_dir: str | Path, images, device: str | torch.device = "cpu", *,
            saliency: bool = True, progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> PredictResult:
    """Probabilities of label 1 and Grad-CAM maps for ``images``.

    Parameters
    ----------
    checkpoint_dir
        A classifier folder written by ``run_pipeline`` (e.g. ``out/checkpoints/student_full``).
    images
        Sequence of float (H, W) grey images in [0, 1], any size (resized to the model's size).
    device
        Torch device. Runs at batch 1 in channels_last memory format.
    saliency
        Compute Grad-CAM maps (upsampled back to each image's size); else empty list. The map is
        the Grad-CAM of the *predicted* class: for a case called negative, the class-1 map is
        usually all zero (no positive evidence anywhere), which would show the reader nothing.
    """
    progress = progress or null_progress
    model = load_classifier(checkpoint_dir, device)
    size = int(model.config.image_size)
    probs, maps = [], []
    progress(0, len(images), f"classifying {len(images)} images")  # the stage's start, for its ETA
    for i, img in enumerate(images):
        check_cancel(cancel, "predict")
        img = np.asarray(img, dtype=np.float32)
        x = resize_image(img, size)[None].to(device).contiguous(memory_format=torch.channels_last)
        if saliency:
            p, cam = grad_cam(model, x, target=1)
            if p < 0.5:
                _, cam = grad_cam(model, x, target=0)
            cam = F.interpolate(cam[None, None].float().cpu(), size=img.shape, mode="bilinear",
                                align_corners=False)[0, 0].clamp(0, 1)
            maps.append(cam.numpy().astype(np.float32))
        else:
            with torch.no_grad():
                p = float(F.softmax(model(x), dim=1)[0, 1])
        probs.append(p)
        progress(i + 1, len(images), f"classified {i + 1}/{len(images)}")
    return PredictResult(np.asarray(probs, dtype=np.float32), maps)
