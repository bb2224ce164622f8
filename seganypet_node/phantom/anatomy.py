"""Parametric whole-body anatomy: a label map of organs placed from body proportions.

Coordinates are patient LPS in mm (x to the patient's left, y posterior, z to the head); the
label array is indexed ``[z, y, x]`` like a stack of axial DICOM slices.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE

BODY = 20  # soft tissue, muscle
FAT = 21
BONE = 22  # spine and pelvis: red marrow uptake
AIRWAY = 23
# Tissues of the hard population (:mod:`variations`): uptake that is not a catalogue organ.
BOWEL = 24
URINE = 25  # ureters, catheter and urine bag: the bladder's activity
MUSCLE = 26
BROWN_FAT = 27
INJECTION = 28
EFFUSION = 29
NECROSIS = 30  # cold core of a tumour
BACKGROUND_NAMES = {BODY: "body", FAT: "fat", BONE: "bone_marrow", AIRWAY: "airway",
                    BOWEL: "bowel", URINE: "urine", MUSCLE: "active_muscle",
                    BROWN_FAT: "brown_fat", INJECTION: "injection_site", EFFUSION: "effusion",
                    NECROSIS: "necrosis"}


@dataclass(frozen=True)
class Grid:
    """Voxel grid of the phantom: shape ``(nz, ny, nx)``, spacing and origin in mm (LPS)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]  # (x, y, z)
    origin: tuple[float, float, float]  # centre of voxel [0, 0, 0], (x, y, z)

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patient x, y, z coordinates of the voxel centres along each array axis."""
        nz, ny, nx = self.shape
        return (
            self.origin[0] + self.spacing[0] * np.arange(nx),
            self.origin[1] + self.spacing[1] * np.arange(ny),
            self.origin[2] + self.spacing[2] * np.arange(nz),
        )


@dataclass(frozen=True)
class Subject:
    """Per-subject variation drawn from the seed."""

    height_mm: float
    girth: float
    arms_up: bool
    organ_scale: dict[str, float]
    organ_shift: dict[str, tuple[float, float, float]]

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Subject:
        names = [*BY_NAME, "body"]
        return cls(
            height_mm=float(rng.uniform(1600, 1900)),
            girth=float(rng.uniform(0.85, 1.25)),
            arms_up=bool(rng.random() < 0.5),
            organ_scale={n: float(rng.uniform(0.85, 1.15)) for n in names},
            organ_shift={n: tuple(rng.normal(0, 6, 3).round(1)) for n in names},
        )


class Painter:
    """Draws shapes into a label map, each within its bounding box only.

    Paints into ``labels`` in place when given (shape ``grid.shape``), else into a new map.
    """

    def __init__(self, grid: Grid, labels: np.ndarray | None = None) -> None:
        self.grid = grid
        self.labels = np.zeros(grid.shape, dtype=np.uint8) if labels is None else labels
        self._x, self._y, self._z = grid.axes()

    def ellipsoid(
        self, label: int, centre: tuple[float, float, float], radii: tuple[float, float, float],
        only_inside: int | Collection[int] | None = None,
    ) -> None:
        """Paint an axis-aligned ellipsoid (optionally only over voxels already ``only_inside``,
        one label or several)."""
        box = self._box(centre, radii)
        if box is None:
            return
        zs, ys, xs = box
        z = (self._z[zs] - centre[2]) / radii[2]
        y = (self._y[ys] - centre[1]) / radii[1]
        x = (self._x[xs] - centre[0]) / radii[0]
        inside = z[:, None, None] ** 2 + y[None, :, None] ** 2 + x[None, None, :] ** 2 <= 1.0
        region = self.labels[zs, ys, xs]
        if only_inside is not None:
            inside &= np.isin(region, [only_inside] if isinstance(only_inside, int)
                              else list(only_inside))
        region[inside] = label

    def cylinder(
        self, label: int, centre_xy: tuple[float, float], radii_xy: tuple[float, float],
        z_range: tuple[float, float],
    ) -> None:
        """Paint an elliptic cylinder along z between ``z_range`` (low, high)."""
        mid = (z_range[0] + z_range[1]) / 2
        half = (z_range[1] - z_range[0]) / 2
        box = self._box((centre_xy[0], centre_xy[1], mid), (radii_xy[0], radii_xy[1], half))
        if box is None:
            return
        zs, ys, xs = box
        y = (self._y[ys] - centre_xy[1]) / radii_xy[1]
        x = (self._x[xs] - centre_xy[0]) / radii_xy[0]
        disc = y[:, None] ** 2 + x[None, :] ** 2 <= 1.0
        self.labels[zs, ys, xs][:, disc] = label

    def tube(self, label: int, points: np.ndarray, radius: float,
             only_inside: int | Collection[int] | None = None) -> None:
        """Paint a tube of ``radius`` along a polyline of (x, y, z) points."""
        for start, end in itertools.pairwise(points):
            steps = max(2, int(np.linalg.norm(end - start) / (radius / 2)))
            for t in np.linspace(0, 1, steps):
                c = start + t * (end - start)
                self.ellipsoid(label, (c[0], c[1], c[2]), (radius, radius, radius), only_inside)

    def _box(
        self, centre: tuple[float, float, float], radii: tuple[float, float, float]
    ) -> tuple[slice, slice, slice] | None:
        spans = []
        for axis, c, r in ((self._z, centre[2], radii[2]), (self._y, centre[1], radii[1]),
                           (self._x, centre[0], radii[0])):
            # Grid axes ascend (positive spacing), so searchsorted gives the index range.
            lo, hi = int(np.searchsorted(axis, c - r)), int(np.searchsorted(axis, c + r))
            if hi <= lo:
                return None
            spans.append(slice(lo, hi))
        return spans[0], spans[1], spans[2]


def build_labels(grid: Grid, subject: Subject, vertex_z: float,
                 lesions: list[tuple[tuple[float, float, float], float]]) -> np.ndarray:
    """Label map of one subject whose vertex (top of head) lies at patient z ``vertex_z``."""
    p = Painter(grid)
    h, g = subject.height_mm, subject.girth

    def z(frac: float) -> float:
        return vertex_z - frac * h

    def at(name: str, x: float, y: float, frac: float) -> tuple[float, float, float]:
        dx, dy, dz = subject.organ_shift[name]
        return (x + dx, y + dy, z(frac) + dz)

    def size(name: str, rx: float, ry: float, rz: float) -> tuple[float, float, float]:
        s = subject.organ_scale[name]
        return (rx * s, ry * s, rz * s)

    _paint_body(p, subject, z)
    p.ellipsoid(BY_NAME["brain"].label, at("brain", 0, 5, 0.06), size("brain", 62, 78, 55))
    for name, side in (("lung_left", 1), ("lung_right", -1)):
        p.ellipsoid(BY_NAME[name].label, at(name, side * 78 * g, 10, 0.265),
                    size(name, 58 * g, 80 * g, 125), only_inside=BODY)
    p.ellipsoid(BY_NAME["heart"].label, at("heart", 28, -25, 0.30), size("heart", 58, 48, 60))
    p.ellipsoid(BY_NAME["liver"].label, at("liver", -68 * g, 5, 0.37),
                size("liver", 95 * g, 80 * g, 78), only_inside=BODY)
    p.ellipsoid(BY_NAME["spleen"].label, at("spleen", 92 * g, 45, 0.365),
                size("spleen", 32, 50, 55), only_inside=BODY)
    for name, side in (("kidney_left", 1), ("kidney_right", -1)):
        p.ellipsoid(BY_NAME[name].label, at(name, side * 62, 62, 0.415), size(name, 30, 28, 55))
    p.ellipsoid(BY_NAME["urinary_bladder"].label, at("urinary_bladder", 0, -25, 0.53),
                size("urinary_bladder", 45, 38, 35))
    aorta = np.array([at("aorta", 0, 0, f) for f in (0.27, 0.255, 0.27, 0.33, 0.40, 0.47)])
    aorta[:, :2] += np.array([[20, 30], [10, 0], [25, 45], [18, 45], [12, 42], [5, 40]])
    p.tube(BY_NAME["aorta"].label, aorta, 11.0 * subject.organ_scale["aorta"])
    for k, (centre, radius) in enumerate(lesions, start=1):
        p.ellipsoid(LESION_LABEL_BASE + k, centre, (radius, radius, radius))
    return p.labels


def _paint_body(p: Painter, subject: Subject, zf: Callable[[float], float]) -> None:
    g = subject.girth
    p.ellipsoid(BODY, (0, 0, zf(0.065)), (78, 95, 112))
    p.cylinder(BODY, (0, 0), (55, 55), (zf(0.18), zf(0.11)))
    p.cylinder(FAT, (0, 0), (175 * g, 118 * g), (zf(0.53), zf(0.175)))
    p.cylinder(BODY, (0, 0), (160 * g, 105 * g), (zf(0.53), zf(0.175)))
    for side in (-1, 1):
        p.cylinder(FAT, (side * 90 * g, 0), (78 * g, 78 * g), (zf(1.0), zf(0.52)))
        p.cylinder(BODY, (side * 90 * g, 0), (70 * g, 70 * g), (zf(1.0), zf(0.52)))
        if subject.arms_up:
            p.cylinder(BODY, (side * 110, 0), (38, 38), (zf(0.02), zf(-0.30)))
        else:
            p.cylinder(BODY, (side * (175 * g + 45), 10), (38, 40), (zf(0.56), zf(0.19)))
    p.cylinder(BONE, (0, 75 * g), (17, 15), (zf(0.50), zf(0.15)))
    p.ellipsoid(BONE, (0, 40 * g, zf(0.50)), (120 * g, 45, 40), only_inside=BODY)
