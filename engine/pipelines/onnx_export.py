"""Optional ONNX export of a trained classifier and ONNX Runtime inference.

Export needs the ``onnx`` and ``onnxscript`` packages (torch's exporter uses them); inference needs
``onnxruntime`` (extra ``onnx``). Weights may go to a side file ``<name>.onnx.data``: ship both.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

__all__ = ["export_classifier_onnx", "OnnxClassifier", "onnx_export_available"]


def onnx_export_available() -> bool:
    """True when torch's ONNX exporter can run (``onnx`` and ``onnxscript`` importable)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript"))


def export_classifier_onnx(model: torch.nn.Module, path: str | Path) -> Path:
    """Export ``model`` (input (B, 1, S, S), output logits) to ``path`` with a dynamic batch axis."""
    if not onnx_export_available():
        raise RuntimeError("ONNX export needs the 'onnx' and 'onnxscript' packages: "
                           "pip install onnx onnxscript")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = int(model.config.image_size)
    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    x = torch.zeros(2, 1, s, s)
    torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["image"], output_names=["logits"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    return path


class OnnxClassifier:
    """ONNX Runtime session of an exported classifier; ``__call__`` returns P(label 1)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def logits(self, images: np.ndarray) -> np.ndarray:
        """(B, 1, S, S) float32 in [0, 1] -> (B, classes) logits."""
        return self.session.run(None, {"image": np.ascontiguousarray(images, dtype=np.float32)})[0]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        z = self.logits(images)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e[:, 1] / e.sum(axis=1)).astype(np.float32)
