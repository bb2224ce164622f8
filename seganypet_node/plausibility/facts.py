"""What the plausibility rules look at: each organ's size, place, pieces and uptake, and the body.

Positions are patient LPS millimetres (x toward the patient's left, z toward the head), so the
rules read the same whatever the grid's orientation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from seganypet_node.atlas.register import tissue_level
from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.volume import points_of_voxels

STANDARD_WEIGHT_KG = 70.0
STANDARD_HEIGHT_M = 1.75
EDGE_SLICES = 2  # a mask this close to the first or last slice is cut by the field of view
BODY_SHARE = 0.3  # of the soft-tissue level: inside the body
# Without weight or height the ranges are widened, for patients from small to large.
UNKNOWN_VOLUME_SLACK = 1.8
UNKNOWN_LENGTH_SLACK = 1.3
# The body's depth at a point is read within this height and this width around it.
DEPTH_SLAB_MM = 12.0
DEPTH_STRIP_MM = 40.0


@dataclass(frozen=True)
class OrganFacts:
    """One segmented organ, measured for the plausibility rules.

    Attributes
    ----------
    volume_ml : float
        Mask volume.
    centre : tuple of float
        Centre of mass, LPS mm.
    top_mm, bottom_mm : float
        Highest and lowest LPS z of the mask.
    largest_share : float
        Share of the mask's voxels in its largest connected piece.
    pieces : int
        Connected pieces.
    median_suv : float
        Median of the organ's values (SUVbw when the header gave SUV).
    cut_by_field : bool
        The mask reaches the first or last slices: the field of view cuts the organ.
    """

    volume_ml: float
    centre: tuple[float, float, float]
    top_mm: float
    bottom_mm: float
    largest_share: float
    pieces: int
    median_suv: float
    cut_by_field: bool


@dataclass(frozen=True)
class BodyFacts:
    """The patient as a whole: midline, size, outline and where the expectations were scaled
    from.

    Attributes
    ----------
    midline_x : float
        LPS x of the body's middle (median over the body's voxels).
    volume_factor : float
        Organ volumes are expected this many times a standard adult's.
    length_factor : float
        Distances between organs are expected this many times a standard adult's.
    size_note : str
        What the factors come from.
    volume_slack, length_slack : float
        Extra width of the ranges when the factor is a guess (no weight, no height).
    outline : numpy.ndarray
        LPS points (N x 3) of a sample of the body's voxels.
    """

    midline_x: float
    volume_factor: float
    length_factor: float
    size_note: str
    volume_slack: float = 1.0
    length_slack: float = 1.0
    outline: np.ndarray = field(default_factory=lambda: np.empty((0, 3)), repr=False,
                                compare=False)

    def depth_share(self, point: tuple[float, float, float]) -> float | None:
        """How far back ``point`` lies in the body at its level: 0 at the front (anterior)
        skin, 1 at the back, from the body's voxels within a strip around the point."""
        near = self.outline[(np.abs(self.outline[:, 2] - point[2]) <= DEPTH_SLAB_MM)
                            & (np.abs(self.outline[:, 0] - point[0]) <= DEPTH_STRIP_MM)]
        if len(near) == 0:
            return None
        front, back = float(near[:, 1].min()), float(near[:, 1].max())  # LPS +y: posterior
        return (point[1] - front) / (back - front) if back > front else None

    def volume_range(self, low: float, high: float) -> tuple[float, float]:
        """A standard adult's range (ml) for this patient."""
        f = self.volume_factor
        return low * f / self.volume_slack, high * f * self.volume_slack

    def length_range(self, low: float, high: float) -> tuple[float, float]:
        """A standard adult's range of distances (mm) for this patient."""
        f = self.length_factor
        return low * f / self.length_slack, high * f * self.length_slack


def organ_facts(mask: BoxMask, values: np.ndarray, image: sitk.Image) -> OrganFacts:
    """Measure one non-empty mask on ``image``'s grid of values ``values``."""
    index = mask.indices()
    points = points_of_voxels(image, index)
    spacing = image.GetSpacing()
    labelled, pieces = ndimage.label(mask.local)
    sizes = np.bincount(labelled.ravel())[1:]
    slices = mask.shape[0]
    z_first, z_last = int(index[:, 0].min()), int(index[:, 0].max())
    return OrganFacts(
        volume_ml=float(len(index) * np.prod(spacing) / 1000.0),
        centre=(float(points[:, 0].mean()), float(points[:, 1].mean()),
                float(points[:, 2].mean())),
        top_mm=float(points[:, 2].max()), bottom_mm=float(points[:, 2].min()),
        largest_share=float(sizes.max() / sizes.sum()), pieces=int(pieces),
        median_suv=float(np.median(mask.values_in(values))),
        cut_by_field=z_first < EDGE_SLICES or z_last >= slices - EDGE_SLICES,
    )


def body_facts(suv: sitk.Image, weight_kg: float | None, height_m: float | None) -> BodyFacts:
    """Midline from the body's voxels; size factors from the header's weight and height."""
    values = sitk.GetArrayViewFromImage(suv)[::2, ::2, ::2]
    body = np.argwhere(values > BODY_SHARE * tissue_level(np.asarray(values)))
    outline = points_of_voxels(suv, body * 2)
    midline = float(np.median(outline[:, 0]))
    notes = []
    volume_factor = length_factor = 1.0
    volume_slack, length_slack = UNKNOWN_VOLUME_SLACK, UNKNOWN_LENGTH_SLACK
    if weight_kg and weight_kg > 0:
        volume_factor, volume_slack = float(np.clip(weight_kg / STANDARD_WEIGHT_KG, 0.4, 2.5)), 1.0
        notes.append(f"weight {weight_kg:g} kg")
    if height_m and 1.0 < height_m < 2.5:
        length_factor, length_slack = float(np.clip(height_m / STANDARD_HEIGHT_M, 0.6, 1.4)), 1.0
        notes.append(f"height {height_m:g} m")
    note = ", ".join(notes) if notes else "no weight or height in the header: an adult"
    return BodyFacts(midline, volume_factor, length_factor, note, volume_slack, length_slack,
                     outline)
