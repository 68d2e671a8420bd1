"""What the DISC, SSL and REACT-KD pipelines share: timed stages, prefixed progress, checkpoints.

Each pipeline writes ``metrics.json``, PNG grids, ``checkpoints/<name>/`` (``save_pretrained``
folders) and ``train_state/`` (resumable loop checkpoints: rerunning with the same ``out_dir``
resumes every training loop where it stopped, and cached generations under ``cache/`` are
reused).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from engine.progress import CancelToken, ProgressCallback, check_cancel, null_progress
from engine.training import LoopConfig

__all__ = ["StageRunner", "write_metrics", "cached_array"]

log = logging.getLogger(__name__)


class StageRunner:
    """State shared by the stages of one run: device, seed, out dir, timings, checkpoints."""

    def __init__(self, out_dir: str | Path, device, seed: int, progress: ProgressCallback | None,
                 cancel: CancelToken | None, checkpoint_every: int = 0) -> None:
        self.out = Path(out_dir)
        self.device = torch.device(device)
        self.seed = int(seed)
        self.progress = progress or null_progress
        self.cancel = cancel
        self.checkpoint_every = checkpoint_every
        self.timings: dict[str, float] = {}
        self.ckpt: dict[str, str] = {}
        self.t0 = time.perf_counter()
        (self.out / "checkpoints").mkdir(parents=True, exist_ok=True)
        (self.out / "cache").mkdir(parents=True, exist_ok=True)

    def loop(self, steps: int, batch: int, offset: int) -> LoopConfig:
        return LoopConfig(steps=steps, batch_size=batch, seed=self.seed + offset,
                          checkpoint_dir=self.out / "train_state", checkpoint_every=self.checkpoint_every,
                          log_every=max(1, steps // 20))

    def stage_progress(self, name: str) -> ProgressCallback:
        def cb(step: int, total: int, message: str) -> None:
            self.progress(step, total, f"[{name}] {message}")
        return cb

    def timed(self, stage: str, fn, *args, **kw):
        """Run ``fn`` as stage ``stage`` (cancel checked first), recording its wall time."""
        check_cancel(self.cancel, stage)
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        self.timings[stage] = round(self.timings.get(stage, 0.0) + time.perf_counter() - t0, 2)
        log.info("stage %s: %.1f s", stage, self.timings[stage])
        return out

    def save(self, name: str, model) -> Path:
        path = self.out / "checkpoints" / name
        model.save_pretrained(path)
        self.ckpt[name] = str(path)
        return path

    def seeded(self, offset: int) -> None:
        torch.manual_seed(self.seed + offset)

    def total(self) -> float:
        self.timings["total"] = round(time.perf_counter() - self.t0, 2)
        return self.timings["total"]


def cached_array(path: Path, make) -> np.ndarray:
    """Load ``path`` (.npy) if it exists, else compute ``make()`` and save it."""
    if path.exists():
        return np.load(path)
    arr = np.asarray(make())
    np.save(path, arr)
    return arr


def write_metrics(path: Path, doc: dict) -> Path:
    """Write ``doc`` as indented JSON (NaN allowed), with torch's thread count added."""
    doc = {**doc, "torch_threads": torch.get_num_threads()}
    path.write_text(json.dumps(doc, indent=2, allow_nan=True, default=float))
    return path
