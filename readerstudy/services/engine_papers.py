"""Use cases for the DISC, SSL-guided and REACT-KD engines (``engine/`` never sees the database).

* :func:`run_paper` runs one paper's pipeline (or its stages) on its demo data, on a study's cases
  (DISC, SSL) or on a BUSI-style folder (SSL), mapping the engine's cancellation to the app's.
* :func:`decision_curves` computes REACT-KD's decision-curve analysis from ``metrics.json`` with
  :func:`readerstudy.stats.net_benefit` (the engine does not import the app's statistics) and
  draws it.
* :func:`sample_disc` generates images from a trained DISC run (vanilla or SC).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from readerstudy.core.errors import Cancelled, NotFoundError, PermissionDenied, ValidationError
from readerstudy.services.auth import UserSession, require_study
from readerstudy.services.context import AppContext
from readerstudy.services.engine_adapter import engine_cases
from readerstudy.stats import net_benefit

METHODS = ("disc", "ssl", "reactkd")
DEFAULT_BUSI = Path(__file__).resolve().parents[2] / "resources" / "demo" / "busi"
#: Decision-curve events of REACT-KD: name -> grade classes counted as the event.
DCA_EVENTS = {"poorly_differentiated": (2,), "moderate_or_poor": (1, 2)}


def _disc_from_study(ctx: AppContext, study: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and integer label masks of a study's annotated cases, at ``size`` (labels 0-4)."""
    import torch
    import torch.nn.functional as F

    from engine.data.tensors import resize_image
    from readerstudy.imaging.nifti import read_nifti
    from readerstudy.services.engine_adapter import _grey01, _middle

    imgs, labs = [], []
    with ctx.uow() as uow:
        st = uow.studies.by_name(study)
        items = []
        for c in uow.cases.list(st.id):
            anns = sorted(uow.annotations.list(c.id), key=lambda a: a.created_at)
            if anns:
                items.append((uow.assets.image(c.id), anns[-1]))
    for asset, ann in items:
        mask = np.asarray(_middle(read_nifti(ctx.store.path(ann.path))[0])).astype(np.int64)
        if mask.min() < 0 or mask.max() > 4:
            raise ValidationError(f"DISC needs masks with labels 0-4 (background, liver, tumour grades); "
                                  f"study {study!r} has a mask with labels up to {int(mask.max())}.")
        imgs.append(resize_image(_grey01(_middle(ctx.store.load_array(asset.path, mmap=True))), size)[0].numpy())
        lab = F.interpolate(torch.from_numpy(mask)[None, None].float(), size=(size, size), mode="nearest")
        labs.append(lab[0, 0].numpy().astype(np.uint8))
    if len(imgs) < 4:
        raise ValidationError(f"Study {study!r} has {len(imgs)} annotated cases; DISC needs at least 4.")
    return np.stack(imgs), np.stack(labs)


def _ssl_cases(ctx: AppContext | None, session: UserSession | None, study: str | None, data_dir: Path | None,
               seed: int, limit: int | None):
    from engine.data.cases import load_busi, split_cases

    if study is not None:
        return engine_cases(ctx, session, study, test_fraction=0.25, seed=seed)
    root = Path(data_dir) if data_dir is not None else DEFAULT_BUSI
    if not root.is_dir():
        raise NotFoundError(f"No image folder {root}; give --data DIR with benign/ and malignant/ subfolders.")
    try:
        cases = load_busi(root, limit_per_class=limit)
    except (FileNotFoundError, ValueError) as exc:
        raise ValidationError(f"Cannot read {root}: {exc}") from exc
    return split_cases(cases, test_fraction=0.25, seed=seed)


def run_paper(method: str, *, preset: str, out_dir: Path, device: str = "cpu", seed: int = 0,
              progress=None, cancel=None, stop_after: str | None = None, ctx: AppContext | None = None,
              study: str | None = None, data_dir: Path | None = None,
              session: UserSession | None = None) -> dict[str, Any]:
    """Run ``method``'s pipeline; returns ``{"result": <engine result>, "decision_curves": ...}``.

    ``study`` (with ``ctx``) takes the training data from a study (DISC: annotated multi-label
    masks; SSL: images with ground truth); ``data_dir`` is a BUSI-style folder for SSL. REACT-KD
    trains on the engine's 3D phantom only.
    """
    from engine.progress import Cancelled as EngineCancelled

    if method not in METHODS:
        raise ValidationError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if study is not None and ctx is None:
        raise ValidationError("a study needs a database (--db)")
    if study is not None:  # the study's data (and ground truth): its coordinator, or the CLI's local session
        if session is None:
            raise PermissionDenied("Training on a study's data needs a signed-in coordinator's session.")
        require_study(session, study, "training a model on a study's data")
    try:
        if method == "disc":
            from engine.pipelines.disc_run import run_disc_pipeline
            from engine.presets_papers import get_paper_preset

            data = _disc_from_study(ctx, study, get_paper_preset("disc", preset).image_size) if study else None
            if data is not None:
                preset = get_paper_preset("disc", preset, n_train=int(round(0.75 * len(data[0]))))
            result = run_disc_pipeline(preset=preset, out_dir=out_dir, device=device, seed=seed, data=data,
                                       progress=progress, cancel=cancel, stop_after=stop_after)
        elif method == "ssl":
            from engine.pipelines.ssl_run import run_ssl_pipeline
            from engine.presets_papers import get_paper_preset

            limit = get_paper_preset("ssl", preset).limit_per_class
            cases = _ssl_cases(ctx, session, study, data_dir, seed, limit)
            result = run_ssl_pipeline(cases, preset=preset, out_dir=out_dir, device=device, seed=seed,
                                      progress=progress, cancel=cancel, stop_after=stop_after)
        else:
            if study is not None or data_dir is not None:
                raise ValidationError("REACT-KD trains on the engine's graded 3D CT/PET phantom; "
                                      "--study and --data are not supported for reactkd.")
            from engine.pipelines.reactkd_run import run_reactkd_pipeline

            result = run_reactkd_pipeline(preset=preset, out_dir=out_dir, device=device, seed=seed,
                                          progress=progress, cancel=cancel, stop_after=stop_after)
    except EngineCancelled as exc:
        raise Cancelled(f"Training cancelled: {exc}. Run the same command again to resume.") from exc
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    dca = None
    if method == "reactkd" and result.metrics_path is not None:
        dca = decision_curves(result.metrics_path, Path(out_dir) / "decision_curves.png")
    return {"result": result, "decision_curves": dca}


def decision_curves(metrics_path: Path, png: Path | None = None,
                    thresholds: np.ndarray | None = None) -> dict[str, Any]:
    """Net benefit of every model of a REACT-KD ``metrics.json`` for the events of :data:`DCA_EVENTS`.

    The risk of an event is the sum of the model's probabilities of its classes. Writes the
    curves into ``metrics.json`` (key ``decision_curves``) and, with ``png``, a figure.
    """
    doc = json.loads(Path(metrics_path).read_text())
    y = np.asarray(doc["test_labels"])
    th = np.round(np.arange(0.05, 0.96, 0.05), 2) if thresholds is None else np.asarray(thresholds)
    out: dict[str, Any] = {"thresholds": th.tolist(), "events": {}}
    for event, classes in DCA_EVENTS.items():
        truth = np.isin(y, classes).astype(int)
        curves: dict[str, Any] = {}
        for model, probs in doc["probabilities"].items():
            risk = np.clip(np.asarray(probs)[:, list(classes)].sum(1), 0.0, 1.0)
            nb = net_benefit(truth, risk, th)
            curves[model] = [float(v) for v in nb.model]
            curves["treat_all"] = [float(v) for v in nb.treat_all]
        curves["treat_none"] = [0.0] * len(th)
        out["events"][event] = curves
    doc["decision_curves"] = out
    Path(metrics_path).write_text(json.dumps(doc, indent=2, allow_nan=True))
    if png is not None:
        _plot_dca(out, png)
        out["figure"] = str(png)
    return out


def _plot_dca(dca: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = list(dca["events"])
    fig, axes = plt.subplots(1, len(events), figsize=(5.2 * len(events), 4.0))
    for ax, event in zip(np.atleast_1d(axes), events, strict=True):
        for name, nb in dca["events"][event].items():
            style = {"treat_all": dict(color="grey", ls="--"), "treat_none": dict(color="black", ls=":")}.get(name, {})
            ax.plot(dca["thresholds"], nb, label=name, **style)
        ax.set_ylim(-0.1, max(0.1, max(max(v) for v in dca["events"][event].values()) + 0.05))
        ax.set_xlabel("threshold probability")
        ax.set_ylabel("net benefit")
        ax.set_title(event.replace("_", " "))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def sample_disc(out_dir: Path, *, model: str, mode: str, count: int, seed: int, steps: int | None = None,
                mask_png: Path | None = None, device: str = "cpu") -> list[Path]:
    """Generate ``count`` images from a trained DISC run folder; returns the PNG paths."""
    from PIL import Image

    from engine.data.phantom import make_slices
    from engine.data.tile_masks import sample_tile_masks, to_shape_mask
    from engine.pipelines.disc import DISCPipeline
    from engine.pipelines.paper_grids import colour_labels, save_tile_grid

    gen_dir, unet_dir = Path(out_dir) / "checkpoints" / "generator", Path(out_dir) / "checkpoints" / model
    if not unet_dir.is_dir() or not gen_dir.is_dir():
        raise NotFoundError(f"No trained {model!r} in {out_dir}; run 'engine disc train' (and 'distill') first.")
    pipe = DISCPipeline.from_pretrained(gen_dir, device, unet_dir=unet_dir)
    size = int(pipe.unet.config.image_size)
    if mask_png is not None:
        with Image.open(mask_png) as im:
            lab = np.asarray(im.convert("L").resize((size, size), Image.NEAREST)).astype(np.uint8)
        if lab.max() >= pipe.unet.config.num_labels:
            raise ValidationError(f"mask labels must lie in 0..{pipe.unet.config.num_labels - 1}, got {lab.max()}")
        masks = np.repeat(lab[None], count, 0)
    else:
        _, labels = make_slices(64, size)
        masks = sample_tile_masks([to_shape_mask(m, (2, 3, 4)) for m in labels], count, (2, 3, 4),
                                  np.random.default_rng(seed))
    imgs = pipe(masks, seeds=[seed + i for i in range(count)], mode=mode, num_inference_steps=steps or 50)
    folder = Path(out_dir) / f"samples_{model}_{mode}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(imgs):
        paths.append(folder / f"{seed + i:06d}.png")
        Image.fromarray((im * 255).round().astype(np.uint8)).save(paths[-1])
    paths.append(save_tile_grid([[colour_labels(m), im] for m, im in zip(masks, imgs, strict=True)],
                                folder / "grid.png", ["mask", f"{model} {mode}"]))
    return paths
