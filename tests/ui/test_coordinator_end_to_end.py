"""A coordinator with only the app, no CLI: from an empty database to an interim report, end to end.

One qtbot test drives the real app shell and the coordinator's tabs as a person would (typing,
clicking, the real confirm dialog): New study with its first coordinator on the sign-in screen,
import a BUSI folder (labels from the folder names: benign 0, malignant 1, normal left out), add
three readers and an annotator with PINs, write and apply a protocol in the editor, a reader signs
in and reads a few cases by keyboard, the coordinator corrects one read, checks the dashboard and
exports the report and the R inputs. After each step the stored state is checked through the
services; the report's numbers are recomputed from its own reads.csv.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tinyhtml5
from PySide6.QtCore import QSettings, QStandardPaths, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMessageBox
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from readerstudy.core.models import Role
from readerstudy.paths import demo_dir
from readerstudy.services import auth
from readerstudy.services import participants as people
from readerstudy.services import reading_admin as admin
from readerstudy.services.assignment_overview import assignment_overview
from readerstudy.services.assignments import study_protocol
from readerstudy.services.context import open_context
from readerstudy.ui.app import ensure_app
from readerstudy.ui.coordinator.assignments_table import COLUMNS as ASSIGNMENT_COLUMNS
from readerstudy.ui.coordinator.home import CoordinatorHomeWindow
from readerstudy.ui.reading_window import ReadingWindow
from readerstudy.ui.shell import AppShell

LEFT = Qt.MouseButton.LeftButton
STUDY, COORD, COORD_PIN = "BUSI interim 2026", "Dr A. Reed", "2468"
READERS = (("Dr Senior", "senior", "1111"), ("Dr Mid", "mid", "2222"), ("Dr Junior", "junior", "3333"))
ANNOTATOR, ANNOTATOR_PIN = "Ann Otator", "4444"
PER_CLASS = 4  # benign and malignant images imported; 2 normal ones are left out
# (probability, call, confidence) typed by the reader; 6 reads of 4 + 4 cases hold >= 2 of each class
ANSWERS = ((80, 1, 4), (20, 0, 3), (65, 1, 2), (35, 0, 4), (90, 1, 5), (15, 0, 4))
CORRECTED = (1, 40.0)  # the second read: 20 % -> 40 % (still negative)
SEED = 20260511
XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(autouse=True)
def _app(qapp):  # noqa: ANN001, ANN202
    ensure_app()


@pytest.fixture
def own_settings(tmp_path: Path):  # noqa: ANN201
    """The app's QSettings (remembered export folders) in a private folder, not the user's."""
    home = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield tmp_path / "settings"
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, home)


def _busi_subset(tmp_path: Path) -> Path:
    """The BUSI folder's layout with a few images (and their masks) per class."""
    out = tmp_path / "BUSI"
    for label, n in (("benign", PER_CLASS), ("malignant", PER_CLASS), ("normal", 2)):
        (out / label).mkdir(parents=True)
        for i in range(1, n + 1):
            for f in (demo_dir() / label).glob(f"{label} ({i})*.png"):
                shutil.copy(f, out / label / f.name)
    return out


def _type(qtbot, widget, text: str) -> None:  # noqa: ANN001
    widget.clear()
    qtbot.keyClicks(widget, text)


def _activate(qtbot, window) -> None:  # noqa: ANN001
    """Keyboard shortcuts need the active window, as on a real screen."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def _answer_message_box(shown: list[str], button=QMessageBox.StandardButton.Ok) -> QTimer:  # noqa: ANN001
    """Press ``button`` on the next modal message box (it runs its own event loop); keep its text."""
    timer = QTimer()

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.isVisible():
            shown.append(box.text())
            timer.stop()
            box.button(button).click()

    timer.timeout.connect(poll)
    timer.start(20)
    return timer


def _answer_file_dialog(path: Path) -> QTimer:
    """Type ``path`` into the next file dialog and accept it, as a person would."""
    timer = QTimer()

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QFileDialog) and dialog.isVisible():
            name = dialog.findChild(QLineEdit, "fileNameEdit")  # the "File name" box a person types into
            name.setText(str(path))
            if dialog.selectedFiles() == [str(path)]:
                timer.stop()
                dialog.accept()

    timer.timeout.connect(poll)
    timer.start(20)
    return timer


def _sign_in(qtbot, shell: AppShell, name: str, pin: str):  # noqa: ANN001, ANN202
    d = shell.sign_in
    assert d is not None and d.isVisible() and d.study.currentText() == STUDY
    d.person.setCurrentIndex(d.person.findData(name))
    _type(qtbot, d.pin, pin)
    qtbot.keyClick(d.pin, Qt.Key.Key_Return)
    assert shell.window is not None, d.error.text()
    _activate(qtbot, shell.window)
    return shell.window


def _sign_out(qtbot, shell: AppShell) -> None:  # noqa: ANN001
    qtbot.keyClick(shell.window, Qt.Key.Key_L,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert shell.window is None and shell.sign_in.isVisible()


def _tab(home: CoordinatorHomeWindow, key: str):  # noqa: ANN202
    return home.show_tab(key)  # built when first shown; shown again, a tab reloads what it shows


# --- the steps -------------------------------------------------------------------------------------
def _new_study(qtbot, ctx, shell: AppShell) -> CoordinatorHomeWindow:  # noqa: ANN001
    d = shell.sign_in
    assert d.first_run and "no study yet" in d.notice.text() and not d.pin.isEnabled()
    qtbot.mouseClick(d.new_study_button, LEFT)
    form = d.subdialog
    for key, text in (("study", STUDY), ("description", "BUSI benign vs malignant, interim"),
                      ("coordinator", COORD), ("pin", COORD_PIN), ("pin_again", COORD_PIN)):
        _type(qtbot, form.fields[key], text)
    qtbot.mouseClick(form.ok_button, LEFT)
    home = shell.window
    assert isinstance(home, CoordinatorHomeWindow) and STUDY in home.windowTitle()
    assert auth.studies(ctx) == [STUDY] and shell.session.role == Role.COORDINATOR
    assert [(p.name, p.role) for p in people.list_participants(ctx, shell.session)] == [(COORD, Role.COORDINATOR)]
    return home


def _import_busi(qtbot, ctx, home: CoordinatorHomeWindow, folder: Path) -> dict[str, int]:  # noqa: ANN001
    w = _tab(home, "import")
    assert w.current_radio.isChecked() and STUDY in w.current_radio.text()
    _type(qtbot, w.path_edit, str(folder))
    qtbot.keyClick(w.path_edit, Qt.Key.Key_Return)  # the truth table fills from the sub-folders
    truth = {w.labels_table.item(i, 0).text(): w.labels_table.cellWidget(i, 2).currentText()
             for i in range(w.labels_table.rowCount())}
    assert truth == {"benign": "negative (0)", "malignant": "positive (1)", "normal": "no truth"}
    w.set_truth("normal", "skip")  # the study is benign vs malignant
    w.modality.setCurrentIndex(w.modality.findText("US (ultrasound)"))  # PNGs say no modality
    with qtbot.waitSignal(w.import_finished, timeout=120_000) as done:
        qtbot.mouseClick(w.import_button, LEFT)
    report = done.args[0]
    assert not report.refused and len(report.imported) == 2 * PER_CLASS == w.results.rowCount()
    assert f"Done: {2 * PER_CLASS} case(s) imported." in w.status.text()
    with ctx.uow() as uow:
        study = uow.studies.by_name(STUDY)
        cases = uow.cases.list(study.id)
        masks = uow.annotations.count_for_study(study.id)
    folders = sorted((c.source_ref.split("/")[0], c.truth) for c in cases)
    assert folders == [("benign", 0)] * PER_CLASS + [("malignant", 1)] * PER_CLASS and masks == 2 * PER_CLASS
    assert {c.modality for c in cases} == {"US"}
    return {c.pseudonym: c.truth for c in cases}


def _add_participants(qtbot, ctx, home: CoordinatorHomeWindow) -> None:  # noqa: ANN001
    w = _tab(home, "participants")
    people_to_add = [(n, Role.READER, s, pin) for n, s, pin in READERS] + [(ANNOTATOR, Role.ANNOTATOR, "",
                                                                            ANNOTATOR_PIN)]
    for name, role, seniority, pin in people_to_add:
        _type(qtbot, w.add_name, name)
        w.add_role.setCurrentIndex(w.add_role.findData(role))
        w.add_seniority.setCurrentIndex(w.add_seniority.findData(seniority))
        _type(qtbot, w.add_pin, pin)
        _type(qtbot, w.add_pin2, pin)
        qtbot.keyClick(w.add_pin2, Qt.Key.Key_Return)
        assert w.add_error.text() == "" and f"Added {name} ({role})." == w.status.text()
    rows = {p.name: (p.role, p.seniority, p.has_pin, p.active) for p in people.list_participants(ctx, w.session)}
    assert rows == {COORD: (Role.COORDINATOR, "", True, True),
                    **{n: (Role.READER, s, True, True) for n, s, _ in READERS},
                    ANNOTATOR: (Role.ANNOTATOR, "", True, True),
                    "import": (Role.ANNOTATOR, "", False, True)}  # the author of the imported masks
    assert w.table.rowCount() == 6
    for name, _, pin in READERS:  # every PIN works (and signing in records nothing else)
        assert auth.sign_in(ctx, STUDY, name, pin).role == Role.READER
    assert auth.sign_in(ctx, STUDY, ANNOTATOR, ANNOTATOR_PIN).role == Role.ANNOTATOR


def _write_and_apply_protocol(qtbot, ctx, home: CoordinatorHomeWindow) -> None:  # noqa: ANN001
    w = _tab(home, "protocol")
    f = w.form
    assert w.state.applied is None and f"no protocol applied yet ({2 * PER_CLASS} case(s), 3 reader(s))" in \
        w.banner.text()  # built at sign-in, before the import: shown again, it counts what is there now
    assert [r.name.text() for r in f.arm_rows] == ["unaided"] and w.apply_button.isEnabled()
    _type(qtbot, f.seed, str(SEED))
    f.sessions.setValue(2)  # two sessions without a washout: the validator's message under the field
    assert "washout" in f.error_text("washout_days") and not w.apply_button.isEnabled()
    f.sessions.setValue(1)
    f.black_screen_ms.setValue(200)
    assert w.issues == () and w.apply_button.isEnabled()
    shown: list[str] = []
    timer = _answer_message_box(shown)
    qtbot.mouseClick(w.apply_button, LEFT)
    timer.stop()
    assert len(shown) == 1 and "Create arm(s): unaided." in shown[0]
    assert "Give 3 reader(s) their orders" in shown[0] and f"{2 * PER_CLASS} case(s)" in shown[0]
    assert w.state.has_orders and "readers have their orders" in w.banner.text()
    assert w.message.text() == "Applied: 3 assignment(s) created."
    rows = assignment_overview(ctx, w._session).rows
    assert sorted((r.reader, r.arm, r.session, r.cases, r.done) for r in rows) == sorted(
        (n, "unaided", 1, 2 * PER_CLASS, 0) for n, _, _ in READERS)
    t = w.assignments.table
    shown_rows = {t.item(i, 0).text(): t.item(i, ASSIGNMENT_COLUMNS.index("Order seed")).text()
                  for i in range(t.rowCount())}
    assert shown_rows == {r.reader: str(r.seed) for r in rows}
    dash = _tab(home, "dashboard")  # built at sign-in on an empty study; shown, it counts what is there now
    c = dash.data.counts
    assert (c.cases, c.positives, c.reads, c.expected) == (2 * PER_CLASS, PER_CLASS, 0, 3 * 2 * PER_CLASS)
    assert sorted(dash.bars) == sorted((n, "unaided", 1) for n, _, _ in READERS)
    with ctx.uow() as uow:
        applied = study_protocol(uow, uow.studies.by_name(STUDY).id)
    assert (applied.seed, applied.sessions, applied.black_screen_ms, [a.name for a in applied.arms]) == (
        SEED, 1, 200, ["unaided"])


def _reader_reads(qtbot, ctx, shell: AppShell, truths: dict[str, int]) -> list[str]:  # noqa: ANN001
    name, _, pin = READERS[0]
    w = _sign_in(qtbot, shell, name, pin)
    assert isinstance(w, ReadingWindow)
    read: list[str] = []
    for i, (p, call, conf) in enumerate(ANSWERS):
        qtbot.waitUntil(lambda i=i: w.page == "reading" and w.service.flow.index == i, timeout=20_000)
        assert w.progress.text().startswith(f"Case {i + 1} of {2 * PER_CLASS}")
        read.append(w.view_model.case.pseudonym)
        for key in f"{p}{call}{conf}":
            qtbot.keyClick(w, getattr(Qt.Key, f"Key_{key}"))
        qtbot.keyClick(w, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.service.flow.index == len(ANSWERS), timeout=20_000)
    _sign_out(qtbot, shell)
    stored = admin.reader_reads(ctx, auth.sign_in(ctx, STUDY, COORD, COORD_PIN), name)
    assert [(r.pseudonym, r.probability, r.binary, r.confidence, r.revision) for r in stored] == [
        (c, float(p), b, k, 0) for c, (p, b, k) in zip(read, ANSWERS, strict=True)]
    assert {truths[c] for c in read} == {0, 1}  # both classes were read
    return read


def _correct_one_read(qtbot, ctx, home: CoordinatorHomeWindow, read: list[str]) -> None:  # noqa: ANN001
    w = _tab(home, "reads")
    name = READERS[0][0]
    w.select_reader(name)
    assert [w.read_table.item(i, 0).text() for i in range(w.read_table.rowCount())] == read
    row, probability = CORRECTED
    w.read_table.selectRow(row)
    qtbot.mouseClick(w.correct_button, LEFT)
    d = w.dialog
    d.set_values(probability=probability)
    qtbot.mouseClick(d.ok_button, LEFT)
    assert "needs a reason" in d.error.text() and d.isVisible()
    qtbot.keyClicks(d.fields["reason"], "reader called: meant 40 %, typed 20 %")
    qtbot.mouseClick(d.ok_button, LEFT)
    assert not d.isVisible() and "revision 1" in w.status.text()
    stored = admin.reader_reads(ctx, w.session, name)
    current = [(r.pseudonym, r.probability, r.revision) for r in stored if r.current]
    assert current[row] == (read[row], probability, 1) and len(current) == len(ANSWERS)
    assert [(r.probability, r.current) for r in stored if r.pseudonym == read[row]] == [
        (float(ANSWERS[row][0]), False), (probability, True)]


def _dashboard(qtbot, home: CoordinatorHomeWindow) -> None:  # noqa: ANN001
    w = _tab(home, "dashboard")  # shown: it reloads (no Refresh needed after the correction)
    c = w.data.counts
    assert (c.cases, c.positives, c.reads, c.done, c.expected) == (2 * PER_CLASS, PER_CLASS, len(ANSWERS),
                                                                   len(ANSWERS), 3 * 2 * PER_CLASS)
    bar = w.bars[(READERS[0][0], "unaided", 1)]
    assert (bar.value(), bar.maximum()) == (len(ANSWERS), 2 * PER_CLASS)
    assert all(w.bars[(n, "unaided", 1)].value() == 0 for n, _, _ in READERS[1:])


def _delong_ci(truth: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) 95 % Wald interval of the empirical AUC, from the placement values."""
    pos, neg = score[truth == 1], score[truth == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi.mean()
    se = np.sqrt(psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg))
    return max(0.0, auc - 1.959964 * se), min(1.0, auc + 1.959964 * se)


def _check_report_numbers(folder: Path, expected: dict[str, tuple[float, int, int]]) -> None:
    """report.json's accuracy row equals the statistics recomputed from the report's own reads.csv."""
    reads = pd.read_csv(folder / "reads.csv")
    assert {c: (p, b, k) for c, p, b, k in zip(reads["case"], reads["probability"], reads["binary"],
                                               reads["confidence"], strict=True)} == expected
    y, call, p = reads["truth"].to_numpy(), reads["binary"].to_numpy(), reads["probability"].to_numpy()
    tp, fp = int(((call == 1) & (y == 1)).sum()), int(((call == 1) & (y == 0)).sum())
    fn, tn = int(((call == 0) & (y == 1)).sum()), int(((call == 0) & (y == 0)).sum())
    data = json.loads((folder / "report.json").read_text())
    (row,) = data["tables"]["accuracy"]["rows"]  # the one reader who has read
    assert (row["reader"], row["n"], row["tp"], row["fp"], row["fn"], row["tn"]) == (READERS[0][0], len(ANSWERS),
                                                                                    tp, fp, fn, tn)
    for key, num, den in (("sensitivity", tp, tp + fn), ("specificity", tn, tn + fp), ("ppv", tp, tp + fp),
                          ("npv", tn, tn + fn), ("accuracy", tp + tn, len(y))):
        low, high = proportion_confint(num, den, method="wilson")
        assert (row[key]["value"], row[key]["ci_low"], row[key]["ci_high"]) == pytest.approx(
            (num / den, low, high)), key
    assert row["auc"]["value"] == pytest.approx(roc_auc_score(y, p))
    assert (row["auc"]["ci_low"], row["auc"]["ci_high"]) == pytest.approx(_delong_ci(y, p))
    assert data["meta"]["n_reads"] == len(ANSWERS) and data["meta"]["n_corrections"] == 1
    (fix,) = data["tables"]["corrections"]["rows"]
    assert (fix["reader"], fix["corrected_by"], fix["revision"]) == (READERS[0][0], COORD, 1)
    missing = {r["reader"]: (r["expected"], r["read"]) for r in data["tables"]["missing"]["rows"]}
    assert missing == {n: (2 * PER_CLASS, len(ANSWERS) if n == READERS[0][0] else 0) for n, _, _ in READERS}


def _check_report_text(html: str) -> None:
    """No sentence of the report runs into the next ("(default).The reference ...", a template's line end)."""
    root = tinyhtml5.parse(html)
    glued = [m.group(0) for tag in ("p", "li", "td", "th") for el in root.iter(f"{XHTML}{tag}")
             for m in re.finditer(r"\w[a-z)]\.[A-Z][a-z]+", "".join(el.itertext()))]
    assert glued == []
    assert "Interim report" in html and STUDY in html


def _check_r_inputs(folder: Path, expected: dict[str, tuple[float, int, int]], truths: dict[str, int]) -> None:
    """iMRMC, MRMCaov, RJafroc and the plain CSV hold the current reads and the truth of the cases read."""
    im = pd.read_csv(folder / "reads_imrmc.csv", dtype={"readerID": str})
    assert {(c, int(s)) for r, c, m, s in im.itertuples(index=False) if r == "-1"} == {
        (c, truths[c]) for c in expected}
    assert {(c, s) for r, c, m, s in im.itertuples(index=False) if r != "-1"} == {
        (c, p) for c, (p, _, _) in expected.items()}
    aov = pd.read_csv(folder / "reads_mrmcaov.csv")
    assert list(aov.columns) == ["reader", "treatment", "case", "truth", "rating"]
    assert {(c, t, r) for c, t, r in zip(aov["case"], aov["truth"], aov["rating"], strict=True)} == {
        (c, truths[c], p) for c, (p, _, _) in expected.items()}
    book = pd.read_excel(folder / "reads_rjafroc.xlsx", sheet_name=None)
    ids = dict(zip(book["CASES"]["CaseID"], book["CASES"]["case"], strict=True))
    ratings = {ids[i]: r for i, r in zip(book["NL"]["CaseID"], book["NL"]["NL_Rating"], strict=True)} | {
        ids[i]: r for i, r in zip(book["LL"]["CaseID"], book["LL"]["LL_Rating"], strict=True)}
    assert ratings == {c: p for c, (p, _, _) in expected.items()}
    assert {ids[i] for i in book["LL"]["CaseID"]} == {c for c in expected if truths[c] == 1}
    plain = pd.read_csv(folder / "reads_all.csv")
    assert dict(zip(plain["case"], plain["probability"], strict=True)) == {c: p for c, (p, _, _) in expected.items()}


def _export(qtbot, ctx, home: CoordinatorHomeWindow, out: Path, read: list[str],  # noqa: ANN001
            truths: dict[str, int]) -> None:
    w = _tab(home, "exports")
    folder = out / "BUSI interim report"  # a new folder: the export creates it
    _type(qtbot, w.report_dir, str(folder))
    qtbot.mouseClick(w.report_button, LEFT)
    qtbot.waitUntil(lambda: not w.busy, timeout=240_000)
    assert w.error.text() == "" and "Report written to" in w.status.text() and w.open_button.isEnabled()
    for name in ("report.html", "report.pdf", "report.json", "reads.csv", "figures/roc.png"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "report.pdf").read_bytes()[:5] == b"%PDF-"
    _check_report_text((folder / "report.html").read_text(encoding="utf-8"))
    row, probability = CORRECTED
    expected = {c: (float(p), b, k) for c, (p, b, k) in zip(read, ANSWERS, strict=True)}
    expected[read[row]] = (probability, *expected[read[row]][1:])
    _check_report_numbers(folder, expected)
    r_dir = out / "for R"
    r_dir.mkdir()
    for fmt, name in (("imrmc", "reads_imrmc.csv"), ("mrmcaov", "reads_mrmcaov.csv"),
                      ("rjafroc", "reads_rjafroc.xlsx"), ("csv", "reads_all.csv")):
        w.read_format.setCurrentIndex(w.read_format.findData(fmt))
        timer = _answer_file_dialog(r_dir / name)
        qtbot.mouseClick(w.reads_button, LEFT)
        timer.stop()
        qtbot.waitUntil(lambda: not w.busy, timeout=60_000)
        assert w.error.text() == "" and f"Reads written to {r_dir / name}" in w.status.text()
    _check_r_inputs(r_dir, expected, truths)


def test_a_coordinator_runs_a_study_from_an_empty_database_to_the_interim_report(qtbot, tmp_path, own_settings):  # noqa: ANN001
    ctx = open_context(tmp_path / "new.sqlite")
    shell = AppShell(ctx, show=True)
    ended: list[int] = []
    shell.finished.connect(ended.append)
    shell.start()
    try:
        home = _new_study(qtbot, ctx, shell)
        truths = _import_busi(qtbot, ctx, home, _busi_subset(tmp_path))
        _add_participants(qtbot, ctx, home)
        _write_and_apply_protocol(qtbot, ctx, home)
        _activate(qtbot, home)
        _sign_out(qtbot, shell)
        read = _reader_reads(qtbot, ctx, shell, truths)
        home = _sign_in(qtbot, shell, COORD, COORD_PIN)
        _correct_one_read(qtbot, ctx, home, read)
        _dashboard(qtbot, home)
        _export(qtbot, ctx, home, tmp_path / "exports", read, truths)
        assert ended == []
    finally:
        if shell.window is not None:
            shell._close_window()
        if shell.sign_in is not None:
            shell.sign_in.close()
        ctx.close()
