"""The whole REACT-KD pipeline on deterministic 3D CT/PET phantoms (or preprocessed cases passed in).

Stages (``stop_after``; rerunning the same ``out_dir`` resumes):

1. ``train``: phantoms (``3 * n_per_grade``, grades balanced) -> SimpleITK preprocessing ->
   stratified split; low-dose CT by sinogram noise; the PET+CT teacher and the low-dose CT teacher
   (focal loss with class weights 1.5/1.0/2.0).
2. ``distill``: the students of ``ablations`` under modality dropout, the teachers' CBAM3D shared
   (copied in, frozen): focal only, + logits KD, + region-graph distillation (REACT-KD).
3. ``evaluate``: macro accuracy/precision/recall/F1/OvR AUC with both modalities, with PET or CT
   removed, and with the CT at lower doses; test probabilities for decision curves (computed by
   the app's statistics, not here); a picture of test cases with the student's activation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.data.phantom import GRADES, ct_window, make_volume
from engine.data.preprocess3d import PreprocessedCase, ct_zscore, preprocess_case, simulate_low_dose
from engine.metrics.classification import multiclass_report
from engine.models.react3d import ReactStudent3D, ReactTeacher3D
from engine.pipelines.paper_grids import outline_labels, save_tile_grid
from engine.pipelines.paper_run import StageRunner, write_metrics
from engine.presets_papers import ReactPreset, get_paper_preset
from engine.progress import CancelToken, ProgressCallback, check_cancel
from engine.training.react import StudentLoss, VolumeSet, distill_student3d, predict_proba3d, train_teacher3d

__all__ = ["run_reactkd_pipeline", "ReactResult", "STAGES", "ABLATIONS", "prepare_cases"]

STAGES = ("train", "distill", "evaluate")
#: Ablation -> (teachers used, KD on, RGD on, CBAM3D on).
ABLATIONS = {
    "student_focal": ((), False, False, True),
    "student_logits_kd": (("teacher_petct", "teacher_ldct"), True, False, True),
    "student_react_kd": (("teacher_petct", "teacher_ldct"), True, True, True),
    "student_no_dose_teacher": (("teacher_petct",), True, True, True),
    "student_no_cbam": (("teacher_petct", "teacher_ldct"), True, True, False),
}
_INPUTS = {"teacher_petct": "petct", "teacher_ldct": "ldct"}


@dataclass
class ReactResult:
    out_dir: Path
    metrics_path: Path | None
    metrics: dict = field(default_factory=dict)
    grids: list[Path] = field(default_factory=list)
    checkpoints: dict[str, str] = field(default_factory=dict)


def prepare_cases(p: ReactPreset, progress=None, cancel: CancelToken | None = None) -> list[PreprocessedCase]:
    """The preset's phantoms, preprocessed (deterministic)."""
    out = []
    n = 3 * p.n_per_grade
    for i in range(n):
        check_cancel(cancel, "preprocessing")
        ph = make_volume(i, p.phantom_shape)
        out.append(preprocess_case(ph.ct, ph.pet, ph.mask, ph.spacing, ph.grade, size=p.volume_size,
                                   hu_window=p.hu_window))
        if progress:
            progress(i + 1, n, f"preprocessed {i + 1}/{n} volumes")
    return out


def _split(cases: list[PreprocessedCase], frac: float, seed: int) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for g in range(3):
        idx = [i for i, c in enumerate(cases) if c.grade == g]
        order = rng.permutation(len(idx))
        k = max(1, int(round(frac * len(idx))))
        test += [idx[j] for j in order[:k]]
        train += [idx[j] for j in order[k:]]
    return sorted(train), sorted(test)


def _volumes(cases, idx, p: ReactPreset, stats, dose: float, rng) -> VolumeSet:
    mean, std = stats

    def norm(hu):
        return torch.from_numpy(((np.clip(hu, *p.hu_window) - mean) / std).astype(np.float32))[None]

    sel = [cases[i] for i in idx]
    ld = [simulate_low_dose(c.ct_hu, c.spacing, dose, rng, angles=p.sinogram_angles) for c in sel]
    rois = [torch.from_numpy(np.stack([c.liver, *c.tumours]).astype(np.float32)) for c in sel]
    return VolumeSet(torch.stack([norm(c.ct_hu) for c in sel]), torch.stack([torch.from_numpy(c.pet)[None] for c in sel]),
                     torch.stack([norm(v) for v in ld]), torch.tensor([c.grade for c in sel]), rois)


def _teachers(run: StageRunner, p: ReactPreset, tr: VolumeSet) -> dict[str, ReactTeacher3D]:
    out = {}
    for i, (name, kind) in enumerate(_INPUTS.items()):
        run.seeded(10 + i)
        model = ReactTeacher3D(in_channels=2 if kind == "petct" else 1, channels=p.teacher_channels).to(run.device)
        run.timed(name, train_teacher3d, model, torch.optim.AdamW(model.parameters(), lr=p.teacher_lr), tr, kind,
                  loop=run.loop(p.teacher_steps, p.teacher_batch, 10 + i), device=run.device, gamma=p.focal_gamma,
                  class_weights=p.class_weights, progress=run.stage_progress(name), cancel=run.cancel, name=name)
        run.save(name, model.eval())
        out[name] = model
    return out


def _students(run: StageRunner, p: ReactPreset, tr: VolumeSet, teachers) -> dict[str, ReactStudent3D]:
    out = {}
    for i, name in enumerate(p.ablations):
        used, kd, rgd, cbam = ABLATIONS[name]
        run.seeded(30 + i)
        st = ReactStudent3D(channels=p.student_channels, feature_channels=p.teacher_channels[-1],
                            use_cbam=cbam).to(run.device)
        if cbam:
            st.share_cbam(teachers["teacher_petct"])
        loss = StudentLoss(p.focal_gamma, p.class_weights, p.temperature, p.w_kd if kd else 0.0,
                           p.w_rgd if rgd else 0.0, p.w_node, p.w_edge, p.w_gw, p.gw_backend)
        params = [q for q in st.parameters() if q.requires_grad]
        run.timed(name, distill_student3d, st, torch.optim.AdamW(params, lr=p.student_lr), tr,
                  [(teachers[t], _INPUTS[t]) for t in used], loop=run.loop(p.student_steps, p.student_batch, 30 + i),
                  device=run.device, loss=loss, p_dropout=p.modality_dropout, progress=run.stage_progress(name),
                  cancel=run.cancel, name=name)
        run.save(name, st.eval())
        out[name] = st
    return out


def _conditions(te: VolumeSet, ld_by_dose: dict[float, torch.Tensor]) -> dict[str, torch.Tensor]:
    zeros = torch.zeros_like(te.pet)
    cond = {"ct+pet": torch.cat([te.ct, te.pet], 1), "ct_only": torch.cat([te.ct, zeros], 1),
            "pet_only": torch.cat([torch.zeros_like(te.ct), te.pet], 1)}
    for d, ld in ld_by_dose.items():
        cond[f"ct_dose{d:g}+pet"] = torch.cat([ld, te.pet], 1)
        cond[f"ct_dose{d:g}_only"] = torch.cat([ld, zeros], 1)
    return cond


def _evaluate_models(run, teachers, students, te: VolumeSet, ld_by_dose) -> tuple[dict, dict]:
    y = te.labels.numpy()
    results, probs = {}, {}
    for name, t in teachers.items():
        inputs = {"ct+pet": torch.cat([te.ct, te.pet], 1)} if name == "teacher_petct" else {
            f"ct_dose{d:g}": ld for d, ld in ld_by_dose.items()} | {"ct_native": te.ct}
        results[name] = {c: multiclass_report(y, predict_proba3d(t, x, run.device).numpy()) for c, x in inputs.items()}
    for name, s in students.items():
        results[name] = {}
        for c, x in _conditions(te, ld_by_dose).items():
            pr = predict_proba3d(s, x, run.device).numpy()
            results[name][c] = multiclass_report(y, pr)
            if c == "ct+pet":
                probs[name] = pr.tolist()
    probs["teacher_petct"] = predict_proba3d(teachers["teacher_petct"], torch.cat([te.ct, te.pet], 1), run.device).tolist()
    return results, probs


@torch.no_grad()
def _grid(run: StageRunner, cases, test_idx, te: VolumeSet, ld: torch.Tensor, student, p: ReactPreset) -> Path:
    rows = []
    for g in range(3):
        j = next((k for k, i in enumerate(test_idx) if cases[i].grade == g), None)
        if j is None:
            continue
        c = cases[test_idx[j]]
        tum = sum(t.astype(np.int64) for t in c.tumours) if c.tumours else np.zeros_like(c.liver, dtype=np.int64)
        z = int(np.argmax(tum.sum((1, 2)))) if c.tumours else p.volume_size // 2
        fmap = student.feature_map(torch.cat([te.ct[j:j + 1], te.pet[j:j + 1]], 1).to(run.device))
        act = F.interpolate(fmap.mean(1, keepdim=True), size=c.liver.shape, mode="trilinear")[0, 0, z].cpu().numpy()
        act = (act - act.min()) / max(float(np.ptp(act)), 1e-6)
        labels = c.liver[z].astype(np.uint8) + 3 * (tum[z] > 0)
        pet = np.clip((c.pet[z] - c.pet.min()) / max(float(np.ptp(c.pet)), 1e-6), 0, 1)
        rows.append([ct_window(c.ct_hu[z]), pet, outline_labels(ct_window(c.ct_hu[z]), labels, (0,)),
                     np.clip((ld[j, 0, z].numpy() + 2) / 4, 0, 1), act])
    return save_tile_grid(rows, run.out / "cases_test.png",
                          ["CT", "PET", "ROIs", "low-dose CT", "student act."], scale=4)


def run_reactkd_pipeline(*, preset: str | ReactPreset = "default", out_dir: str | Path, device="cpu", seed: int = 0,
                         cases: list[PreprocessedCase] | None = None, progress: ProgressCallback | None = None,
                         cancel: CancelToken | None = None, stop_after: str | None = None) -> ReactResult:
    """Train and evaluate REACT-KD; see the module docstring.

    Parameters
    ----------
    preset
        ``tiny`` / ``default`` / ``paper`` or a :class:`~engine.presets_papers.ReactPreset`.
    cases
        Preprocessed cases (:func:`engine.data.preprocess3d.preprocess_case`) at the preset's
        ``volume_size``; default: the preset's phantoms (:func:`prepare_cases`).
    stop_after
        One of :data:`STAGES`.
    """
    if stop_after is not None and stop_after not in STAGES:
        raise ValueError(f"stop_after must be one of {STAGES}, not {stop_after!r}")
    p = get_paper_preset("reactkd", preset)
    unknown = set(p.ablations) - set(ABLATIONS)
    if unknown:
        raise ValueError(f"unknown ablations {sorted(unknown)}; choose from {sorted(ABLATIONS)}")
    if p.num_threads:
        torch.set_num_threads(p.num_threads)
    run = StageRunner(out_dir, device, seed, progress, cancel)
    cases = cases if cases is not None else run.timed("preprocessing", prepare_cases, p,
                                                         run.stage_progress("preprocessing"), cancel)
    if {c.grade for c in cases} != {0, 1, 2}:
        raise ValueError("REACT-KD needs cases of all three grades")
    train_idx, test_idx = _split(cases, p.test_fraction, seed)
    stats = ct_zscore([np.clip(cases[i].ct_hu, *p.hu_window) for i in train_idx])
    rng = np.random.default_rng(seed + 7)
    tr = run.timed("low_dose_train", _volumes, cases, train_idx, p, stats, p.train_dose, rng)
    teachers = _teachers(run, p, tr)
    if stop_after == "train":
        return ReactResult(run.out, None, {}, [], dict(run.ckpt))
    students = _students(run, p, tr, teachers)
    if stop_after == "distill":
        return ReactResult(run.out, None, {}, [], dict(run.ckpt))
    te = _volumes(cases, test_idx, p, stats, 1.0, rng)
    ld_by_dose = {}
    for d in p.eval_doses:
        if d < 1:
            ld_by_dose[d] = run.timed("low_dose_test", _volumes, cases, test_idx, p, stats, d,
                                      np.random.default_rng(seed + int(d * 1000))).ldct
    results, probs = _evaluate_models(run, teachers, students, te, ld_by_dose)
    main = "student_react_kd" if "student_react_kd" in students else next(iter(students))
    grids = [_grid(run, cases, test_idx, te, ld_by_dose.get(p.train_dose, te.ct), students[main], p)]
    n_params = {k: sum(q.numel() for q in m.parameters()) for k, m in {**teachers, **students}.items()}
    doc = {"method": "REACT-KD", "preset": p.name, "device": str(run.device), "seed": seed,
           "volume_size": p.volume_size, "classes": list(GRADES), "n_train": len(train_idx), "n_test": len(test_idx),
           "train_grades": np.bincount([cases[i].grade for i in train_idx], minlength=3).tolist(),
           "ct_zscore": {"mean": stats[0], "std": stats[1]}, "hu_window": list(p.hu_window),
           "train_dose": p.train_dose, "eval_doses": list(p.eval_doses), "modality_dropout": p.modality_dropout,
           "gw_backend": p.gw_backend, "parameters": n_params, "results": results,
           "test_labels": te.labels.tolist(), "probabilities": probs,
           "timings_s": {**run.timings, "total": run.total()}, "checkpoints": dict(run.ckpt),
           "grids": [str(g) for g in grids]}
    path = write_metrics(run.out / "metrics.json", doc)
    run.progress(1, 1, f"done in {run.timings['total']:.0f} s")
    return ReactResult(run.out, path, doc, grids, dict(run.ckpt))
