"""Region-graph distillation of REACT-KD (section II-C, eq. 3-8).

Nodes are ROI features by masked average pooling of a feature map (eq. 3): the liver and each
tumour component. Edges are cosine similarities between nodes (eq. 4). The teacher's graph is
transferred by a node loss (eq. 5), an edge loss (eq. 6) and the Gromov-Wasserstein discrepancy
between the two edge matrices (eq. 7), which needs no node correspondence and works with different
node counts:

``GW(C1, C2) = min_T sum_{i,j,k,l} (C1[i,k] - C2[j,l])^2 T[i,j] T[k,l]``, T with uniform marginals.

Backends: POT's exact ``ot.gromov.gromov_wasserstein2`` (conditional gradient; accepts torch
tensors and gives gradients by the envelope theorem; about 2 ms for a 5-node graph), or a pure
torch entropic GW with **log-domain** Sinkhorn (Peyre et al. 2016) for when POT is missing. The
plain-domain Sinkhorn kernel underflows at small epsilon and gave a *negative* loss in our
trials, hence the log domain.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["masked_average_pool", "cosine_edges", "node_loss", "edge_loss", "gromov_wasserstein",
           "region_graph_loss", "pot_available"]


def pot_available() -> bool:
    """Whether POT (``import ot``) can be imported."""
    try:
        import ot  # noqa: F401
    except ImportError:
        return False
    return True


def masked_average_pool(fmap: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """Node features (R, C) of one case.

    ``fmap`` (C, d, h, w) features; ``rois`` (R, D, H, W) binary ROI masks at any resolution
    that is a multiple of the feature grid (area-downsampled to it, so a feature voxel's weight is
    the fraction of it inside the ROI). Raises ``ValueError`` for an empty ROI.
    """
    w = F.adaptive_avg_pool3d(rois.float()[:, None], fmap.shape[1:])[:, 0].flatten(1)  # (R, dhw)
    mass = w.sum(1, keepdim=True)
    if (mass <= 0).any():
        raise ValueError("an ROI has no voxel on the feature grid; drop empty ROIs first")
    return (w @ fmap.flatten(1).T) / mass


def cosine_edges(nodes: torch.Tensor) -> torch.Tensor:
    """(R, R) cosine similarities of the node features (R, C)."""
    n = F.normalize(nodes, dim=1)
    return n @ n.T


def node_loss(student_nodes: torch.Tensor, teacher_nodes: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between matching nodes (eq. 5); the teacher is detached."""
    return F.mse_loss(student_nodes, teacher_nodes.detach())


def edge_loss(student_edges: torch.Tensor, teacher_edges: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the edge matrices (eq. 6); the teacher is detached."""
    return F.mse_loss(student_edges, teacher_edges.detach())


def _sinkhorn_log(cost: torch.Tensor, log_p: torch.Tensor, log_q: torch.Tensor, eps: float,
                  iters: int) -> torch.Tensor:
    f = torch.zeros_like(log_p)
    g = torch.zeros_like(log_q)
    for _ in range(iters):
        f = eps * (log_p - torch.logsumexp((g[None, :] - cost) / eps, dim=1))
        g = eps * (log_q - torch.logsumexp((f[:, None] - cost) / eps, dim=0))
    return torch.exp((f[:, None] + g[None, :] - cost) / eps)


def _gw_sinkhorn(c1: torch.Tensor, c2: torch.Tensor, eps: float, outer: int, inner: int) -> torch.Tensor:
    n, m = c1.shape[0], c2.shape[0]
    p = torch.full((n,), 1.0 / n, dtype=c1.dtype, device=c1.device)
    q = torch.full((m,), 1.0 / m, dtype=c1.dtype, device=c1.device)
    const = (c1 ** 2 @ p)[:, None] + (c2 ** 2 @ q)[None, :]
    a, b = c1.detach(), c2.detach()
    plan = p[:, None] * q[None, :]
    for _ in range(outer):
        cost = const.detach() - 2.0 * a @ plan @ b.T
        plan = _sinkhorn_log(cost - cost.min(), p.log(), q.log(), eps, inner)
    plan = plan.detach()
    return ((const - 2.0 * c1 @ plan @ c2.T) * plan).sum()


def gromov_wasserstein(c1: torch.Tensor, c2: torch.Tensor, backend: str = "auto", eps: float = 5e-3,
                       outer: int = 20, inner: int = 50) -> torch.Tensor:
    """Squared-loss GW discrepancy between structure matrices ``c1`` (n, n) and ``c2`` (m, m).

    ``backend``: ``"pot"`` (exact, POT), ``"sinkhorn"`` (entropic, pure torch; ``eps``,
    ``outer``/``inner`` iterations) or ``"auto"`` (POT when installed). Uniform marginals.
    Differentiable with respect to both matrices (the plan is treated as a constant, which is
    the envelope-theorem gradient). Returns a scalar of ``c1``'s dtype; about 0 for identical or
    permuted graphs (the entropic one up to its small bias).
    """
    if c1.ndim != 2 or c1.shape[0] != c1.shape[1] or c2.ndim != 2 or c2.shape[0] != c2.shape[1]:
        raise ValueError(f"need square matrices, got {tuple(c1.shape)} and {tuple(c2.shape)}")
    if backend == "auto":
        backend = "pot" if pot_available() else "sinkhorn"
    if backend == "pot":
        import ot

        x1, x2 = c1.double(), c2.double()
        return ot.gromov.gromov_wasserstein2(x1, x2, loss_fun="square_loss").to(c1.dtype)
    if backend == "sinkhorn":
        return _gw_sinkhorn(c1.double(), c2.double(), eps, outer, inner).to(c1.dtype)
    raise ValueError(f"backend must be 'auto', 'pot' or 'sinkhorn', got {backend!r}")


def region_graph_loss(student_fmap: torch.Tensor, teacher_fmap: torch.Tensor, rois: list[torch.Tensor], *,
                      w_node: float = 1.0, w_edge: float = 1.0, w_gw: float = 1.0,
                      backend: str = "auto") -> dict[str, torch.Tensor]:
    """Eq. 8 averaged over a batch: ``w_node * L_node + w_edge * L_edge + w_gw * L_GW``.

    ``student_fmap``/``teacher_fmap`` (B, C, d, h, w) with the same C (the student's adapter
    output); ``rois[b]`` (R_b, D, H, W) ROI masks of sample b (liver first, then tumours).
    Samples with fewer than 2 ROIs add only the node term. Returns ``loss`` and its three terms.
    """
    zero = student_fmap.new_zeros(())
    terms = {"node": zero, "edge": zero, "gw": zero}
    for b, r in enumerate(rois):
        ns = masked_average_pool(student_fmap[b], r)
        nt = masked_average_pool(teacher_fmap[b].detach(), r)
        terms["node"] = terms["node"] + node_loss(ns, nt)
        if len(r) >= 2:
            es, et = cosine_edges(ns), cosine_edges(nt)
            terms["edge"] = terms["edge"] + edge_loss(es, et)
            terms["gw"] = terms["gw"] + gromov_wasserstein(es, et.detach(), backend=backend)
    n = max(1, len(rois))
    terms = {k: v / n for k, v in terms.items()}
    loss = w_node * terms["node"] + w_edge * terms["edge"] + w_gw * terms["gw"]
    if not math.isfinite(float(loss.detach())):
        raise FloatingPointError("region graph loss is not finite")
    return {"loss": loss, **{k: v.detach() for k, v in terms.items()}}
