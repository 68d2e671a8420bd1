"""The one training loop every trainer uses: seeded steps, checkpoint/resume, cancel, progress, DDP.

Every step ``s`` draws its randomness (batch indices, noise, timesteps, dropout) from seeds derived
from ``(seed, s, rank)``. So a run resumed from a checkpoint at step ``k`` gives the same weights
as one that ran straight through, and DDP ranks see different batches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from engine.progress import RESUMED, CancelToken, ProgressCallback, check_cancel, null_progress
from engine.training import distributed as D

__all__ = ["LoopConfig", "TrainResult", "run_loop", "step_generator", "sample_indices", "checkpoint_path"]

log = logging.getLogger(__name__)

StepFn = Callable[[nn.Module, torch.Generator, int], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class LoopConfig:
    """Settings shared by all trainers.

    Attributes
    ----------
    steps
        Number of optimiser steps in total (including steps done before a resume).
    batch_size
        Samples per step and per rank.
    seed
        Base seed of every random draw.
    checkpoint_dir
        Where ``<name>-last.pt`` is written (rank 0 only); ``None`` disables checkpoints.
    checkpoint_every
        Steps between checkpoints; 0 = only at the end.
    resume
        Continue from ``<name>-last.pt`` when it exists.
    grad_clip
        Max global gradient norm, or ``None``.
    log_every
        Steps between progress reports.
    """

    steps: int
    batch_size: int
    seed: int = 0
    checkpoint_dir: str | Path | None = None
    checkpoint_every: int = 0
    resume: bool = True
    grad_clip: float | None = 1.0
    log_every: int = 10


@dataclass
class TrainResult:
    """What a trainer returns: per-step losses (rank 0's) and the step it started from."""

    name: str
    losses: list[float] = field(default_factory=list)
    start_step: int = 0
    steps: int = 0

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """A CPU generator seeded from ``(seed, step, rank)``."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7_919 + rank * 104_729) % 2**63)


def sample_indices(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` indices in [0, n), without replacement when ``batch_size <= n``."""
    if batch_size <= n:
        return torch.randperm(n, generator=generator)[:batch_size]
    return torch.randint(0, n, (batch_size,), generator=generator)


def checkpoint_path(cfg: LoopConfig, name: str) -> Path | None:
    return None if cfg.checkpoint_dir is None else Path(cfg.checkpoint_dir) / f"{name}-last.pt"


def _save(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int,
          losses: list[float], extra: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "losses": losses, "extra": {k: v.state_dict() for k, v in extra.items()}}, tmp)
    os.replace(tmp, path)


def run_loop(name: str, model: nn.Module, optimizer: torch.optim.Optimizer, step_fn: StepFn,
             cfg: LoopConfig, device: torch.device, progress: ProgressCallback | None = None,
             cancel: CancelToken | None = None, after_step: Callable[[], None] | None = None,
             extra_state: dict | None = None) -> TrainResult:
    """Run ``cfg.steps`` optimiser steps of ``step_fn`` on ``model`` (trained in place).

    ``step_fn(net, generator, step)`` gets the (possibly DDP-wrapped) model and must return a dict
    with a scalar ``"loss"``. ``after_step()`` runs after each optimiser step (e.g. an EMA update);
    ``extra_state`` maps names to objects with ``state_dict``/``load_state_dict`` saved in the
    checkpoint too. Raises :class:`engine.progress.Cancelled` when ``cancel`` is set, after writing
    a checkpoint of the last finished step, so that a later call resumes. ``progress`` is called
    once before the first step (step 0 ``"<name>: started"``, or ``"<name>: resumed at step k of
    n"`` after a checkpoint) and then every ``cfg.log_every`` steps.
    """
    progress = progress or null_progress
    extra = extra_state or {}
    result = TrainResult(name=name, steps=cfg.steps)
    path = checkpoint_path(cfg, name)
    if path is not None and cfg.resume and path.exists():
        state = torch.load(path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        result.start_step = int(state["step"])
        result.losses = list(state["losses"])
        for k, v in extra.items():
            v.load_state_dict(state["extra"][k])
        log.info("%s: resumed from %s at step %d", name, path, result.start_step)
    net = D.wrap_ddp(model, device)
    net.train()
    r = D.rank()
    step = result.start_step
    if D.is_main():  # the stage's start, so that its ETA is measured from here (a resumed step counts)
        progress(step, cfg.steps, f"{name}: {RESUMED} {step} of {cfg.steps}" if step else f"{name}: started")
    try:
        for step in range(result.start_step, cfg.steps):
            check_cancel(cancel, f"{name} step {step}")
            gen = step_generator(cfg.seed, step, r)
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
            out = step_fn(net, gen, step)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if after_step is not None:
                after_step()
            result.losses.append(float(out["loss"].detach()))
            done = step + 1
            if D.is_main() and (done % max(cfg.log_every, 1) == 0 or done == cfg.steps):
                progress(done, cfg.steps, f"{name}: loss {result.losses[-1]:.4f}")
            if path is not None and cfg.checkpoint_every and done % cfg.checkpoint_every == 0:
                if D.is_main():
                    _save(path, model, optimizer, done, result.losses, extra)
                D.barrier()
        step = cfg.steps
    finally:
        # On cancel or error, keep what was finished so that a later call can resume.
        if path is not None and D.is_main() and step > result.start_step:
            _save(path, model, optimizer, step, result.losses, extra)
    D.barrier()
    model.eval()
    return result
