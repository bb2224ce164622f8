"""Paint a :class:`~variations.Variation` onto a subject's label map on its PET grid.

Everything is placed from the subject's own organs (centroids, extents), so it follows the
subject's size, pose and field of view; a feature whose anchor is outside the field is left
out. Tumours are painted last, as lesion labels, with their necrotic cores.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE
from seganypet_node.phantom.anatomy import (
    BODY,
    BONE,
    BOWEL,
    BROWN_FAT,
    EFFUSION,
    FAT,
    INJECTION,
    MUSCLE,
    NECROSIS,
    URINE,
    Grid,
    Painter,
)
from seganypet_node.phantom.variations import ArmPose, Tumour, TumourSite, Variation

SOFT = (BODY, FAT, MUSCLE, BROWN_FAT)  # tissue a new structure may displace


class _Subject:
    """Organ positions of one label map, in patient mm."""

    def __init__(self, labels: np.ndarray, grid: Grid) -> None:
        self.labels, self.grid = labels, grid
        self.x, self.y, self.z = grid.axes()

    def points(self, mask: np.ndarray) -> np.ndarray:
        zyx = np.argwhere(mask)
        return np.stack([self.x[zyx[:, 2]], self.y[zyx[:, 1]], self.z[zyx[:, 0]]], axis=1)

    def organ(self, name: str, minimum: int = 30) -> np.ndarray | None:
        """Voxel centres (x, y, z) of an organ, or None when the field misses it."""
        mask = self.labels == BY_NAME[name].label
        return self.points(mask) if mask.sum() >= minimum else None

    def body_in(self, z_low: float, z_high: float, lateral_min: float = 0.0) -> np.ndarray:
        ks = np.nonzero((self.z >= z_low) & (self.z <= z_high))[0]
        if len(ks) == 0:
            return np.empty((0, 3))
        block = np.isin(self.labels[ks[0]:ks[-1] + 1], SOFT)
        block &= (np.abs(self.x) >= lateral_min)[None, None, :]
        pts = self.points(block)
        pts[:, 2] += self.z[ks[0]] - self.z[0]
        return pts


def paint_findings(labels: np.ndarray, grid: Grid, variation: Variation,
                   rng: np.random.Generator) -> None:
    """Paint ``variation`` into ``labels`` in place (organ labels only shrink, never grow)."""
    subject = _Subject(labels, grid)
    painter = Painter(grid, labels)
    if variation.arms is ArmPose.CROSSED:
        _crossed_forearms(subject, painter)
    if variation.effusion:
        _effusion(subject, variation.effusion, rng)
    if variation.hot_bowel:
        _bowel(subject, painter, rng)
    if variation.ureters:
        _ureters(subject, painter)
    if variation.catheter:
        _catheter(subject, painter)
    if variation.muscle:
        _blobs(subject, painter, MUSCLE, _muscle_regions(subject), rng, (10.0, 25.0), BODY)
    if variation.brown_fat:
        _blobs(subject, painter, BROWN_FAT, _brown_fat_regions(subject), rng, (7.0, 14.0),
               (FAT, BODY))
    if variation.injection_site:
        _injection_site(subject, painter, variation.arms, rng)
    for k, tumour in enumerate(variation.tumours, start=1):
        _tumour(subject, painter, LESION_LABEL_BASE + k, tumour, variation.arms, rng)


def _crossed_forearms(subject: _Subject, painter: Painter) -> None:
    """Forearms from beside the lower chest, folded over the front of the abdomen."""
    liver = subject.organ("liver")
    if liver is None:
        return
    z_elbow = float(liver[:, 2].max()) - 40.0
    front = subject.body_in(z_elbow - 160.0, z_elbow - 80.0)
    if len(front) == 0:
        return
    y_front = float(front[:, 1].min()) - 32.0
    half = float(np.abs(front[:, 0]).max())
    for side in (-1, 1):
        elbow = np.array([side * (half + 35.0), 20.0, z_elbow])
        wrist = np.array([-side * 0.6 * half, y_front, z_elbow - 110.0 - 25.0 * side])
        painter.tube(BODY, np.array([elbow, [side * half * 0.8, y_front, z_elbow - 50.0],
                                     wrist]), 30.0, only_inside=0)


def _effusion(subject: _Subject, side: str, rng: np.random.Generator) -> None:
    """Pleural fluid in the dependent (posterior, lower) part of one or both lungs."""
    names = {"left": ["lung_left"], "right": ["lung_right"],
             "both": ["lung_left", "lung_right"]}[side]
    for name in names:
        mask = subject.labels == BY_NAME[name].label
        if mask.sum() < 100:
            continue
        zyx = np.argwhere(mask)
        z, y = subject.z[zyx[:, 0]], subject.y[zyx[:, 1]]
        height, depth = np.ptp(z) + 1e-6, np.ptp(y) + 1e-6
        level = (z - z.min()) / height + (y.max() - y) / depth
        fluid = level < rng.uniform(0.35, 0.8)
        chosen = zyx[fluid]
        subject.labels[chosen[:, 0], chosen[:, 1], chosen[:, 2]] = EFFUSION


def _bowel(subject: _Subject, painter: Painter, rng: np.random.Generator) -> None:
    """Loops of hot bowel between the kidneys and the bladder, in front of the spine."""
    kidneys = [k for k in (subject.organ("kidney_left"), subject.organ("kidney_right"))
               if k is not None]
    if not kidneys:
        return
    top = float(np.mean([k[:, 2].mean() for k in kidneys]))
    bladder = subject.organ("urinary_bladder")
    bottom = float(bladder[:, 2].max()) if bladder is not None else top - 200.0
    y_back = float(np.mean([k[:, 1].mean() for k in kidneys])) - 20.0
    for _ in range(int(rng.integers(3, 7))):
        point = np.array([rng.uniform(-90, 90), rng.uniform(y_back - 110, y_back),
                          rng.uniform(bottom, top)])
        loop = [point]
        for _ in range(int(rng.integers(4, 9))):
            point = point + rng.normal(0, 25, 3)
            point[2] = np.clip(point[2], bottom, top)
            loop.append(point)
        painter.tube(BOWEL, np.array(loop), float(rng.uniform(7, 11)), only_inside=SOFT)


def _ureters(subject: _Subject, painter: Painter) -> None:
    bladder = subject.organ("urinary_bladder")
    if bladder is None:
        return
    end = bladder.mean(axis=0)
    for name in ("kidney_left", "kidney_right"):
        kidney = subject.organ(name)
        if kidney is None:
            continue
        start = kidney.mean(axis=0)
        hilum = start + np.array([-0.35 * start[0], -10.0, -20.0])
        middle = np.array([0.55 * hilum[0], hilum[1] - 15.0, (hilum[2] + end[2]) / 2])
        entry = end + np.array([0.5 * hilum[0] / max(abs(hilum[0]), 1.0) * 25.0, 10.0, 10.0])
        painter.tube(URINE, np.array([hilum, middle, entry]), 3.0, only_inside=SOFT)


def _catheter(subject: _Subject, painter: Painter) -> None:
    """A catheter from the bladder along the inner thigh to a bag beside the knee."""
    bladder = subject.organ("urinary_bladder")
    if bladder is None:
        return
    base = bladder.mean(axis=0) - np.array([0.0, 0.0, np.ptp(bladder[:, 2]) / 2])
    thigh = subject.body_in(base[2] - 300.0, base[2] - 250.0)
    outer = float(np.abs(thigh[:, 0]).max()) if len(thigh) else 200.0
    bag = np.array([outer + 45.0, 0.0, base[2] - 380.0])
    line = np.array([base, base + np.array([20.0, 0.0, -120.0]),
                     [outer - 30.0, -40.0, base[2] - 280.0],
                     [outer + 30.0, -10.0, bag[2] + 90.0], bag])
    painter.tube(URINE, line, 3.0, only_inside=(*SOFT, 0))
    painter.ellipsoid(URINE, (bag[0], bag[1], bag[2]), (35.0, 25.0, 80.0), only_inside=0)


def _muscle_regions(subject: _Subject) -> list[np.ndarray]:
    """Candidate centres: neck and shoulder girdle, paravertebral trunk, thighs."""
    lungs = [p for p in (subject.organ("lung_left"), subject.organ("lung_right")) if p is not None]
    bladder = subject.organ("urinary_bladder")
    regions = []
    if lungs:
        top = max(float(p[:, 2].max()) for p in lungs)
        regions.append(subject.body_in(top - 40.0, top + 80.0, 40.0))
        regions.append(subject.body_in(top - 300.0, top - 60.0, 25.0))
    if bladder is not None:
        low = float(bladder[:, 2].min())
        regions.append(subject.body_in(low - 350.0, low - 50.0, 50.0))
    return [r for r in regions if len(r)]


def _brown_fat_regions(subject: _Subject) -> list[np.ndarray]:
    """Neck, supraclavicular fossae and the paravertebral fat of the upper chest."""
    lungs = [p for p in (subject.organ("lung_left"), subject.organ("lung_right")) if p is not None]
    if not lungs:
        return []
    top = max(float(p[:, 2].max()) for p in lungs)
    return [r for r in (subject.body_in(top - 20.0, top + 70.0, 25.0),
                        subject.body_in(top - 160.0, top - 20.0, 20.0)) if len(r)]


def _blobs(subject: _Subject, painter: Painter, label: int, regions: list[np.ndarray],
           rng: np.random.Generator, radius_mm: tuple[float, float],
           over: int | tuple[int, ...]) -> None:
    for region in regions:
        for _ in range(int(rng.integers(4, 12))):
            c = region[int(rng.integers(len(region)))]
            r = rng.uniform(*radius_mm, 3) * np.array([1.0, 1.0, 1.8])
            painter.ellipsoid(label, (c[0], c[1], c[2]), (r[0], r[1], r[2]), only_inside=over)


def _arm_points(subject: _Subject, arms: ArmPose) -> np.ndarray:
    lungs = [p for p in (subject.organ("lung_left"), subject.organ("lung_right")) if p is not None]
    if not lungs:
        return np.empty((0, 3))
    top = max(float(p[:, 2].max()) for p in lungs)
    half = max(float(np.abs(p[:, 0]).max()) for p in lungs) + 35.0
    if arms in (ArmPose.BESIDE_HEAD, ArmPose.OVER_HEAD):
        return subject.body_in(top + 60.0, top + 400.0, 85.0)
    return subject.body_in(top - 450.0, top - 100.0, half)


def _injection_site(subject: _Subject, painter: Painter, arms: ArmPose,
                    rng: np.random.Generator) -> None:
    arm = _arm_points(subject, arms)
    if len(arm) == 0:
        return
    c = arm[int(rng.integers(len(arm)))]
    r = float(rng.uniform(5, 12))
    painter.ellipsoid(INJECTION, (c[0], c[1], c[2]), (r, r, 1.5 * r), only_inside=SOFT)


def _tumour(subject: _Subject, painter: Painter, label: int, tumour: Tumour, arms: ArmPose,
            rng: np.random.Generator) -> None:
    placed = _tumour_centre(subject, tumour, arms, rng)
    if placed is None:
        return
    centre, over = placed
    radii = tumour.radius_mm * rng.uniform(0.8, 1.25, 3)
    painter.ellipsoid(label, (centre[0], centre[1], centre[2]), tuple(radii), only_inside=over)
    if tumour.necrotic_fraction:
        core = radii * tumour.necrotic_fraction
        painter.ellipsoid(NECROSIS, (centre[0], centre[1], centre[2]), tuple(core),
                          only_inside=label)


def _tumour_centre(subject: _Subject, tumour: Tumour, arms: ArmPose,
                   rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, ...]] | None:
    site, r = tumour.site, tumour.radius_mm
    host = {TumourSite.LIVER: "liver", TumourSite.LUNG: str(rng.choice(["lung_left",
                                                                          "lung_right"]))}
    if site in host:
        organ = subject.labels == BY_NAME[host[site]].label
        inner = ndimage.binary_erosion(organ, iterations=2)
        pts = subject.points(inner if inner.any() else organ)
        if len(pts) == 0:
            return None
        return pts[int(rng.integers(len(pts)))], (BY_NAME[host[site]].label, *SOFT)
    if site is TumourSite.BONE:
        pts = subject.points(subject.labels == BONE)
        return (pts[int(rng.integers(len(pts)))], (BONE, *SOFT)) if len(pts) else None
    beside = {TumourSite.BESIDE_BLADDER: "urinary_bladder", TumourSite.BESIDE_HEART: "heart",
              TumourSite.BESIDE_KIDNEY: str(rng.choice(["kidney_left", "kidney_right"]))}
    if site in beside:
        organ = subject.organ(beside[site])
        if organ is None:
            return None
        direction = np.array([*rng.normal(0, 1, 2), rng.normal(0, 0.3)])
        direction /= np.linalg.norm(direction)
        centroid = organ.mean(axis=0)
        reach = float(((organ - centroid) @ direction).max())
        return centroid + direction * (reach + 0.8 * r), (*SOFT, BONE)
    pts = _soft_site(subject, site, arms)
    return (pts[int(rng.integers(len(pts)))], (*SOFT, BONE)) if len(pts) else None


def _soft_site(subject: _Subject, site: TumourSite, arms: ArmPose) -> np.ndarray:
    if site is TumourSite.ARM:
        return _arm_points(subject, arms)
    bladder = subject.organ("urinary_bladder")
    if site is TumourSite.THIGH:
        if bladder is None:
            return np.empty((0, 3))
        low = float(bladder[:, 2].min())
        return subject.body_in(low - 400.0, low - 60.0, 40.0)
    aorta = subject.organ("aorta")  # lymph nodes: para-aortic, else groin
    if aorta is not None:
        return aorta[::7] + np.array([22.0, 0.0, 0.0])
    return np.empty((0, 3)) if bladder is None else bladder + np.array([70.0, -20.0, -40.0])
