"""Training of the multi-label segmenter that measures mask fidelity (cross-entropy, flips)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.progress import CancelToken, ProgressCallback
from engine.training.loop import LoopConfig, TrainResult, run_loop, sample_indices

__all__ = ["train_segmenter"]


def train_segmenter(model, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor, *,
                    loop: LoopConfig, device: torch.device | str, progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None, name: str = "segmenter") -> TrainResult:
    """Train ``model`` ((B, 1, H, W) -> (B, K, H, W) logits) on ``images`` (N, 1, H, W) in [0, 1]
    and integer ``labels`` (N, H, W) with pixel-wise cross-entropy and random horizontal flips."""
    device = torch.device(device)

    def step(net, gen, _s):
        idx = sample_indices(len(images), loop.batch_size, gen)
        x, y = images[idx], labels[idx].long()
        flip = torch.rand(len(idx), generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        y = torch.where(flip[:, None, None], y.flip(-1), y)
        return {"loss": F.cross_entropy(net(x.to(device)), y.to(device))}

    return run_loop(name, model, optimizer, step, loop, device, progress, cancel)
