"""The atlas on disk and in memory: reference uptake, organ labels, landmarks per organ.

Files in an atlas folder (``models/atlas/`` ships the default):

- ``atlas_suv.nii.gz``: mean SUVbw of the registered subjects (float32, LPS);
- ``atlas_labels.nii.gz``: organ labels by majority vote (catalogue label values);
- ``landmarks.json``: per organ, positive points deep inside it and negative points in the
  neighbours it is most easily confused with (LPS mm, atlas space), plus how it was built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from seganypet_node.organs import BY_NAME

Point = tuple[float, float, float]
IMAGE_FILE = "atlas_suv.nii.gz"
LABELS_FILE = "atlas_labels.nii.gz"
LANDMARKS_FILE = "landmarks.json"


class AtlasError(ValueError):
    """An atlas folder is missing a file or holds an inconsistent one (message names it)."""


@dataclass(frozen=True)
class OrganLandmarks:
    """Where to click for one organ, in atlas space.

    Parameters
    ----------
    positives : tuple of Point
        Deep inside the organ; large organs have a few, spread along the organ.
    negatives : tuple of Point
        Inside neighbouring organs, close to this one.
    """

    positives: tuple[Point, ...]
    negatives: tuple[Point, ...] = ()

    def __post_init__(self) -> None:
        if not self.positives:
            raise ValueError("an organ needs at least one positive landmark")


@dataclass(frozen=True, eq=False)
class Atlas:
    """Reference PET, its labels and the landmarks of each organ."""

    image: sitk.Image
    labels: sitk.Image
    landmarks: Mapping[str, OrganLandmarks]
    meta: Mapping[str, Any]

    def save(self, folder: Path) -> None:
        """Write the three files (see the module docstring) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(self.image, str(folder / IMAGE_FILE), useCompression=True)
        sitk.WriteImage(self.labels, str(folder / LABELS_FILE), useCompression=True)
        organs = {name: {"positives": [list(p) for p in marks.positives],
                         "negatives": [list(p) for p in marks.negatives]}
                  for name, marks in self.landmarks.items()}
        text = json.dumps({"meta": dict(self.meta), "organs": organs}, indent=1)
        (folder / LANDMARKS_FILE).write_text(text + "\n")


def load_atlas(folder: Path) -> Atlas:
    """Read an atlas folder; raises :class:`AtlasError` naming a missing or bad file."""
    for name in (IMAGE_FILE, LABELS_FILE, LANDMARKS_FILE):
        if not (folder / name).is_file():
            raise AtlasError(f"{folder / name}: missing (build one with `seganypet-node atlas "
                             f"build`)")
    image = sitk.ReadImage(str(folder / IMAGE_FILE), sitk.sitkFloat32)
    labels = sitk.ReadImage(str(folder / LABELS_FILE), sitk.sitkUInt8)
    try:
        content = json.loads((folder / LANDMARKS_FILE).read_text())
        landmarks = {name: _organ_landmarks(name, value)
                     for name, value in content["organs"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise AtlasError(f"{folder / LANDMARKS_FILE}: {exc}") from None
    return Atlas(image, labels, landmarks, content.get("meta", {}))


def _organ_landmarks(name: str, value: Mapping[str, Any]) -> OrganLandmarks:
    if name not in BY_NAME:
        raise ValueError(f"unknown organ {name!r}")
    return OrganLandmarks(tuple(_point(p) for p in value["positives"]),
                          tuple(_point(p) for p in value.get("negatives", ())))


def _point(value: Any) -> Point:
    x, y, z = (float(v) for v in value)
    return (x, y, z)
