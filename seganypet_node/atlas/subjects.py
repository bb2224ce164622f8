"""The atlas landmarks placed in each subject the atlas was built from, and fused in a patient.

The mean atlas is blurred (its subjects averaged at 8 mm, after an alignment that is itself
coarse): a 22 mm aorta beside a vertebra of the same uptake is hardly in it, and through the
one registration to it half of the aorta's landmarks landed 10-30 mm off, in the heart or the
spine, on held-out phantoms. Each subject is sharp. The patient is registered (affine) to
every atlas subject, each maps its own copy of a landmark into the patient, and the
median of those points is the prompt (multi-atlas fusion): the subjects' errors are not the
same and the median drops the outliers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from seganypet_node.atlas.assets import Atlas, AtlasSubject, OrganLandmarks, Point
from seganypet_node.atlas.landmarks import inner_voxels
from seganypet_node.atlas.register import (
    Registration,
    RegistrationError,
    isotropic_grid,
    register_normalised,
)
from seganypet_node.imaging.volume import point_of_voxel


@dataclass(frozen=True)
class PatientLandmarks:
    """Every atlas landmark in patient space, and how many atlas subjects placed them."""

    landmarks: Mapping[str, OrganLandmarks]
    subjects_used: int = 0  # 0: mapped through the registration to the mean atlas alone


def patient_landmarks(atlas: Atlas, registration: Registration, moving: sitk.Image,
                      most: int) -> PatientLandmarks:
    """The atlas landmarks in the patient whose :func:`normalised_uptake` copy is ``moving``
    (the one ``registration`` was made with): fused over (at most ``most``) atlas subjects, or
    mapped through ``registration`` (to the mean atlas) when the atlas has no subjects or
    none of them registers."""
    subjects = atlas.subjects[:most]
    placed = []
    for subject in subjects:
        try:
            transform = register_normalised(subject.normalised, moving,
                                            deformable=False).transform
        except RegistrationError:  # this subject is too unlike the patient: the others vote
            continue
        placed.append(mapped_landmarks(subject.landmarks, transform))
    if not placed:
        return PatientLandmarks(mapped_landmarks(atlas.landmarks, registration.transform))
    fused = {name: OrganLandmarks(_median(p[name].positives for p in placed),
                                  _median(p[name].negatives for p in placed))
             for name in atlas.landmarks}
    return PatientLandmarks(fused, len(placed))


def mapped_landmarks(landmarks: Mapping[str, OrganLandmarks],
                     transform: sitk.Transform) -> dict[str, OrganLandmarks]:
    """Every landmark through ``transform``."""
    return {name: OrganLandmarks(tuple(_mapped(transform, p) for p in marks.positives),
                                 tuple(_mapped(transform, p) for p in marks.negatives))
            for name, marks in landmarks.items()}


def subject_from(name: str, image: sitk.Image, labels: sitk.Image, atlas_labels: sitk.Image,
                 landmarks: Mapping[str, OrganLandmarks], transform: sitk.Transform,
                 spacing_mm: float) -> AtlasSubject:
    """A built subject as an atlas subject: its uptake at ``spacing_mm`` and each atlas
    landmark mapped by ``transform`` (atlas -> subject) and moved to the nearest voxel well
    inside the organ the atlas labels there, in the subject's own labels."""
    small = sitk.Resample(image, isotropic_grid(image, spacing_mm), sitk.Transform(),
                          sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    label_array = sitk.GetArrayFromImage(labels)
    spacing = labels.GetSpacing()[::-1]
    inner: dict[int, np.ndarray] = {}

    def place(point: Point) -> Point:
        target = _mapped(transform, point)
        label = int(atlas_labels[atlas_labels.TransformPhysicalPointToIndex(point)])
        if label == 0:
            return target
        if label not in inner:
            inner[label] = inner_voxels(label_array == label, spacing)
        return _nearest(labels, inner[label], target)

    placed = {organ: OrganLandmarks(tuple(place(p) for p in marks.positives),
                                    tuple(place(p) for p in marks.negatives))
              for organ, marks in landmarks.items()}
    return AtlasSubject(name, small, placed)


def _nearest(image: sitk.Image, voxels: np.ndarray, point: Point) -> Point:
    """The voxel of ``voxels`` ([z, y, x] rows) nearest to ``point``; ``point`` if none."""
    if len(voxels) == 0:
        return point
    index = np.array(image.TransformPhysicalPointToContinuousIndex(point))[::-1]
    spacing = np.array(image.GetSpacing()[::-1])
    return point_of_voxel(image, voxels[int(np.argmin(
        np.linalg.norm((voxels - index) * spacing, axis=1)))])


def _median(point_sets: Iterable[tuple[Point, ...]]) -> tuple[Point, ...]:
    stacked = np.array(list(point_sets))
    if stacked.size == 0:
        return ()
    return tuple((float(x), float(y), float(z)) for x, y, z in np.median(stacked, axis=0))


def _mapped(transform: sitk.Transform, point: Point) -> Point:
    x, y, z = transform.TransformPoint(point)
    return (float(x), float(y), float(z))
