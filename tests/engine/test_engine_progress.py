"""Per-stage ETA of engine progress (the issue saw "classified 1/79 [02:10<2:49:05]": the time of the
training before it was counted as the time of the first classification)."""

from __future__ import annotations

import pytest

from engine.progress import RESUMED, ProgressEvent, StageClock, split_stage, staged


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _clock() -> tuple[FakeClock, list[ProgressEvent], StageClock]:
    fake, events = FakeClock(), []
    return fake, events, StageClock(events.append, clock=fake)


def test_eta_of_a_stage_ignores_the_time_spent_in_earlier_stages() -> None:
    fake, events, cb = _clock()
    cb(0, 100, "[train] started")
    fake.t = 130.0  # 130 s of training
    cb(100, 100, "[train] loss 0.1")
    cb(0, 79, "[predict] classifying 79 images")  # the stage's start
    fake.t = 131.0
    cb(1, 79, "[predict] classified 1/79")  # one image per second
    ev = events[-1]
    assert ev.stage == "predict" and ev.step == 1 and ev.total == 79 and ev.message == "classified 1/79"
    assert ev.eta_s == pytest.approx(78.0)  # not 78 * 131 s (2 h 50 min)
    assert ev.stage_elapsed_s == pytest.approx(1.0) and ev.elapsed_s == pytest.approx(131.0)
    assert events[2].eta_s is None  # nothing measured at the stage's start


def test_a_resumed_stage_measures_only_the_steps_it_ran() -> None:
    fake, events, cb = _clock()
    cb(0, 1, "[ldm] starting")
    fake.t = 5.0  # building the model and loading the checkpoint
    cb(60, 100, f"[ldm] ldm: {RESUMED} 60 of 100")
    fake.t = 13.0
    cb(80, 100, "[ldm] ldm: loss 0.2")  # 20 steps in 8 s -> 20 left = 8 s
    assert events[0].resumed_from is None and events[1].resumed_from == 60 and events[-1].resumed_from == 60
    assert events[-1].eta_s == pytest.approx(8.0)


def test_the_same_stage_running_again_starts_a_new_clock() -> None:
    fake, events, cb = _clock()
    cb(0, 10, "[x] started")
    fake.t = 100.0
    cb(10, 10, "[x] done")
    cb(0, 10, "[x] started")
    fake.t = 101.0
    cb(5, 10, "[x] half")
    assert events[-1].stage_elapsed_s == pytest.approx(1.0) and events[-1].eta_s == pytest.approx(1.0)


def test_stage_prefix_round_trip_and_json() -> None:
    got = []
    staged("predict", lambda s, t, m: got.append(m))(1, 2, "classified 1/2")
    assert got == ["[predict] classified 1/2"] and split_stage(got[0]) == ("predict", "classified 1/2")
    assert split_stage("no stage") == ("", "no stage")
    ev = ProgressEvent("vae", 3, 10, "loss", 1.23456, 2.0, 2.87654)
    assert ev.to_json() == {"event": "progress", "stage": "vae", "step": 3, "total": 10, "message": "loss",
                            "stage_elapsed_s": 1.235, "elapsed_s": 2.0, "eta_s": 2.9, "resumed_from": None}
