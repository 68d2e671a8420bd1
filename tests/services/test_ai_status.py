"""The dashboard knows the AI: which model each AI arm shows, coverage, held-out metrics, alerts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_reading_support import PIN, SEQUENTIAL, build_study, busi_sources

from readerstudy.core.errors import PermissionDenied
from readerstudy.core.protocol import parse_protocol
from readerstudy.services.ai_status import ENGINE_HINT, ai_readiness
from readerstudy.services.assignments import apply_protocol
from readerstudy.services.auth import (
    local_session,
    sign_in,
    system_session,
)
from readerstudy.services.demo import BUSI_STUDY
from readerstudy.services.engine_adapter import evaluate_run, predict_study
from readerstudy.services.importing import import_cases
from readerstudy.stats import auc_delong

LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


def _student(out: Path) -> Path:
    """An (untrained, seeded) student saved where `engine pipeline` saves it: OUT/checkpoints/student_full."""
    import torch

    from engine.models import ConvClassifier, student_config

    torch.manual_seed(0)
    path = out / "checkpoints" / "student_full"
    ConvClassifier(**student_config(32)).save_pretrained(path)
    return path


def _evaluation(ctx, out: Path) -> tuple[dict[str, int], dict[str, float]]:
    """Held-out labels and probabilities in OUT/metrics.json, evaluated by the engine adapter."""
    with ctx.uow() as uow:
        cases = uow.cases.list(uow.studies.by_name("Pilot").id)
    labels = {c.pseudonym: int(c.truth) for c in cases}
    probs = {c.pseudonym: round(0.2 + 0.5 * c.truth + 0.05 * i, 3) for i, c in enumerate(cases)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"preset": "tiny", "test_labels": labels,
                                                  "probabilities": {"student_full": probs}}))
    evaluate_run("Pilot", out / "metrics.json")
    return labels, probs


def test_demo_ai_arm_without_predictions_raises_the_alert(demo_ctx):
    from readerstudy.paths import resources_dir
    from readerstudy.services.assignments import load_protocol_file

    system = system_session(demo_ctx, BUSI_STUDY)
    apply_protocol(demo_ctx, system, load_protocol_file(resources_dir() / "protocols" / "demo_busi.toml"))
    status = ai_readiness(demo_ctx, system)
    (arm,) = status.arms
    # the demo's arm shows the shipped model by name; this copy of the demo is built without it
    assert arm.arm == "AI-aided" and arm.sequential and arm.model_spec == "DiffKD-student (busi-train)"
    assert (arm.cases, arm.with_output, arm.missing, arm.shown) == (79, 0, 79, ())
    assert arm.problem == "The AI-aided arm cannot be read: no model output for 79 cases."
    assert ENGINE_HINT in arm.action and "readerstudy engine predict --db" in arm.action
    assert "which this study does not have" in arm.action
    assert status.alerts == (arm,)


def test_fresh_demo_ai_arm_is_ready_with_the_shipped_models_validation_figures(fresh_demo_db, copy_db, tmp_path):
    import json

    from readerstudy.paths import shipped_model_dir
    from readerstudy.services.context import open_context

    ctx = open_context(copy_db(fresh_demo_db, tmp_path))
    (arm,) = ai_readiness(ctx, system_session(ctx, BUSI_STUDY)).arms
    assert arm.ready and (arm.with_output, arm.missing) == (79, 0)
    (shown,) = arm.shown
    validation = json.loads((shipped_model_dir() / "provenance.json").read_text())["validation"]
    assert shown.name == "DiffKD-student (busi-train)" and shown.metrics is not None
    assert shown.metrics.auc == pytest.approx(validation["auc"]["auc"]) and shown.metrics.n == validation["n"]
    ctx.close()


def test_predictions_through_the_engine_adapter_clear_the_alert_and_show_metrics(tmp_path):
    ctx = build_study(tmp_path, n_cases=6, protocol=SEQUENTIAL)
    system = system_session(ctx, "Pilot")
    (before,) = ai_readiness(ctx, system).arms
    assert before.problem == "The ai-sequential arm cannot be read: no model output for 6 cases."
    out = tmp_path / "engine"
    labels, probs = _evaluation(ctx, out)
    assert predict_study(ctx, LOCAL, "Pilot", _student(out)) == 6
    status = ai_readiness(ctx, system)
    (arm,) = status.arms
    assert arm.ready and arm.problem is None and (arm.with_output, arm.missing) == (6, 0)
    (shown,) = arm.shown
    assert shown.name == "DiffKD-student" and shown.cases == 6 and len(shown.version) == 12
    ids = sorted(labels)
    expected = auc_delong(np.array([labels[i] for i in ids]), np.array([probs[i] for i in ids]))
    assert shown.metrics is not None and shown.metrics.auc == pytest.approx(expected.auc)
    assert shown.metrics.auc_ci == pytest.approx((expected.ci_low, expected.ci_high))
    assert shown.metrics.n == 6 and "evaluation.json" in shown.metrics.source
    assert dict(shown.metrics.values).keys() == {"sensitivity", "specificity", "accuracy"}
    # two cases imported later have no output yet: the alert says so and how to fix it
    import_cases(ctx, LOCAL, "Pilot", busi_sources(8)[6:])
    (late,) = ai_readiness(ctx, system).arms
    assert late.problem == "The ai-sequential arm cannot be read: no model output for 2 cases."
    assert "Run the model on the whole study again" in late.action
    ctx.close()


def test_an_arm_naming_a_model_the_study_lacks(tmp_path):
    text = SEQUENTIAL.replace("sequential = true", 'sequential = true\nmodel = "Other net"')
    ctx = build_study(tmp_path, n_cases=4, protocol=text, predictions=True)  # has model DiffKD-student
    (arm,) = ai_readiness(ctx, system_session(ctx, "Pilot")).arms
    assert arm.model_spec == "Other net" and arm.with_output == 0 and arm.shown == ()
    assert "which this study does not have" in arm.action and "--model-name 'Other net'" in arm.action
    ctx.close()


def test_metrics_stored_with_the_model_record_are_read(tmp_path):
    ctx = build_study(tmp_path, n_cases=4, protocol=SEQUENTIAL, predictions=True)
    with ctx.uow() as uow:  # a model card as another part of the app may store it
        study = uow.studies.by_name("Pilot")
        (model,) = uow.models.list(study.id)
        uow.models.start_run(model.id, "evaluate", {"model_card": {"metrics": {
            "auc": {"auc": 0.81, "ci_low": 0.7, "ci_high": 0.9}, "n": 40}}})
        uow.commit()
    (arm,) = ai_readiness(ctx, system_session(ctx, "Pilot")).arms
    metrics = arm.shown[0].metrics
    assert metrics.auc == 0.81 and metrics.auc_ci == (0.7, 0.9) and metrics.n == 40
    assert metrics.source == "model run (model_card)"
    assert "AUC 0.810 (95% CI 0.70-0.90)" in metrics.summary()
    ctx.close()


def test_no_ai_arm_no_alert_and_readers_may_not_look(tmp_path):
    ctx = build_study(tmp_path, n_cases=4)
    status = ai_readiness(ctx, system_session(ctx, "Pilot"))
    assert status.protocol_applied and status.arms == () and status.alerts == ()
    with pytest.raises(PermissionDenied):
        ai_readiness(ctx, sign_in(ctx, "Pilot", "alice", PIN))
    ctx.close()


def test_dashboard_rule_is_the_reading_rule(tmp_path):
    """What the dashboard says an arm shows is what the reading service reveals."""
    from readerstudy.core.reading import ManualClock
    from readerstudy.services.reading import ReadingService

    ctx = build_study(tmp_path, n_cases=4, protocol=SEQUENTIAL, predictions=True)
    (arm,) = ai_readiness(ctx, system_session(ctx, "Pilot")).arms
    clock = ManualClock()
    svc = ReadingService(ctx, sign_in(ctx, "Pilot", "alice", PIN, now=clock.now), clock=clock.monotonic_ns,
                         wall_clock=clock.now, prefetch=False)
    svc.open()
    svc.start_case()
    svc.display()
    clock.advance(10)
    svc.submit(40.0, 0, 3)
    view = svc.reveal_ai()
    svc.close()
    assert (view.model_name, view.model_version) == (arm.shown[0].name, arm.shown[0].version)
    ctx.close()
    assert parse_protocol(SEQUENTIAL).arms[0].model is None
