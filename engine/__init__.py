"""readerstudy engine: Qt-free PyTorch + diffusers models, training loops and pipelines.

Never imports ``readerstudy``, Qt or SQLAlchemy. Inputs are numpy arrays and paths; outputs are
arrays, frozen dataclasses and files. See ``engine/README.md``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
