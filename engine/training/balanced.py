"""A classifier trained on real and synthetic samples with the balance weight lambda (DISC eq. 4).

``L_total = (1 - lambda) * L_real + lambda * L_synthetic``, each term on its own batch. The loss
is binary cross-entropy on multi-label targets (the DISC paper's slide-level sigmoid head), or
cross-entropy when the targets are integer classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.progress import CancelToken, ProgressCallback
from engine.training.loop import LoopConfig, TrainResult, run_loop, sample_indices

__all__ = ["train_balanced_classifier", "predict_sigmoid"]


def _loss(net, images, targets, batch, gen, device):
    idx = sample_indices(len(images), batch, gen)
    x = images[idx]
    flip = torch.rand(len(idx), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x).to(device)
    logits = net(x)
    y = targets[idx].to(device)
    if y.dtype.is_floating_point:
        return F.binary_cross_entropy_with_logits(logits, y)
    return F.cross_entropy(logits, y)


def train_balanced_classifier(model, optimizer: torch.optim.Optimizer, real: tuple[torch.Tensor, torch.Tensor],
                              synthetic: tuple[torch.Tensor, torch.Tensor] | None, *, balance: float,
                              loop: LoopConfig, device: torch.device | str, progress: ProgressCallback | None = None,
                              cancel: CancelToken | None = None, name: str = "classifier") -> TrainResult:
    """Train ``model`` on ``real = (images (N, 1, H, W), targets)`` and ``synthetic`` (same form).

    ``balance`` is lambda in [0, 1]; 0 (or ``synthetic=None``) trains on real data only.
    ``targets`` are float (N, L) multi-label targets (BCE) or int64 (N,) classes (CE).
    """
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"balance (lambda) must lie in [0, 1], got {balance}")
    if balance > 0 and synthetic is None:
        raise ValueError("balance > 0 needs synthetic samples")
    device = torch.device(device)

    def step(net, gen, _s):
        loss = (1.0 - balance) * _loss(net, *real, loop.batch_size, gen, device)
        if balance > 0:
            loss = loss + balance * _loss(net, *synthetic, loop.batch_size, gen, device)
        return {"loss": loss}

    return run_loop(name, model, optimizer, step, loop, device, progress, cancel)


@torch.no_grad()
def predict_sigmoid(model, images: torch.Tensor, device, batch_size: int = 64) -> torch.Tensor:
    """Sigmoid probabilities (N, L) of a multi-label classifier, on CPU."""
    model.eval()
    out = [torch.sigmoid(model(images[i:i + batch_size].to(device))).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)
