"""The case browser shows each image's burned-in annotation flag; an unmasked flag is highlighted."""

from __future__ import annotations

import sys
from pathlib import Path

from readerstudy.services.auth import local_session
from readerstudy.services.deid_policy import DeidRequest, PixelRect
from readerstudy.services.importing import CaseSource, import_cases

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imaging"))
from dicom_objects import ct_image, us_image  # noqa: E402

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def test_burned_in_column(qtbot, ctx, tmp_path: Path) -> None:  # noqa: ANN001
    from readerstudy.ui.coordinator.cases import COLUMNS, MainWindow

    us_image(burned_in=True).save_as(tmp_path / "text.dcm", enforce_file_format=True)
    us_image(burned_in=False).save_as(tmp_path / "clean.dcm", enforce_file_format=True)
    ct_image().save_as(tmp_path / "ct.dcm", enforce_file_format=True)
    import_cases(ctx, LOCAL, "US", [CaseSource("flagged", tmp_path / "text.dcm"), CaseSource("no", tmp_path / "clean.dcm"),
                             CaseSource("unstated", tmp_path / "ct.dcm")], deid=DeidRequest(burned_in="flag"))
    import_cases(ctx, LOCAL, "US", [CaseSource("masked", tmp_path / "text.dcm")],
                 deid=DeidRequest(clean_rects=(PixelRect(0, 0, 16, 4),)))
    from readerstudy.services.auth import system_session

    w = MainWindow(ctx, system_session(ctx, "US"))
    qtbot.addWidget(w)
    col, src = COLUMNS.index("Burned-in"), COLUMNS.index("Source")
    shown = {w.cases.item(i, src).text(): w.cases.item(i, col) for i in range(w.cases.rowCount())}
    assert {k: v.text() for k, v in shown.items()} == {"flagged": "YES", "no": "NO", "unstated": "",
                                                        "masked": "YES, masked"}
    assert shown["flagged"].background().color().name() == "#ffb347"
    assert "check the pixels" in shown["flagged"].toolTip()
    assert all(shown[k].background().color().name() != "#ffb347" for k in ("no", "unstated", "masked"))
