"""The coordinator's Exports tab on the simulated demo study: every export through real widgets,
real files and a real QSettings file; the folder and file choosers are injected."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from PySide6.QtCore import QSettings

from readerstudy.core.errors import PermissionDenied
from readerstudy.services import exports as svc
from readerstudy.services.auth import sign_in
from readerstudy.services.context import open_context
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.ui.coordinator.exports import ExportResult, ExportsWidget, documents_dir
from readerstudy.ui.coordinator.home import CoordinatorHomeWindow


@pytest.fixture(scope="module")
def study(sim_copy, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    ctx = open_context(sim_copy(tmp_path_factory.mktemp("exports")))
    yield ctx
    ctx.close()


@pytest.fixture
def coordinator(study):  # noqa: ANN201
    return sign_in(study, BUSI_STUDY, "Study coordinator", "0000")


class Choosers:
    """Injected choosers: answer with the given paths and record what the widget proposed."""

    def __init__(self, folder: Path | None = None, file: Path | None = None) -> None:
        self.folder, self.file = folder, file
        self.dir_calls: list[tuple[str, str]] = []
        self.file_calls: list[tuple[str, str, str]] = []
        self.urls: list[str] = []

    def choose_dir(self, parent, title: str, start: str) -> str | None:  # noqa: ANN001
        self.dir_calls.append((title, start))
        return str(self.folder) if self.folder else None

    def choose_file(self, parent, title: str, start: str, filters: str) -> str | None:  # noqa: ANN001
        self.file_calls.append((title, start, filters))
        return str(self.file) if self.file else None

    def open_url(self, url) -> bool:  # noqa: ANN001
        self.urls.append(url.toLocalFile())
        return True


def make(qtbot, ctx, session, tmp_path: Path, **paths):  # noqa: ANN001, ANN201
    c = Choosers(**paths)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = ExportsWidget(ctx, session, choose_dir=c.choose_dir, choose_file=c.choose_file, open_url=c.open_url,
                      settings=settings)
    qtbot.addWidget(w)
    return w, c, settings


def wait(qtbot, w) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: not w.busy, timeout=90000)


def test_report_export_into_a_new_folder_then_open_it(qtbot, study, coordinator, tmp_path):
    w, c, settings = make(qtbot, study, coordinator, tmp_path, folder=tmp_path / "new" / "interim")
    assert w.report_dir.text().startswith(str(documents_dir())) and w.report_dir.text() != os.getcwd()
    assert not w.open_button.isEnabled()
    choose = [b for b in w.findChildren(type(w.report_button)) if b.text() == "Choose…"][0]
    choose.click()  # the injected chooser "creates" tmp/new/interim
    assert w.report_dir.text() == str(tmp_path / "new" / "interim") and len(c.dir_calls) == 1
    steps: list[int] = []
    w.bar.valueChanged.connect(steps.append)
    w.report_button.click()
    assert w.busy and w.cancel_button.isEnabled() and not w.reads_button.isEnabled()
    wait(qtbot, w)
    assert w.error.text() == "" and isinstance(w.last_result, ExportResult)
    out = tmp_path / "new" / "interim"
    for name in ("report.html", "report.pdf", "report.json", "reads.csv", "figures/roc.png"):
        assert (out / name).stat().st_size > 0, name
    assert len(set(steps)) >= 5 and w.bar.value() == w.bar.maximum()
    assert "Report written to" in w.status.text() and w.open_button.isEnabled() and c.urls == []
    w.open_button.click()
    assert c.urls == [str(out / "report.html")]
    listed = [w.files.item(i).text() for i in range(w.files.count())]
    assert listed[:2] == [str(out / "report.html"), str(out / "report.pdf")] and str(out / "figures" / "roc.png") in listed
    # the folder is remembered: a new tab (a new session of the app) proposes it again
    w2, _, _ = make(qtbot, study, coordinator, tmp_path)
    assert w2.report_dir.text() == str(out) and w2.open_button.isEnabled()  # it holds a report already
    assert json.loads((out / "report.json").read_text())["meta"]["provenance"]["command"].endswith(
        "# from the app, by Study coordinator")


def test_reference_choice_reaches_the_report(qtbot, study, coordinator, tmp_path):
    w, _, _ = make(qtbot, study, coordinator, tmp_path)
    labels = [w.reference.itemText(i) for i in range(w.reference.count())]
    assert labels == ["Default (most senior reader: Senior radiologist)", "Senior radiologist (senior)",
                      "Mid-level radiologist (mid)", "Junior radiologist (junior)", "Late reader (junior)",
                      "Consensus of the senior readers", "The model (DemoNet)"]
    w.reference.setCurrentIndex(labels.index("Junior radiologist (junior)"))
    w.arm.setCurrentIndex(w.arm.findData("AI-aided"))
    w.start_report(str(tmp_path / "rep"))
    wait(qtbot, w)
    d = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert d["tables"]["reference"] == "Junior radiologist" and d["tables"]["focus_arm"] == "AI-aided"
    assert {r["reference"] for r in d["tables"]["mcnemar"]["rows"]} == {"Junior radiologist"}


def test_reads_masks_and_agreement_exports(qtbot, study, coordinator, tmp_path):
    w, c, settings = make(qtbot, study, coordinator, tmp_path, file=tmp_path / "r" / "imrmc.csv",
                          folder=tmp_path / "masks")
    w.read_format.setCurrentIndex(w.read_format.findData("imrmc"))
    w.reads_button.click()
    wait(qtbot, w)
    im = pd.read_csv(tmp_path / "r" / "imrmc.csv", dtype={"readerID": str})
    assert list(im.columns) == ["readerID", "caseID", "modalityID", "score"] and (im["readerID"] == "-1").sum() == 79
    assert c.file_calls[0][1].endswith("reads_imrmc.csv") and "Reads written to" in w.status.text()
    assert settings.value("exports/last_dir") == str(tmp_path / "r")
    w.mask_format.setCurrentIndex(w.mask_format.findData("png"))
    w.masks_button.click()
    wait(qtbot, w)
    index = pd.read_csv(tmp_path / "masks" / "index.csv")
    assert len(index) == 79 and all((tmp_path / "masks" / f).is_file() for f in index["file"])
    assert c.dir_calls[-1][1] == str(tmp_path / "r")  # the chooser starts in the last folder used
    assert "79 mask(s) written" in w.status.text()
    c.file = tmp_path / "agreement.csv"
    w.agreement_button.click()
    wait(qtbot, w)
    assert (tmp_path / "agreement.csv").read_text().startswith("case,") and w.error.text() == ""


def test_cancel_leaves_nothing_and_errors_are_inline(qtbot, study, coordinator, tmp_path):
    w, _, _ = make(qtbot, study, coordinator, tmp_path)
    w.start_report(str(tmp_path / "cancelled"))
    w.cancel_button.click()
    wait(qtbot, w)
    assert "cancelled" in w.status.text() and "nothing was written" in w.status.text()
    assert not (tmp_path / "cancelled" / "report.html").exists() and w.error.text() == ""
    assert not list((tmp_path / "cancelled").glob(".report-*"))
    (tmp_path / "afile").write_text("x")
    w.start_report(str(tmp_path / "afile"))
    wait(qtbot, w)
    assert "is a file, not a folder" in w.error.text() and "failed" in w.status.text()
    w.report_dir.setText("relative/folder")
    w.report_button.click()
    assert "not a full folder path" in w.error.text() and not w.busy


def test_only_coordinators_export(study, tmp_path):
    reader = sign_in(study, BUSI_STUDY, "Junior radiologist", "0000")
    with pytest.raises(PermissionDenied):
        svc.export_reads_to(study, reader, "csv", tmp_path / "x.csv", lambda *a: None)
    with pytest.raises(PermissionDenied):
        svc.export_report_to(study, reader, tmp_path / "r", lambda *a: None)
    assert not (tmp_path / "x.csv").exists()


def test_home_window_has_the_exports_tab(qtbot, study, coordinator):
    win = CoordinatorHomeWindow(study, coordinator)
    qtbot.addWidget(win)
    titles = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert "Exports" in titles and isinstance(win.tab("exports"), ExportsWidget)


def test_open_report_says_so_when_no_program_opens_it(qtbot, ctx, tmp_path):
    """On a workstation with no browser set for .html, "Open report" did nothing at all."""
    from readerstudy.services.studies import create_study

    coord = create_study(ctx, "Empty", "Dr Reed", "2468")
    opened: list[str] = []
    w = ExportsWidget(ctx, coord, choose_dir=lambda *a: None, choose_file=lambda *a: None,
                      open_url=lambda url: opened.append(url.toLocalFile()) or False,
                      settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "report.html").write_text("<html></html>")
    w.report_dir.setText(str(tmp_path / "rep"))
    assert w.open_button.isEnabled()
    w.open_button.click()
    assert opened == [str(tmp_path / "rep" / "report.html")]
    assert "No program on this computer is set to open report.html" in w.error.text()
    assert str(tmp_path / "rep" / "report.html") in w.error.text()


def test_the_dashboard_and_the_exports_tab_share_the_reference_and_the_last_report(qtbot, study, coordinator,
                                                                                  tmp_path):
    """The dashboard's Export report used the default reference whatever the Exports tab said, and kept
    saying "No report exported in this session" after an export from the Exports tab."""
    home = CoordinatorHomeWindow(study, coordinator)
    qtbot.addWidget(home)
    dash = home.dashboard
    assert "Reference: Default (most senior reader: Senior radiologist)" in dash.report_choices.text()  # tab not built
    tab = home.tab("exports")
    opened: list[str] = []
    dash._open_url = lambda url: opened.append(url.toLocalFile()) or True  # no browser in tests
    assert "Default (most senior reader: Senior radiologist)" in dash.report_choices.text()
    tab.reference.setCurrentIndex(tab.reference.findData("Junior radiologist"))
    tab.arm.setCurrentIndex(tab.arm.findData("AI-aided"))
    assert "Reference: Junior radiologist (junior); compared arm: AI-aided" in dash.report_choices.text()

    dash.start_export(str(tmp_path / "from dashboard"))
    qtbot.waitUntil(lambda: not dash.exporting, timeout=90000)
    d = json.loads((tmp_path / "from dashboard" / "report.json").read_text())
    assert d["tables"]["reference"] == "Junior radiologist" and d["tables"]["focus_arm"] == "AI-aided"
    assert dash.error.text() == "" and opened == [str(tmp_path / "from dashboard" / "report.html")]
    assert "from the dashboard" in tab.status.text() and "reference Junior radiologist (junior)" in tab.status.text()
    assert tab.open_button.isEnabled() and tab.report_html == tmp_path / "from dashboard" / "report.html"
    assert tab.report_dir.text() == str(tmp_path / "from dashboard")

    tab.reference.setCurrentIndex(tab.reference.findData(None))
    tab.start_report(str(tmp_path / "from tab"))
    wait(qtbot, tab)
    status = dash.export_status.text()
    assert "No report exported" not in status and str(tmp_path / "from tab") in status
    assert "from the Exports tab" in status and "reference Default (most senior reader" in status
    assert "roc" in dash.figure_labels and dash.last_export is tab.last_result  # its figures in the gallery
    assert json.loads((tmp_path / "from tab" / "report.json").read_text())["tables"]["reference"] == \
        "Senior radiologist"
    home.close()
