"""``readerstudy engine pipeline|predict|...``: train DiffKD-DCIS on a study, add the model as a reader.

Every run is an engine job (a ``model_run`` row: status, preset, device, data, metrics). The GUI
runs these commands in a child process with ``--progress jsonl --run-id ID --stdin-cancel``
(protocol: :mod:`readerstudy.services.jobs`). Cancel (SIGTERM, or ``cancel`` on stdin) stops at
the next step after a checkpoint and exits 130; the same command with the same ``--out`` resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from readerstudy.cli.app import add_db_argument
from readerstudy.cli.engine_papers import register_papers

EXIT_CANCELLED = 130


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("engine", help="train the DiffKD-DCIS engine on a study; add its predictions as a reader")
    esub = p.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
    register_papers(esub)  # disc, ssl, reactkd (the other three papers)
    pipe = esub.add_parser("pipeline", help="VAE, latent diffusion, synthesis, teacher, distilled student, "
                                            "evaluation; then predictions of the student for every case")
    stages = {name: esub.add_parser(name, help=f"run the pipeline up to {what} (same --out resumes later)")
              for name, what in STAGE_HELP.items()}
    pred = esub.add_parser("predict", help="store a trained classifier's prediction (and saliency) per case")
    ev = esub.add_parser("evaluate", help="held-out AUC (DeLong CI) and accuracy (Wilson CIs) from OUT/metrics.json")
    ev.add_argument("--study", required=True)
    ev.add_argument("--out", type=Path, required=True, help="the pipeline's output folder")
    ev.set_defaults(func=_evaluate)
    dev = esub.add_parser("devices", help="the devices the engine can train on, as JSON (CPU; CUDA GPUs with "
                                          "name and memory)")
    dev.set_defaults(func=_devices)
    grp = esub.add_parser("groups", help="near-duplicate groups of a study and the train/test split the engine "
                                         "uses (no group straddles the split)")
    add_db_argument(grp)
    grp.add_argument("--study", required=True)
    grp.add_argument("--threshold", type=float, default=None,
                     help="thumbnail correlation (Pearson r on 64x64 grey) that links two images (default 0.9)")
    grp.add_argument("--seed", type=int, default=0)
    grp.add_argument("--json", action="store_true", help="print the groups as JSON")
    grp.set_defaults(func=_groups)
    for sp in (*stages.values(), pipe):
        _common(sp)
        sp.add_argument("--preset", choices=("tiny", "default", "paper"), default="default")
        sp.add_argument("--out", type=Path, required=True, help="output folder (re-run to resume)")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--split", choices=("auto", "marked"), default="auto",
                        help="auto: the engine's split of all cases with truth (20%% held out); marked: the "
                             "cases marked 'train' train, the others are held out")
        sp.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="overrides",
                        help="change one preset field, e.g. --set teacher_steps=1500 (repeatable; recorded in "
                             "metrics.json)")
    for sp in stages.values():
        sp.set_defaults(func=_stage, no_predict=True, model_name=None, predict_study=None)
    _common(pred)
    for sp in (pipe, pred):
        sp.add_argument("--model-name", default="DiffKD-student", help="reader name of the model in the study")
    pipe.add_argument("--no-predict", action="store_true", help="do not add the student's predictions")
    pipe.add_argument("--predict-study", default=None,
                      help="add the student's predictions to this study instead of the training study "
                           "(e.g. an external test set); its AUC is then a true external-test figure")
    pipe.set_defaults(func=_pipeline)
    pred.add_argument("--model", type=Path, required=True, help="classifier checkpoint folder "
                      "(e.g. OUT/checkpoints/student_full)")
    pred.add_argument("--training-data", type=Path, default=None,
                      help="the training run's training_data.json (default: the one next to OUT/checkpoints); "
                           "predictions on those cases are marked as training cases")
    pred.set_defaults(func=_predict)
    from readerstudy.cli.engine_synthesis import register_actions

    register_actions(esub)  # generate-from-mask


def _common(sp: argparse.ArgumentParser) -> None:
    add_db_argument(sp)
    sp.add_argument("--study", required=True)
    sp.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    sp.add_argument("--progress", choices=("bar", "jsonl", "none"), default="bar",
                    help="progress as a bar per stage, as JSON lines on stdout (for the GUI), or none")
    sp.add_argument("--run-id", default=None, help="record the run in this engine job (the GUI passes it); "
                                                   "default: a new job")
    sp.add_argument("--stdin-cancel", action="store_true",
                    help="stop gracefully (checkpoint, exit 130) when stdin reads 'cancel' or closes")
    sp.add_argument("--background", action="store_true",
                    help="run at a lower CPU priority, so that the app stays responsive (the GUI passes it)")


STAGE_HELP = {
    "train-vae": "the US-VAE (the real-only teacher is trained first: its features are the perceptual loss)",
    "train-ldm": "the conditional latent diffusion model",
    "generate": "the synthetic variants per case and the sample grids",
    "train-teacher": "the teachers of the ablations (real + synthetic; classic augmentation)",
    "distill": "the students (distilled and ablations), then evaluation",
}


def parse_overrides(items: list[str]) -> dict:
    """``["teacher_steps=1500", "sampler=ddim", "ablations=full,teacher_real"]`` -> a dict of Python values.

    Values are read as Python literals (numbers, booleans, tuples); anything else is a string; a
    comma-separated list becomes a tuple. Raises ValidationError for an item without ``=``.
    """
    import ast

    from readerstudy.core.errors import ValidationError

    out: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValidationError(f"--set {item!r}: write FIELD=VALUE, e.g. --set teacher_steps=1500")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = tuple(v.strip() for v in text.split(",")) if "," in text else text
        out[name.strip()] = value
    return out


def _stage(args: argparse.Namespace) -> int:
    return _pipeline(args, stop_after=None if args.engine_command == "distill" else args.engine_command)


def _exit_now(args: argparse.Namespace, code: int) -> int:
    """A GUI job (``--stdin-cancel``) leaves at once once everything is written: tearing down torch and
    diffusers at interpreter exit takes seconds (more at the job's low priority), while the GUI waits."""
    if getattr(args, "stdin_cancel", False):
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _groups(args: argparse.Namespace) -> int:
    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context
    from readerstudy.services.near_duplicates import study_groups

    ctx = open_context(args.db)
    try:
        report = study_groups(ctx, local_session("engine"), args.study, threshold=args.threshold, seed=args.seed)
    finally:
        ctx.close()
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(report), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from readerstudy.services.engine_adapter import evaluate_run

    _print_evaluation(evaluate_run(args.study, args.out / "metrics.json"))
    return 0


def _devices(args: argparse.Namespace) -> int:
    from readerstudy.services.engine_jobs import available_devices

    print(json.dumps({"devices": available_devices()}))
    return 0


def _print_evaluation(ev: dict, out=None) -> None:  # noqa: ANN001
    split = ev.get("split")
    if split:
        print(f"  held out {split['test_cases']} of {split['n_cases']} cases ({split['test_positives']} positive) "
              f"in {split['test_groups']} of {split['n_groups']} near-duplicate groups; groups on both sides: "
              f"{split['straddling_groups']}", file=out or sys.stdout)
    for m in ev["models"]:
        a = m["auc"]
        auc = (f"held-out AUC {a['auc']:.3f} (DeLong 95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f})"
               if a["auc"] is not None else f"held-out AUC not computed: {a['note']}")
        print(f"  {m['model']:<24} {auc}, n={m['n']}", file=out or sys.stdout)


def _job(args: argparse.Namespace, kind, **kw):  # noqa: ANN001, ANN202
    from readerstudy.services.job_child import JobReporter, cancel_token, lower_priority, supervised

    if args.background:
        lower_priority()
    reporter = JobReporter(args.progress)
    token = cancel_token(stdin=args.stdin_cancel)
    return reporter, token, lambda ctx: supervised(ctx, reporter, args.run_id, kind=kind, study=args.study,
                                                   device=args.device, **kw)


def _print_external(ev: dict) -> None:
    a, acc = ev["auc"], ev["accuracy"]
    sens, spec = acc["sensitivity"], acc["specificity"]
    auc = (f"AUC {a['auc']:.3f} (DeLong 95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f})" if a["auc"] is not None
           else f"AUC not computed: {a['note']}")
    print(f"  {ev['model']} on {ev['study']!r} ({ev['n']} cases with ground truth, {ev['positives']} positive): "
          f"{auc}; at {ev['threshold']:g}: sensitivity {sens['value']:.3f} ({sens['ci_low']:.3f}-{sens['ci_high']:.3f}), "
          f"specificity {spec['value']:.3f} ({spec['ci_low']:.3f}-{spec['ci_high']:.3f})")


def _pipeline(args: argparse.Namespace, stop_after: str | None = None) -> int:
    import time

    from readerstudy.core.errors import Cancelled
    from readerstudy.core.jobs import JobKind
    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context
    from readerstudy.services.engine_jobs import train_job

    t0 = time.perf_counter()
    kind = JobKind.TRAIN if stop_after is None else JobKind.SYNTHESIZE
    overrides = parse_overrides(args.overrides)
    target = args.predict_study or args.study
    reporter, token, job = _job(args, kind, preset=args.preset, out_dir=str(Path(args.out).resolve()),
                                params={"seed": args.seed, "split": args.split, "stop_after": stop_after,
                                        "overrides": {k: str(v) for k, v in overrides.items()}})
    ctx = open_context(args.db)
    external = None
    try:
        with job(ctx) as handle:
            out = train_job(ctx, local_session("engine"), handle, args.study, preset=args.preset, out_dir=args.out, device=args.device,
                            seed=args.seed, split=args.split, cancel=token, stop_after=stop_after,
                            model_name=None if args.no_predict else args.model_name, overrides=overrides,
                            predict_study=target)
        if out.get("predictions") and target != args.study:
            external = _external(ctx, target, args)
    except Cancelled as exc:
        print(f"readerstudy: {exc}", file=sys.stderr)
        return _exit_now(args, EXIT_CANCELLED)
    finally:
        reporter.close()
        ctx.close()
    result = out["result"]
    if stop_after is not None:
        print(f"{stop_after} done; checkpoints: {', '.join(sorted(result.checkpoints))} in {args.out}")
        return _exit_now(args, 0)
    print(f"metrics: {result.metrics_path}; grids: {', '.join(str(p) for p in result.grid_paths)}")
    _print_evaluation(out["evaluation"])
    if out.get("predictions"):
        print(f"{args.model_name} added as a reader of {target!r}: {out['predictions']} predictions with "
              f"saliency maps ({out['in_training_set']} on training cases, marked as such)")
        if external is not None:
            _print_external(external)
    print(f"done in {time.perf_counter() - t0:.0f} s (training, evaluation"
          f"{' and prediction' if out.get('predictions') else ''})")
    return _exit_now(args, 0)


def _external(ctx, study: str, args: argparse.Namespace) -> dict | None:  # noqa: ANN001
    from readerstudy.services.auth import local_session
    from readerstudy.services.model_card import evaluate_model_on_study

    return evaluate_model_on_study(ctx, local_session("engine"), study, args.model_name)


def _predict(args: argparse.Namespace) -> int:
    from readerstudy.core.errors import Cancelled
    from readerstudy.core.jobs import JobKind
    from readerstudy.services.auth import local_session
    from readerstudy.services.context import open_context
    from readerstudy.services.engine_jobs import predict_job

    reporter, token, job = _job(args, JobKind.PREDICT, preset=None,
                                params={"model_name": args.model_name, "checkpoint": str(Path(args.model).resolve())})
    ctx = open_context(args.db)
    try:
        with job(ctx) as handle:
            counts = predict_job(ctx, local_session("engine"), handle, args.study, args.model, model_name=args.model_name,
                                 device=args.device, training_data=args.training_data, cancel=token)
        external = _external(ctx, args.study, args)
    except Cancelled as exc:
        print(f"readerstudy: {exc}", file=sys.stderr)
        return _exit_now(args, EXIT_CANCELLED)
    finally:
        reporter.close()
        ctx.close()
    print(f"{args.model_name}: {counts['predictions']} predictions stored in {args.study!r}"
          + (f"; {counts['in_training_set']} on cases it was trained on (marked as such)"
             if counts["in_training_set"] else ""))
    if external is not None:
        _print_external(external)
    if counts.get("manifest") is None:
        print("note: no training_data.json found for this model, so no prediction is marked as a training case",
              file=sys.stderr)
    return _exit_now(args, 0)
