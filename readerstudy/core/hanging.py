"""Hanging protocols for multi-image cases, and practice cases: the protocol's ``[hanging]`` and ``practice``.

A case may carry secondary images besides its primary one (stored as image assets of another
``kind``, e.g. ``"pet"`` next to the CT). The protocol says how they hang::

    practice = ["phantom00"]      # case ids, pseudonyms or source names; or a count: practice = 2

    [hanging]
    layout = "fused"              # "single", "side_by_side" (linked slices) or "fused" (over the primary)
    secondary = ["pet"]           # asset kinds shown with the primary image, in this order
    colormap = "hot"              # colour map of a fused image (see COLORMAPS)
    opacity = 0.5                 # 0-1, opacity of a fused image (the reader changes it with keys/slider)

Qt-free and storage-free; :mod:`readerstudy.core.protocol` calls :func:`check_hanging` and
:func:`check_practice` with its checker's ``fail(field, message)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LAYOUTS = ("single", "side_by_side", "fused")
#: Colour maps a fused image may use: protocol name -> pyqtgraph colormap name. "hot" is the
#: black-red-yellow-white heat scale of PET displays (colorcet CET-L3, perceptually uniform).
COLORMAPS = {"hot": "CET-L3", "inferno": "inferno", "magma": "magma", "plasma": "plasma", "viridis": "viridis",
             "rainbow": "turbo"}
_KEYS = {"layout", "secondary", "colormap", "opacity"}
Fail = Callable[[str, str], None]


@dataclass(frozen=True)
class HangingSpec:
    """How a case's images hang on the reading screen (see the module docstring for the TOML)."""

    layout: str = "single"
    secondary: tuple[str, ...] = ("pet",)
    colormap: str = "hot"
    opacity: float = 0.5

    @property
    def multi(self) -> bool:
        """Whether secondary images are shown at all."""
        return self.layout != "single"


def check_hanging(raw: Any, fail: Fail) -> HangingSpec:
    """Validate the ``[hanging]`` table (a dict, or None for the default single-image hanging).

    Each problem is reported through ``fail("hanging.<key>", message)``; the default is used for it.
    """
    if raw is None:
        return HangingSpec()
    if not isinstance(raw, dict):
        fail("hanging", "give a [hanging] table, e.g. [hanging] layout = \"fused\".")
        return HangingSpec()
    for key in sorted(set(raw) - _KEYS):
        fail(f"hanging.{key}", f"unknown field; allowed are {sorted(_KEYS)}.")
    d = HangingSpec()
    layout = raw.get("layout", d.layout)
    if layout not in LAYOUTS:
        fail("hanging.layout", f"{layout!r} is not a layout; use one of {list(LAYOUTS)}.")
        layout = d.layout
    secondary = raw.get("secondary", list(d.secondary))
    if isinstance(secondary, str):
        secondary = [secondary]
    if (not isinstance(secondary, list | tuple) or not secondary
            or not all(isinstance(s, str) and s.strip() and s != "image" for s in secondary)):
        fail("hanging.secondary", f"{secondary!r} is not valid; give the kinds of the secondary images, "
                                  "e.g. [\"pet\"] (not \"image\", the primary).")
        secondary = list(d.secondary)
    colormap = raw.get("colormap", d.colormap)
    if colormap not in COLORMAPS:
        fail("hanging.colormap", f"{colormap!r} is not a colour map; use one of {sorted(COLORMAPS)}.")
        colormap = d.colormap
    opacity = raw.get("opacity", d.opacity)
    if (isinstance(opacity, bool) or not isinstance(opacity, int | float) or not math.isfinite(opacity)
            or not 0.0 <= opacity <= 1.0):
        fail("hanging.opacity", f"{opacity!r} is not valid; give a number from 0 to 1, e.g. 0.5.")
        opacity = d.opacity
    return HangingSpec(layout, tuple(s.strip() for s in secondary), colormap, float(opacity))


def check_practice(raw: Any, fail: Fail) -> tuple[str, ...] | int:
    """Validate ``practice``: a list of case references (ids, pseudonyms, source names) or a count >= 0."""
    if raw is None:
        return ()
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 0 <= raw <= 50:
            fail("practice", f"{raw!r} is not valid; give a count from 0 to 50 or a list of case names.")
            return ()
        return raw
    if not isinstance(raw, list | tuple) or not all(isinstance(s, str) and s.strip() for s in raw):
        fail("practice", f"{raw!r} is not valid; give a list of case names, e.g. [\"phantom00\"], or a count.")
        return ()
    refs = tuple(s.strip() for s in raw)
    dupes = sorted({s for s in refs if refs.count(s) > 1})
    if dupes:
        fail("practice", f"cases listed twice: {dupes}; name each practice case once.")
    return refs


def slice_links(n_primary: int, primary_z: tuple[float, float], n_secondary: int,
                secondary_z: tuple[float, float]) -> tuple[int, ...]:
    """For each primary slice, the secondary slice nearest in patient z (-1 where there is none).

    ``*_z`` are (z of the first slice centre, slice spacing), mm, both stacks along the same axis
    (axial stacks of a registered PET/CT). Same grid: the identity. A secondary slice covers the
    primary slices whose centres lie in [its centre - step/2, its centre + step/2).
    """
    z0, dz = primary_z
    s0, ds = secondary_z
    if ds == 0:
        return tuple(0 if n_secondary else -1 for _ in range(n_primary))
    out = []
    for k in range(n_primary):
        j = math.floor((z0 + k * dz - s0) / ds + 0.5)  # [centre - ds/2, centre + ds/2): no banker's rounding
        out.append(j if 0 <= j < n_secondary else -1)
    return tuple(out)
