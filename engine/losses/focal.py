"""Multi-class focal loss with class weights (Lin et al. 2017), REACT-KD eq. 17."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["focal_loss"]


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0,
               class_weights: torch.Tensor | list[float] | tuple[float, ...] | None = None) -> torch.Tensor:
    """``mean_i [ -alpha_{y_i} (1 - p_{i,y_i})^gamma log p_{i,y_i} ]``.

    Parameters
    ----------
    logits
        (B, C) logits.
    labels
        (B,) integer classes.
    gamma
        Focusing parameter (0 gives the weighted cross-entropy, averaged over samples).
    class_weights
        alpha per class, (C,) (REACT-KD: 1.5 / 1.0 / 2.0); ``None`` = all 1.

    Returns
    -------
    torch.Tensor
        Scalar loss (plain mean over the batch, not normalised by the weights).
    """
    logp = F.log_softmax(logits.float(), dim=1).gather(1, labels.long()[:, None])[:, 0]
    p = logp.exp()
    loss = -((1.0 - p) ** gamma) * logp
    if class_weights is not None:
        w = torch.as_tensor(class_weights, dtype=loss.dtype, device=loss.device)
        if w.shape != (logits.shape[1],):
            raise ValueError(f"class_weights must have {logits.shape[1]} entries, got {tuple(w.shape)}")
        loss = loss * w[labels.long()]
    return loss.mean()
