"""``readerstudy engine disc|ssl|reactkd ACTION``: the other three papers' engines.

Registered from :mod:`readerstudy.cli.engine_cmd`. Every action writes into ``--out`` and resumes
there: ``pipeline`` runs everything (``metrics.json`` and PNG grids), the finer actions stop after
their stage (``train``, ``distill``, ``sample``) or rerun the evaluation (``evaluate``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from readerstudy.cli.app import add_db_argument

#: method -> action -> (help, engine stage to stop after; None = the whole pipeline).
ACTIONS: dict[str, dict[str, tuple[str, str | None]]] = {
    "disc": {
        "pipeline": ("VAE, SD (multi-label mask LDM), SC sampling, SD-DISC(-CoTrain), fidelity, lambda classifier", None),
        "train": ("VAE and SD (the mask-conditioned LDM)", "train"),
        "distill": ("SC-fused latents of random tile masks, then SD-DISC and SD-DISC-CoTrain", "distill"),
        "evaluate": ("generation with the four models, label fidelity, downstream classifiers", None),
    },
    "ssl": {
        "pipeline": ("DINO encoder, VAE, SSL-guided LDM, synthesis, patch classifiers, aggregation, FID", None),
        "train": ("DINO encoder, VAE and the SSL-guided LDM", "train"),
        "sample": ("synthetic patches from SSL embeddings (CFG, DDIM) and the sample grid", "sample"),
        "evaluate": ("patch classifiers (real, real + synthetic), image aggregation, threshold sweep, FID", None),
    },
    "reactkd": {
        "pipeline": ("preprocessing, dual teachers, students, robustness, decision curves", None),
        "train": ("the PET+CT and low-dose CT teachers", "train"),
        "distill": ("the students (focal, logits KD, REACT-KD)", "distill"),
        "evaluate": ("metrics with modalities removed and at lower doses, decision curves", None),
    },
}
TITLES = {"disc": "DISC: separated-conditions diffusion for multi-label masks",
          "ssl": "SSL-guided latent diffusion with patch -> image aggregation",
          "reactkd": "REACT-KD: 3D CT/PET dual-teacher region-graph distillation"}


def register_papers(esub: argparse._SubParsersAction) -> None:
    """Add ``disc``, ``ssl`` and ``reactkd`` under ``readerstudy engine``."""
    for method, actions in ACTIONS.items():
        mp = esub.add_parser(method, help=TITLES[method])
        msub = mp.add_subparsers(dest="paper_action", metavar="ACTION", required=True)
        for action, (text, stage) in actions.items():
            sp = msub.add_parser(action, help=text)
            _common(sp, method)
            sp.set_defaults(func=_run, method=method, stage=stage)
        if method == "disc":
            sp = msub.add_parser("sample", help="images from a trained run (vanilla or SC) for tile masks or a mask PNG")
            sp.add_argument("--out", type=Path, required=True, help="the run folder (its checkpoints)")
            sp.add_argument("--model", choices=("sd", "sd_disc", "sd_disc_cotrain"), default="sd")
            sp.add_argument("--mode", choices=("vanilla", "sc"), default="vanilla")
            sp.add_argument("--count", type=int, default=8)
            sp.add_argument("--seed", type=int, default=0)
            sp.add_argument("--steps", type=int, default=50, help="DDIM steps (paper: 200)")
            sp.add_argument("--mask", type=Path, default=None, help="label PNG (values 0-4); default: tile masks")
            sp.add_argument("--device", default="cpu")
            sp.set_defaults(func=_disc_sample)


def _common(sp: argparse.ArgumentParser, method: str) -> None:
    add_db_argument(sp)
    sp.add_argument("--study", default=None, help="train on this study's cases (needs --db)"
                    if method != "reactkd" else argparse.SUPPRESS)
    if method == "ssl":
        sp.add_argument("--data", type=Path, default=None,
                        help="BUSI-style folder with benign/ and malignant/ (default: the demo images)")
    sp.add_argument("--preset", choices=("tiny", "default", "paper"), default="default")
    sp.add_argument("--out", type=Path, required=True, help="output folder (rerun to resume)")
    sp.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--progress", choices=("bar", "jsonl", "none"), default="bar",
                    help="progress as a bar, as JSON lines on stdout (for the GUI), or none")


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services.auth import local_session
    from readerstudy.services.engine_papers import run_paper
    from readerstudy.services.job_child import JobReporter

    study = getattr(args, "study", None)
    ctx = None
    if study is not None:
        from readerstudy.services.context import open_context

        ctx = open_context(args.db)
    reporter = JobReporter(args.progress)
    progress, done = reporter.progress, reporter.close
    try:
        out = run_paper(args.method, preset=args.preset, out_dir=args.out, device=args.device, seed=args.seed,
                        progress=progress, stop_after=args.stage, ctx=ctx, study=study, session=local_session("engine"),
                        data_dir=getattr(args, "data", None))
    finally:
        done()
        if ctx is not None:
            ctx.close()
    result = out["result"]
    if result.metrics_path is None:
        print(f"{args.method} {args.stage} done; checkpoints: {', '.join(sorted(result.checkpoints))} in {args.out}")
        if result.grids:
            print(f"grids: {', '.join(str(g) for g in result.grids)}")
        return 0
    print(f"metrics: {result.metrics_path}; grids: {', '.join(str(g) for g in result.grids)}")
    for line in _summary(args.method, result.metrics, out.get("decision_curves")):
        print(f"  {line}")
    return 0


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _summary(method: str, m: dict, dca: dict | None) -> list[str]:
    if method == "disc":
        lines = ["seconds per image: " + ", ".join(f"{k} {v:.3f}" for k, v in m["seconds_per_image"].items())
                 + f" (SC / vanilla {m['sc_cost_vs_vanilla']:.2f}x)"]
        lines += [f"tumour-label Dice {k}: {_fmt(v['mean_dice_focus'])}" for k, v in m["fidelity"].items()]
        lines += [f"{k}: grade-presence macro AUC {_fmt(v['test_auc']['macro'])}" for k, v in m["classifiers"].items()]
        return lines
    if method == "ssl":
        lines = []
        for k, r in m["classifiers"].items():
            a = r["image_at_threshold"]
            lines.append(f"classifier {k}: patch AUC {_fmt(r['patch_auc'])}, image AUC {_fmt(r['image_auc_mean_prob'])}, "
                         f"at mean > {a['threshold']:g}: acc {_fmt(a['accuracy'])} sens {_fmt(a['sensitivity'])} "
                         f"spec {_fmt(a['specificity'])}")
        f = m["fid"]
        lines.append(f"FID (own-encoder features) real vs synthetic {f['real_train_vs_synthetic']:.3f}, "
                     f"real train vs real test {f['real_train_vs_real_test']:.3f}")
        return lines
    lines = [f"{k} (CT+PET): F1 {_fmt(v['ct+pet']['f1'])}, AUC {_fmt(v['ct+pet']['auc_ovr'])}"
             for k, v in m["results"].items() if "ct+pet" in v]
    if dca:
        lines.append(f"decision curves: {dca.get('figure', '')} ({', '.join(dca['events'])})")
    return lines


def _disc_sample(args: argparse.Namespace) -> int:
    from readerstudy.services.engine_papers import sample_disc

    paths = sample_disc(args.out, model=args.model, mode=args.mode, count=args.count, seed=args.seed,
                        steps=args.steps, mask_png=args.mask, device=args.device)
    print(json.dumps({"images": [str(p) for p in paths[:-1]], "grid": str(paths[-1])}))
    return 0
