"""KD loss against a hand computation; VAE loss terms."""

from __future__ import annotations

import math

import torch

from engine.losses import distillation_loss, vae_loss


def _softmax(v):
    e = [math.exp(x) for x in v]
    return [x / sum(e) for x in e]


def test_kd_loss_matches_hand_computation():
    s = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    t = torch.tensor([[1.0, 1.0], [-2.0, 3.0]])
    y = torch.tensor([0, 1])
    T, a = 3.0, 0.7
    kl = 0.0
    ce = 0.0
    for i in range(2):
        ps = _softmax([v / T for v in s[i].tolist()])
        pt = _softmax([v / T for v in t[i].tolist()])
        kl += sum(p * math.log(p / q) for p, q in zip(pt, ps, strict=True))
        ce += -math.log(_softmax(s[i].tolist())[int(y[i])])
    expected = a * T * T * kl / 2 + (1 - a) * ce / 2
    got = distillation_loss(s, t, y, temperature=T, alpha=a)
    assert abs(float(got) - expected) < 1e-6
    assert float(got) > 0


def test_kd_loss_is_ce_only_when_student_equals_teacher():
    z = torch.tensor([[0.2, 1.5], [3.0, -1.0]])
    y = torch.tensor([1, 0])
    ce = torch.nn.functional.cross_entropy(z, y)
    torch.testing.assert_close(distillation_loss(z, z.clone(), y), 0.3 * ce)


def test_kd_gradient_pulls_student_towards_teacher():
    s = torch.tensor([[0.0, 0.0]], requires_grad=True)
    t = torch.tensor([[0.0, 6.0]])
    distillation_loss(s, t, torch.tensor([1]), alpha=1.0).backward()
    assert s.grad[0, 1] < 0 < s.grad[0, 0]  # descending raises logit 1 like the teacher


def test_vae_loss_terms(tiny_vae):
    from engine.models import ConvClassifier, teacher_config

    x = torch.rand(2, 1, 32, 32)
    out = vae_loss(tiny_vae, x, beta=1e-3)
    assert set(out) == {"loss", "l1", "kl", "perceptual"}
    assert float(out["perceptual"]) == 0.0
    assert abs(float(out["loss"].detach()) - float(out["l1"] + 1e-3 * out["kl"])) < 1e-5
    teacher = ConvClassifier(**teacher_config(32)).requires_grad_(False)
    out2 = vae_loss(tiny_vae, x, beta=1e-3, teacher=teacher, perceptual_weight=0.5)
    assert float(out2["perceptual"]) > 0
    out2["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
