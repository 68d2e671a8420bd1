"""Training loops: loss goes down, resume equals a straight run, cancel, progress."""

from __future__ import annotations

import pytest
import torch

from engine.models import ConvClassifier, student_config
from engine.progress import Cancelled, CancelToken
from engine.training import (
    ImagePool,
    LoopConfig,
    distill_student,
    encode_latents,
    fit_scaling_factor,
    train_classifier,
    train_ldm,
    train_vae,
)


def _pool(n=8, size=32):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, size, size, generator=g) * 0.3
    y = torch.arange(n) % 2
    x[y == 1, :, 8:24, 8:24] += 0.6  # class 1 has a bright square
    return ImagePool(x, y)


def _student(seed=0):
    torch.manual_seed(seed)
    return ConvClassifier(**student_config(32))


def test_classifier_loss_decreases():
    m = _student()
    res = train_classifier(m, torch.optim.Adam(m.parameters(), 1e-3), _pool(),
                           loop=LoopConfig(steps=15, batch_size=8), device="cpu", augment="none")
    assert len(res.losses) == 15
    assert sum(res.losses[-3:]) / 3 < 0.7 * sum(res.losses[:3]) / 3


def test_vae_loss_decreases(tiny_vae):
    x = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.5
    res = train_vae(tiny_vae, torch.optim.Adam(tiny_vae.parameters(), 2e-3), x,
                    loop=LoopConfig(steps=12, batch_size=4), device="cpu")
    assert sum(res.losses[-3:]) < sum(res.losses[:3])
    f = fit_scaling_factor(tiny_vae, x, "cpu")
    z = tiny_vae.encode(x)
    assert tiny_vae.config.scaling_factor == f
    assert float(z.std()) == pytest.approx(1.0, rel=1e-3)


def test_distillation_runs_and_learns():
    teacher = _student(1)
    train_classifier(teacher, torch.optim.Adam(teacher.parameters(), 1e-3), _pool(),
                     loop=LoopConfig(steps=10, batch_size=8), device="cpu", augment="none")
    s = _student(2)
    res = distill_student(s, teacher, torch.optim.Adam(s.parameters(), 1e-3), _pool(),
                          loop=LoopConfig(steps=10, batch_size=8), device="cpu", augment="classic")
    assert res.losses[-1] < res.losses[0]
    assert not any(p.requires_grad for p in teacher.parameters())


def test_ldm_step_and_loss_is_finite(tiny_vae, tiny_unet):
    x = torch.rand(4, 1, 32, 32)
    masks = (torch.rand(4, 1, 32, 32) > 0.5).float()
    data = encode_latents(tiny_vae, x, masks, torch.tensor([0, 1, 0, 1]), torch.randn(4, 384), "cpu")
    assert len(data) == 8 and data.mean.shape == (8, 4, 8, 8)
    before = [p.clone() for p in tiny_unet.parameters()]
    res = train_ldm(tiny_unet, torch.optim.AdamW(tiny_unet.parameters(), 1e-3), data,
                    loop=LoopConfig(steps=2, batch_size=4), device="cpu", ema_decay=0.999)
    assert all(torch.isfinite(torch.tensor(res.losses)))
    assert any(not torch.equal(a, b) for a, b in zip(before, tiny_unet.parameters(), strict=True))


def _run(steps, ckpt, resume=True, cancel=None, seed=5):
    m = _student(3)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    res = train_classifier(m, opt, _pool(), loop=LoopConfig(steps=steps, batch_size=4, seed=seed,
                           checkpoint_dir=ckpt, resume=resume), device="cpu", augment="classic",
                           cancel=cancel)
    return m, res


def test_resume_equals_straight_run(tmp_path):
    straight, r1 = _run(4, None)
    _run(2, tmp_path)                       # stops after 2 steps, checkpoint at step 2
    resumed, r2 = _run(4, tmp_path)         # continues from step 2
    assert r2.start_step == 2 and len(r2.losses) == 4
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    assert r1.losses == pytest.approx(r2.losses)


def test_cancel_raises_and_keeps_progress(tmp_path):
    token = CancelToken()
    calls = []

    def progress(step, total, message):
        calls.append(step)
        if step >= 3:
            token.cancel()

    m = _student()
    with pytest.raises(Cancelled):
        train_classifier(m, torch.optim.Adam(m.parameters(), 1e-3), _pool(),
                         loop=LoopConfig(steps=10, batch_size=4, checkpoint_dir=tmp_path, log_every=1),
                         device="cpu", progress=progress, cancel=token)
    assert calls == [0, 1, 2, 3]  # the start report, then each step
    state = torch.load(tmp_path / "teacher-last.pt", weights_only=False)
    assert state["step"] == 3


def test_ldm_resume_with_ema_equals_straight_run(tiny_vae, tmp_path):
    from engine.models import ConditionalLatentUNet
    from engine.presets import get_preset

    x = torch.rand(4, 1, 32, 32)
    data = encode_latents(tiny_vae, x, torch.ones(4, 1, 32, 32), torch.tensor([0, 1, 0, 1]),
                          torch.randn(4, 384), "cpu")

    def run(steps, ckpt):
        torch.manual_seed(0)
        u = ConditionalLatentUNet(latent_size=8, latent_channels=4, **get_preset("tiny").unet)
        train_ldm(u, torch.optim.AdamW(u.parameters(), 1e-3), data, device="cpu",
                  loop=LoopConfig(steps=steps, batch_size=4, checkpoint_dir=ckpt))
        return u

    straight = run(3, None)
    run(1, tmp_path)
    resumed = run(3, tmp_path)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
