"""``readerstudy import``: the summary always prints, exit 3 when a file is refused, library noise in the log file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from readerstudy.cli.app import main

NOISY = ("JPEG2000-embedded-sequence-delimiter.dcm", "JPEG-lossy.dcm", "badVR.dcm", "ExplVR_BigEndNoMeta.dcm")


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for name in NOISY:  # files pydicom logs tracebacks and warnings about
        shutil.copy(get_testdata_file(name), src / name)
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(np.stack([grey, grey], -1), "LA").save(src / "grey_alpha.png")
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "zz_ct.dcm")
    return src


def test_import_prints_app_lines_only_and_exits_3(tmp_path: Path, capfd: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "logs" / "rs.log"
    monkeypatch.setenv("READERSTUDY_LOG", str(log))
    code = main(["import", "--db", str(tmp_path / "d.sqlite"), "--study", "S", "--folder", str(_folder(tmp_path))])
    out, err = capfd.readouterr()
    assert code == 3
    assert out.splitlines()[0] == "S: imported 2 case(s) (0 mask(s)), refused 4"
    assert sum(line.startswith("  refused ") for line in out.splitlines()) == 4
    assert "de-identified 1 file(s) (1 DICOM object(s))" in out
    assert "Traceback" not in err and "Warning" not in err and "libjpeg" not in err
    assert err.count(str(log)) == 1 and "--debug shows them" in err
    text = log.read_text()
    assert "pydicom" in text and ("Traceback" in text or "UserWarning" in text)


def test_debug_shows_library_messages(tmp_path: Path, capfd: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READERSTUDY_LOG", str(tmp_path / "rs.log"))
    code = main(["--debug", "import", "--db", str(tmp_path / "d.sqlite"), "--study", "S",
                 "--folder", str(_folder(tmp_path))])
    _, err = capfd.readouterr()
    assert code == 3 and "pydicom" in err and "--debug shows them" not in err


def test_clean_import_exits_0(tmp_path: Path, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READERSTUDY_LOG", str(tmp_path / "rs.log"))
    src = tmp_path / "in" / "benign"
    src.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(src / "x.png")
    code = main(["import", "--db", str(tmp_path / "d.sqlite"), "--study", "S", "--folder", str(src.parent),
                 "--labels", "benign=0"])
    out, err = capfd.readouterr()
    assert code == 0 and out.startswith("S: imported 1 case(s)") and err == ""
