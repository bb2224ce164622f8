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
from seganypet_node.phantom.template import VOXEL, Landmarks, Template
from seganypet_node.phantom.variations import ArmPose, FieldBottom, FieldTop

# Painted last wins: small organs over large ones, the aorta over the heart it leaves.
PAINT_ORDER = ("lung_left", "lung_right", "liver", "spleen", "kidney_left", "kidney_right",
               "brain", "heart", "urinary_bladder", "aorta")
TEMPLATE_HEIGHT_MM = 1760.0
ARM_CENTRE_MM = 175.0  # body parts centred further off the midline than this are arms


@dataclass(frozen=True)
class FieldOfView:
    """The output grid: matrix, voxel size, number of slices and where the top slice is.

    ``top`` replaces ``coverage`` when given; with ``bottom`` the number of slices follows
    from the subject's height instead of ``slices``; ``slice_mm`` defaults to ``voxel_mm``.
    """

    matrix: int
    voxel_mm: float
    slices: int
    coverage: str  # "vertex" or "skull_base"
    slice_mm: float | None = None
    top: FieldTop | None = None
    bottom: FieldBottom | None = None


def subject_labels(template: Template, subject: Subject, fov: FieldOfView,
                   rng: np.random.Generator,
                   arms: ArmPose | None = None) -> tuple[np.ndarray, Grid]:
    """The subject's label map on its PET grid (ground truth), and that grid.

    ``arms`` overrides the subject's ``arms_up`` (crossed forearms are painted on the output
    grid by :mod:`findings`; here they are only taken away from beside the body).
    """
    pose = arms or (ArmPose.BESIDE_HEAD if subject.arms_up else ArmPose.DOWN)
    labels = _jitter_organs(template, subject)
    if pose is ArmPose.CROSSED:
        _remove_hanging_arms(labels, template, template.landmarks.liver_top - 40.0)
    elif pose is not ArmPose.DOWN:
        _raise_arms(labels, template, over_head=pose is ArmPose.OVER_HEAD)
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


def _raise_arms(labels: np.ndarray, template: Template, over_head: bool = False) -> None:
    """Remove the arms hanging beside the body and add arms raised beside the head (or
    reaching over it)."""
    marks, grid = template.landmarks, template.grid
    x = grid.origin[0] + VOXEL * np.arange(labels.shape[2])
    lateral = np.abs(x - marks.mid_x)
    lungs = np.isin(labels, [BY_NAME["lung_left"].label, BY_NAME["lung_right"].label])
    chest_half_width = float(lateral[lungs.any(axis=(0, 1))].max()) + 30.0
    _remove_hanging_arms(labels, template, marks.lung_top)

    def slice_index(z: float) -> int:
        return int(np.clip(round((z - grid.origin[2]) / VOXEL), 0, labels.shape[0]))

    # The shoulders: arms join the trunk there, so cut beyond the rib cage.
    shoulders = slice(slice_index(marks.lung_top - 250.0), slice_index(marks.lung_top + 40.0))
    labels[shoulders][..., lateral > chest_half_width] = 0
    painter = Painter(grid, labels)
    y = marks.chest_y
    for side in (-1, 1):
        arm_x = marks.mid_x + side * 115.0
        low, high = marks.lung_top - 20.0, marks.vertex + 350.0
        if over_head:  # upper arms beside the head, forearms bent in above it
            path = np.array([[arm_x, y, low], [arm_x, y, marks.vertex - 60.0],
                             [marks.mid_x + side * 45.0, y, marks.vertex + 40.0]])
            painter.tube(BODY, path, 38.0, only_inside=(0, BODY))
            painter.tube(BONE, path, 11.0, only_inside=BODY)
            continue
        painter.cylinder(BODY, (arm_x, y), (40.0, 40.0), (low, high))
        painter.cylinder(BONE, (arm_x, y), (12.0, 12.0), (low, high))


def _remove_hanging_arms(labels: np.ndarray, template: Template, up_to: float) -> None:
    """Take away everything off the midline from mid-thigh (the hands) up to ``up_to``."""
    marks, grid = template.landmarks, template.grid

    def slice_index(z: float) -> int:
        return int(np.clip(round((z - grid.origin[2]) / VOXEL), 0, labels.shape[0]))

    for k in range(slice_index(marks.crotch - 350.0), slice_index(up_to)):
        parts, count = ndimage.label(labels[k] > 0)
        if count < 2:
            continue
        centres = ndimage.center_of_mass(np.ones_like(parts), parts, range(1, count + 1))
        for part, (_, cx) in enumerate(centres, start=1):
            if abs(grid.origin[0] + VOXEL * cx - marks.mid_x) > ARM_CENTRE_MM:
                labels[k][parts == part] = 0


# Ends of the field of view: template z (mm) of the cranial and caudal slice.
def _top_z(marks: Landmarks, top: FieldTop) -> float:
    return {FieldTop.VERTEX: marks.vertex,
            FieldTop.MID_BRAIN: (marks.vertex + marks.brain_bottom) / 2,
            FieldTop.ORBITS: marks.brain_bottom + 60.0,
            FieldTop.SKULL_BASE: marks.brain_bottom + 30.0}[top]


def _bottom_z(marks: Landmarks, bottom: FieldBottom) -> float:
    return {FieldBottom.PELVIS: marks.crotch - 40.0, FieldBottom.MID_THIGH: marks.crotch - 200.0,
            FieldBottom.KNEES: marks.crotch - 300.0, FieldBottom.FEET: VOXEL}[bottom]


def _output_grid(template: Template, subject: Subject, fov: FieldOfView) -> Grid:
    marks = template.landmarks
    height = subject.height_mm / TEMPLATE_HEIGHT_MM
    step = fov.slice_mm or fov.voxel_mm
    top_mark = fov.top or (FieldTop.SKULL_BASE if fov.coverage == "skull_base"
                           else FieldTop.VERTEX)
    if top_mark is FieldTop.VERTEX:
        top = 2 * step
    else:
        top = (_top_z(marks, top_mark) - marks.vertex) * height
    slices = fov.slices
    if fov.bottom is not None:
        bottom = (_bottom_z(marks, fov.bottom) - marks.vertex) * height
        slices = int(np.ceil((top - bottom) / step)) + 1
    half = (fov.matrix - 1) / 2 * fov.voxel_mm
    origin_z = top - (slices - 1) * step
    return Grid((slices, fov.matrix, fov.matrix), (fov.voxel_mm, fov.voxel_mm, step),
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
