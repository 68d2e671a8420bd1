"""Engine jobs without Qt: the child's JSON-lines protocol as the GUI parses it, the job monitor,
the command line, and the run rows (create, resume, interrupted after a GUI died)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from readerstudy.core.errors import ConflictError, PermissionDenied, ValidationError
from readerstudy.core.jobs import JobKind, JobStatus
from readerstudy.core.models import Role
from readerstudy.services import job_runs
from readerstudy.services.auth import UserSession, system_session
from readerstudy.services.jobs import (
    EXIT_CANCELLED,
    STAGE_LABELS,
    JobMonitor,
    JobSpec,
    format_eta,
    parse_line,
)


def _progress(stage: str, step: int, total: int, **kw) -> str:
    return json.dumps({"event": "progress", "stage": stage, "step": step, "total": total, "message": f"{stage} m",
                       "stage_elapsed_s": 1.0, "elapsed_s": 2.0, "eta_s": kw.get("eta"),
                       "resumed_from": kw.get("resumed")})


def test_parse_line_keeps_events_and_rejects_log_text() -> None:
    ev = parse_line(_progress("vae", 2, 10, eta=4.0) + "\r\n")
    assert ev is not None and ev.kind == "progress" and ev.data["step"] == 2 and ev.data["eta_s"] == 4.0
    assert parse_line('{"event": "done", "metrics": {"a": 1}}').data["metrics"] == {"a": 1}
    for text in ("stage vae: 1.0 s", "", "{not json", '{"step": 1}', "[1, 2]",
                 '{"event": "progress", "stage": "x", "step": -1, "total": 3}',
                 '{"event": "progress", "stage": "x", "step": "1", "total": 3}'):
        assert parse_line(text) is None, text


def test_monitor_follows_plan_stage_progress_and_resume_across_split_chunks() -> None:
    mon = JobMonitor(JobKind.TRAIN)
    text = (json.dumps({"event": "plan", "stages": ["prepare", "vae", "ldm"]}) + "\n" + _progress("vae", 3, 3,
            resumed=3) + "\nsome log line\n" + _progress("ldm", 5, 20, eta=30.0) + "\n")
    cut = text.index('"stage": "vae"')  # a chunk boundary in the middle of a JSON line
    assert [e.kind for e in mon.feed(text[:cut])] == ["plan"] and mon.stage == ""
    assert [e.data["stage"] for e in mon.feed(text[cut:])] == ["vae", "ldm"]
    assert mon.stages == ["prepare", "vae", "ldm"] and mon.stage == "ldm" and (mon.step, mon.total) == (5, 20)
    assert mon.stage_index == 3 and mon.fraction == pytest.approx(0.25) and mon.eta_s == 30.0
    assert mon.resumed == {"vae": 3} and "some log line" in mon.log_tail
    assert mon.stage_text() == "stage 3 of 3: latent diffusion model — ldm m"


def test_finish_sets_status_and_words_the_failure() -> None:
    done = JobMonitor(JobKind.TRAIN)
    assert done.finish(0) == JobStatus.DONE and done.failure == ""
    cancelled = JobMonitor(JobKind.TRAIN)
    cancelled.cancel_requested = True
    assert cancelled.finish(EXIT_CANCELLED) == JobStatus.CANCELLED
    usage = JobMonitor(JobKind.TRAIN)
    usage.feed("readerstudy engine pipeline: error: argument --preset: invalid choice: 'huge'\n", "err")
    assert usage.finish(2, log_path="/x/job.log") == JobStatus.FAILED
    assert "exit code 2" in usage.failure and "invalid choice: 'huge'" in usage.failure and "/x/job.log" in usage.failure
    own = JobMonitor(JobKind.PREDICT)
    own.feed('{"event": "error", "message": "No study named \'x\'"}\n')
    own.feed("readerstudy: error: No study named 'x'\n", "err")
    assert own.finish(3) == JobStatus.FAILED and own.failure.startswith("Prediction failed (exit code 3): No study")
    crash = JobMonitor(JobKind.TRAIN)
    crash.feed("CUDA error: an illegal memory access was encountered", "err")  # no newline: flushed at the end
    assert crash.finish(None, crashed=True) == JobStatus.FAILED
    assert "crashed" in crash.failure and "illegal memory access" in crash.failure and "Resume" in crash.failure


def test_format_eta() -> None:
    assert format_eta(None) == "estimating…" and format_eta(42.4) == "42 s"
    assert format_eta(130) == "2 min 10 s" and format_eta(10_145) == "2 h 49 min"


def test_spec_argv_and_validation() -> None:
    train = JobSpec(JobKind.TRAIN, "S", device="cuda:0", preset="tiny", out_dir="/o", seed=3, split="marked")
    argv = train.argv("sqlite:///db", "RID")
    assert argv[:4] == ["-m", "readerstudy", "engine", "pipeline"] and "--no-predict" in argv
    for flag, value in (("--run-id", "RID"), ("--device", "cuda:0"), ("--split", "marked"), ("--seed", "3"),
                        ("--progress", "jsonl"), ("--db", "sqlite:///db")):
        assert argv[argv.index(flag) + 1] == value
    assert JobSpec(JobKind.SYNTHESIZE, "S", out_dir="/o").argv("u", "r")[3] == "generate"
    pred = JobSpec(JobKind.PREDICT, "S", model_dir="/m", training_data="/t.json").argv("u", "r")
    assert pred[3] == "predict" and pred[pred.index("--training-data") + 1] == "/t.json" and "--preset" not in pred
    with pytest.raises(ValidationError, match="trained model"):
        JobSpec(JobKind.PREDICT, "S").validate()
    with pytest.raises(ValidationError, match="training data"):
        JobSpec(JobKind.TRAIN, "S", out_dir="/o", split="random").validate()


@pytest.fixture
def study_ctx(ctx):  # noqa: ANN001, ANN201
    with ctx.uow() as uow:
        uow.studies.add("S")
        uow.commit()
    return ctx


def test_create_resume_and_roles(study_ctx) -> None:  # noqa: ANN001
    boss = system_session(study_ctx, "S")
    run = job_runs.create_job(study_ctx, boss, JobSpec(JobKind.TRAIN, "S", preset="tiny"))
    assert run.status == JobStatus.QUEUED and run.model_id is None and run.preset == "tiny"
    assert run.out_dir.endswith(f"{run.id}/out") and run.command[run.command.index("--run-id") + 1] == run.id
    assert Path(run.log_path).parent.is_dir()
    reader = UserSession(boss.study_id, "S", boss.participant_id, "R", Role.READER)
    with pytest.raises(PermissionDenied):
        job_runs.create_job(study_ctx, reader, JobSpec(JobKind.TRAIN, "S"))
    with pytest.raises(ConflictError, match="only cancelled, failed or interrupted"):
        job_runs.prepare_resume(study_ctx, boss, run.id)
    job_runs.record_end(study_ctx, run.id, JobStatus.CANCELLED)
    again = job_runs.prepare_resume(study_ctx, boss, run.id)
    assert again.status == JobStatus.QUEUED and again.finished_at is None and again.command == run.command
    with pytest.raises(PermissionDenied, match="study you coordinate"):
        job_runs.create_job(study_ctx, boss, JobSpec(JobKind.PREDICT, "other", model_dir="/m"))
    assert len(job_runs.list_jobs(study_ctx, "S")) == 1  # the refused jobs left nothing behind


def test_a_run_left_running_by_a_dead_gui_becomes_interrupted(study_ctx) -> None:  # noqa: ANN001
    boss = system_session(study_ctx, "S")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = job_runs.create_job(study_ctx, boss, JobSpec(JobKind.TRAIN, "S"))
    job_runs.record_start(study_ctx, gone.id, dead.pid)
    alive = job_runs.create_job(study_ctx, boss, JobSpec(JobKind.TRAIN, "S"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        job_runs.record_start(study_ctx, alive.id, sleeper.pid)
        assert job_runs.reconcile(study_ctx) == [gone.id]
    finally:
        sleeper.kill()
        sleeper.wait()
    run = job_runs.get_job(study_ctx, gone.id)
    assert run.status == JobStatus.INTERRUPTED and run.resumable and "Resume" in run.error
    assert job_runs.get_job(study_ctx, alive.id).status == JobStatus.RUNNING  # its child still ran
    assert job_runs.reconcile(study_ctx) == [alive.id]  # now it is gone too


@pytest.mark.parametrize("preset", ["tiny", "default", "paper"])
def test_every_planned_engine_stage_has_a_label_in_the_coordinators_words(preset: str) -> None:
    from engine.pipelines.diffkd import planned_stages

    stages = ["prepare", *planned_stages(preset), "predict"]
    assert [s for s in stages if s not in STAGE_LABELS] == []
