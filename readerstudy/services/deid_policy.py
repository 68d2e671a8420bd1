"""The study's de-identification settings, and what import does with burned-in annotation.

A study keeps its settings in its protocol JSON under ``"deid"``:

* ``burned_in``: ``"refuse"`` (default) refuses an image whose DICOM says Burned In Annotation
  YES, unless the import masks rectangles of it (Clean Pixel Data); ``"flag"`` imports it with
  the flag stored on the image and a warning in the import report.
* ``retain_longitudinal_modified_dates`` (default true): dates shifted per patient (PS3.15 option
  113107); false removes or blanks them as the Basic Profile says. Fixed once the study has cases,
  so that all its cases are treated alike.

Every image records ``burned_in_annotation`` (``"YES"``, ``"NO"``, or ``""`` when the file does not
say, as for PNG/NIfTI) and the rectangles masked (``clean_pixel_rects``) in its asset metadata;
the coordinator's case browser shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from readerstudy.core.errors import ValidationError
from readerstudy.core.models import Study
from readerstudy.imaging.deid import DeidOptions, PixelRect
from readerstudy.imaging.deid_pixels import mask_array
from readerstudy.services.context import AppContext

SETTINGS_KEY = "deid"
BURNED_IN_POLICIES = ("refuse", "flag")


@dataclass(frozen=True)
class DeidSettings:
    """A study's de-identification settings (see the module docstring)."""

    burned_in: str = "refuse"
    retain_longitudinal_modified_dates: bool = True

    def __post_init__(self) -> None:
        if self.burned_in not in BURNED_IN_POLICIES:
            raise ValidationError(f"burned-in policy must be one of {', '.join(BURNED_IN_POLICIES)}, "
                                  f"got {self.burned_in!r}.")

    @classmethod
    def of(cls, study: Study) -> DeidSettings:
        d = study.protocol.get(SETTINGS_KEY) or {}
        return cls(str(d.get("burned_in", "refuse")), bool(d.get("retain_longitudinal_modified_dates", True)))

    def to_dict(self) -> dict[str, Any]:
        return {"burned_in": self.burned_in,
                "retain_longitudinal_modified_dates": self.retain_longitudinal_modified_dates}


@dataclass(frozen=True)
class DeidRequest:
    """What one import asks for: ``None`` keeps the study's setting; ``clean_rects`` are masked in
    every image of this import (pixel columns/rows of one frame, see :class:`PixelRect`)."""

    burned_in: str | None = None
    retain_longitudinal_modified_dates: bool | None = None
    clean_rects: tuple[PixelRect, ...] = ()


@dataclass(frozen=True)
class ImportPolicy:
    """Settings in force for one import run."""

    settings: DeidSettings
    clean_rects: tuple[PixelRect, ...] = ()

    @property
    def options(self) -> DeidOptions:
        return DeidOptions(self.settings.retain_longitudinal_modified_dates, self.clean_rects)

    def screen(self, case_id: str, pixels: np.ndarray, datasets: list[Any]) -> tuple[np.ndarray, dict, list[str]]:
        """Apply the burned-in policy to one image.

        Returns (pixels with the rectangles masked, asset metadata to store, notes for the report).
        Raises :class:`ValidationError` when the study refuses the image or a rectangle lies outside it.
        """
        flag = burned_in_flag(datasets)
        if flag == "YES" and self.settings.burned_in == "refuse" and not self.clean_rects:
            raise ValidationError("Burned In Annotation is YES (text in the pixels may identify the patient) and "
                                  "this study refuses such images; import with --burned-in flag, or mask the "
                                  "text with --clean-rect x0,y0,x1,y1.")
        notes = []
        if self.clean_rects:
            pixels = mask_array(pixels, self.clean_rects)
            notes.append(f"{case_id}: Clean Pixel Data: {len(self.clean_rects)} rectangle(s) masked in every frame.")
        elif flag == "YES":
            notes.append(f"{case_id}: WARNING burned-in annotation (Burned In Annotation YES): imported flagged; "
                         "check the pixels before readers see this case.")
        meta = {"burned_in_annotation": flag, "clean_pixel_rects": [list(vars(r).values()) for r in self.clean_rects]}
        return pixels, meta, notes


def burned_in_flag(datasets: list[Any]) -> str:
    """``"YES"`` if any dataset says Burned In Annotation YES, ``"NO"`` if all say NO, else ``""``."""
    values = [str(ds.get("BurnedInAnnotation", "") or "").strip().upper() for ds in datasets]
    if "YES" in values:
        return "YES"
    return "NO" if values and all(v == "NO" for v in values) else ""


def plan_policy(study: Study | None, request: DeidRequest | None, *, has_cases: bool) -> tuple[ImportPolicy, bool]:
    """The policy for an import into ``study`` (None: a study the import will create), without writing.

    Returns the policy and whether the study's settings must be saved (changed, or never saved) when
    the import writes its cases (:func:`save_settings`, in the same transaction). Raises
    :class:`ValidationError` when the request would change the date option of a study that already
    has cases.
    """
    request = request or DeidRequest()
    current = DeidSettings.of(study) if study is not None else DeidSettings()
    wanted = replace(
        current,
        **({"burned_in": request.burned_in} if request.burned_in is not None else {}),
        **({"retain_longitudinal_modified_dates": request.retain_longitudinal_modified_dates}
           if request.retain_longitudinal_modified_dates is not None else {}),
    )
    if (study is not None and has_cases
            and wanted.retain_longitudinal_modified_dates != current.retain_longitudinal_modified_dates):
        raise ValidationError(f"study {study.name!r} already has cases de-identified with dates "
                              f"{'shifted' if current.retain_longitudinal_modified_dates else 'removed'}; "
                              "keep that setting (or import into a new study).")
    must_save = study is None or wanted != current or SETTINGS_KEY not in study.protocol
    return ImportPolicy(wanted, tuple(request.clean_rects)), must_save


def save_settings(uow: Any, study_id: str, policy: ImportPolicy, actor: str = "coordinator") -> None:
    """Store (and audit) the policy's settings in the study's protocol JSON, inside the caller's transaction."""
    fresh = uow.studies.get(study_id)
    uow.studies.set_protocol(study_id, {**fresh.protocol, SETTINGS_KEY: policy.settings.to_dict()})
    uow.audit.append(actor, "study.deid_settings", "study", study_id, policy.settings.to_dict())


def prepare(ctx: AppContext, study: Study, request: DeidRequest | None) -> ImportPolicy:
    """The policy for an import into ``study``: its settings, changed (and audited) as ``request`` asks."""
    with ctx.uow() as uow:
        has_cases = bool(uow.cases.count(study.id))
    policy, must_save = plan_policy(study, request, has_cases=has_cases)
    if must_save:
        with ctx.uow() as uow:
            save_settings(uow, study.id, policy)
            uow.commit()
    return policy
