"""Launched by test_engine_ddp.py with ``torchrun --nproc_per_node 2``: trains a few steps under DDP.

Each rank writes its final weights to ``<out>/rank<r>.pt`` so the test can compare them; the
loops themselves write checkpoints from rank 0 only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from engine.models import ConditionalLatentUNet, ConvClassifier, student_config
from engine.presets import get_preset
from engine.training import ImagePool, LatentDataset, LoopConfig, train_classifier, train_ldm
from engine.training import distributed as D


def main(out: Path) -> None:
    torch.set_num_threads(1)
    device = D.init_from_env("cpu")
    r = D.rank()
    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    clf = ConvClassifier(**student_config(32))
    g = torch.Generator().manual_seed(0)
    pool = ImagePool(torch.rand(16, 1, 32, 32, generator=g), torch.arange(16) % 2)
    train_classifier(clf, torch.optim.Adam(clf.parameters(), 1e-3), pool, device=device,
                     loop=LoopConfig(steps=3, batch_size=4, seed=1, checkpoint_dir=out / "ckpt"))
    unet = ConditionalLatentUNet(latent_size=8, latent_channels=4, **get_preset("tiny").unet)
    data = LatentDataset(torch.randn(8, 4, 8, 8, generator=g), torch.full((8, 4, 8, 8), 0.1),
                         (torch.rand(8, 1, 32, 32, generator=g) > 0.5).float(), torch.arange(8) % 2,
                         torch.randn(8, 384, generator=g), 1.0)
    train_ldm(unet, torch.optim.AdamW(unet.parameters(), 1e-3), data, device=device,
              loop=LoopConfig(steps=2, batch_size=4, seed=2, checkpoint_dir=out / "ckpt"))
    torch.save({"world": D.world_size(), "clf": clf.state_dict(), "unet": unet.state_dict()},
               out / f"rank{r}.pt")
    D.cleanup()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
