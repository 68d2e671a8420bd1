"""DDP helpers: the training loops run unchanged under ``torchrun`` (gloo on CPU, NCCL on GPU).

Nothing here re-implements distribution: it only initialises ``torch.distributed`` from the
environment torchrun sets and wraps models in :class:`~torch.nn.parallel.DistributedDataParallel`.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["init_from_env", "is_distributed", "rank", "world_size", "is_main", "wrap_ddp", "barrier",
           "cleanup"]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0 (and when not distributed): the only rank that logs and checkpoints."""
    return rank() == 0


def init_from_env(device: str | None = None) -> torch.device:
    """Initialise the process group when launched by torchrun; return this rank's device.

    ``device=None`` picks ``cuda:<LOCAL_RANK>`` when CUDA is available, else CPU. The backend is
    NCCL on CUDA and gloo on CPU. Without ``WORLD_SIZE`` > 1 in the environment nothing is
    initialised and the function only resolves the device.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return dev


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """Wrap ``model`` in DDP when distributed; otherwise return it unchanged."""
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
