"""The whole DiffKD-DCIS pipeline: VAE -> LDM -> synthesis -> teachers -> students -> metrics.

Entry point: :func:`run_pipeline`. Order of stages (the real-only teacher comes first because the
US-VAE's perceptual loss and the FMS metric need a trained teacher's features):

1. ``teacher_real``: teacher on the real training images.
2. US-VAE with L1 + beta*KL + perceptual (``teacher_real`` features); latent scaling = 1/std.
3. Conditional LDM on the training latents (class + mask + text, 10 % condition dropout).
4. Synthesis: per training case, ``synth_per_negative`` / ``synth_per_positive`` images with the
   case's own mask, label and prompt; PSNR/SSIM/MSE/FMS against the real image; sample grids.
5. The ablations of the paper's Tables 3/4 (see :data:`engine.presets.ABLATIONS`).
6. Test-set probabilities for every teacher and student, written to ``metrics.json``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.data.cases import Case
from engine.data.tensors import cases_to_tensors
from engine.metrics.image import (
    feature_matching_score,
    label_agreement,
    mean_feature,
    pair_metrics,
    summarize,
)
from engine.models import USVAE, ConditionalLatentUNet, ConvClassifier, TextEmbedder
from engine.models.classifier_cnn import student_config, teacher_config
from engine.pipelines.generation import GenerationPipeline
from engine.pipelines.grid import save_grid
from engine.presets import Preset, get_preset, unet_kwargs
from engine.progress import CancelToken, ProgressCallback, check_cancel, null_progress
from engine.training import (
    ImagePool,
    LoopConfig,
    distill_student,
    encode_latents,
    fit_scaling_factor,
    make_train_scheduler,
    predict_proba,
    train_classifier,
    train_ldm,
    train_vae,
)

__all__ = ["run_pipeline", "PipelineResult", "planned_stages", "STAGES"]

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` produced.

    Attributes
    ----------
    out_dir
        The output folder.
    metrics_path
        ``metrics.json`` (everything below, as JSON).
    grid_paths
        Sample grid PNGs (one row per case: real | synthetic variants).
    checkpoints
        Model name -> ``save_pretrained`` folder (``generator`` holds VAE + U-Net + scheduler).
    probabilities
        Model name (e.g. ``"student_full"``) -> {case_id: P(label 1)} on the test split.
    test_labels
        {case_id: label} of the test split.
    generation
        Summary (mean/std/n) of PSNR, SSIM, MSE, FMS of synthetic vs real, and VAE reconstruction.
    timings
        Stage name -> seconds.
    """

    out_dir: Path
    metrics_path: Path
    grid_paths: list[Path]
    checkpoints: dict[str, Path]
    probabilities: dict[str, dict[str, float]]
    test_labels: dict[str, int]
    generation: dict[str, dict]
    timings: dict[str, float] = field(default_factory=dict)


class _Run:
    """State shared by the stages of one pipeline run."""

    def __init__(self, cases, preset: Preset, out_dir: Path, device, seed, progress, cancel):
        self.p, self.out, self.device, self.seed = preset, out_dir, torch.device(device), seed
        self.progress, self.cancel = progress or null_progress, cancel
        self.train = [c for c in cases if c.split == "train"]
        self.test = [c for c in cases if c.split == "test"]
        self.timings: dict[str, float] = {}
        self.cpu_times: dict[str, float] = {}
        self.ckpt: dict[str, Path] = {}
        self.models: dict[str, ConvClassifier] = {}
        (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)

    def loop(self, name: str, steps: int, batch: int, offset: int) -> LoopConfig:
        return LoopConfig(steps=steps, batch_size=batch, seed=self.seed + offset,
                          checkpoint_dir=self.out / "train_state", checkpoint_every=self.p.checkpoint_every,
                          log_every=max(1, steps // 20))

    def stage_progress(self, name: str) -> ProgressCallback:
        def cb(step: int, total: int, message: str) -> None:
            self.progress(step, total, f"[{name}] {message}")
        return cb

    def timed(self, name: str, fn, *args, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        check_cancel(self.cancel, name)
        self.progress(0, 1, f"[{name}] starting")
        out = fn(*args, **kw)
        self.timings[name] = round(time.perf_counter() - t0, 2)
        self.cpu_times[name] = round(time.process_time() - c0, 2)
        log.info("stage %s: %.1f s", name, self.timings[name])
        return out

    def adam(self, model, lr):
        return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=self.p.weight_decay)

    def save(self, name: str, model) -> None:
        path = self.out / "checkpoints" / name
        model.save_pretrained(path)
        self.ckpt[name] = path


def _validate(cases: list[Case]) -> None:
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate case_id values in cases")
    train = [c for c in cases if c.split == "train"]
    test = [c for c in cases if c.split == "test"]
    for name, group in (("train", train), ("test", test)):
        if {c.label for c in group} != {0, 1}:
            raise ValueError(f"the {name} split needs cases of both labels (0 and 1)")
    straddling = sorted({c.group for c in train if c.group} & {c.group for c in test if c.group})
    if straddling:
        raise ValueError(f"near-duplicate groups {straddling[:5]} have cases in both train and test; "
                         "split with engine.data.split_cases so a group stays on one side")


def _split_doc(cases: list[Case]) -> dict:
    """How the held-out cases were chosen: cases and near-duplicate groups per side."""
    from engine.data.grouping import split_summary

    ids = [c.group or f"case:{c.case_id}" for c in cases]
    index = {g: i for i, g in enumerate(dict.fromkeys(ids))}
    return split_summary([index[g] for g in ids], [c.split == "test" for c in cases], [c.label for c in cases])


def _train_teacher(run: _Run, name: str, pool: ImagePool, augment: str, offset: int) -> ConvClassifier:
    torch.manual_seed(run.seed + offset)
    model = ConvClassifier(**teacher_config(run.p.image_size, run.p.classifier_head)).to(run.device)
    train_classifier(model, run.adam(model, run.p.clf_lr), pool, device=run.device, augment=augment,
                     balanced=run.p.clf_balanced,
                     loop=run.loop(name, run.p.teacher_steps, run.p.clf_batch, offset),
                     progress=run.stage_progress(name), cancel=run.cancel, name=name)
    run.save(name, model)
    run.models[name] = model
    return model


def _train_student(run: _Run, name: str, pool: ImagePool, teacher, augment: str, offset: int):
    torch.manual_seed(run.seed + offset)
    model = ConvClassifier(**student_config(run.p.image_size, run.p.classifier_head)).to(run.device)
    loop = run.loop(name, run.p.student_steps, run.p.clf_batch, offset)
    opt = run.adam(model, run.p.clf_lr)
    if teacher is None:
        train_classifier(model, opt, pool, loop=loop, device=run.device, augment=augment, balanced=run.p.clf_balanced,
                         progress=run.stage_progress(name), cancel=run.cancel, name=name)
    else:
        distill_student(model, teacher, opt, pool, loop=loop, device=run.device, augment=augment,
                        balanced=run.p.clf_balanced,
                        temperature=run.p.temperature, alpha=run.p.alpha,
                        progress=run.stage_progress(name), cancel=run.cancel, name=name)
    run.save(name, model)
    run.models[name] = model
    return model


def _train_generator(run: _Run, data: dict, text: TextEmbedder, teacher,
                     vae_only: bool = False) -> GenerationPipeline | None:
    p = run.p
    torch.manual_seed(run.seed + 10)
    vae = USVAE(image_size=p.image_size, **p.vae).to(run.device)
    run.timed("vae", train_vae, vae, torch.optim.Adam(vae.parameters(), lr=p.vae_lr), data["images"],
              loop=run.loop("vae", p.vae_steps, p.vae_batch, 10), device=run.device, beta=p.vae_beta,
              teacher=teacher, perceptual_weight=p.perceptual_weight, perceptual_blocks=p.perceptual_blocks,
              progress=run.stage_progress("vae"), cancel=run.cancel)
    fit_scaling_factor(vae, data["images"], run.device)
    if vae_only:
        run.save("vae", vae)
        return None
    emb = torch.as_tensor(text([c.prompt for c in run.train]))
    lat = encode_latents(vae, data["images"], data["masks"], data["labels"], emb, run.device,
                         cancel=run.cancel)
    torch.manual_seed(run.seed + 20)
    unet = ConditionalLatentUNet(latent_size=vae.latent_size, latent_channels=p.vae["latent_channels"],
                                 text_dim=text.dim, text_encoder=text.backend, **unet_kwargs(p)).to(run.device)
    sched = make_train_scheduler()
    opt = torch.optim.AdamW(unet.parameters(), lr=p.ldm_lr, weight_decay=p.weight_decay)
    run.timed("ldm", train_ldm, unet, opt, lat, loop=run.loop("ldm", p.ldm_steps, p.ldm_batch, 20),
              device=run.device, scheduler=sched, p_uncond=p.p_uncond,
              progress=run.stage_progress("ldm"), cancel=run.cancel)
    pipe = GenerationPipeline(vae, unet, sched, text, run.device)
    pipe.save_pretrained(run.out / "checkpoints" / "generator")
    run.ckpt["generator"] = run.out / "checkpoints" / "generator"
    return pipe


def _synthesize(run: _Run, pipe: GenerationPipeline) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Generate the per-case variants; returns (images, labels, owner case index per image)."""
    p = run.p
    owner = [i for i, c in enumerate(run.train)
             for _ in range(p.synth_per_positive if c.label == 1 else p.synth_per_negative)]
    seeds = [run.seed * 100_000 + k for k in range(len(owner))]
    imgs = pipe([run.train[i].mask for i in owner], [run.train[i].label for i in owner],
                [run.train[i].prompt for i in owner], seeds=seeds, num_inference_steps=p.sample_steps,
                guidance_scale=p.guidance_scale, sampler=p.sampler, strength=p.strength,
                init_images=[run.train[i].image for i in owner] if p.strength < 1 else None,
                batch_size=p.synth_batch, progress=run.stage_progress("synthesis"), cancel=run.cancel)
    labels = np.array([run.train[i].label for i in owner], dtype=np.int64)
    return imgs, labels, owner


def _generation_metrics(run: _Run, data: dict, syn: np.ndarray, owner: list[int], pipe, teacher) -> dict:
    real = data["images"][:, 0].numpy()
    labels = data["labels"].numpy()
    acc: dict[str, list[float]] = {"psnr": [], "ssim": [], "mse": [], "fms": [], "fms_centred": [],
                                   "fms_centred_other_real": []}
    owner_arr = np.asarray(owner)
    center = mean_feature(teacher, real, run.device)
    rng = np.random.default_rng(run.seed + 90)
    for i in range(len(run.train)):
        fakes = syn[owner_arr == i]
        if len(fakes) == 0:
            continue
        for k, v in pair_metrics(real[i], fakes).items():
            acc[k] += v
        acc["fms"] += feature_matching_score(teacher, real[i], fakes, run.device).tolist()
        acc["fms_centred"] += feature_matching_score(teacher, real[i], fakes, run.device, center).tolist()
        others = np.flatnonzero((labels == labels[i]) & (np.arange(len(real)) != i))
        if len(others):  # the baseline: another real image of the same label
            j = rng.choice(others, size=min(len(fakes), len(others)), replace=False)
            acc["fms_centred_other_real"] += feature_matching_score(teacher, real[i], real[j], run.device,
                                                                    center).tolist()
    out = {k: summarize(v).as_dict() for k, v in acc.items()}
    syn_labels = np.array([int(run.train[i].label) for i in owner])
    out["teacher_real_label_agreement"] = {"synthetic": label_agreement(teacher, syn, syn_labels, run.device),
                                           "real_train": label_agreement(teacher, real, labels, run.device)}
    # VAE reconstruction of held-out test images: how much the autoencoder alone loses.
    test_imgs = cases_to_tensors(run.test, run.p.image_size)["images"]
    with torch.no_grad():
        rec = torch.cat([pipe.vae.reconstruct(test_imgs[i:i + 16].to(run.device)).cpu()
                         for i in range(0, len(test_imgs), 16)])[:, 0].numpy()
    recon = {"psnr": [], "ssim": [], "mse": []}
    for a, b in zip(test_imgs[:, 0].numpy(), rec, strict=True):
        for k, v in pair_metrics(a, b[None]).items():
            recon[k] += v
    out["vae_reconstruction_test"] = {k: summarize(v).as_dict() for k, v in recon.items()}
    return out


def _mask_fidelity(run: _Run, pipe: GenerationPipeline, segmenter) -> dict:
    """Fidelity table (real, VAE, generator with own/shuffled/moved masks) on up to
    ``preset.fidelity_cases`` training cases (evenly spaced), without the per-case lists."""
    from engine.pipelines.fidelity import fidelity_table
    from engine.pipelines.segment import load_segmenter

    cases = [c for c in run.train if c.mask.any()]
    k = run.p.fidelity_cases
    if k <= 0 or len(cases) < 2:
        return {}
    cases = cases[:: max(1, len(cases) // k)][:k]
    seg = load_segmenter(segmenter, run.device) if segmenter is not None else None
    table = fidelity_table(cases, {"generator": pipe}, segmenter=seg, seed=run.seed, sampler=run.p.sampler,
                           steps=run.p.sample_steps, guidance_scale=run.p.guidance_scale,
                           progress=run.stage_progress("mask_fidelity"))
    table.pop("per_case")
    table["cases"] = "training cases (the generator saw these masks)"
    return table


def _grids(run: _Run, data: dict, syn: np.ndarray, owner: list[int]) -> list[Path]:
    owner_arr = np.asarray(owner)
    paths = []
    for label in (0, 1):
        idx = [i for i, c in enumerate(run.train) if c.label == label][: run.p.grid_cases]
        rows = [(run.train[i].case_id, data["images"][i, 0].numpy(), data["masks"][i, 0].numpy(),
                 syn[owner_arr == i]) for i in idx]
        path = run.out / f"samples_label{label}.png"
        save_grid(rows, path)
        paths.append(path)
    return paths


def _ablation_teachers(run: _Run, real: ImagePool, mixed: ImagePool) -> None:
    want = set(run.p.ablations)
    if want & {"teacher_real_syn", "full"}:
        run.timed("teacher_real_syn", _train_teacher, run, "teacher_real_syn", mixed, run.p.augment, 40)
    if "kd_classic_aug" in want:
        run.timed("teacher_classic_aug", _train_teacher, run, "teacher_classic_aug", real, "classic", 60)


def _ablation_students(run: _Run, real: ImagePool, mixed: ImagePool) -> None:
    want = set(run.p.ablations)
    if "student_no_kd" in want:
        run.timed("student_no_kd", _train_student, run, "student_no_kd", mixed, None, run.p.augment, 50)
    if "kd_classic_aug" in want:
        run.timed("student_kd_classic_aug", _train_student, run, "student_kd_classic_aug", real,
                  run.models["teacher_classic_aug"], "classic", 70)
    if "full" in want:
        run.timed("student_full", _train_student, run, "student_full", mixed,
                  run.models["teacher_real_syn"], run.p.augment, 80)


STAGES = ("train-vae", "train-ldm", "generate", "train-teacher", "distill")


def planned_stages(preset: str | Preset = "default", stop_after: str | None = None) -> list[str]:
    """Names of the progress stages :func:`run_pipeline` will report, in order (``[stage]`` prefixes).

    For a job's "stage k of n"; the names are those of :meth:`_Run.timed` and the final
    ``evaluation`` (or the ``stop_after`` stage name when the run stops early).
    """
    want = set(get_preset(preset).ablations)
    names = ["teacher_real", "vae"]
    if stop_after != "train-vae":
        names.append("ldm")
        if stop_after != "train-ldm":
            names += ["synthesis", "generation_metrics", "mask_fidelity"]
            if stop_after != "generate":
                names += [n for n, on in (("teacher_real_syn", bool(want & {"teacher_real_syn", "full"})),
                                          ("teacher_classic_aug", "kd_classic_aug" in want)) if on]
                if stop_after != "train-teacher":
                    names += [n for n, on in (("student_no_kd", "student_no_kd" in want),
                                              ("student_kd_classic_aug", "kd_classic_aug" in want),
                                              ("student_full", "full" in want)) if on]
    return [*names, stop_after or "evaluation"]


def run_pipeline(cases: list[Case], *, preset: str | Preset = "default", out_dir: str | Path,
                 device: str | torch.device = "cpu", seed: int = 0, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None, stop_after: str | None = None,
                 segmenter: str | Path | None = None) -> PipelineResult:
    """Train and evaluate DiffKD-DCIS on ``cases``; write everything under ``out_dir``.

    Parameters
    ----------
    cases
        :class:`engine.data.Case` records; ``split`` decides train/test. Both splits need both
        labels. Images are resized (bilinear, aspect not kept) to the preset's size.
    preset
        ``"tiny"``, ``"default"``, ``"paper"`` or a :class:`engine.presets.Preset`.
    out_dir
        Output folder: ``metrics.json``, ``samples_label{0,1}.png``, ``checkpoints/<model>/``
        (``save_pretrained`` folders) and ``train_state/`` (resumable loop checkpoints: calling
        again with the same ``out_dir`` resumes the training loops where they stopped).
    device, seed
        Torch device; base seed of every random draw.
    progress, cancel
        ``progress(step, total, message)`` callback and :class:`engine.progress.CancelToken`;
        cancelling raises :class:`engine.progress.Cancelled` between steps.
    stop_after
        One of :data:`STAGES` to run the pipeline up to that stage only (its checkpoints are
        written; a later call with the same ``out_dir`` resumes). The partial result has no
        probabilities and no ``metrics.json``.
    segmenter
        Optional lesion-segmenter folder (:class:`engine.models.segmenter.LesionSegmenter`): adds
        the Dice figures to the mask fidelity in ``metrics.json`` (``generation.mask_fidelity``).
    """
    if stop_after is not None and stop_after not in STAGES:
        raise ValueError(f"stop_after must be one of {STAGES}, not {stop_after!r}")
    p = get_preset(preset)
    _validate(cases)
    if p.num_threads:
        torch.set_num_threads(p.num_threads)
    out = Path(out_dir)
    run = _Run(cases, p, out, device, seed, progress, cancel)
    t_start, c_start = time.perf_counter(), time.process_time()
    data = cases_to_tensors(run.train, p.image_size)
    real = ImagePool(data["images"], data["labels"])
    teacher_real = run.timed("teacher_real", _train_teacher, run, "teacher_real", real, p.augment, 30)
    text = TextEmbedder(p.text_backend, str(run.device))

    def partial(grids: list[Path] | None = None, gen: dict | None = None) -> PipelineResult:
        run.progress(1, 1, f"[{stop_after}] stopped after {stop_after}")
        return PipelineResult(out, out / "metrics.json", grids or [], dict(run.ckpt), {}, {}, gen or {},
                              dict(run.timings))

    pipe = _train_generator(run, data, text, teacher_real, vae_only=stop_after == "train-vae")
    if pipe is None or stop_after == "train-ldm":
        return partial()
    syn, syn_labels, owner = run.timed("synthesis", _synthesize, run, pipe)
    gen = run.timed("generation_metrics", _generation_metrics, run, data, syn, owner, pipe, teacher_real)
    gen["mask_fidelity"] = run.timed("mask_fidelity", _mask_fidelity, run, pipe, segmenter)
    grids = _grids(run, data, syn, owner)
    if stop_after == "generate":
        return partial(grids, gen)
    mixed = ImagePool.concat(real, ImagePool(torch.from_numpy(syn)[:, None], torch.from_numpy(syn_labels),
                                             torch.ones(len(syn), dtype=torch.bool)))
    _ablation_teachers(run, real, mixed)
    if stop_after == "train-teacher":
        return partial(grids, gen)
    _ablation_students(run, real, mixed)
    test = cases_to_tensors(run.test, p.image_size)
    probs = {name: dict(zip([c.case_id for c in run.test],
                            predict_proba(m, test["images"], run.device).tolist(), strict=True))
             for name, m in run.models.items()}
    run.timings["total"] = round(time.perf_counter() - t_start, 2)
    run.cpu_times["total"] = round(time.process_time() - c_start, 2)
    result = PipelineResult(out, out / "metrics.json", grids, dict(run.ckpt), probs,
                            {c.case_id: int(c.label) for c in run.test}, gen, dict(run.timings))
    _write_metrics(result, p, run, len(syn), text.backend, device, seed, _split_doc(cases))
    run.progress(1, 1, f"[evaluation] done: {len(run.models)} models on {len(run.test)} held-out cases; "
                       f"training took {run.timings['total']:.0f} s")
    return result


def _preset_fields(p: Preset) -> dict:
    """Every field of the preset actually used, and which ones differ from the named preset."""
    from dataclasses import asdict

    from engine.presets import PRESETS

    fields = asdict(p)
    base = PRESETS.get(p.name)
    changed = sorted(k for k, v in fields.items() if base is not None and asdict(base)[k] != v)
    return {"values": fields, "changed_from_named_preset": changed}


def _write_metrics(result: PipelineResult, p: Preset, run: _Run, n_syn: int, backend: str, device, seed,
                   split: dict) -> None:
    doc = {
        "preset": p.name, "preset_fields": _preset_fields(p), "image_size": p.image_size, "device": str(device),
        "seed": seed,
        "text_backend": backend, "n_train": len(run.train), "n_test": len(run.test), "split": split,
        "n_synthetic": n_syn, "sampler": p.sampler, "sample_steps": p.sample_steps,
        "guidance_scale": p.guidance_scale, "strength": p.strength,
        "generation": result.generation,
        "test_labels": result.test_labels,
        "probabilities": result.probabilities,
        "timings_s": result.timings,
        "cpu_times_s": run.cpu_times,
        "torch_threads": torch.get_num_threads(),
        "checkpoints": {k: str(v) for k, v in result.checkpoints.items()},
        "grids": [str(g) for g in result.grid_paths],
    }
    result.metrics_path.write_text(json.dumps(doc, indent=2, allow_nan=True))
