"""Optional ONNX export of the student: ONNX Runtime output matches torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models import ConvClassifier, student_config
from engine.pipelines.onnx_export import OnnxClassifier, export_classifier_onnx, onnx_export_available


def test_export_refuses_clearly_without_exporter(monkeypatch, tmp_path):
    import engine.pipelines.onnx_export as ox

    monkeypatch.setattr(ox, "onnx_export_available", lambda: False)
    with pytest.raises(RuntimeError, match="onnxscript"):
        export_classifier_onnx(ConvClassifier(**student_config(32)), tmp_path / "s.onnx")


@pytest.mark.skipif(not onnx_export_available(), reason="needs the optional 'onnx' and 'onnxscript' packages")
def test_onnx_runtime_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = ConvClassifier(**student_config(32)).eval()
    path = export_classifier_onnx(model, tmp_path / "student.onnx")
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        ref = torch.softmax(model(x), dim=1)[:, 1].numpy()
    got = OnnxClassifier(path, threads=2)(x.numpy())
    np.testing.assert_allclose(got, ref, atol=1e-5)
