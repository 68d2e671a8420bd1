"""The Engine tab and its jobs panel with real child processes (``tiny`` preset, 20 BUSI cases):
start, progress, cancel, resume after a restart of the window, failure, add as reader (predictions
on training cases marked in the database and in reads.csv)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PySide6.QtCore import Qt

from readerstudy.core.jobs import JobKind, JobStatus
from readerstudy.services import job_runs
from readerstudy.services.auth import local_session, system_session
from readerstudy.services.context import open_context
from readerstudy.services.demo import busi_sources
from readerstudy.services.importing import import_cases
from readerstudy.services.jobs import STAGE_LABELS, JobSpec
from readerstudy.services.reporting import export_reads
from readerstudy.ui.jobs.engine_tab import METRIC_COLUMNS, EngineTab
from readerstudy.ui.jobs.panel import COLUMNS, JobsPanel
from readerstudy.ui.jobs.runner import JobRunner

STUDY = "small"
JOB_S = 300_000  # ms: a whole tiny training at low CPU priority on two cores shared with other work


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _small_study(folder: Path):  # noqa: ANN202
    sources = [s for s in busi_sources() if int(s.case_id.split("(")[1].split(")")[0]) <= 10]  # 10 + 10
    ctx = open_context(folder / "small.sqlite")
    import_cases(ctx, LOCAL, STUDY, sources)
    return ctx, system_session(ctx, STUDY)


@pytest.fixture
def small(tmp_path: Path):  # noqa: ANN201
    ctx, session = _small_study(tmp_path)
    yield ctx, session
    ctx.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A study with a finished tiny training job, run as the GUI runs it (its CLI command, a child)."""
    ctx, session = _small_study(tmp_path_factory.mktemp("trained"))
    run = job_runs.create_job(ctx, session, JobSpec(JobKind.TRAIN, STUDY, preset="tiny"))
    argv = [a for a in run.command if a != "--stdin-cancel"]  # pytest's stdin is closed: that would cancel
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    yield ctx, session, job_runs.get_job(ctx, run.id)
    ctx.close()


def _tab(qtbot, ctx, session) -> EngineTab:  # noqa: ANN001
    tab = EngineTab(ctx, session, probe_devices=False)
    qtbot.addWidget(tab)
    tab.preset.setCurrentIndex(tab.preset.findData("tiny"))
    return tab


def _cell(panel: JobsPanel, run_id: str, column: str) -> str:
    row = [r.id for r in panel.runs].index(run_id)
    return panel.table.item(row, COLUMNS.index(column)).text()


def test_train_watch_cancel_then_resume_after_reopening(qtbot, small) -> None:  # noqa: ANN001
    ctx, session = small
    tab = _tab(qtbot, ctx, session)
    qtbot.mouseClick(tab.train_button, Qt.MouseButton.LeftButton)
    (run,) = job_runs.list_jobs(ctx, STUDY)
    mon = tab.runner.monitor(run.id)
    seen: list[tuple[str, int, str]] = []
    tab.runner.changed.connect(lambda rid: seen.append(
        (mon.stage, tab.panel.bars[rid].value() if rid in tab.panel.bars else -1, _cell(tab.panel, rid, "Stage"))))
    qtbot.waitUntil(lambda: mon.stage == "vae" and mon.step >= 1, timeout=JOB_S)
    assert _cell(tab.panel, run.id, "Status") == "running"
    assert mon.stages[:3] == ["prepare", "teacher_real", "vae"] and mon.stage_index == 3
    assert len(mon.stages) == 13 and mon.stages[-1] == "evaluation"  # no prediction in a training job
    assert "mask_fidelity" in mon.stages  # the synthesis is scored against its masks (engine/metrics/mask_fidelity.py)
    assert any(text.startswith(f"stage 2 of 13: {STAGE_LABELS['teacher_real']} — ") for _, _, text in seen)
    bar_values = [v for stage, v, _ in seen if stage == "teacher_real"]
    assert max(bar_values) == 1000 and min(bar_values) < 1000  # the bar moved through the stage
    assert job_runs.get_job(ctx, run.id).status == JobStatus.RUNNING
    assert tab.panel.selected_id() == run.id  # the started job is selected; its log streams below
    assert tab.panel.log.toPlainText().splitlines() == mon.log_tail  # updated with every chunk
    assert any(line.startswith("[vae] ") for line in mon.log_tail)

    tab.panel.table.selectRow([r.id for r in tab.panel.runs].index(run.id))
    qtbot.mouseClick(tab.panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.runner.jobs[run.id].running, timeout=JOB_S)
    cancelled = job_runs.get_job(ctx, run.id)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.finished_at is not None
    assert mon.exit_code == 130 and not (Path(run.out_dir) / "metrics.json").exists()
    assert (Path(run.out_dir) / "train_state" / "teacher_real-last.pt").is_file()  # the checkpoint to resume
    assert tab.panel.resume_button.isEnabled() and not tab.panel.cancel_button.isEnabled()
    tab.shutdown()

    again = _tab(qtbot, ctx, session)  # the app was closed and opened again: the job is in the DB
    assert _cell(again.panel, run.id, "Status") == "cancelled"
    assert _cell(again.panel, run.id, "Stage").startswith(f"stage 3 of 13: {STAGE_LABELS['vae']}")  # read back from the log
    again.panel.table.selectRow([r.id for r in again.panel.runs].index(run.id))
    assert again.panel.resume_button.isEnabled()
    qtbot.mouseClick(again.panel.resume_button, Qt.MouseButton.LeftButton)
    mon2 = again.runner.monitor(run.id)
    qtbot.waitUntil(lambda: not again.runner.jobs[run.id].running, timeout=JOB_S)
    done = job_runs.get_job(ctx, run.id)
    assert done.status == JobStatus.DONE, done.error
    assert mon2.resumed.get("teacher_real") == 3  # the finished stage was loaded, not trained again
    assert done.params["attempts"] == 2 and done.data["train"] == 11 and done.data["test"] == 9
    # 11 / 9, not 16 / 4: malignant (3)-(9) are frames of one lesion, a near-duplicate group kept on one side
    assert {m["model"] for m in done.metrics["evaluation"]["models"]} >= {"student_full", "teacher_real"}
    assert Path(done.log_path).read_text().count("start: ") == 2
    # the held-out metrics of the selected training job
    assert again.metrics.rowCount() == 6
    assert again.metrics.item(0, 0).text().startswith("student_full")
    assert again.metrics.item(0, METRIC_COLUMNS.index("Held-out cases")).text() == "9"
    assert "(" in again.metrics.item(0, METRIC_COLUMNS.index("Sensitivity")).text()  # a value with its CI
    assert again.add_button.isEnabled()
    again.shutdown()


def test_a_failing_job_shows_a_clear_error(qtbot, small) -> None:  # noqa: ANN001
    ctx, session = small
    tab = _tab(qtbot, ctx, session)
    run = tab.start_training(spec=JobSpec(JobKind.TRAIN, STUDY, preset="huge"))  # the CLI refuses this preset
    qtbot.waitUntil(lambda: not tab.runner.jobs[run.id].running, timeout=JOB_S)
    failed = job_runs.get_job(ctx, run.id)
    assert failed.status == JobStatus.FAILED and failed.finished_at is not None
    assert "exit code 2" in failed.error and "invalid choice: 'huge'" in failed.error
    tab.panel.table.selectRow([r.id for r in tab.panel.runs].index(run.id))
    assert _cell(tab.panel, run.id, "Status") == "failed"
    assert "invalid choice: 'huge'" in tab.panel.status.text() and "b00020" in tab.panel.status.styleSheet()
    assert "invalid choice" in tab.panel.log.toPlainText()


def test_add_model_as_reader_marks_its_training_cases(qtbot, trained, tmp_path: Path) -> None:  # noqa: ANN001
    ctx, session, training = trained
    tab = _tab(qtbot, ctx, session)
    tab.panel.table.selectRow([r.id for r in tab.panel.runs].index(training.id))
    assert tab.metrics.rowCount() == 6 and "held-out cases" in tab.metrics_note.text()
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    predict = job_runs.list_jobs(ctx, STUDY)[0]
    assert predict.kind == JobKind.PREDICT
    qtbot.waitUntil(lambda: not tab.runner.jobs[predict.id].running, timeout=JOB_S)
    predict = job_runs.get_job(ctx, predict.id)
    assert predict.status == JobStatus.DONE, predict.error
    assert predict.metrics == {"predictions": 20, "in_training_set": 11}
    assert "11 on cases the model was trained on" in tab.add_note.text()
    manifest = pd.read_json(Path(training.out_dir) / "training_data.json", typ="series")
    train_ids = {r["case_id"] for r in manifest["train"]}
    with ctx.uow(read=True) as uow:
        (model,) = uow.models.list(uow.studies.by_name(STUDY).id)
        preds = uow.models.predictions(model.id)
    assert job_runs.get_job(ctx, training.id).model_id == model.id  # the training run now has its model
    assert {p.case_id for p in preds if p.in_training_set} == train_ids and len(preds) == 20
    assert all(p.saliency_path for p in preds)
    csv = pd.read_csv(export_reads(ctx, LOCAL, STUDY, "csv", tmp_path / "reads.csv"))
    by_reader = csv.groupby("reader").size().to_dict()
    assert by_reader == {"DiffKD-student": 9, "DiffKD-student (training cases)": 11}
    held_out = set(csv.loc[csv["reader"] == "DiffKD-student", "case"])
    assert held_out == {r["pseudonym"] for r in manifest["test"]}
    assert set(csv.loc[csv["reader"] != "DiffKD-student", "arm"]) == {"model (training cases)"}
    tab.shutdown()


def test_a_job_of_a_gui_that_died_shows_as_interrupted_with_resume(qtbot, small) -> None:  # noqa: ANN001
    ctx, session = small
    run = job_runs.create_job(ctx, session, JobSpec(JobKind.TRAIN, STUDY, preset="tiny"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job_runs.record_start(ctx, run.id, dead.pid)  # the child of a GUI that was killed
    panel = JobsPanel(ctx, session, JobRunner(ctx))
    qtbot.addWidget(panel)
    assert _cell(panel, run.id, "Status") == "interrupted"
    panel.table.selectRow(0)
    assert panel.resume_button.isEnabled() and "closed or crashed" in panel.status.text()


def test_devices_are_probed_in_a_child_when_the_tab_is_shown(qtbot, small) -> None:  # noqa: ANN001
    import torch

    ctx, session = small
    tab = EngineTab(ctx, session)
    qtbot.addWidget(tab)
    assert tab.device.count() == 1 and tab._probe is None  # nothing started before the tab is shown
    tab.show()
    assert tab.device_note.text() == "checking for a GPU…"
    qtbot.waitUntil(lambda: tab.device_note.text() != "checking for a GPU…", timeout=JOB_S)
    ids = [tab.device.itemData(i) for i in range(tab.device.count())]
    assert ids[0] == "cpu" and tab.device.itemText(0).startswith("CPU (")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert len(ids) == 1 + gpus
    assert tab.device_note.text() == ("no GPU found" if not gpus else f"{gpus} GPU{'s' if gpus != 1 else ''} found")
    if gpus:
        assert "GiB" in tab.device.itemText(1)  # name and memory
    tab.shutdown()
