"""Roles in every service: a table of every public service function and who may call it.

Every public function of ``readerstudy.services`` is listed exactly once: in :data:`TABLE` (it
reaches study data: it takes the caller's session, and each role gets data or a clear
:class:`PermissionDenied` as the table says), or in one of the lists of functions that reach no
study data on their own (:data:`PURE`, :data:`UOW_HELPERS`, :data:`SESSIONLESS`, each with its
reason). A function added to the services and listed nowhere fails
:func:`test_every_public_service_function_is_in_the_table` until it is listed.

The rule for PIN-less sessions: only the command line's own local use creates them
(``auth.local_session`` / ``auth.system_session``); :func:`test_no_pin_less_sessions_outside_the_cli`
checks the sources.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import readerstudy.services as services_pkg
from readerstudy.core.errors import Cancelled, PermissionDenied
from readerstudy.core.models import Role
from readerstudy.services.auth import UserSession, hash_pin, local_session, sign_in

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
import support  # noqa: E402

ROOT = Path(__file__).resolve().parents[2] / "readerstudy"
ROLES = ("reader", "annotator", "coordinator", "local")  # local: the CLI's own PIN-less session
Y, N = "data", "denied"
COORD = {"reader": N, "annotator": N, "coordinator": Y, "local": Y}
EDIT = {"reader": N, "annotator": Y, "coordinator": Y, "local": Y}
READER = {"reader": Y, "annotator": N, "coordinator": N, "local": N}
ANY = dict.fromkeys(ROLES, Y)
NONE_SIGNED_IN = {"reader": N, "annotator": N, "coordinator": N, "local": Y}  # creates studies: CLI only


@dataclass
class Env:
    ctx: Any
    db: Path
    tmp: Path
    case_id: str
    read_id: str
    archive: Path
    layer: Any

    def fresh(self, name: str) -> Path:
        p = self.tmp / f"{name}-{uuid.uuid4().hex[:8]}"
        p.mkdir(parents=True)
        return p


def _cancel(*_a: Any) -> None:
    raise Cancelled("stopped by the test")


def _save(e: Env, s: UserSession) -> Any:
    from readerstudy.services import annotation

    layer, _, _ = annotation.open_annotation(e.ctx, _coordinator(e), e.case_id)
    return annotation.save_annotation(e.ctx, s, e.case_id, layer)


def _coordinator(e: Env) -> UserSession:
    return sign_in(e.ctx, support.STUDY, "carol", "1357")


def _annotation_id(e: Env) -> str:
    """A saved annotation of the case (the coordinator's), for the provenance lookup."""
    return _save(e, _coordinator(e)).id


def _no_variants(e: Env) -> Any:
    """A batch with no variants: past the role check, accepting index 0 is refused as invalid input."""
    import numpy as np

    return _svc("synthesis").VariantBatch([], np.zeros((8, 8), np.uint8), None, 0.0, {})


def _protocol(e: Env) -> Any:
    from readerstudy.core.protocol import parse_protocol

    return parse_protocol(support.SEQUENTIAL)


def _svc(module: str) -> Any:
    return importlib.import_module(f"readerstudy.services.{module}")


S = support.STUDY
TABLE: dict[str, tuple[dict[str, str], Callable[[Env, UserSession], Any]]] = {
    "ai_status.ai_readiness": (COORD, lambda e, s: _svc("ai_status").ai_readiness(e.ctx, s)),
    "annotation.annotator_cases": (EDIT, lambda e, s: _svc("annotation").annotator_cases(e.ctx, s)),
    "annotation.open_annotation": (EDIT, lambda e, s: _svc("annotation").open_annotation(e.ctx, s, e.case_id)),
    "annotation.case_modality": (EDIT, lambda e, s: _svc("annotation").case_modality(e.ctx, s, e.case_id)),
    "annotation.save_annotation": ({**EDIT, "local": N}, _save),
    "annotation.case_masks": (EDIT, lambda e, s: _svc("annotation").case_masks(e.ctx, s, e.case_id)),
    "annotation.consensus": (EDIT, lambda e, s: _svc("annotation").consensus(e.ctx, s, e.case_id)),
    "annotation_labels.study_label_set": (EDIT, lambda e, s: _svc("annotation_labels").study_label_set(e.ctx, s, S)),
    "annotation_labels.set_study_label_set": (COORD, lambda e, s: _svc("annotation_labels").set_study_label_set(
        e.ctx, s, S, __import__("readerstudy.core.annotation_labels", fromlist=["LabelSet"]).LabelSet.preset(
            "gleason"))),
    "annotation_review.mark_reviewed": ({**EDIT, "local": N}, lambda e, s: (
        _save(e, s), _svc("annotation_review").mark_reviewed(e.ctx, s, e.case_id))),
    "annotation_review.reviewed_versions": (EDIT, lambda e, s: _svc("annotation_review").reviewed_versions(e.ctx, s)),
    "annotation.agreement": (COORD, lambda e, s: _svc("annotation").agreement(e.ctx, s, S)),
    "annotation.export_masks": (COORD, lambda e, s: _svc("annotation").export_masks(e.ctx, s, S, "nifti",
                                                                                     e.fresh("masks"))),
    "assignment_overview.assignment_overview": (COORD, lambda e, s: _svc("assignment_overview")
                                                .assignment_overview(e.ctx, s)),
    "assignment_overview.protocol_state": (COORD, lambda e, s: _svc("assignment_overview").protocol_state(e.ctx, s)),
    "assignments.preview_apply": (COORD, lambda e, s: _svc("assignments").preview_apply(e.ctx, s)),
    "assignments.apply_with_plan": (COORD, lambda e, s: _svc("assignments").apply_with_plan(e.ctx, s)),
    "assignments.apply_protocol": (COORD, lambda e, s: _svc("assignments").apply_protocol(e.ctx, s, _protocol(e))),
    "assignments.protocol_summary": (COORD, lambda e, s: _svc("assignments").protocol_summary(e.ctx, s)),
    "assignments.study_overview": (COORD, lambda e, s: _svc("assignments").study_overview(e.ctx, s)),
    "auth.add_participant": (COORD, lambda e, s: _svc("auth").add_participant(
        e.ctx, s, f"new-{uuid.uuid4().hex[:6]}", Role.READER, "4321")),
    "auth.set_pin": (COORD, lambda e, s: _svc("auth").set_pin(e.ctx, s, "bob", support.PIN)),
    "auth.scope": (ANY, lambda e, s: _svc("auth").scope(e.ctx, s, S)),
    "backup.backup": (COORD, lambda e, s: _svc("backup").backup(e.ctx, s, e.fresh("b") / "a.tar.gz")),
    "backup.backup_file": (COORD, lambda e, s: _svc("backup").backup_file(e.db, s, e.fresh("b") / "a.tar.gz")),
    "backup.restore": (COORD, lambda e, s: _svc("backup").restore(e.archive, e.fresh("r") / "r.sqlite", s)),
    "backup.scheduled_backup": (ANY, lambda e, s: _svc("backup").scheduled_backup(
        e.ctx, s, _svc("backup").BackupSettings(interval_min=60, keep=1, folder=e.fresh("auto")))),
    "browse.list_studies": (COORD, lambda e, s: _svc("browse").list_studies(e.ctx, s)),
    "browse.study_cases": (COORD, lambda e, s: _svc("browse").study_cases(e.ctx, s, S)),
    "browse.case_image": (COORD, lambda e, s: _svc("browse").case_image(e.ctx, s, e.case_id)),
    "dashboard.dashboard_data": (COORD, lambda e, s: _svc("dashboard").dashboard_data(e.ctx, s)),
    "dashboard.report_figures_png": (COORD, lambda e, s: _svc("dashboard").report_figures_png(
        e.ctx, s, S, progress=_cancel)),
    "demo.build_demo": (NONE_SIGNED_IN, lambda e, s: _svc("demo").build_demo(e.ctx, s, progress=_cancel)),
    "demo.build_busi": (NONE_SIGNED_IN, lambda e, s: _svc("demo").build_busi(e.ctx, s, _cancel)),
    "demo.build_phantom": (NONE_SIGNED_IN, lambda e, s: _svc("demo").build_phantom(e.ctx, s, 1, _cancel)),
    "engine_adapter.engine_cases": (COORD, lambda e, s: _svc("engine_adapter").engine_cases(e.ctx, s, S)),
    "engine_adapter.run_study_pipeline": (COORD, lambda e, s: _svc("engine_adapter").run_study_pipeline(
        e.ctx, s, S, preset="no-such-preset", out_dir=e.fresh("engine"))),
    "engine_adapter.predict_study": (COORD, lambda e, s: _svc("engine_adapter").predict_study(
        e.ctx, s, S, e.fresh("no-checkpoint"))),
    "importing.ensure_study": (COORD, lambda e, s: _svc("importing").ensure_study(e.ctx, s, S)),
    "importing.import_cases": (COORD, lambda e, s: _svc("importing").import_cases(e.ctx, s, S, [])),
    "integrity.verify": (COORD, lambda e, s: _svc("integrity").verify(e.ctx, s, files=False)),
    "integrity.startup_check": (ANY, lambda e, s: _svc("integrity").startup_check(e.ctx, s)),
    "integrity.chain_head": (COORD, lambda e, s: _svc("integrity").chain_head(e.ctx, s)),
    "merge.merge_sites": (COORD, lambda e, s: _svc("merge").merge_sites(e.fresh("m") / "m.sqlite", [e.db], s)),
    "phi.reidentify": (COORD, lambda e, s: _svc("phi").reidentify(e.ctx, s, e.case_id, "role test")),
    "planning.pilot_arms": (COORD, lambda e, s: _svc("planning").pilot_arms(e.ctx, s, S)),
    "planning.pilot_components": (COORD, lambda e, s: _svc("planning").pilot_components(e.ctx, s, S)),
    "reading.ReadingService": (READER, lambda e, s: _svc("reading").ReadingService(e.ctx, s, prefetch=False)),
    "reading.correct_read": (COORD, lambda e, s: _svc("reading").correct_read(
        e.ctx, s, e.read_id, probability=50, binary=0, confidence=3, reason="role test")),
    "report_data.collect_report_data": (COORD, lambda e, s: _svc("report_data").collect_report_data(e.ctx, s, S)),
    "report_data.reader_roles": (COORD, lambda e, s: _svc("report_data").reader_roles(e.ctx, s, S)),
    "reporting.export_report": (COORD, lambda e, s: _svc("reporting").export_report(
        e.ctx, s, S, e.fresh("report"), progress=_cancel)),
    "reporting.export_reads": (COORD, lambda e, s: _svc("reporting").export_reads(
        e.ctx, s, S, "csv", e.fresh("export") / "reads.csv")),
    "simulate.simulate_readers": (COORD, lambda e, s: _svc("simulate").simulate_readers(e.ctx, s, S, 0, 1)),
    "auth.sign_out": (ANY, lambda e, s: _svc("auth").sign_out(e.ctx, s)),
    "importing.run_import": (COORD, lambda e, s: _svc("importing").run_import(
        e.ctx, s, _svc("importing").ImportRequest(study=S, folder=str(e.fresh("empty"))))),
    "participants.add_participant": (COORD, lambda e, s: _svc("participants").add_participant(
        e.ctx, s, f"new-{uuid.uuid4().hex[:6]}", Role.READER, pin="4321")),
    "participants.list_participants": (COORD, lambda e, s: _svc("participants").list_participants(e.ctx, s)),
    "participants.get_participant": (COORD, lambda e, s: _svc("participants").get_participant(e.ctx, s, "dora")),
    "participants.rename_participant": (COORD, lambda e, s: _svc("participants").rename_participant(
        e.ctx, s, "dora", "dora")),
    "participants.set_seniority": (COORD, lambda e, s: _svc("participants").set_seniority(e.ctx, s, "dora", "mid")),
    "participants.set_pin": (COORD, lambda e, s: _svc("participants").set_pin(e.ctx, s, "dora", "5678")),
    "participants.reset_pin": (COORD, lambda e, s: _svc("participants").reset_pin(e.ctx, s, "dora")),
    "participants.unlock_participant": (COORD, lambda e, s: _svc("participants").unlock_participant(e.ctx, s, "dora")),
    "participants.deactivate_participant": (COORD, lambda e, s: _svc("participants").deactivate_participant(
        e.ctx, s, "dora")),
    "participants.reactivate_participant": (COORD, lambda e, s: _svc("participants").reactivate_participant(
        e.ctx, s, "dora")),
    "participants.change_own_pin": ({**ANY, "local": N}, lambda e, s: _svc("participants").change_own_pin(
        e.ctx, s, "not-the-pin", "also-not")),
    "reading_admin.correct_read": (COORD, lambda e, s: _svc("reading_admin").correct_read(
        e.ctx, s, e.read_id, probability=55, binary=1, confidence=3, reason="role test")),
    "reading_admin.reader_reads": (COORD, lambda e, s: _svc("reading_admin").reader_reads(e.ctx, s, "alice")),
    "reading_admin.reader_sessions": (COORD, lambda e, s: _svc("reading_admin").reader_sessions(e.ctx, s, "alice")),
    "reading_admin.reopen_session": (COORD, lambda e, s: _svc("reading_admin").reopen_session(
        e.ctx, s, "alice", 1, "role test")),
    "exports.reference_choices": (COORD, lambda e, s: _svc("exports").reference_choices(e.ctx, s)),
    "exports.arm_names": (COORD, lambda e, s: _svc("exports").arm_names(e.ctx, s)),
    "exports.annotators": (COORD, lambda e, s: _svc("exports").annotators(e.ctx, s)),
    "exports.export_report_to": (COORD, lambda e, s: _svc("exports").export_report_to(
        e.ctx, s, e.fresh("report"), _cancel)),
    "exports.export_reads_to": (COORD, lambda e, s: _svc("exports").export_reads_to(
        e.ctx, s, "csv", e.fresh("reads") / "reads.csv", lambda *a: None)),
    "exports.export_masks_to": (COORD, lambda e, s: _svc("exports").export_masks_to(
        e.ctx, s, "nifti", e.fresh("masks"), _cancel)),
    "exports.export_agreement": (COORD, lambda e, s: _svc("exports").export_agreement(
        e.ctx, s, e.fresh("agreement") / "a.csv", _cancel)),
    "demo.add_shipped_model": (COORD, lambda e, s: _svc("demo").add_shipped_model(e.ctx, s, S, _cancel)),
    "engine_jobs.training_cases": (COORD, lambda e, s: _svc("engine_jobs").training_cases(e.ctx, s, S)),
    "engine_jobs.train_job": (COORD, lambda e, s: _svc("engine_jobs").train_job(
        e.ctx, s, None, S, preset="tiny", out_dir=e.fresh("train"), device="cpu", seed=0, split="no-such-split",
        cancel=None)),
    "engine_jobs.predict_job": (COORD, lambda e, s: _svc("engine_jobs").predict_job(
        e.ctx, s, None, S, e.fresh("no-model"), model_name="m", device="cpu", training_data=None, cancel=None)),
    "engine_papers.run_paper": (COORD, lambda e, s: _svc("engine_papers").run_paper(
        "ssl", preset="tiny", out_dir=e.fresh("paper"), ctx=e.ctx, study=S, session=s, progress=_cancel)),
    "job_runs.create_job": (COORD, lambda e, s: _svc("job_runs").create_job(
        e.ctx, s, _svc("jobs").JobSpec(_svc("jobs").JobKind.TRAIN, S, preset="no-such-preset"))),
    "job_runs.prepare_resume": (COORD, lambda e, s: _svc("job_runs").prepare_resume(e.ctx, s, "no-such-run")),
    "model_card.evaluate_model_on_study": (COORD, lambda e, s: _svc("model_card").evaluate_model_on_study(
        e.ctx, s, S, "model")),
    "model_card.model_cards": (COORD, lambda e, s: _svc("model_card").model_cards(e.ctx, s, S)),
    "model_card.model_card": (COORD, lambda e, s: _svc("model_card").model_card(e.ctx, s, S)),
    "near_duplicates.study_groups": (COORD, lambda e, s: _svc("near_duplicates").study_groups(e.ctx, s, S)),
    "synthesis.accept_variant": (EDIT, lambda e, s: _svc("synthesis").accept_variant(
        e.ctx, s, e.case_id, _no_variants(e), 0)),
    "synthesis.mask_source": (EDIT, lambda e, s: _svc("synthesis").mask_source(
        e.ctx, s, e.case_id, _no_variants(e).mask)),
    "synthesis.case_class_hint": (EDIT, lambda e, s: _svc("synthesis").case_class_hint(e.ctx, s, e.case_id)),
    "synthesis.stored_variants": (EDIT, lambda e, s: _svc("synthesis").stored_variants(e.ctx, s, e.case_id)),
    "mask_suggestion.annotation_provenance": (EDIT, lambda e, s: _svc("mask_suggestion").annotation_provenance(
        e.ctx, s, _annotation_id(e))),
    "realism_study.build_realism_study": (COORD, lambda e, s: _svc("realism_study").build_realism_study(
        e.ctx, s, S, f"Realism {uuid.uuid4().hex[:6]}")),  # past the role check: no accepted images to show
    "realism_study.create_realism_study": ({**COORD, "local": N}, lambda e, s: _svc("realism_study")
                                           .create_realism_study(e.ctx, s, f"Realism {uuid.uuid4().hex[:6]}")),
    "studies.coordinator_in": ({**COORD, "local": N}, lambda e, s: _svc("studies").coordinator_in(e.ctx, s, S)),
    "studies.create_study_as": ({**COORD, "local": N}, lambda e, s: _svc("studies").create_study_as(
        e.ctx, s, f"Study {uuid.uuid4().hex[:6]}")),
}

PURE = {  # no database, no store: computations on what the caller passes in
    "simulate.simulated_answers", "ai_status.metrics_from", "annotation.label_set_from_stored", "annotation.interpolate_label",
    "annotation.clean_up_label", "annotation.layer_volumes", "annotation.compare_labels", "annotation.consensus_of",
    "assignment_overview.washout_calendar", "assignments.load_protocol_file", "auth.hash_pin", "auth.verify_pin",
    "auth.require_coordinator", "auth.require_reader", "auth.is_local_session", "auth.require_role", "auth.require_study",
    "backup.default_archive", "backup.load_settings", "browse.burned_in_label", "dashboard.time_outliers",
    "deid_policy.burned_in_flag", "deid_policy.plan_policy", "demo.busi_sources",
    "engine_adapter.evaluate_probabilities", "engine_adapter.evaluate_run", "engine_adapter.checkpoint_hash",
    "import_deid.element_index", "import_deid.write_deidentified", "import_sources.label_folders",
    "import_sources.parse_truth", "import_sources.sources_from_folder", "import_sources.sources_from_manifest",
    "hanging.load_secondary", "integrity.parse_head", "participants.validate_name", "participants.validate_new_pin", "participants.validate_pin",
    "participants.validate_seniority", "studies.validate_study_name", "engine_adapter.identity_keys",
    "phi.identity_keys",
    "engine_jobs.available_devices", "engine_jobs.find_manifest", "engine_jobs.load_trained_on",
    "engine_papers.decision_curves", "engine_papers.sample_disc", "job_child.cancel_token", "job_child.lower_priority",
    "job_runs.child_alive", "job_runs.evaluation", "job_runs.log_tail", "job_runs.student_dir",
    "jobs.failure_message", "jobs.format_eta", "jobs.parse_line", "model_card.card_for_checkpoint", "order_plan.audit_payload", "planning.parse_components",
    "planning.make_plan", "protocol_toml.read_protocol_toml", "protocol_toml.protocol_to_toml",
    "reporting.imrmc_table", "reporting.mrmcaov_table", "reporting.write_rjafroc", "report_data.read_fields",
    "report_provenance.data_checksum", "report_provenance.safe_url",
    "mask_suggestion.display_grey", "mask_suggestion.suggest_mask", "mask_suggestion.suggestion_provenance",
    "synthesis.binary_mask", "synthesis.generate_variants", "synthesis.load_generator", "synthesis.load_segmenter",
    "synthesis.png_bytes", "synthesis.prompt_templates", "synthesis.read_mask_png", "synthesis.shipped_generator_dir",
    "synthesis.shipped_segmenter_dir", "synthesis.write_variants",
    "realism_study.origin_ref", "realism_study.parse_origin",
}
UOW_HELPERS = {  # take an open unit of work: building blocks of the use cases above, which check the role
    "ai_status.arm_model", "ai_status.held_out_metrics", "assignments.study_protocol",
    "assignments.reader_assignments", "assignments.my_assignments", "assignments.washout_date",
    "assignments.next_assignment", "assignments.close_session_if_done", "order_plan.make_plan",
    "order_plan.execute_plan", "report_provenance.provenance", "hanging.secondary_assets", "hanging.resolve_practice",
    "hanging.stored_practice", "hanging.practice_read", "phi.grouping_keys", "deid_policy.save_settings", "participants.require_active_coordinator",
}
SESSIONLESS = {  # reach the database without a session, by design (reason)
    "auth.studies": "the sign-in screen lists the studies' names",
    "auth.participants": "the sign-in screen lists names and roles (no PIN hash, no lock state)",
    "auth.sign_in": "it is what creates a session",
    "auth.system_session": "the CLI's own local use (a study's coordinator for whoever holds the file)",
    "auth.local_session": "the CLI's own local use (every study, for whoever holds the file)",
    "context.open_context": "opens the database a session then works on",
    "context.resolve_db": "turns --db into a URL",
    "ai_status.predict_command": "returns the text of a command line (the database path), no study data",
    "reporting.report_command": "returns the text of the `readerstudy report` command line, no study data",
    # engine jobs: the child process a coordinator's create_job started (its command line is the
    # CLI's local use) keeps its own run row; the GUI lists runs (status, metrics, logs; no case data)
    "engine_jobs.begin_run": "the job child's own run row (started by create_job, which checks the coordinator)",
    "engine_jobs.end_run": "the job child's own run row",
    "engine_jobs.set_data": "the job child's own run row",
    "engine_jobs.link_training_run": "the job child's own run rows",
    "job_child.supervised": "wraps the job child's work in its run row",
    "job_runs.record_start": "the job runner's bookkeeping of a child it started",
    "job_runs.record_end": "the job runner's bookkeeping of a child it started",
    "job_runs.reconcile": "marks runs whose child process died as interrupted (bookkeeping)",
    "job_runs.get_job": "a run's status, metrics and log path (no case data)",
    "job_runs.list_jobs": "runs' status, metrics and log paths (no case data)",
    "job_runs.trained_models": "finished training runs (no case data)",
    "job_runs.predict_spec": "builds a prediction job's spec from a run; create_job checks the coordinator",
    "job_runs.jobs_dir": "the folder of job outputs",
    "deid_policy.prepare": "called by no use case (kept by the de-identification module); writes settings only",
    "participants.change_pin_at_sign_in": "the sign-in screen: the participant types the current PIN",
    "studies.create_study": "first run: creates a study and its first coordinator, who sets a PIN",
    "studies.add_first_coordinator": "a study without a coordinator (made by the CLI) gets its first one, with a PIN",
    "studies.needs_first_coordinator": "the sign-in screen asks whether to offer 'first coordinator'",
    "studies.study_summaries": "`readerstudy study list` (the CLI's local use): names and counts only",
}


def _public() -> dict[str, Any]:
    out = {}
    for m in pkgutil.iter_modules(services_pkg.__path__):
        mod = importlib.import_module(f"readerstudy.services.{m.name}")
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj):
                out[f"{m.name}.{name}"] = obj
            elif inspect.isclass(obj) and not issubclass(obj, BaseException) and \
                    "ctx" in inspect.signature(obj).parameters:
                out[f"{m.name}.{name}"] = obj  # a use case held as an object (ReadingService)
    return out


def test_every_public_service_function_is_in_the_table() -> None:
    public = _public()
    listed = [*TABLE, *PURE, *UOW_HELPERS, *SESSIONLESS]
    assert len(listed) == len(set(listed)), "a function is listed twice"
    missing = sorted(set(public) - set(listed))
    assert missing == [], f"new service functions: list them in tests/services/test_roles.py: {missing}"
    assert sorted(set(listed) - set(public)) == [], "the table lists functions that no longer exist"


def test_functions_that_reach_data_take_the_callers_session() -> None:
    public = _public()
    for name in TABLE:
        params = inspect.signature(public[name]).parameters.values()
        assert any("UserSession" in str(p.annotation) for p in params), f"{name} takes no UserSession"
    for name in PURE:
        params = inspect.signature(public[name]).parameters
        assert "ctx" not in params and "uow" not in params, f"{name} is listed as pure but takes {list(params)}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    tmp = tmp_path_factory.mktemp("roles")
    ctx = support.build(tmp / "study.sqlite", n_cases=2, readers=["alice", "bob"], protocol=support.SEQUENTIAL,
                        predictions=True, tiny_in=tmp / "img")
    with ctx.uow() as uow:
        study = uow.studies.by_name(support.STUDY)
        uow.readers.add(study.id, "carol", Role.COORDINATOR, pin_hash=hash_pin("1357"))
        uow.readers.add(study.id, "ann", Role.ANNOTATOR, pin_hash=hash_pin("1357"))
        uow.readers.add(study.id, "dora", Role.READER, pin_hash=hash_pin("1357"))  # for the participant edits
        case_id = uow.cases.list(study.id)[0].id
        uow.cases.set_phi(case_id, {"PatientName": "DOE^JANE"}, 3)
        uow.commit()
    read_ids = support.read_cases(ctx, "alice", limit=1)
    archive = _svc("backup").backup(ctx, local_session("test"), tmp / "base.tar.gz").archive
    return Env(ctx, tmp / "study.sqlite", tmp, case_id, read_ids[0], archive, None)


def _session(env: Env, role: str) -> UserSession:
    if role == "local":
        return local_session("test")
    name, pin = {"reader": ("bob", support.PIN), "annotator": ("ann", "1357"), "coordinator": ("carol", "1357")}[role]
    return sign_in(env.ctx, support.STUDY, name, pin)


CHECKS = [(name, role) for name in TABLE for role in ROLES]
OUTCOMES: dict[tuple[str, str], bool] = {}


@pytest.mark.parametrize("name,role", CHECKS, ids=[f"{n}-{r}" for n, r in CHECKS])
def test_each_role_gets_data_or_permission_denied(env: Env, name: str, role: str) -> None:
    expect, call = TABLE[name]
    OUTCOMES[(name, role)] = False
    try:
        call(env, _session(env, role))
        denied = None
    except PermissionDenied as exc:
        denied = exc
    except Exception:  # the call got past the role check (e.g. "not enough reads"): that is access
        denied = None
    if expect[role] == N:
        assert denied is not None, f"{name} let a {role} through"
        assert str(denied).strip() and "\n" not in str(denied)
    else:
        assert denied is None, f"{name} refused a {role}: {denied}"
    OUTCOMES[(name, role)] = True


def test_figures(capsys) -> None:  # noqa: ANN001
    with capsys.disabled():
        print(f"\nroles: {len(TABLE)} service functions x {len(ROLES)} roles = {len(CHECKS)} checks; "
              f"{sum(OUTCOMES.values())} as the table says ({len(OUTCOMES)} run)")
    assert all(OUTCOMES.values())


def _sources(folder: str) -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted((ROOT / folder).rglob("*.py"))]


def test_no_pin_less_sessions_outside_the_cli() -> None:
    """Only the CLI creates sessions without a PIN; services and the GUI get one from sign-in."""
    # services/auth.py defines them; services/studies.py returns the first coordinator's session
    # right after they chose their PIN (typed twice): a sign-in, not a PIN-less session
    allowed = {"services/auth.py", "services/studies.py"}
    offenders = []
    for folder in ("services", "ui"):
        for path, text in _sources(folder):
            if str(path.relative_to(ROOT)) in allowed:
                continue
            for pattern in (r"\bsystem_session\(", r"\blocal_session\(", r"\bUserSession\("):
                if re.search(pattern, text):
                    offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []


def test_the_gui_and_cli_reach_data_only_through_services_and_phi_through_one_call() -> None:
    for folder in ("ui", "cli"):
        for path, text in _sources(folder):
            assert ".uow(" not in text, f"{path.relative_to(ROOT)} opens a unit of work itself"
    phi_users = [p.relative_to(ROOT) for folder in ("services", "ui", "cli", "reports")
                 for p, t in _sources(folder) if re.search(r"\.phi\(", t)]
    assert [str(p) for p in phi_users] == ["services/phi.py"]


def test_phi_is_audited_and_never_written_into_the_trail(env: Env) -> None:
    mapping = _svc("phi").reidentify(env.ctx, _session(env, "coordinator"), env.case_id, "incidental finding")
    assert mapping["original"] == {"PatientName": "DOE^JANE"}
    with env.ctx.uow() as uow:
        ev = [e for e in uow.audit.list() if e.action == "phi.access"][-1]
    assert ev.actor == "carol" and ev.payload["reason"] == "incidental finding" and "DOE" not in str(ev.payload)
    with pytest.raises(Exception, match="needs a reason"):
        _svc("phi").reidentify(env.ctx, _session(env, "coordinator"), env.case_id, " ")
