"""Reader studies of synthetic images: real and accepted synthetic images mixed blind.

A *realism study* is an ordinary study (same reading window, same pseudonymised case view) whose
cases are the accepted :class:`SyntheticImage` rows of a source study plus the real images of the
same source cases, resized to the generator's size, so size and resolution give nothing away.
Its ground truth is the image's origin: ``truth = 1`` synthetic, ``0`` real. Readers answer
with the standard form renamed by the protocol's ``[form]`` (``resources/protocols/realism.toml``):
the binary call "Synthetic" (1) / "Real" (0), the probability that the image is synthetic
(0-100), the confidence in that call, and a ``realism`` Likert question (1 = clearly synthetic
... 5 = indistinguishable from a real image). The standard call carries "real or synthetic?"
rather than a separate ``single`` question because it is required on every read, gives the report's
accuracy, kappa and (with the probability) the ROC curve unchanged, and keeps the form to one call.

The origin of each case (real or synthetic, the lesion class, the generator's checkpoint hash and
the source row) is kept in the case's ``source_ref`` (``"<origin>:<class>:<generator>:<ref>"``),
which only coordinators read; no provenance reaches a reader (``tests/services/test_reading_blinding.py``).

The design is the visual Turing test of synthetic medical images (Chuquicusma et al. 2018, IEEE
ISBI, lung nodules; Park et al. 2021, JMIR Med Inform 9:e23328, body CT): real and synthetic images
shown blind in one random order, each called real or synthetic. The report section
(:func:`readerstudy.reports.realism.realism_tables`) gives each reader's accuracy at telling them
apart with Wilson CIs, the AUC of their "synthetic" probability (DeLong), realism by origin,
generator and class, and agreement between readers (Fleiss' kappa).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from readerstudy.core.errors import PermissionDenied, ValidationError

if TYPE_CHECKING:
    from readerstudy.core.protocol import Protocol
    from readerstudy.services.auth import UserSession
    from readerstudy.services.context import AppContext

__all__ = ["ORIGINS", "RealismBuild", "build_realism_study", "create_realism_study", "origin_ref", "parse_origin"]

ORIGINS = ("real", "synthetic")
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RealismBuild:
    """What :func:`build_realism_study` made: the new study, and how many cases of each origin."""

    study: str
    real: int
    synthetic: int
    image_size: int


def origin_ref(origin: str, class_label: int | None, generator: str, ref: str) -> str:
    """The ``source_ref`` of a realism-study case: ``"<origin>:<class>:<generator>:<ref>"``.

    ``origin`` is "real" or "synthetic"; ``generator`` is the generator's checkpoint sha256 (12 hex
    digits kept; for real images the generator whose size they were resized to); ``ref`` names the
    source row (the synthetic image id, or the real case's pseudonym in the source study).
    """
    if origin not in ORIGINS:
        raise ValidationError(f"origin must be one of {ORIGINS}, not {origin!r}")
    cls = "" if class_label is None else str(int(class_label))
    return f"{origin}:{cls}:{generator[:12]}:{ref}"


def parse_origin(source_ref: str) -> dict[str, Any] | None:
    """``{"origin", "class_label", "generator", "ref"}`` of a realism-study case, or None for any other case."""
    parts = str(source_ref).split(":", 3)
    if len(parts) != 4 or parts[0] not in ORIGINS:
        return None
    cls = int(parts[1]) if parts[1].isdigit() else None
    return {"origin": parts[0], "class_label": cls, "generator": parts[2], "ref": parts[3]}


def _grey01(pixels: np.ndarray) -> np.ndarray:
    """A stored 2-D image in [0, 1] the way the generator saw its training images (8-bit / 255)."""
    a = np.asarray(pixels, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] == 1:  # a 2-D image is stored as one frame (1, H, W)
        a = a[0]
    if a.ndim != 2:
        raise ValidationError("Realism studies take 2-D images; this source case is a volume.")
    if np.asarray(pixels).dtype == np.uint8:
        return a / 255.0
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _write_png(path: Path, img01: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(np.clip(np.rint(img01 * 255.0), 0, 255).astype(np.uint8), mode="L").save(path)
    return path


def _sources(ctx: AppContext, session: UserSession, source_study: str, folder: Path,
             seed: int) -> tuple[list[Any], int]:
    """The CaseSources of the new study (synthetic images and their real cases, shuffled) and the image size."""
    from engine.data.tensors import resize_image
    from readerstudy.services.browse import case_image, study_cases
    from readerstudy.services.import_sources import CaseSource

    rows = [(c.case, s) for c in study_cases(ctx, session, source_study) for s in _accepted(ctx, c.case.id)]
    if not rows:
        raise ValidationError(f"Study {source_study!r} has no accepted synthetic images: generate variants in the "
                              "annotation window and accept some first.")
    items: list[tuple[str, np.ndarray, int, str]] = []  # (source_ref, image in [0, 1], truth, modality)
    for case, syn in rows:
        img = _grey01(_png(ctx, syn["path"]))
        items.append((origin_ref("synthetic", syn["class_label"], syn["model_hash"], syn["id"]), img, 1,
                      case.modality))
    sizes = sorted({im.shape for _, im, _, _ in items})
    if len(sizes) != 1 or sizes[0][0] != sizes[0][1]:
        raise ValidationError(f"The accepted synthetic images of {source_study!r} have sizes {sizes}; a realism "
                              "study shows images of one square size. Build one realism study per generator.")
    size = int(sizes[0][0])
    first: dict[str, tuple[Any, dict[str, Any]]] = {}
    for case, syn in rows:  # one real image per source case, under its first accepted image's generator
        first.setdefault(case.id, (case, syn))
    for case, syn in first.values():
        _, pixels = case_image(ctx, session, case.id)
        real = resize_image(_grey01(np.asarray(pixels)), size)[0].numpy()
        items.append((origin_ref("real", case.truth, syn["model_hash"], case.pseudonym), real, 0, case.modality))
    order = np.random.default_rng(seed).permutation(len(items))  # import order says nothing of the origin
    out = []
    for k, i in enumerate(order):
        ref, img, truth, modality = items[int(i)]
        out.append(CaseSource(ref, _write_png(folder / f"image{k:05d}.png", img), truth=truth, modality=modality))
    return out, size


def _accepted(ctx: AppContext, case_id: str) -> list[dict[str, Any]]:
    with ctx.uow(read=True) as uow:
        return uow.synthetic.list(case_id)


def _png(ctx: AppContext, path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(ctx.store.path(path)) as im:
        return np.asarray(im.convert("L"))


def _check_new(ctx: AppContext, source_study: str, name: str) -> None:
    if not name.strip():
        raise ValidationError("Give the realism study a name, e.g. \"<source> realism\".")
    with ctx.uow(read=True) as uow:
        uow.studies.by_name(source_study)  # NotFoundError names the studies there are
        if uow.studies.find(name.strip()) is not None or name.strip().casefold() == source_study.casefold():
            raise ValidationError(f"A study named {name.strip()!r} already exists; a realism study is always new: "
                                  "choose another name.")


def build_realism_study(ctx: AppContext, session: UserSession, source_study: str, name: str, *,
                        seed: int = 0, progress: Progress | None = None) -> RealismBuild:
    """Create study ``name``: every accepted synthetic image of ``source_study`` and the real image of
    each of their source cases (resized to the generator's size), blind, truth 1 = synthetic.

    Every image (synthetic and real) goes through the same path: grey levels in [0, 1] (8-bit / 255),
    the real image resized to the generator's S x S (antialiased bilinear, aspect not kept, as the
    generator's training images were), written as an 8-bit PNG and imported through
    :func:`readerstudy.services.importing.import_cases` (random pseudonyms, checksums, audit) in an
    order shuffled with ``seed``. Readers therefore see both kinds exactly as any other case; size,
    bit depth, file name and import order give nothing away. Assign readers with a protocol (e.g.
    ``resources/protocols/realism.toml``) and read, or run ``simulate-readers``.

    Raises
    ------
    PermissionDenied
        ``session`` is not a coordinator of ``source_study``.
    NotFoundError
        There is no study ``source_study``.
    ValidationError
        ``name`` is empty or already a study; the source study has no accepted synthetic images, a
        source case is a volume, or the synthetic images differ in size (nothing is created); or the
        import refused an image (the message says which; the others are in the new study).
    """
    from readerstudy.services.auth import require_study
    from readerstudy.services.importing import import_cases

    require_study(session, source_study, "building a realism study")
    _check_new(ctx, source_study, name)
    with tempfile.TemporaryDirectory(prefix="realism-") as tmp:
        sources, size = _sources(ctx, session, source_study, Path(tmp), seed)
        report = import_cases(ctx, session, name.strip(), sources, progress=progress,
                              description=f"Real vs synthetic images of {source_study!r} (realism study)")
        if report.refused:
            raise ValidationError(f"{len(report.refused)} image(s) were refused ({report.refused[0]}); study "
                                  f"{name.strip()!r} holds the others: check the source images, then build the "
                                  "realism study again under a new name.")
    n_syn = sum(1 for s in sources if s.truth == 1)
    return RealismBuild(name.strip(), len(sources) - n_syn, n_syn, size)


def create_realism_study(ctx: AppContext, coordinator: UserSession, name: str, *, seed: int = 0,
                         protocol: Protocol | None = None, progress: Progress | None = None) -> RealismBuild:
    """The coordinator workspace's realism study: :func:`build_realism_study` from the signed-in
    coordinator's own study (whose import makes the coordinator the new study's coordinator, same
    name and PIN: they sign in to it to add readers, who then read it as any study), and the realism
    reading protocol applied (``protocol``, default ``resources/protocols/realism.toml``: the call
    reads "0 Real / 1 Synthetic", plus a 1-5 realism rating).

    Raises as :func:`build_realism_study`, and :class:`PermissionDenied` for the command line's
    local session (which uses ``readerstudy study realism``). A refused protocol leaves the study
    built, with its coordinator, and says so.
    """
    from readerstudy.paths import resources_dir
    from readerstudy.services.assignments import apply_protocol, load_protocol_file
    from readerstudy.services.auth import require_coordinator
    from readerstudy.services.studies import coordinator_in

    require_coordinator(coordinator, "building a realism study")
    if coordinator.is_system:
        raise PermissionDenied("The command line builds realism studies with 'readerstudy study realism'.")
    chosen = protocol or load_protocol_file(resources_dir() / "protocols" / "realism.toml")
    built = build_realism_study(ctx, coordinator, coordinator.study_name, name, seed=seed, progress=progress)
    there = coordinator_in(ctx, coordinator, built.study)
    apply_protocol(ctx, there, chosen)
    return built
