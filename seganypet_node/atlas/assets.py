"""The atlas on disk and in memory: reference uptake, organ labels, landmarks per organ.

Files in an atlas folder (``models/atlas/`` ships the default):

- ``atlas_suv.nii.gz``: mean SUVbw of the registered subjects (float32, LPS);
- ``atlas_labels.nii.gz``: organ labels by majority vote (catalogue label values);
- ``landmarks.json``: per organ, positive points deep inside it and negative points in the
  neighbours it is most easily confused with (LPS mm, atlas space), plus how it was built;
- ``subjects/subject_NN.nii.gz`` (optional): the uptake (8 mm) of each subject the atlas
  was built from; ``landmarks.json`` then lists, per subject, where each atlas landmark lies in
  that subject (same organs, same number of points, same order).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from seganypet_node.atlas.register import normalised_uptake
from seganypet_node.errors import NodeError
from seganypet_node.organs import BY_NAME

Point = tuple[float, float, float]
IMAGE_FILE = "atlas_suv.nii.gz"
LABELS_FILE = "atlas_labels.nii.gz"
LANDMARKS_FILE = "landmarks.json"
SUBJECTS_DIR = "subjects"
# Subject files are named by the atlas itself; anything else in landmarks.json is refused.
SUBJECT_FILE = re.compile(r"subject_\d{2,3}\.nii\.gz")


class AtlasError(NodeError, ValueError):
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
class AtlasSubject:
    """One subject the atlas was built from: its uptake and the atlas landmarks in its space.

    Parameters
    ----------
    name : str
        The subject (as the build named it).
    image : SimpleITK.Image
        Its SUVbw at the atlas image spacing.
    landmarks : mapping of str to OrganLandmarks
        For each atlas organ, its landmarks in this subject, point for point.
    """

    name: str
    image: sitk.Image
    landmarks: Mapping[str, OrganLandmarks]

    @cached_property
    def normalised(self) -> sitk.Image:
        """Its :func:`~seganypet_node.atlas.register.normalised_uptake` copy, made once:
        every patient is registered to it."""
        return normalised_uptake(self.image)


@dataclass(frozen=True, eq=False)
class Atlas:
    """Reference PET, its labels, the landmarks of each organ and the subjects behind them."""

    image: sitk.Image
    labels: sitk.Image
    landmarks: Mapping[str, OrganLandmarks]
    meta: Mapping[str, Any]
    subjects: tuple[AtlasSubject, ...] = ()

    @cached_property
    def normalised(self) -> sitk.Image:
        """The image's :func:`~seganypet_node.atlas.register.normalised_uptake` copy, made
        once: every patient is registered to it."""
        return normalised_uptake(self.image)

    def __post_init__(self) -> None:
        for subject in self.subjects:
            _check_correspondence(self.landmarks, subject)

    def save(self, folder: Path) -> None:
        """Write the files (see the module docstring) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(self.image, str(folder / IMAGE_FILE), useCompression=True)
        sitk.WriteImage(self.labels, str(folder / LABELS_FILE), useCompression=True)
        subjects = []
        if self.subjects:
            (folder / SUBJECTS_DIR).mkdir(exist_ok=True)
        for number, subject in enumerate(self.subjects, start=1):
            file = f"subject_{number:02d}.nii.gz"
            sitk.WriteImage(subject.image, str(folder / SUBJECTS_DIR / file),
                            useCompression=True)
            subjects.append({"name": subject.name, "file": file,
                             "organs": _landmarks_json(subject.landmarks)})
        content: dict[str, Any] = {"meta": dict(self.meta),
                                   "organs": _landmarks_json(self.landmarks)}
        if subjects:
            content["subjects"] = subjects
        (folder / LANDMARKS_FILE).write_text(json.dumps(content, indent=1) + "\n")


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
        landmarks = _landmarks_from_json(content["organs"])
        subjects = tuple(_load_subject(folder, value) for value in content.get("subjects", ()))
        return Atlas(image, labels, landmarks, content.get("meta", {}), subjects)
    except (KeyError, TypeError, ValueError) as exc:
        raise AtlasError(f"{folder / LANDMARKS_FILE}: {exc}") from None


def _load_subject(folder: Path, value: Mapping[str, Any]) -> AtlasSubject:
    file = str(value["file"])
    if not SUBJECT_FILE.fullmatch(file):
        raise ValueError(f"subject file name {file!r} is not one the atlas writes")
    path = folder / SUBJECTS_DIR / file
    if not path.is_file():
        raise ValueError(f"{path} is missing")
    image = sitk.ReadImage(str(path), sitk.sitkFloat32)
    return AtlasSubject(str(value["name"]), image, _landmarks_from_json(value["organs"]))


def _check_correspondence(landmarks: Mapping[str, OrganLandmarks], subject: AtlasSubject) -> None:
    """A subject must place every atlas landmark, point for point."""
    for name, marks in landmarks.items():
        theirs = subject.landmarks.get(name)
        if theirs is None or (len(theirs.positives), len(theirs.negatives)) != (
                len(marks.positives), len(marks.negatives)):
            raise ValueError(f"atlas subject {subject.name!r} does not place the {name} "
                             f"landmarks point for point")


def _landmarks_json(landmarks: Mapping[str, OrganLandmarks]) -> dict[str, Any]:
    return {name: {"positives": [list(p) for p in marks.positives],
                   "negatives": [list(p) for p in marks.negatives]}
            for name, marks in landmarks.items()}


def _landmarks_from_json(organs: Mapping[str, Any]) -> dict[str, OrganLandmarks]:
    return {name: _organ_landmarks(name, value) for name, value in organs.items()}


def _organ_landmarks(name: str, value: Mapping[str, Any]) -> OrganLandmarks:
    if name not in BY_NAME:
        raise ValueError(f"unknown organ {name!r}")
    return OrganLandmarks(tuple(_point(p) for p in value["positives"]),
                          tuple(_point(p) for p in value.get("negatives", ())))


def _point(value: Any) -> Point:
    x, y, z = (float(v) for v in value)
    return (x, y, z)
