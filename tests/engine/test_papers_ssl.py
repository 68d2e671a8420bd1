"""SSL-guided LDM: CFG algebra, condition dropout, DINO pieces, aggregation, FID."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.metrics.classification import binary_at_threshold, multiclass_report, threshold_sweep
from engine.metrics.fid import fid
from engine.models import ConvClassifier
from engine.models.ssl_unet import SSLGuidedUNet
from engine.models.ssl_vit import SSLViT
from engine.pipelines.ssl import aggregate_mean
from engine.training import LoopConfig
from engine.training.ssl import DINOLoss, multi_crop, train_dino


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    m = SSLGuidedUNet(latent_size=8, latent_channels=4, context_dim=32, block_out_channels=(32, 64),
                      down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                      up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), layers_per_block=1).eval()
    with torch.no_grad():
        m.null_token.normal_()  # a trained null token is not zero
    return m


def test_cfg_scale_one_is_the_conditional_prediction(unet):
    z, ctx, t = torch.randn(3, 4, 8, 8), torch.randn(3, 1, 32), torch.tensor([10, 400, 900])
    with torch.no_grad():
        cond = unet(z, t, ctx)
        uncond = unet(z, t, ctx, is_null=torch.ones(3, dtype=torch.bool))
        torch.testing.assert_close(unet.guided(z, t, ctx, 1.0), cond)
        torch.testing.assert_close(unet.guided(z, t, ctx, 0.0), uncond, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(unet.guided(z, t, ctx, 3.0), uncond + 3.0 * (cond - uncond), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(cond, uncond)


def test_condition_dropout_swaps_in_the_null_token(unet):
    ctx = torch.randn(4, 1, 32)
    out = unet.drop_context(ctx, torch.tensor([True, False, True, False]))
    assert torch.equal(out[1], ctx[1]) and torch.equal(out[0], unet.null_token[0])


def test_multi_crop_and_dino_teacher_is_an_ema():
    x = torch.rand(6, 1, 16, 16)
    views = multi_crop(x, torch.Generator().manual_seed(0), 16, 8, 3)
    assert [tuple(v.shape) for v in views] == [(6, 1, 16, 16)] * 2 + [(6, 1, 8, 8)] * 3
    assert all(0 <= float(v.min()) and float(v.max()) <= 1 for v in views)
    torch.manual_seed(0)
    student = SSLViT(image_size=16, patch_size=4, dim=16, depth=1, heads=2, out_dim=8, head_hidden=16, bottleneck=8)
    before = [q.detach().clone() for q in student.parameters()]
    loss = DINOLoss(8)
    teacher, res = train_dino(student, torch.optim.AdamW(student.parameters(), lr=1e-2), x, loss,
                              loop=LoopConfig(steps=3, batch_size=4), device="cpu", local_size=8, n_local=2,
                              ema_momentum=0.5)
    assert len(res.losses) == 3 and int(loss.step) == 3 and float(loss.center.abs().sum()) > 0
    moved_s = sum(float((a.detach() - b).abs().sum()) for a, b in zip(student.parameters(), before, strict=True))
    moved_t = sum(float((a - b).abs().sum()) for a, b in zip(teacher.parameters(), before, strict=True))
    assert 0 < moved_t < moved_s  # the teacher follows the student, more slowly
    assert teacher.embed(torch.rand(2, 1, 8, 8)).shape == (2, 16)  # interpolated positions for small crops


def test_mean_aggregation_threshold_and_sweep():
    probs = np.array([0.1, 0.3, 0.05, 0.15, 0.9])
    owner = np.array([0, 0, 1, 1, 2])
    img = aggregate_mean(probs, owner, 3)
    np.testing.assert_allclose(img, [0.2, 0.1, 0.9])
    r = binary_at_threshold([1, 0, 1], img, 0.2)  # 0.2 is not > 0.2
    assert (r["sensitivity"], r["specificity"]) == (0.5, 1.0)
    sweep = threshold_sweep([1, 0, 1], img, [0.05, 0.5])
    assert sweep[0]["sensitivity"] == 1.0 and sweep[0]["specificity"] == 0.0 and sweep[1]["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no patch"):
        aggregate_mean(probs, owner, 4)


def test_fid_is_zero_for_one_set_and_grows_with_a_shift():
    torch.manual_seed(0)
    model = ConvClassifier(image_size=16, channels=(4, 8), hidden=(8,), head="gap")
    rng = np.random.default_rng(0)
    a = rng.random((40, 16, 16)).astype(np.float32)
    same = fid(model, 8, a, a[::-1].copy())
    near = fid(model, 8, a, np.clip(a + 0.05, 0, 1))
    far = fid(model, 8, a, np.clip(a + 0.3, 0, 1))
    assert abs(same) < 1e-6 and 0 < near < far


def test_multiclass_report_hand_values():
    y = [0, 1, 2, 2]
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.1, 0.1, 0.8]])
    r = multiclass_report(y, p)
    assert r["accuracy"] == 0.75 and r["auc_ovr"] == pytest.approx(1.0)
    assert r["recall"] == pytest.approx((1 + 1 + 0.5) / 3) and r["precision"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert r["macro_accuracy"] == pytest.approx((1 + 0.75 + 0.75) / 3)
