"""``readerstudy engine pipeline|predict``: train DiffKD-DCIS on a study, add the model as a reader."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("engine", help="train the DiffKD-DCIS engine on a study; add its predictions as a reader")
    esub = p.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
    pipe = esub.add_parser("pipeline", help="VAE, latent diffusion, synthesis, teacher, distilled student, "
                                            "evaluation; then predictions of the student for every case")
    stages = {name: esub.add_parser(name, help=f"run the pipeline up to {what} (same --out resumes later)")
              for name, what in STAGE_HELP.items()}
    pred = esub.add_parser("predict", help="store a trained classifier's prediction (and saliency) per case")
    ev = esub.add_parser("evaluate", help="held-out AUC (DeLong CI) and accuracy (Wilson CIs) from OUT/metrics.json")
    ev.add_argument("--study", required=True)
    ev.add_argument("--out", type=Path, required=True, help="the pipeline's output folder")
    ev.set_defaults(func=_evaluate)
    for sp in stages.values():
        add_db_argument(sp)
        sp.add_argument("--study", required=True)
        sp.add_argument("--device", default="cpu")
        sp.add_argument("--progress", choices=("bar", "jsonl", "none"), default="bar")
        sp.add_argument("--preset", choices=("tiny", "default", "paper"), default="default")
        sp.add_argument("--out", type=Path, required=True)
        sp.add_argument("--seed", type=int, default=0)
        sp.set_defaults(func=_stage, no_predict=True)
    for sp in (pipe, pred):
        add_db_argument(sp)
        sp.add_argument("--study", required=True)
        sp.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
        sp.add_argument("--progress", choices=("bar", "jsonl", "none"), default="bar",
                        help="progress as a bar, as JSON lines on stdout (for the GUI), or none")
        sp.add_argument("--model-name", default="DiffKD-student", help="reader name of the model in the study")
    pipe.add_argument("--preset", choices=("tiny", "default", "paper"), default="default")
    pipe.add_argument("--out", type=Path, required=True, help="output folder (re-run to resume)")
    pipe.add_argument("--seed", type=int, default=0)
    pipe.add_argument("--no-predict", action="store_true", help="do not add the student's predictions")
    pipe.set_defaults(func=_pipeline)
    pred.add_argument("--model", type=Path, required=True, help="classifier checkpoint folder "
                      "(e.g. OUT/checkpoints/student_full)")
    pred.set_defaults(func=_predict)


STAGE_HELP = {
    "train-vae": "the US-VAE (the real-only teacher is trained first: its features are the perceptual loss)",
    "train-ldm": "the conditional latent diffusion model",
    "generate": "the synthetic variants per case and the sample grids",
    "train-teacher": "the teachers of the ablations (real + synthetic; classic augmentation)",
    "distill": "the students (distilled and ablations), then evaluation",
}


def _progress(kind: str):  # noqa: ANN202
    if kind == "none":
        return None, lambda: None
    if kind == "jsonl":
        def emit(step: int, total: int, message: str) -> None:
            print(json.dumps({"step": step, "total": total, "message": message}), flush=True)
        return emit, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=1, unit="step", file=sys.stderr)

    def update(step: int, total: int, message: str) -> None:
        bar.total = max(total, 1)
        bar.n = step
        bar.set_description_str(message[:40])
        bar.refresh()

    return update, bar.close


def _stage(args: argparse.Namespace) -> int:
    return _pipeline(args, stop_after=None if args.engine_command == "distill" else args.engine_command)


def _evaluate(args: argparse.Namespace) -> int:
    from readerstudy.services.engine_adapter import evaluate_run

    _print_evaluation(evaluate_run(args.study, args.out / "metrics.json"))
    return 0


def _print_evaluation(ev: dict) -> None:
    for m in ev["models"]:
        a = m["auc"]
        auc = (f"held-out AUC {a['auc']:.3f} (DeLong 95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f})"
               if a["auc"] is not None else f"held-out AUC not computed: {a['note']}")
        print(f"  {m['model']:<24} {auc}, n={m['n']}")


def _pipeline(args: argparse.Namespace, stop_after: str | None = None) -> int:
    from readerstudy.services.context import open_context
    from readerstudy.services.engine_adapter import predict_study, run_study_pipeline

    ctx = open_context(args.db)
    progress, done = _progress(args.progress)
    try:
        out = run_study_pipeline(ctx, args.study, preset=args.preset, out_dir=args.out, device=args.device,
                                 seed=args.seed, progress=progress, stop_after=stop_after)
        n = 0
        if stop_after is not None:
            print(f"{stop_after} done; checkpoints: {', '.join(sorted(out['result'].checkpoints))} in {args.out}")
            return 0
        if not args.no_predict:
            n = predict_study(ctx, args.study, out["result"].checkpoints["student_full"],
                              model_name=args.model_name, device=args.device, progress=progress)
    finally:
        done()
        ctx.close()
    print(f"metrics: {out['result'].metrics_path}; grids: {', '.join(str(p) for p in out['result'].grid_paths)}")
    _print_evaluation(out["evaluation"])
    if n:
        print(f"{args.model_name} added as a reader of {args.study!r}: {n} predictions with saliency maps")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from readerstudy.services.context import open_context
    from readerstudy.services.engine_adapter import predict_study

    ctx = open_context(args.db)
    progress, done = _progress(args.progress)
    try:
        n = predict_study(ctx, args.study, args.model, model_name=args.model_name, device=args.device,
                          progress=progress)
    finally:
        done()
        ctx.close()
    print(f"{args.model_name}: {n} predictions stored in {args.study!r}")
    return 0
