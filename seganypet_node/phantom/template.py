"""The anatomical template: real anatomy from the shared data, organs placed on it.

XCAT (50th percentile male, 4 mm) gives body, brain, lungs, liver, skeleton and airways;
the TotalSegmentator example CT gives kidney and spleen cross-sections and their positions
relative to the spinal cord; heart, aorta and bladder are parametric shapes placed from the
template's own landmarks. Everything is in the XCAT grid: 4 mm, LPS, index [z, y, x].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from seganypet_node.organs import BY_NAME
from seganypet_node.phantom.anatomy import AIRWAY, BODY, BONE, Grid, Painter

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
XCAT = SHARED_DATA / "xcat_mesh50_4mm" / "labels_4mm.nii.gz"
TOTALSEG = SHARED_DATA / "totalseg_example_ct" / "example_seg.nii.gz"
VOXEL = 4.0
# TotalSegmentator ids and the catalogue organ each shape becomes.
TOTALSEG_SHAPES = {1: "spleen", 2: "kidney_right", 3: "kidney_left"}
SPINAL_CORD = 79
# Long-axis half-lengths (mm) of the shapes extruded from TotalSeg's cross-sections.
HALF_LENGTH = {"spleen": 55.0, "kidney_right": 55.0, "kidney_left": 55.0}


@dataclass(frozen=True)
class Landmarks:
    """Heights (patient z, mm) and the midline of the template."""

    vertex: float
    brain_bottom: float
    lung_top: float
    liver_top: float
    liver_bottom: float
    crotch: float
    mid_x: float
    chest_y: float  # centre of the chest in y at the heart's height


@dataclass(frozen=True)
class Template:
    """Tissue labels on the XCAT grid with the landmarks that placed them."""

    labels: np.ndarray
    grid: Grid
    landmarks: Landmarks


def available() -> bool:
    """Whether the shared anatomy files are present (a user's clone may lack them)."""
    return XCAT.is_file() and TOTALSEG.is_file()


@functools.lru_cache(maxsize=1)
def load_template() -> Template:
    """Build the template once per process."""
    image = sitk.ReadImage(str(XCAT))
    xcat = sitk.GetArrayFromImage(image)
    grid = Grid(xcat.shape, (VOXEL,) * 3, image.GetOrigin())
    labels = np.zeros(xcat.shape, dtype=np.uint8)
    labels[xcat == 1] = BODY
    labels[xcat == 2] = AIRWAY
    labels[xcat == 4] = AIRWAY
    labels[xcat == 7] = BONE
    labels[xcat == 3] = BY_NAME["brain"].label
    labels[xcat == 5] = BY_NAME["liver"].label
    marks = _landmarks(xcat, grid)
    _split_lungs(labels, xcat == 6, grid, marks.mid_x)
    painter = Painter(grid, labels)
    cord = _spinal_cord_line(xcat, grid, marks)
    for name, shape in _totalseg_shapes().items():
        _place_extruded(painter, name, shape, marks, cord)
    _place_heart_aorta_bladder(painter, marks, cord)
    return Template(painter.labels, grid, marks)


def _axis_mm(grid: Grid, axis: int, index: np.ndarray | float) -> np.ndarray:
    return grid.origin[axis] + grid.spacing[axis] * np.asarray(index, dtype=float)


def _landmarks(xcat: np.ndarray, grid: Grid) -> Landmarks:
    def z_range(mask: np.ndarray) -> tuple[float, float]:
        rows = np.nonzero(mask.any(axis=(1, 2)))[0]
        return float(_axis_mm(grid, 2, rows.min())), float(_axis_mm(grid, 2, rows.max()))

    body = xcat > 0
    lung_low, lung_top = z_range(xcat == 6)
    liver_bottom, liver_top = z_range(xcat == 5)
    brain_bottom, _ = z_range(xcat == 3)
    _, vertex = z_range(body)
    chest = xcat[int((lung_low - grid.origin[2]) / VOXEL) + 15]
    ys, xs = np.nonzero(chest == 6)
    return Landmarks(
        vertex=vertex, brain_bottom=brain_bottom, lung_top=lung_top, liver_top=liver_top,
        liver_bottom=liver_bottom, crotch=_crotch(body, grid, liver_bottom),
        mid_x=float(_axis_mm(grid, 0, xs.mean())), chest_y=float(_axis_mm(grid, 1, ys.mean())),
    )


def _crotch(body: np.ndarray, grid: Grid, below: float) -> float:
    """Highest z under the abdomen where the body splits into two legs."""
    top = int((below - grid.origin[2]) / VOXEL)
    for k in range(top, 0, -1):
        parts, count = ndimage.label(body[k])
        sizes = np.bincount(parts.ravel())[1:]
        if (sizes > 400).sum() >= 2 and count >= 2:
            # Arms are small and lateral; two big parts are the legs.
            big = np.argsort(sizes)[-2:] + 1
            centres = [np.nonzero(parts == b)[1].mean() for b in big]
            if abs(centres[0] - centres[1]) * VOXEL < 250:
                return float(_axis_mm(grid, 2, k))
    return float(_axis_mm(grid, 2, top - 60))


def _split_lungs(labels: np.ndarray, lungs: np.ndarray, grid: Grid, mid_x: float) -> None:
    x = _axis_mm(grid, 0, np.arange(lungs.shape[2]))
    left = lungs & (x > mid_x)[None, None, :]
    labels[left] = BY_NAME["lung_left"].label
    labels[lungs & ~left] = BY_NAME["lung_right"].label


def _spinal_cord_line(xcat: np.ndarray, grid: Grid, marks: Landmarks) -> np.ndarray:
    """(x, y) of the spinal canal per slice, from the skeleton near the posterior midline."""
    x = _axis_mm(grid, 0, np.arange(xcat.shape[2]))
    y = _axis_mm(grid, 1, np.arange(xcat.shape[1]))
    line = np.full((xcat.shape[0], 2), np.nan)
    for k in range(xcat.shape[0]):
        near_midline = (np.abs(x - marks.mid_x) < 25)[None, :]
        bone = (xcat[k] == 7) & near_midline & (y > marks.chest_y)[:, None]
        if bone.sum() >= 4:
            ys, xs = np.nonzero(bone)
            # The canal lies ~38 mm behind the front of the vertebral body.
            line[k] = (x[xs].mean(), y[ys].min() + 38.0)
    valid = ~np.isnan(line[:, 0])
    for axis in range(2):  # fill slices without spine (head, legs) by the nearest value
        line[:, axis] = np.interp(np.arange(len(line)), np.nonzero(valid)[0], line[valid, axis])
    return line


def _totalseg_shapes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per organ: its largest axial cross-section (2D mask, 3 mm grid) and its (x, y) offset
    from the spinal cord in mm."""
    image = sitk.ReadImage(str(TOTALSEG))
    seg = sitk.GetArrayFromImage(image)

    def centroid(mask: np.ndarray) -> np.ndarray:
        index = np.argwhere(mask)[:, ::-1].mean(axis=0)
        return np.array(image.TransformContinuousIndexToPhysicalPoint(tuple(map(float, index))))

    cord = centroid(seg == SPINAL_CORD)
    shapes = {}
    for label, name in TOTALSEG_SHAPES.items():
        mask = seg == label
        biggest = int(np.argmax(mask.sum(axis=(1, 2))))
        # The example's array runs right-to-left and anterior-to-posterior: flip both to LPS.
        section = mask[biggest][::-1, ::-1]
        shapes[name] = (section, (centroid(mask) - cord)[:2])
    return shapes


def _place_extruded(painter: Painter, name: str, shape: tuple[np.ndarray, np.ndarray],
                    marks: Landmarks, cord: np.ndarray) -> None:
    section, offset = shape
    grid = painter.grid
    if name == "spleen":
        centre_z = marks.liver_top - 45.0
    else:  # kidneys: hila at L1-L2, the right one lower under the liver
        centre_z = marks.liver_bottom + (5.0 if name == "kidney_right" else 25.0)
    k_centre = round((centre_z - grid.origin[2]) / VOXEL)
    half = HALF_LENGTH[name]
    ys, xs = np.nonzero(section)
    sy, sx = ys.mean(), xs.mean()
    label = BY_NAME[name].label
    for dk in range(-int(half / VOXEL), int(half / VOXEL) + 1):
        k = k_centre + dk
        if not 0 <= k < painter.labels.shape[0]:
            continue
        taper = np.sqrt(max(0.0, 1 - (dk * VOXEL / half) ** 2))
        if taper < 0.2:
            continue
        centre = cord[k] + offset
        # Section pixels (3 mm) scaled by the taper, mapped to the 4 mm grid.
        px = centre[0] + (xs - sx) * 3.0 * taper
        py = centre[1] + (ys - sy) * 3.0 * taper
        ix = np.round((px - grid.origin[0]) / VOXEL).astype(int)
        iy = np.round((py - grid.origin[1]) / VOXEL).astype(int)
        ok = (ix >= 0) & (ix < grid.shape[2]) & (iy >= 0) & (iy < grid.shape[1])
        plane = painter.labels[k]
        plane[iy[ok], ix[ok]] = label
    organ = painter.labels == label
    closed = ndimage.binary_closing(organ, iterations=1)
    painter.labels[closed & ~organ & (painter.labels == BODY)] = label


def _place_heart_aorta_bladder(painter: Painter, marks: Landmarks, cord: np.ndarray) -> None:
    grid = painter.grid
    heart_z = marks.liver_top + 40.0
    heart = (marks.mid_x + 30.0, marks.chest_y - 35.0, heart_z)
    painter.ellipsoid(BY_NAME["heart"].label, heart, (55.0, 45.0, 58.0))

    def cord_at(z: float) -> np.ndarray:
        k = int(np.clip(round((z - grid.origin[2]) / VOXEL), 0, len(cord) - 1))
        return cord[k]

    arch_z = heart_z + 75.0
    bifurcation_z = marks.crotch + 150.0
    aorta_offset = np.array([13.0, -57.0])  # from the spinal cord, as in TotalSeg's example
    descending = [np.array([*(cord_at(z) + aorta_offset), z])
                  for z in np.linspace(arch_z - 20, bifurcation_z, 8)]
    ascending = np.array([heart[0] - 20, heart[1] - 5, heart_z + 35])
    top = np.array([marks.mid_x, (ascending[1] + descending[0][1]) / 2, arch_z])
    painter.tube(BY_NAME["aorta"].label, np.array([ascending, top, *descending]), 11.0)
    bladder_z = marks.crotch + 55.0
    pelvis_y = _torso_centre_y(painter.labels, grid, bladder_z, marks.mid_x)
    painter.ellipsoid(BY_NAME["urinary_bladder"].label,
                      (marks.mid_x, pelvis_y - 30.0, bladder_z), (45.0, 35.0, 35.0))


def _torso_centre_y(labels: np.ndarray, grid: Grid, z: float, mid_x: float) -> float:
    k = round((z - grid.origin[2]) / VOXEL)
    parts, _ = ndimage.label(labels[k] > 0)
    column = round((mid_x - grid.origin[0]) / VOXEL)
    rows = np.nonzero(parts[:, column])[0]
    torso = parts == parts[rows[len(rows) // 2], column] if len(rows) else labels[k] > 0
    return float(_axis_mm(grid, 1, np.nonzero(torso)[0].mean()))
