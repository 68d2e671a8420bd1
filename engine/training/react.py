"""REACT-KD training (section II-G): stage 1 teachers (focal loss), stage 2 the student under
modality dropout with focal + logits KD + region-graph distillation (eq. 18).

Data augmentation: random flips along the three axes (the paper also uses affine and elastic
deformations; left out for speed). Inputs and ROI masks are flipped together.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.losses.focal import focal_loss
from engine.losses.graph_kd import region_graph_loss
from engine.losses.kd import distillation_loss
from engine.progress import CancelToken, ProgressCallback
from engine.training.loop import LoopConfig, TrainResult, run_loop, sample_indices

__all__ = ["VolumeSet", "modality_dropout", "train_teacher3d", "distill_student3d", "predict_proba3d",
           "StudentLoss"]


@dataclass
class VolumeSet:
    """Normalised volumes on CPU: ``ct``, ``pet``, ``ldct`` (N, 1, S, S, S); ``labels`` (N,);
    ``rois[i]`` (R_i, S, S, S) float ROI masks (liver parenchyma first, then each tumour)."""

    ct: torch.Tensor
    pet: torch.Tensor
    ldct: torch.Tensor
    labels: torch.Tensor
    rois: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.labels)

    def inputs(self, kind: str, idx) -> torch.Tensor:
        """``"petct"`` -> (B, 2, ...) CT then PET; ``"ldct"`` -> (B, 1, ...); ``"ct"`` -> CT only."""
        if kind == "petct":
            return torch.cat([self.ct[idx], self.pet[idx]], 1)
        if kind == "ldct":
            return self.ldct[idx]
        if kind == "ct":
            return self.ct[idx]
        raise ValueError(f"unknown input kind {kind!r}")


def modality_dropout(x: torch.Tensor, p: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero CT (channel 0) or PET (channel 1) of each sample with probability ``p`` in total
    (``p / 2`` each; never both). Returns the new tensor and the dropped channel per sample
    (-1 = none)."""
    if x.shape[1] != 2:
        raise ValueError(f"modality dropout needs 2 channels (CT, PET), got {x.shape[1]}")
    u = torch.rand(x.shape[0], generator=generator)
    dropped = torch.where(u < p / 2, 0, torch.where(u < p, 1, -1))
    keep = torch.ones(x.shape[0], 2)
    keep[dropped == 0, 0] = 0.0
    keep[dropped == 1, 1] = 0.0
    return x * keep.to(x)[:, :, None, None, None], dropped


def _flips(gen: torch.Generator, b: int) -> torch.Tensor:
    return torch.rand(b, 3, generator=gen) < 0.5


def _apply_flips(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Flip each sample of (B, C, D, H, W) along the axes flagged in ``flips`` (B, 3)."""
    out = []
    for xi, f in zip(x, flips, strict=True):
        dims = [d + 1 for d in range(3) if f[d]]
        out.append(xi.flip(dims) if dims else xi)
    return torch.stack(out)


def train_teacher3d(model, optimizer: torch.optim.Optimizer, data: VolumeSet, kind: str, *, loop: LoopConfig,
                    device: torch.device | str, gamma: float = 2.0, class_weights=None,
                    progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                    name: str = "teacher") -> TrainResult:
    """Stage 1: train a teacher on ``data.inputs(kind)`` with the class-weighted focal loss."""
    device = torch.device(device)

    def step(net, gen, _s):
        idx = sample_indices(len(data), loop.batch_size, gen)
        x = _apply_flips(data.inputs(kind, idx), _flips(gen, len(idx))).to(device)
        return {"loss": focal_loss(net(x), data.labels[idx].to(device), gamma, class_weights)}

    return run_loop(name, model, optimizer, step, loop, device, progress, cancel)


@dataclass(frozen=True)
class StudentLoss:
    """Weights of eq. 18 and the RGD terms; ``w_kd = 0`` / ``w_rgd = 0`` switch a term off."""

    gamma: float = 2.0
    class_weights: tuple[float, ...] | None = (1.5, 1.0, 2.0)
    temperature: float = 4.0
    w_kd: float = 1.0
    w_rgd: float = 1.0
    w_node: float = 1.0
    w_edge: float = 1.0
    w_gw: float = 1.0
    gw_backend: str = "auto"


def distill_student3d(student, optimizer: torch.optim.Optimizer, data: VolumeSet,
                      teachers: list[tuple[torch.nn.Module, str]], *, loop: LoopConfig, device: torch.device | str,
                      loss: StudentLoss = StudentLoss(), p_dropout: float = 0.3,
                      progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                      name: str = "student") -> TrainResult:
    """Stage 2: the student on (CT, PET) with modality dropout.

    ``teachers``: (frozen model, input kind) pairs, e.g. ``[(t_petct, "petct"), (t_ldct, "ldct")]``
    (empty = focal loss only). Teachers see their full inputs (no dropout), flipped like the
    student's. The KD and RGD terms are averaged over the teachers; KD is
    ``T^2 * KL(teacher || student)`` (:func:`engine.losses.distillation_loss` with alpha = 1).
    """
    device = torch.device(device)
    for t, _ in teachers:
        t.eval().requires_grad_(False).to(device)

    def step(net, gen, _s):
        idx = sample_indices(len(data), loop.batch_size, gen)
        flips = _flips(gen, len(idx))
        x, _ = modality_dropout(_apply_flips(data.inputs("petct", idx), flips), p_dropout, gen)
        y = data.labels[idx].to(device)
        logits, fmap = net(x.to(device), return_features=True)
        total = focal_loss(logits, y, loss.gamma, loss.class_weights)
        kd = rgd = torch.zeros((), device=device)
        if teachers and (loss.w_kd or loss.w_rgd):
            rois = [_apply_flips(data.rois[int(i)][None], flips[j:j + 1])[0].to(device) for j, i in enumerate(idx)]
            for t, kind in teachers:
                with torch.no_grad():
                    t_logits, t_fmap = t(_apply_flips(data.inputs(kind, idx), flips).to(device), return_features=True)
                if loss.w_kd:
                    kd = kd + distillation_loss(logits, t_logits, y, loss.temperature, alpha=1.0) / len(teachers)
                if loss.w_rgd:
                    if t_fmap.shape[1:] != fmap.shape[1:]:
                        t_fmap = F.interpolate(t_fmap, size=fmap.shape[2:], mode="trilinear", align_corners=False)
                    rgd = rgd + region_graph_loss(fmap, t_fmap, rois, w_node=loss.w_node, w_edge=loss.w_edge,
                                                  w_gw=loss.w_gw, backend=loss.gw_backend)["loss"] / len(teachers)
        return {"loss": total + loss.w_kd * kd + loss.w_rgd * rgd}

    return run_loop(name, student, optimizer, step, loop, device, progress, cancel)


@torch.no_grad()
def predict_proba3d(model, x: torch.Tensor, device, batch_size: int = 8) -> torch.Tensor:
    """Softmax probabilities (N, C) on CPU for inputs (N, C_in, S, S, S)."""
    model.eval()
    return torch.cat([F.softmax(model(x[i:i + batch_size].to(device)), 1).float().cpu()
                      for i in range(0, len(x), batch_size)])
