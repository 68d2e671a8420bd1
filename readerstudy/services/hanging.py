"""Building blocks of the reading session for hanging protocols and practice cases.

* Secondary images: the image assets of a case whose ``kind`` the protocol's ``[hanging]`` names
  (e.g. ``"pet"``), loaded next to the primary image and linked to it slice by slice
  (:func:`readerstudy.core.hanging.slice_links`). What reaches the reader is a
  :class:`SecondaryView`: pixels, window, spacing, the kind and the slice links (no file path,
  no source reference).
* Practice cases: named in the protocol (``practice = [...]`` or a count), resolved to case ids
  when the protocol is applied, kept out of every reader's scored order, read first by each
  reader and recorded as ``practice.read`` audit events only: never as reads, so no statistic,
  report or export of reads can count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from readerstudy.core.errors import ValidationError
from readerstudy.core.hanging import HangingSpec, slice_links
from readerstudy.core.models import ImageAsset
from readerstudy.core.protocol import Protocol, derive_seed
from readerstudy.imaging.windowing import default_window
from readerstudy.storage.uow import UnitOfWork

PRACTICE_KEY = "practice_case_ids"  # study.protocol[PRACTICE_KEY]: the resolved practice cases
PRACTICE_ACTION = "practice.read"


@dataclass(frozen=True)
class SecondaryView:
    """One secondary image of a case as the reading screen receives it.

    ``pixels`` (slices, rows, cols) in the image's own units (PET: SUV); ``window`` (center,
    width) in those units; ``spacing`` (z, y, x) mm; ``slice_of[k]`` is the secondary slice shown
    with primary slice ``k`` (-1: none); ``kind`` the asset kind (``"pet"``), shown as its label.
    """

    kind: str
    pixels: np.ndarray
    window: tuple[float, float]
    spacing: tuple[float, float, float]
    slice_of: tuple[int, ...]


def secondary_assets(uow: UnitOfWork, case_id: str, spec: HangingSpec) -> tuple[ImageAsset, ...]:
    """The case's assets of the kinds ``spec.secondary`` names, in that order (none for ``single``)."""
    if not spec.multi:
        return ()
    return tuple(a for kind in spec.secondary for a in uow.assets.for_case(case_id, kind))


def _z(asset: ImageAsset) -> tuple[float, float]:
    """(z of slice 0, slice step) in mm along the patient axis of the slice direction."""
    step = asset.spacing[0] * (asset.direction[8] if len(asset.direction) == 9 else 1.0)
    return float(asset.origin[2]), float(step)


def load_secondary(pixels_of: Any, primary: ImageAsset, n_primary: int, asset: ImageAsset) -> SecondaryView:
    """Load one secondary asset (``pixels_of(asset) -> array``, checksum-verified by the caller)."""
    arr = np.asarray(pixels_of(asset))
    arr = arr if arr.ndim == 3 else arr[None]
    links = slice_links(n_primary, _z(primary), arr.shape[0], _z(asset))
    return SecondaryView(asset.kind, arr, default_window(arr, asset.window), asset.spacing, links)


# --- practice cases ---------------------------------------------------------------------------------

def resolve_practice(uow: UnitOfWork, study_id: str, protocol: Protocol, case_ids: list[str]) -> tuple[str, ...]:
    """The case ids of ``protocol.practice`` among the study's ``case_ids`` (in the study's order).

    A list names cases by id, pseudonym or source name; a count draws that many cases with a seed
    derived from the study seed. Raises :class:`ValidationError` for unknown names, or when no
    case would be left to score.
    """
    spec = protocol.practice
    if isinstance(spec, int):
        if spec == 0:
            return ()
        if spec >= len(case_ids):
            raise ValidationError(f"practice = {spec} leaves no case to score ({len(case_ids)} cases); "
                                  "give a smaller count.")
        rng = np.random.default_rng(derive_seed(protocol.seed, "practice", "", 0))
        chosen = {case_ids[i] for i in rng.choice(len(case_ids), size=spec, replace=False)}
        return tuple(c for c in case_ids if c in chosen)
    if not spec:
        return ()
    names: dict[str, str] = {}
    for c in uow.cases.list(study_id):
        for key in (c.id, c.pseudonym, c.source_ref):
            names[key] = c.id
    unknown = [s for s in spec if s not in names]
    if unknown:
        raise ValidationError(f"practice names cases this study does not have: {unknown}; give case ids, "
                              "pseudonyms or source names (readerstudy study show lists them). Nothing changed.")
    chosen = {names[s] for s in spec}
    if len(chosen) >= len(case_ids):
        raise ValidationError("practice names every case of the study; leave some cases to score.")
    return tuple(c for c in case_ids if c in chosen)


def stored_practice(uow: UnitOfWork, study_id: str) -> tuple[str, ...]:
    """The practice case ids stored when the protocol was applied (empty when none)."""
    return tuple(uow.studies.get(study_id).protocol.get(PRACTICE_KEY) or ())


def practice_read(uow: UnitOfWork, reader_name: str, case_ids: tuple[str, ...]) -> set[str]:
    """The practice cases ``reader_name`` has already read (their ``practice.read`` events)."""
    done = set()
    for cid in case_ids:
        if any(e.actor == reader_name for e in uow.audit.list(cid, PRACTICE_ACTION)):
            done.add(cid)
    return done
