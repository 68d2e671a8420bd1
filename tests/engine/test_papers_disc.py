"""DISC: separated-conditions sampling (exactness, batching), L_DISC training, tile masks, lambda balance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data.phantom import SLICE_LABELS, make_slice, make_slices
from engine.data.tile_masks import assign_labels, label_mix, sample_tile_masks, to_shape_mask
from engine.metrics.label_fidelity import dice_per_label
from engine.models import USVAE, ConvClassifier
from engine.models.disc_unet import DISCLatentUNet, one_hot_masks
from engine.pipelines.disc import DISCPipeline, fuse_latents
from engine.training import LoopConfig, make_train_scheduler
from engine.training.balanced import train_balanced_classifier
from engine.training.disc import MaskLatents, train_disc_ldm

K = len(SLICE_LABELS)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # 2 threads on a loaded 2-core machine spin-wait (20x slower small convs)
    yield


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    vae = USVAE(image_size=16, latent_channels=4, block_out_channels=(16, 32, 32), layers_per_block=1,
                norm_num_groups=16, mid_block_add_attention=False)
    unet = DISCLatentUNet(latent_size=4, latent_channels=4, image_size=16, num_labels=K, token_grid=4, token_dim=32,
                          tokenizer_channels=(8, 16), block_out_channels=(32, 64),
                          down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                          up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), layers_per_block=1)
    return DISCPipeline(vae, unet, make_train_scheduler(), "cpu")


def _two_label_mask() -> torch.Tensor:
    lab = torch.zeros(16, 16, dtype=torch.long)
    lab[:, 8:] = 3
    lab[:4, :4] = 1
    return lab


def test_tokens_shape_and_one_hot_checks(pipe):
    oh = one_hot_masks(_two_label_mask()[None], K)
    assert oh.shape == (1, K, 16, 16) and torch.equal(oh.sum(1), torch.ones(1, 16, 16))
    assert pipe.unet.tokens(oh).shape == (1, 16, 32)
    with pytest.raises(ValueError, match="labels must lie"):
        one_hot_masks(torch.full((1, 4, 4), K), K)


def test_sc_is_exact_where_the_mask_has_one_label(pipe):
    for k in (0, 3):
        full = torch.full((1, 16, 16), k, dtype=torch.long)
        sc = pipe.latents(full, seeds=[7], mode="sc", num_inference_steps=3)
        vanilla = pipe.latents(full, seeds=[7], mode="vanilla", num_inference_steps=3)
        torch.testing.assert_close(sc, vanilla, atol=1e-6, rtol=0)
    # in a two-label mask each latent cell takes its own label's copy exactly
    lab = _two_label_mask()
    z, copies = pipe.latents(lab[None], seeds=[3], mode="sc", num_inference_steps=3, return_copies=True)
    m = torch.nn.functional.interpolate(one_hot_masks(lab[None], K), size=(4, 4), mode="nearest")[0]
    for k in (0, 1, 3):
        cells = m[k].bool()
        if cells.any():
            assert torch.equal(z[0][:, cells], copies[(0, k)][:, cells])
    assert set(copies) == {(0, 0), (0, 1), (0, 3)}  # only the labels present run


def test_sc_batch_equals_k_sequential_runs(pipe):
    lab = _two_label_mask()
    batched, copies = pipe.latents(lab[None], seeds=[11], mode="sc", num_inference_steps=3, return_copies=True,
                                   batch_size=64)
    noise = torch.randn(pipe.latent_shape, generator=torch.Generator().manual_seed(11))[None]
    seq = []
    for k in (0, 1, 3):
        tokens = pipe.unet.tokens(pipe.unet.single_label_onehots([k]))
        with torch.no_grad():
            zk = pipe.denoise(noise, tokens, 3)
        torch.testing.assert_close(copies[(0, k)], zk[0], atol=1e-5, rtol=1e-5)
        seq.append(zk[0])
    fused = fuse_latents(torch.stack(seq), [0, 1, 3], lab, K)
    torch.testing.assert_close(batched[0], fused, atol=1e-5, rtol=1e-5)
    # present_only=False runs all K copies and gives the same fused latent
    every = pipe.latents(lab[None], seeds=[11], mode="sc", num_inference_steps=3, present_only=False)
    torch.testing.assert_close(every, batched, atol=1e-5, rtol=1e-5)


def test_fuse_refuses_a_label_without_copy():
    with pytest.raises(ValueError, match="no copy"):
        fuse_latents(torch.zeros(1, 4, 4, 4), [0], _two_label_mask(), K)


def test_disc_loss_decreases(pipe):
    torch.manual_seed(0)
    unet = DISCLatentUNet.from_config(pipe.unet.config)
    unet.load_state_dict(pipe.unet.state_dict())
    masks = torch.from_numpy(make_slices(4, 16)[1]).long()
    fused = MaskLatents(torch.randn(4, 4, 4, 4), masks)
    sched = make_train_scheduler()
    gen = torch.Generator().manual_seed(5)
    noise = torch.randn(4, 4, 4, 4, generator=gen)
    t = torch.tensor([100, 300, 500, 700])

    def l_disc() -> float:
        with torch.no_grad():
            zt = sched.add_noise(fused.z, noise, t)
            return float(torch.nn.functional.mse_loss(unet(zt, t, one_hot_masks(masks, K)), noise))

    before = l_disc()
    train_disc_ldm(unet, torch.optim.Adam(unet.parameters(), lr=2e-3), synthetic=fused,
                   loop=LoopConfig(steps=25, batch_size=4, seed=0), device="cpu", scheduler=sched, ema_decay=None)
    assert l_disc() < 0.8 * before


def test_frequency_ranked_reassignment():
    lab = np.zeros((8, 8), np.uint8)
    lab[:, :4] = 1
    lab[:4, 4:] = 3          # 16 px: most frequent tumour label
    lab[6:, 6:] = 2          # 4 px
    shape = to_shape_mask(lab, (2, 3, 4))
    assert shape.n_ranks == 2
    assert (shape.ranks[lab == 3] == 0).all() and (shape.ranks[lab == 2] == 1).all()
    out = assign_labels(shape, [4, 2, 3])
    assert (out[lab == 3] == 4).all() and (out[lab == 2] == 2).all() and (out[lab == 1] == 1).all()
    assert label_mix(out, (2, 3, 4)) == (4, 2)
    with pytest.raises(ValueError, match="distinct"):
        assign_labels(shape, [4, 4, 3])


def test_tile_masks_follow_primary_and_secondary():
    shapes = [to_shape_mask(make_slice(i, 32)[1], (2, 3, 4)) for i in range(20)]
    rng = np.random.default_rng(0)
    masks = sample_tile_masks(shapes, 30, (2, 3, 4), rng, primary=4, secondary=2)
    for m in masks:
        mix = label_mix(m, (2, 3, 4))
        assert mix[0] == 4 and (len(mix) < 2 or mix[1] == 2)
    unguided = sample_tile_masks(shapes, 60, (2, 3, 4), np.random.default_rng(1))
    primaries = [label_mix(m, (2, 3, 4))[0] for m in unguided]
    assert set(primaries) == {2, 3, 4}  # random weights balance the majorities


def test_phantom_slices_are_deterministic_and_multi_label():
    a, b = make_slices(6, 32), make_slices(6, 32)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].min() >= 0 and a[0].max() <= 1 and set(np.unique(a[1])) >= {0, 1}
    assert len(set(np.unique(a[1])) & {2, 3, 4}) >= 2


def test_lambda_zero_ignores_synthetic_and_bounds_are_checked():
    x = torch.rand(8, 1, 16, 16)
    y = (torch.rand(8, 3) > 0.5).float()
    weights = []
    for syn in (None, (torch.rand(8, 1, 16, 16), y)):
        torch.manual_seed(0)
        m = ConvClassifier(image_size=16, num_classes=3, channels=(4, 8), hidden=(8,), dropout=0.0)
        train_balanced_classifier(m, torch.optim.SGD(m.parameters(), lr=0.1), (x, y), syn, balance=0.0,
                                  loop=LoopConfig(steps=3, batch_size=4), device="cpu")
        weights.append(torch.cat([q.flatten() for q in m.parameters()]))
    assert torch.equal(weights[0], weights[1])
    with pytest.raises(ValueError, match="lambda"):
        train_balanced_classifier(m, torch.optim.SGD(m.parameters(), lr=0.1), (x, y), None, balance=1.5,
                                  loop=LoopConfig(steps=1, batch_size=4), device="cpu")


def test_dice_per_label():
    t = np.zeros((1, 4, 4), int)
    t[0, :2] = 2
    p = t.copy()
    p[0, 0, 0] = 0
    d = dice_per_label(p, t, 3)
    assert d[2] == [pytest.approx(2 * 7 / 15)] and d[1] == [] and d[0][0] == pytest.approx(2 * 8 / 17)
