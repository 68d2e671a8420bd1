"""Label sets for annotation: which integer in a label volume means what.

Voxel value ``0`` is always background (unlabelled) and is not part of a
:class:`LabelSet`. Every other value that may appear in a label volume must be
the ``id`` of a :class:`Label` in the set used for that annotation.

Each label carries a coded category and type (SNOMED CT by default) so that a
DICOM Segmentation can describe its segments without guessing; the codes are
plain strings here so that ``core`` stays free of pydicom.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from readerstudy.core.errors import NotFoundError, ValidationError

__all__ = [
    "Code",
    "Label",
    "LabelSet",
    "LABEL_SET_PRESETS",
    "SCT_TISSUE",
    "SCT_MORPHOLOGICALLY_ALTERED_STRUCTURE",
    "SCT_ANATOMICAL_STRUCTURE",
    "SCT_NEOPLASM",
    "SCT_LESION",
    "SCT_LIVER",
    "SCT_ADENOCARCINOMA",
]

MAX_LABEL_ID = 65535


@dataclass(frozen=True)
class Code:
    """A coded concept (DICOM "code sequence" item): value, coding scheme, meaning."""

    value: str
    scheme: str
    meaning: str

    def to_dict(self) -> dict[str, str]:
        return {"value": self.value, "scheme": self.scheme, "meaning": self.meaning}


SCT_TISSUE = Code("85756007", "SCT", "Tissue")
SCT_MORPHOLOGICALLY_ALTERED_STRUCTURE = Code("49755003", "SCT", "Morphologically Altered Structure")
SCT_ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
SCT_NEOPLASM = Code("108369006", "SCT", "Neoplasm")
SCT_LESION = Code("52988006", "SCT", "Lesion")
SCT_LIVER = Code("10200004", "SCT", "Liver")
SCT_ADENOCARCINOMA = Code("1187332001", "SCT", "Adenocarcinoma")


def _check_rgb(color: tuple[int, int, int]) -> tuple[int, int, int]:
    if len(color) != 3 or any((not isinstance(c, int)) or c < 0 or c > 255 for c in color):
        raise ValidationError(f"label colour must be three integers 0-255 (r, g, b), got {color!r}")
    return (int(color[0]), int(color[1]), int(color[2]))


@dataclass(frozen=True)
class Label:
    """One annotation label.

    Parameters
    ----------
    id
        Voxel value of this label in the label volume, 1..65535 (0 is background).
    name
        Human-readable name shown to annotators and written as the DICOM segment label.
    color
        Display colour, (r, g, b) with 0-255 components.
    category, type
        Coded segmented property category and type (DICOM SEG), SNOMED CT by default.
    """

    id: int
    name: str
    color: tuple[int, int, int]
    category: Code = SCT_MORPHOLOGICALLY_ALTERED_STRUCTURE
    type: Code = SCT_LESION

    def __post_init__(self) -> None:
        if not isinstance(self.id, int) or isinstance(self.id, bool) or not 1 <= self.id <= MAX_LABEL_ID:
            raise ValidationError(f"label id must be an integer 1..{MAX_LABEL_ID} (0 is background), got {self.id!r}")
        if not self.name.strip():
            raise ValidationError("label name must not be empty")
        object.__setattr__(self, "color", _check_rgb(tuple(self.color)))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "color": list(self.color),
            "category": self.category.to_dict(),
            "type": self.type.to_dict(),
        }


@dataclass(frozen=True)
class LabelSet:
    """An ordered, immutable set of labels with unique ids and names.

    Examples
    --------
    >>> ls = LabelSet.preset("gleason")
    >>> [lab.name for lab in ls]
    ['non-cancer', 'GG3', 'GG4', 'GG5']
    >>> ls.by_name("GG4").id
    3
    """

    name: str
    labels: tuple[Label, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        object.__setattr__(self, "labels", labels)
        if not labels:
            raise ValidationError(f"label set {self.name!r} has no labels; add at least one")
        ids = [lab.id for lab in labels]
        names = [lab.name for lab in labels]
        if len(set(ids)) != len(ids):
            raise ValidationError(f"label set {self.name!r} has duplicate label ids: {ids}")
        if len(set(names)) != len(names):
            raise ValidationError(f"label set {self.name!r} has duplicate label names: {names}")

    def __iter__(self) -> Iterator[Label]:
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label_id: object) -> bool:
        return any(lab.id == label_id for lab in self.labels)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(lab.id for lab in self.labels)

    @property
    def max_id(self) -> int:
        return max(self.ids)

    def get(self, label_id: int) -> Label:
        """Return the label with this id; raise :class:`NotFoundError` if there is none."""
        for lab in self.labels:
            if lab.id == label_id:
                return lab
        raise NotFoundError(f"label id {label_id} is not in label set {self.name!r} (ids: {list(self.ids)})")

    def by_name(self, name: str) -> Label:
        """Return the label with this name (case-insensitive); raise :class:`NotFoundError` otherwise."""
        for lab in self.labels:
            if lab.name.lower() == name.lower():
                return lab
        raise NotFoundError(f"no label named {name!r} in label set {self.name!r}")

    def check_values(self, values: Iterable[int]) -> None:
        """Raise :class:`ValidationError` if a value is neither background nor a label id."""
        unknown = sorted({int(v) for v in values} - set(self.ids) - {0})
        if unknown:
            raise ValidationError(
                f"mask contains values {unknown} that are not labels of set {self.name!r} "
                f"(allowed: 0 and {list(self.ids)}); choose the right label set or relabel the mask"
            )

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "labels": [lab.to_dict() for lab in self.labels]}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> LabelSet:
        """Inverse of :meth:`to_dict`."""
        labels = []
        for item in d["labels"]:  # type: ignore[attr-defined]
            labels.append(
                Label(
                    id=int(item["id"]),
                    name=str(item["name"]),
                    color=tuple(item["color"]),
                    category=Code(**item["category"]),
                    type=Code(**item["type"]),
                )
            )
        return cls(name=str(d["name"]), labels=tuple(labels))

    @classmethod
    def preset(cls, name: str) -> LabelSet:
        """One of the built-in label sets: ``"tumour"``, ``"gleason"``, ``"liver_tumour"``."""
        try:
            return LABEL_SET_PRESETS[name]
        except KeyError:
            raise NotFoundError(
                f"no label-set preset {name!r}; choose one of {sorted(LABEL_SET_PRESETS)}"
            ) from None


LABEL_SET_PRESETS: dict[str, LabelSet] = {
    # BUSI / DCIS ultrasound: a single lesion label.
    "tumour": LabelSet(
        "tumour",
        (Label(1, "tumour", (230, 40, 40), SCT_MORPHOLOGICALLY_ALTERED_STRUCTURE, SCT_NEOPLASM),),
    ),
    # DISC prostate grading. The paper's mask values 0..3 are these ids minus one
    # (here 0 must stay "not annotated").
    "gleason": LabelSet(
        "gleason",
        (
            Label(1, "non-cancer", (60, 180, 75), SCT_TISSUE, SCT_TISSUE),
            Label(2, "GG3", (255, 225, 25), SCT_MORPHOLOGICALLY_ALTERED_STRUCTURE, SCT_ADENOCARCINOMA),
            Label(3, "GG4", (245, 130, 48), SCT_MORPHOLOGICALLY_ALTERED_STRUCTURE, SCT_ADENOCARCINOMA),
            Label(4, "GG5", (230, 25, 75), SCT_MORPHOLOGICALLY_ALTERED_STRUCTURE, SCT_ADENOCARCINOMA),
        ),
    ),
    # REACT-KD liver CT/PET: organ and tumour as separate labels.
    "liver_tumour": LabelSet(
        "liver_tumour",
        (
            Label(1, "liver", (170, 110, 40), SCT_ANATOMICAL_STRUCTURE, SCT_LIVER),
            Label(2, "tumour", (230, 40, 40), SCT_MORPHOLOGICALLY_ALTERED_STRUCTURE, SCT_NEOPLASM),
        ),
    ),
}
