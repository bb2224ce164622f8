"""Per-lesion figures (SUVmax/peak/mean, SULpeak, MTV, TLG, site, Deauville aid) and the
study's tumour burden."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import SimpleITK as sitk
from pydicom.uid import generate_uid
from scipy import ndimage

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.units import Unit
from seganypet_node.imaging.volume import point_of_voxel, points_of_voxels
from seganypet_node.lesions.delineate import LesionMask
from seganypet_node.lesions.regions import body_region
from seganypet_node.lesions.results import Lesion, TumourBurden
from seganypet_node.measure.reference import ReferenceKind, ReferenceRegion
from seganypet_node.measure.uptake import uptake_in_box

OUTSIDE_ORGANS = "outside the segmented organs"
SURROUNDED = 0.5  # share of a lesion's rim in one organ that makes it that organ's lesion
MARKEDLY_ABOVE_LIVER = 2.0  # Deauville 5: uptake markedly (here: twice) above the liver


def measured_lesions(masks: Sequence[LesionMask], values: np.ndarray, image: sitk.Image,
                     unit: Unit, sul_per_value: float | None,
                     organs: Mapping[str, BoxMask],
                     references: Sequence[ReferenceRegion],
                     tracking_uids: Sequence[str | None] = ()) -> tuple[Lesion, ...]:
    """The lesions with their figures, numbered by decreasing SUVmax; ``tracking_uids``:
    those the masks had already (a lesion keeps its UID through a reader's corrections),
    new ones for the rest."""
    spacing = image.GetSpacing()[::-1]
    means = {r.name: r.mean for r in references}
    uids = list(tracking_uids) + [None] * (len(masks) - len(tracking_uids))
    lesions = []
    for lesion, uid in zip(masks, uids, strict=True):
        held = BoxMask.of(lesion.mask, lesion.box, values.shape)
        stats = uptake_in_box(values, held, spacing, unit, lesion=True)
        centroid = points_of_voxels(image, held.indices()).mean(axis=0)
        centre = (float(centroid[0]), float(centroid[1]), float(centroid[2]))
        lesions.append(Lesion(
            0, held, stats, None if sul_per_value is None else stats.peak * sul_per_value,
            _site(lesion, organs, centre, image), centre,
            point_of_voxel(image, lesion.click_index), lesion.delineation,
            deauville_aid(stats.maximum, means.get(ReferenceKind.BLOOD_POOL),
                          means.get(ReferenceKind.LIVER)),
            uid or generate_uid(), lesion.note))
    lesions.sort(key=lambda x: -x.stats.maximum)
    return tuple(_numbered(lesion, number) for number, lesion in enumerate(lesions, start=1))


def _numbered(lesion: Lesion, number: int) -> Lesion:
    return dataclasses.replace(lesion, number=number)


def _site(lesion: LesionMask, organs: Mapping[str, BoxMask],
          centre: tuple[float, float, float], image: sitk.Image) -> str:
    """The organ holding most of the lesion's voxels, or, for a lesion the organ's mask left
    out (a hot lesion is not the organ's usual tissue), the organ surrounding most of it;
    else the body region (``outside the segmented organs: thorax``)."""
    inside = {name: int((organ.within(lesion.box) & lesion.mask).sum())
              for name, organ in organs.items()}
    best = max(inside, key=lambda name: inside[name], default=None)
    if best is not None and inside[best] > 0:
        return best
    ring = ndimage.binary_dilation(lesion.mask, iterations=2) & ~lesion.mask
    around = {name: int((organ.within(lesion.box) & ring).sum()) for name, organ in organs.items()}
    best = max(around, key=lambda name: around[name], default=None)
    if best is not None and around[best] > SURROUNDED * ring.sum():
        return best
    region = body_region(centre, organs, image)
    return OUTSIDE_ORGANS if region is None else f"{OUTSIDE_ORGANS}: {region}"


def deauville_aid(suv_max: float, blood_pool: float | None, liver: float | None) -> int | None:
    """A Deauville-style score from SUVmax, as an aid to the reader's visual score.

    2: at most the blood pool; 3: above it, at most the liver; 4: above the liver, at most
    twice it; 5: more than twice the liver. None without both references. (1, no uptake, does
    not arise for a lesion found by its uptake.)
    """
    if blood_pool is None or liver is None:
        return None
    if suv_max <= blood_pool:
        return 2
    if suv_max <= liver:
        return 3
    return 4 if suv_max <= MARKEDLY_ABOVE_LIVER * liver else 5


def tumour_burden(lesions: Sequence[Lesion]) -> TumourBurden:
    """Lesion count, total MTV and TLG, and Dmax (largest distance between two centroids)."""
    total_tlg = None
    if lesions and all(lesion.stats.tlg is not None for lesion in lesions):
        total_tlg = float(sum(lesion.stats.tlg or 0.0 for lesion in lesions))
    dmax = None
    if len(lesions) >= 2:
        centres = np.array([lesion.centroid_lps for lesion in lesions])
        gaps = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=-1)
        dmax = float(gaps.max())
    return TumourBurden(len(lesions), float(sum(lesion.stats.volume_ml for lesion in lesions)),
                        total_tlg if lesions and lesions[0].stats.unit.is_suv else None, dmax)
