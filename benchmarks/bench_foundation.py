"""Foundation figures: demo build time, import throughput, app start to first case displayed.

Baselines, measured in the same run:
* import throughput vs a plain ``pydicom.dcmread`` + ``numpy`` copy of the same files
  (what any script does; ours adds de-identification, checksums, a transaction per case);
* demo build vs the bare cost of decoding the same 79 PNGs with Pillow;
* app start (Qt window shown with a BUSI case, offscreen) vs a bare QApplication + empty QWidget.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from readerstudy.services.auth import local_session

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _dicom_files() -> list[Path]:
    from pydicom.data import get_testdata_file

    names = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb.dcm", "rtdose.dcm",
             "emri_small.dcm", "examples_ybr_color.dcm", "SC_rgb_rle.dcm", "MR_small_RLE.dcm", "SC_rgb_jpeg.dcm"]
    return [Path(p) for p in map(get_testdata_file, names) if p]


def bench_import() -> dict:
    import pydicom

    from readerstudy.services.context import open_context
    from readerstudy.services.importing import CaseSource, import_cases

    files = _dicom_files() * 3
    t0 = time.perf_counter()
    for f in files:
        np.array(pydicom.dcmread(f).pixel_array)
    base = len(files) / (time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = open_context(Path(tmp) / "b.sqlite")
        t0 = time.perf_counter()
        rep = import_cases(ctx, LOCAL, "bench", [CaseSource(f"{i}", f) for i, f in enumerate(files)])
        ours = len(rep.imported) / (time.perf_counter() - t0)
        ctx.close()
    return {"name": "import throughput (DICOM, de-identified, stored)", "value": ours, "unit": "images/s",
            "baseline": "pydicom.dcmread + numpy copy", "baseline_value": base, "ratio": ours / base}


def bench_demo() -> dict:
    from PIL import Image

    from readerstudy.services.context import open_context
    from readerstudy.services.demo import build_busi, busi_sources

    t0 = time.perf_counter()
    for s in busi_sources():
        np.asarray(Image.open(s.image).convert("L"))
    base = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        ctx = open_context(Path(tmp) / "d.sqlite")
        t0 = time.perf_counter()
        build_busi(ctx, LOCAL)
        ours = time.perf_counter() - t0
        ctx.close()
    return {"name": "BUSI demo build (79 cases + masks)", "value": ours, "unit": "s",
            "baseline": "decode the 79 PNGs with Pillow", "baseline_value": base, "ratio": ours / base}


_START = """
import sys, time
t0 = time.perf_counter()
from readerstudy.services.context import open_context
from readerstudy.ui.app import ensure_app
from readerstudy.ui.coordinator.cases import MainWindow
app = ensure_app()
w = MainWindow(open_context(sys.argv[1]), "BUSI benign vs malignant")
w.show(); app.processEvents()
assert w.preview.getImageItem().image is not None
print(time.perf_counter() - t0)
from readerstudy.ui.app import release_window
release_window(w)
"""
_BARE = """
import time
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication, QWidget

app = QApplication([]); w = QWidget(); w.show(); app.processEvents()
print(time.perf_counter() - t0)
"""


def bench_start() -> dict:
    from readerstudy.services.context import open_context
    from readerstudy.services.demo import build_busi

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.sqlite"
        ctx = open_context(db)
        build_busi(ctx, LOCAL)
        ctx.close()
        ours = min(float(subprocess.check_output([sys.executable, "-c", _START, str(db)], text=True)) for _ in range(3))
    base = min(float(subprocess.check_output([sys.executable, "-c", _BARE], text=True)) for _ in range(3))
    return {"name": "app start to first case displayed (offscreen)", "value": ours, "unit": "s",
            "baseline": "bare QApplication + empty QWidget", "baseline_value": base, "ratio": ours / base}


def run() -> list[dict]:
    return [bench_demo(), bench_import(), bench_start()]


if __name__ == "__main__":
    for r in run():
        print(r)
