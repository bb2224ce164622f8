"""The body region of a lesion outside the segmented organs, from the organs around it.

Levels along the body come from the organs found: the lungs' apex (head and neck above it),
the liver's dome or the lungs' base (the diaphragm), the bladder's top and bottom (pelvis, then
the legs). A lesion further from the chest's midline than the lungs reach, by more than
``ARM_MARGIN_MM``, is in an arm. Without the organs a level needs, the region is not named.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.volume import points_of_voxels

ARM_MARGIN_MM = 30.0
THIGH_BELOW_BLADDER_MM = 40.0


def body_region(centroid_lps: tuple[float, float, float], organs: Mapping[str, BoxMask],
                image: sitk.Image) -> str | None:
    """"head and neck", "thorax", "abdomen", "pelvis", "leg" or "arm"; None when the organs
    found do not say."""
    extents = {name: _extent(mask, image) for name, mask in organs.items() if mask.any()}
    x, _, z = centroid_lps
    lungs = [extents[n] for n in ("lung_left", "lung_right") if n in extents]
    if len(lungs) == 2:
        middle = (lungs[0][0].mean() + lungs[1][0].mean()) / 2
        reach = max(abs(lungs[0][0] - middle).max(), abs(lungs[1][0] - middle).max())
        if abs(x - middle) > reach + ARM_MARGIN_MM:
            return "arm"
    apex = max((lung[2].max() for lung in lungs), default=None)
    diaphragm = extents["liver"][2].max() if "liver" in extents else \
        min((lung[2].min() for lung in lungs), default=None)
    bladder = extents.get("urinary_bladder")
    if apex is not None and z > apex:
        return "head and neck"
    if diaphragm is not None and z > diaphragm:
        return "thorax" if apex is not None else None
    if bladder is not None:
        if z < bladder[2].min() - THIGH_BELOW_BLADDER_MM:
            return "leg"
        if z < bladder[2].max():
            return "pelvis"
    return "abdomen" if diaphragm is not None and bladder is not None else None


def _extent(mask: BoxMask, image: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The x and z (patient mm) of the mask's corners of its bounding box, per axis."""
    z, y, x = ((b.start, b.stop - 1) for b in mask.box)  # the box is the mask's own, tight
    corners = np.array([[k, j, i] for k in z for j in y for i in x])
    points = points_of_voxels(image, corners)
    return points[:, 0], points[:, 1], points[:, 2]
