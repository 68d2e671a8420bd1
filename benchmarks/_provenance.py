"""Checksums, versions and file tables for the provenance of the shipped generator and segmenter."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_checksums(data: Path, classes: tuple[str, ...]) -> dict:
    """sha256 of ``manifest.csv`` (when present) and one sha256 over every PNG of ``classes`` (names + bytes)."""
    h = hashlib.sha256()
    files = sorted(p for cls in classes for p in (data / cls).glob("*.png"))
    for p in files:
        h.update(p.relative_to(data).as_posix().encode())
        h.update(sha256(p).encode())
    out = {"folder": data.name, "classes": list(classes), "files": len(files), "files_sha256": h.hexdigest()}
    if (data / "manifest.csv").is_file():
        out["manifest_csv_sha256"] = sha256(data / "manifest.csv")
    return out


def versions(root: Path) -> dict:
    import diffusers
    import numpy
    import torch

    try:
        import monai

        monai_v = monai.__version__
    except ImportError:
        monai_v = None
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "engine", "benchmarks"], cwd=root,
                                capture_output=True, text=True).stdout.strip())
    return {"git_commit": commit, "engine_or_benchmarks_uncommitted_changes": dirty, "torch": torch.__version__,
            "diffusers": diffusers.__version__, "monai": monai_v, "numpy": numpy.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count()}


def file_table(folder: Path) -> list[dict]:
    return [{"file": p.relative_to(folder.parent).as_posix(), "bytes": p.stat().st_size, "sha256": sha256(p)}
            for p in sorted(folder.rglob("*")) if p.is_file()]
