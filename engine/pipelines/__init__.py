"""Inference pipelines and the whole-pipeline entry point.

* :func:`engine.pipelines.diffkd.run_pipeline`: train + evaluate DiffKD-DCIS end to end.
* :func:`engine.pipelines.classify.predict`: probabilities + Grad-CAM from a trained student.
* :class:`engine.pipelines.generation.GenerationPipeline`: mask/label/prompt-conditioned synthesis.
"""

from __future__ import annotations
