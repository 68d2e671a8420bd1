"""``run_loop`` with an exponential moving average of the weights (diffusers ``EMAModel``)."""

from __future__ import annotations

from engine.training.loop import run_loop

__all__ = ["run_loop_ema"]


def run_loop_ema(name, model, optimizer, step, loop, device, progress, cancel, ema_decay: float | None = 0.999):
    """Run ``step`` like :func:`engine.training.loop.run_loop`; with ``ema_decay`` keep an EMA (with
    warm-up, checkpointed for resume) and copy it into ``model`` at the end."""
    if ema_decay is None:
        return run_loop(name, model, optimizer, step, loop, device, progress, cancel)
    from diffusers.training_utils import EMAModel

    core = model.module if hasattr(model, "module") else model
    ema = EMAModel(core.parameters(), decay=ema_decay, use_ema_warmup=True, power=2 / 3)
    result = run_loop(name, model, optimizer, step, loop, device, progress, cancel,
                      after_step=lambda: ema.step(core.parameters()), extra_state={"ema": ema})
    ema.copy_to(core.parameters())
    return result
