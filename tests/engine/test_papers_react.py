"""REACT-KD: GW and region graphs, CBAM3D, modality dropout, focal loss, preprocessing, low dose."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.data.phantom import make_volume
from engine.data.preprocess3d import preprocess_case, simulate_low_dose
from engine.losses.focal import focal_loss
from engine.losses.graph_kd import (
    cosine_edges,
    gromov_wasserstein,
    masked_average_pool,
    pot_available,
    region_graph_loss,
)
from engine.models.cbam3d import CBAM3D
from engine.models.react3d import ReactStudent3D, ReactTeacher3D
from engine.training.react import modality_dropout

BACKENDS = ["sinkhorn"] + (["pot"] if pot_available() else [])


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


@pytest.mark.parametrize("backend", BACKENDS)
def test_gw_is_zero_for_identical_and_permuted_graphs_and_positive_otherwise(backend):
    torch.manual_seed(0)
    f = torch.randn(5, 16)
    c = cosine_edges(f)
    assert abs(float(gromov_wasserstein(c, c.clone(), backend=backend))) < 1e-6
    perm = torch.tensor([3, 0, 4, 1, 2])
    assert abs(float(gromov_wasserstein(c, cosine_edges(f[perm]), backend=backend))) < 1e-6
    c1 = cosine_edges(f).requires_grad_(True)
    other = cosine_edges(torch.randn(3, 16))  # a different graph with a different node count
    loss = gromov_wasserstein(c1, other, backend=backend)
    assert float(loss.detach()) > 1e-3
    loss.backward()
    assert c1.grad is not None and float(c1.grad.abs().sum()) > 0 and torch.isfinite(c1.grad).all()


def test_gw_refuses_non_square():
    with pytest.raises(ValueError, match="square"):
        gromov_wasserstein(torch.zeros(2, 3), torch.zeros(2, 2))


def test_masked_average_pool_hand_values():
    fmap = torch.arange(8.0).reshape(1, 2, 2, 2)   # C=1, 2x2x2 grid
    rois = torch.zeros(2, 4, 4, 4)
    rois[0, :2, :2, :2] = 1                          # exactly feature voxel (0,0,0)
    rois[1, 2:, 2:, :] = 1                           # feature voxels (1,1,0) and (1,1,1)
    nodes = masked_average_pool(fmap, rois)
    torch.testing.assert_close(nodes, torch.tensor([[0.0], [6.5]]))
    with pytest.raises(ValueError, match="no voxel"):
        masked_average_pool(fmap, torch.zeros(1, 4, 4, 4))


def test_region_graph_loss_is_zero_for_the_teacher_itself_and_has_gradients():
    torch.manual_seed(0)
    t = torch.randn(2, 8, 4, 4, 4)
    rois = [torch.stack([torch.ones(8, 8, 8), (torch.rand(8, 8, 8) > 0.7).float()]), torch.ones(1, 8, 8, 8)]
    for backend in BACKENDS:  # the entropic GW keeps a small bias on near-parallel nodes
        same = region_graph_loss(t.clone(), t, rois, backend=backend)
        assert float(same["loss"]) < (1e-6 if backend == "pot" else 1e-3)
    s = torch.randn(2, 8, 4, 4, 4, requires_grad=True)
    out = region_graph_loss(s, t, rois, backend="sinkhorn")
    assert float(out["node"]) > 0 and float(out["edge"]) >= 0
    out["loss"].backward()
    assert float(s.grad.abs().sum()) > 0


def test_cbam3d_shapes_and_gates():
    m = CBAM3D(16, reduction=4)
    x = torch.randn(2, 16, 6, 8, 10)
    assert m(x).shape == x.shape
    assert m.channel_gate(x).shape == (2, 16, 1, 1, 1) and m.spatial_gate(x).shape == (2, 1, 6, 8, 10)
    with torch.no_grad():
        gate = m.spatial_gate(x)
    assert float(gate.min()) > 0 and float(gate.max()) < 1
    with pytest.raises(ValueError):
        CBAM3D(8, spatial_kernel=4)


def test_teacher_student_shapes_and_shared_cbam():
    t = ReactTeacher3D(in_channels=2, channels=(4, 8, 16))
    s = ReactStudent3D(channels=(4, 8, 8), feature_channels=16)
    x = torch.randn(2, 2, 16, 16, 16)
    (lt, ft), (ls, fs) = t(x, return_features=True), s(x, return_features=True)
    assert lt.shape == ls.shape == (2, 3) and ft.shape == fs.shape == (2, 16, 4, 4, 4)
    s.share_cbam(t)
    for a, b in zip(s.cbam.parameters(), t.cbam.parameters(), strict=True):
        assert torch.equal(a, b) and not a.requires_grad
    assert sum(q.numel() for q in s.parameters() if q.requires_grad) < sum(q.numel() for q in t.parameters())


def test_modality_dropout_zeroes_the_right_input():
    x = torch.ones(400, 2, 2, 2, 2)
    out, dropped = modality_dropout(x, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(out[dropped == 0, 0], torch.zeros_like(out[dropped == 0, 0]))
    assert torch.equal(out[dropped == 0, 1], torch.ones_like(out[dropped == 0, 1]))
    assert torch.equal(out[dropped == 1, 1], torch.zeros_like(out[dropped == 1, 1]))
    assert torch.equal(out[dropped == 1, 0], torch.ones_like(out[dropped == 1, 0]))
    assert torch.equal(out[dropped == -1], x[dropped == -1])
    frac = [(dropped == k).float().mean().item() for k in (0, 1, -1)]
    assert frac[0] == pytest.approx(0.25, abs=0.07) and frac[1] == pytest.approx(0.25, abs=0.07)
    assert torch.equal(modality_dropout(x[:5], 0.0, torch.Generator())[0], x[:5])


def test_focal_loss_matches_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    labels = torch.tensor([0, 2])
    e = math.exp
    p0 = e(2) / (e(2) + e(0) + e(-1))
    p1 = e(0) / (e(0.5) + e(0.5) + e(0))
    w = (1.5, 1.0, 2.0)
    hand = (-(1.5) * (1 - p0) ** 2 * math.log(p0) - 2.0 * (1 - p1) ** 2 * math.log(p1)) / 2
    assert float(focal_loss(logits, labels, 2.0, w)) == pytest.approx(hand, rel=1e-6)
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert float(focal_loss(logits, labels, 0.0)) == pytest.approx(float(ce), rel=1e-6)


def test_preprocessing_keeps_the_largest_liver_component_and_splits_tumours():
    ph = make_volume(1, (24, 48, 48))
    mask = ph.mask.copy()
    mask[0:2, 0:2, 0:2] = 1  # a stray island outside the liver
    c = preprocess_case(ph.ct, ph.pet, mask, ph.spacing, ph.grade, size=16)
    assert c.ct.shape == c.pet.shape == c.liver.shape == (16, 16, 16)
    assert c.ct.min() >= -100 and c.ct.max() <= 240
    assert abs(float(c.pet.mean())) < 1e-4 and float(c.pet.std()) == pytest.approx(1.0, abs=1e-3)
    assert 1 <= len(c.tumours) <= 3 and all(t.any() for t in c.tumours)
    assert not any((c.liver & t).any() for t in c.tumours)
    c2 = preprocess_case(ph.ct, ph.pet, ph.mask, ph.spacing, ph.grade, size=16)
    assert np.array_equal(c.liver, c2.liver)  # the island changed nothing
    with pytest.raises(ValueError, match="liver"):
        preprocess_case(ph.ct, ph.pet, np.zeros_like(ph.mask), ph.spacing, 0, size=16)


def test_low_dose_noise_grows_as_the_dose_falls():
    ph = make_volume(0, (24, 48, 48))
    c = preprocess_case(ph.ct, ph.pet, ph.mask, ph.spacing, ph.grade, size=16)
    assert np.array_equal(simulate_low_dose(c.ct_hu, c.spacing, 1.0, np.random.default_rng(0)), c.ct_hu)
    sd = [float(np.std((simulate_low_dose(c.ct_hu, c.spacing, d, np.random.default_rng(0), angles=32) - c.ct_hu)[c.liver]))
          for d in (0.5, 0.05)]
    assert 0 < sd[0] < sd[1]
