"""Build an atlas from labelled PET volumes: register, average, vote, place landmarks.

The first volume fixes the atlas space; every volume (the first included) is registered to
it with the same registration the node uses for patients, its uptake averaged and its labels
voted. Each volume is also kept as an atlas subject (:mod:`subjects`), with the atlas
landmarks placed in it. ``seganypet-node atlas build`` calls :func:`build_atlas`; the default
atlas in ``models/atlas/`` was built from phantoms this way
(:func:`seganypet_node.phantom.atlas_subjects.phantom_volumes`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from seganypet_node.atlas.assets import Atlas
from seganypet_node.atlas.landmarks import landmarks_from_labels
from seganypet_node.atlas.register import isotropic_grid, register_to_atlas
from seganypet_node.atlas.subjects import subject_from
from seganypet_node.imaging.pet import SeriesError
from seganypet_node.imaging.volume import array_on_grid
from seganypet_node.organs import BY_NAME, ORGANS

ATLAS_SEEDS_START = 5000  # training uses 1000+, evaluation 9000+
LABEL_SPACING_MM = 4.0
IMAGE_SPACING_MM = 8.0


@dataclass(frozen=True, eq=False)
class LabelledVolume:
    """A PET volume in SUV with its organ labels (catalogue values) on the same grid."""

    name: str
    suv: sitk.Image
    labels: sitk.Image


def build_atlas(volumes: Sequence[LabelledVolume], description: str,
                log: Callable[[str], None] = print) -> Atlas:
    """Register every volume to the first, average uptake, vote labels, place landmarks."""
    if len(volumes) < 1:
        raise ValueError("an atlas needs at least one labelled volume")
    label_grid = isotropic_grid(volumes[0].suv, LABEL_SPACING_MM, sitk.sitkUInt8)
    image_grid = isotropic_grid(volumes[0].suv, IMAGE_SPACING_MM, sitk.sitkUInt8)
    total = np.zeros(_shape(image_grid), np.float64)
    count = np.zeros_like(total)
    votes = np.zeros((len(ORGANS) + 1, *_shape(label_grid)), np.uint16)
    transforms = []
    for k, volume in enumerate(volumes, start=1):
        registration = register_to_atlas(volumes[0].suv, volume.suv)
        transform = registration.transform
        transforms.append(transform)
        warped = sitk.Resample(volume.suv, image_grid, transform, sitk.sitkLinear, -1.0,
                               sitk.sitkFloat32)
        values = sitk.GetArrayFromImage(warped)
        total += np.where(values >= 0, values, 0.0)
        count += values >= 0
        labels = sitk.GetArrayFromImage(sitk.Resample(
            volume.labels, label_grid, transform, sitk.sitkNearestNeighbor, 255, sitk.sitkUInt8))
        for index, organ in enumerate(ORGANS, start=1):
            votes[index] += labels == organ.label
        votes[0] += (labels != 255) & ~np.isin(labels, [o.label for o in ORGANS])
        log(f"atlas: {volume.name} registered ({k}/{len(volumes)}, body overlap "
            f"{registration.body_overlap:.2f}, {registration.seconds:.1f} s)")
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)
    winner = np.argmax(votes, axis=0)
    catalogue = np.array([0] + [o.label for o in ORGANS], dtype=np.uint8)
    label_array = catalogue[winner] * (votes.sum(axis=0) > 0)
    image = array_on_grid(mean, image_grid)
    labels_image = array_on_grid(label_array.astype(np.uint8), label_grid)
    landmarks = landmarks_from_labels(labels_image)
    subjects = tuple(
        subject_from(v.name, v.suv, v.labels, labels_image, landmarks, t, IMAGE_SPACING_MM)
        for v, t in zip(volumes, transforms, strict=True))
    meta = {"description": description, "subjects": [v.name for v in volumes],
            "built": dt.date.today().isoformat()}
    return Atlas(image, labels_image, landmarks, meta, subjects)



def _shape(image: sitk.Image) -> tuple[int, int, int]:
    x, y, z = image.GetSize()
    return (z, y, x)


def folder_volumes(folders: Sequence[Path], log: Callable[[str], None] = print
                   ) -> Iterator[LabelledVolume]:
    """Labelled volumes from case folders, as ``seganypet-node phantom`` writes them.

    Each folder holds the PET (a ``dicom/`` series, or ``pet.nii.gz`` in SUVbw), its
    ``labels.nii.gz`` on the PET grid and ``labels.json`` (label value -> organ name; names
    outside the catalogue, lesions among them, are ignored).

    Raises
    ------
    seganypet_node.imaging.pet.SeriesError, ValueError
        A folder lacks a file, or its PET has no SUV; the message names the folder.
    """
    from seganypet_node.imaging.volume import load_input

    for folder in folders:
        pet_source = folder / "dicom" if (folder / "dicom").is_dir() else folder / "pet.nii.gz"
        for needed in (pet_source, folder / "labels.nii.gz", folder / "labels.json"):
            if not needed.exists():
                raise SeriesError(f"{folder}: {needed.name} is missing")
        volume = load_input([pet_source])
        if volume.suvbw is None:
            raise SeriesError(f"{folder}: no SUV ({volume.suv_note}); an atlas is built in SUV")
        suv = volume.measured_image()
        labels = _catalogue_labels(folder, suv)
        log(f"atlas: {folder.name} read")
        yield LabelledVolume(folder.name, suv, labels)


def _catalogue_labels(folder: Path, like: sitk.Image) -> sitk.Image:
    names = json.loads((folder / "labels.json").read_text())
    source = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labels.nii.gz")))
    if source.shape != _shape(like):
        raise SeriesError(f"{folder}: labels.nii.gz is not on the PET grid")
    catalogue = np.zeros(source.shape, np.uint8)
    for value, name in names.items():
        if name in BY_NAME:
            catalogue[source == int(value)] = BY_NAME[name].label
    return array_on_grid(catalogue, like)
