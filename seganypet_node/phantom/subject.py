"""One subject from the template: organ sizes and positions, arms, body size, field of view.

Patient coordinates of a subject: x = (template x - midline) * girth, y = (template y - chest
centre) * girth, z = (template z - vertex) * height scale, so the vertex sits at z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from seganypet_node.organs import BY_NAME
from seganypet_node.phantom.anatomy import BODY, BONE, FAT, Grid, Painter, Subject
from seganypet_node.phantom.template import VOXEL, Template

# Painted last wins: small organs over large ones, the aorta over the heart it leaves.
PAINT_ORDER = ("lung_left", "lung_right", "liver", "spleen", "kidney_left", "kidney_right",
               "brain", "heart", "urinary_bladder", "aorta")
TEMPLATE_HEIGHT_MM = 1760.0
ARM_CENTRE_MM = 175.0  # body parts centred further off the midline than this are arms


@dataclass(frozen=True)
class FieldOfView:
    """The output grid: matrix, voxel size, number of slices and where the top slice is."""

    matrix: int
    voxel_mm: float
    slices: int
    coverage: str  # "vertex" or "skull_base"


def subject_labels(template: Template, subject: Subject, fov: FieldOfView,
                   rng: np.random.Generator) -> tuple[np.ndarray, Grid]:
    """The subject's label map on its PET grid (ground truth), and that grid."""
    labels = _jitter_organs(template, subject)
    if subject.arms_up:
        _raise_arms(labels, template)
    grid = _output_grid(template, subject, fov)
    sampled = _sample(labels, template, subject, grid)
    _add_fat(sampled, grid, subject.girth)
    return sampled, grid


def _jitter_organs(template: Template, subject: Subject) -> np.ndarray:
    labels = template.labels.copy()
    masks = {}
    for name in PAINT_ORDER:
        label = BY_NAME[name].label
        masks[name] = labels == label
        labels[masks[name]] = BODY
    body = labels > 0
    for name in PAINT_ORDER:
        moved = _scale_shift(masks[name], subject.organ_scale[name],
                             np.asarray(subject.organ_shift[name]) / VOXEL)
        labels[moved & body] = BY_NAME[name].label
    return labels


def _scale_shift(mask: np.ndarray, scale: float, shift_voxels: np.ndarray) -> np.ndarray:
    """A binary mask scaled about its centroid and shifted (shift in x, y, z voxels)."""
    if not mask.any():
        return mask
    centre = np.array(ndimage.center_of_mass(mask))
    shift_zyx = shift_voxels[::-1]
    # output index o maps to input index centre + (o - centre - shift) / scale
    offset = centre - (centre + shift_zyx) / scale
    out = ndimage.affine_transform(mask.astype(np.uint8), np.full(3, 1 / scale), offset=offset,
                                   order=0, mode="constant")
    return out.astype(bool)


def _raise_arms(labels: np.ndarray, template: Template) -> None:
    """Remove the arms hanging beside the body and add arms raised beside the head."""
    marks, grid = template.landmarks, template.grid
    x = grid.origin[0] + VOXEL * np.arange(labels.shape[2])
    lateral = np.abs(x - marks.mid_x)
    lungs = np.isin(labels, [BY_NAME["lung_left"].label, BY_NAME["lung_right"].label])
    chest_half_width = float(lateral[lungs.any(axis=(0, 1))].max()) + 30.0

    def slice_index(z: float) -> int:
        return int(np.clip(round((z - grid.origin[2]) / VOXEL), 0, labels.shape[0]))

    # Hands reach mid-thigh; everything off the midline there is arm.
    for k in range(slice_index(marks.crotch - 350.0), slice_index(marks.lung_top)):
        parts, count = ndimage.label(labels[k] > 0)
        if count < 2:
            continue
        centres = ndimage.center_of_mass(np.ones_like(parts), parts, range(1, count + 1))
        for part, (_, cx) in enumerate(centres, start=1):
            if abs(grid.origin[0] + VOXEL * cx - marks.mid_x) > ARM_CENTRE_MM:
                labels[k][parts == part] = 0
    # The shoulders: arms join the trunk there, so cut beyond the rib cage.
    shoulders = slice(slice_index(marks.lung_top - 250.0), slice_index(marks.lung_top + 40.0))
    labels[shoulders][..., lateral > chest_half_width] = 0
    painter = Painter(grid, labels)
    y = marks.chest_y
    for side in (-1, 1):
        arm_x = marks.mid_x + side * 115.0
        low, high = marks.lung_top - 20.0, marks.vertex + 350.0
        painter.cylinder(BODY, (arm_x, y), (40.0, 40.0), (low, high))
        painter.cylinder(BONE, (arm_x, y), (12.0, 12.0), (low, high))


def _output_grid(template: Template, subject: Subject, fov: FieldOfView) -> Grid:
    marks = template.landmarks
    height = subject.height_mm / TEMPLATE_HEIGHT_MM
    if fov.coverage == "skull_base":
        top = (marks.brain_bottom - marks.vertex) * height + 30.0
    else:
        top = 2 * fov.voxel_mm
    half = (fov.matrix - 1) / 2 * fov.voxel_mm
    origin_z = top - (fov.slices - 1) * fov.voxel_mm
    return Grid((fov.slices, fov.matrix, fov.matrix), (fov.voxel_mm,) * 3,
                (-half, -half, origin_z))


def _sample(labels: np.ndarray, template: Template, subject: Subject, grid: Grid) -> np.ndarray:
    """Nearest-neighbour sampling of the template labels at the subject's voxel positions."""
    marks = template.landmarks
    scale = np.array([subject.girth, subject.girth, subject.height_mm / TEMPLATE_HEIGHT_MM])
    reference = np.array([marks.mid_x, marks.chest_y, marks.vertex])
    # output index (z, y, x) -> patient mm -> template mm -> template index
    out_origin = np.array(grid.origin)[::-1]
    out_spacing = np.array(grid.spacing)[::-1]
    t_origin = np.array(template.grid.origin)[::-1]
    s = scale[::-1]
    matrix = out_spacing / s / VOXEL
    offset = (out_origin / s + reference[::-1] - t_origin) / VOXEL
    return ndimage.affine_transform(labels, matrix, offset=offset, output_shape=grid.shape,
                                    order=0, mode="constant", cval=0)


def _add_fat(labels: np.ndarray, grid: Grid, girth: float) -> None:
    """Subcutaneous fat: a layer under the skin, thicker in bigger subjects."""
    thickness = 6.0 + 40.0 * max(girth - 0.85, 0.0)
    inside = ndimage.distance_transform_edt(labels > 0, sampling=grid.spacing[::-1])
    labels[(labels == BODY) & (inside < thickness)] = FAT
