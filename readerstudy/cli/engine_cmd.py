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
    pred = esub.add_parser("predict", help="store a trained classifier's prediction (and saliency) per case")
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


def _pipeline(args: argparse.Namespace) -> int:
    from readerstudy.services.context import open_context
    from readerstudy.services.engine_adapter import predict_study, run_study_pipeline

    ctx = open_context(args.db)
    progress, done = _progress(args.progress)
    try:
        out = run_study_pipeline(ctx, args.study, preset=args.preset, out_dir=args.out, device=args.device,
                                 seed=args.seed, progress=progress)
        n = 0
        if not args.no_predict:
            n = predict_study(ctx, args.study, out["result"].checkpoints["student_full"],
                              model_name=args.model_name, device=args.device, progress=progress)
    finally:
        done()
        ctx.close()
    ev = out["evaluation"]
    print(f"metrics: {out['result'].metrics_path}; grids: {', '.join(str(p) for p in out['result'].grid_paths)}")
    for m in ev["models"]:
        a = m["auc"]
        auc = (f"held-out AUC {a['auc']:.3f} (DeLong 95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f})"
               if a["auc"] is not None else f"held-out AUC not computed: {a['note']}")
        print(f"  {m['model']:<24} {auc}, n={m['n']}")
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
