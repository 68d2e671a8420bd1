"""readerstudy: radiologist reader studies, expert annotation and an embedded PyTorch engine."""

from __future__ import annotations

__version__ = "0.1.0"
