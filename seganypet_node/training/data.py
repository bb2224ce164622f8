"""Training crops from phantom subjects: a target organ, clicks, and augmentation.

Crops are sampled exactly as the predictor samples them (same grid, spacing, orientation,
linear interpolation, z-normalisation), with random rotation, scaling, flips and noise on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from seganypet_node.model.crop import CropGrid
from seganypet_node.model.engine import z_normalise
from seganypet_node.model.modeling.family import Sam3DConfig
from seganypet_node.organs import ORGANS, organ
from seganypet_node.phantom.generate import PhantomVolume

MIN_ORGAN_VOXELS = 30


@dataclass(frozen=True, eq=False)
class TrainingCrop:
    """One training example: normalised crop, target mask, first click (crop voxel index)."""

    image: np.ndarray  # (S, S, S) float32, [dim0, dim1, dim2]
    target: np.ndarray  # (S, S, S) bool
    click: np.ndarray  # (3,) float
    grid: CropGrid  # where the crop was taken (before augmentation)


class CropSampler:
    """Draws training crops from a set of subjects.

    Parameters
    ----------
    volumes : list of PhantomVolume
        Training subjects (4 mm grids, identity LPS direction).
    config : Sam3DConfig
        Network whose crops to imitate.
    rng : numpy.random.Generator
        Source of all randomness (seeded for reproducible training).
    augment : bool
        Random rotation, scaling, flips and noise (off: crops exactly as the predictor's).
    focus : tuple of str
        Catalogue organs that half of the crops target (the other half: any organ).
    """

    def __init__(self, volumes: list[PhantomVolume], config: Sam3DConfig,
                 rng: np.random.Generator, augment: bool = True,
                 focus: tuple[str, ...] = ()) -> None:
        self.volumes = volumes
        self.augment = augment
        self.config = config
        self.rng = rng
        size = config.crop_size
        self._index = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"),
                               axis=-1).reshape(-1, 3).astype(float)
        self._organs = [
            (v, entry.label, np.argwhere(volume.labels == entry.label))
            for v, volume in enumerate(volumes) for entry in ORGANS
            if (volume.labels == entry.label).sum() >= MIN_ORGAN_VOXELS
        ]
        labels = {organ(name).label for name in focus}
        self._focused = [k for k, item in enumerate(self._organs) if item[1] in labels]

    def sample(self) -> TrainingCrop:
        v, label, voxels = self._organs[self._draw_organ()]
        volume = self.volumes[v]
        click = self._click_point(volume, voxels)
        extent = self.config.crop_size * self.config.spacing_mm
        offset = np.zeros(3)
        if self.rng.random() >= 0.5:  # windows of a large organ are not centred on their click
            offset = self.rng.uniform(-0.3, 0.3, 3) * extent
        centre = click + offset
        grid = CropGrid((float(centre[0]), float(centre[1]), float(centre[2])),
                        self.config.crop_size, self.config.spacing_mm, self.config.orientation)
        rotation, scale = np.eye(3), 1.0
        if self.augment:
            rotation = Rotation.from_rotvec(self.rng.normal(0, 1, 3) / np.sqrt(3)
                                            * np.radians(self.rng.uniform(0, 10))).as_matrix()
            scale = self.rng.uniform(0.9, 1.1)
        image, labels = self._resample(volume, grid, rotation, scale)
        centre = np.asarray(grid.centre)
        click_index = grid.to_index((centre + rotation.T @ (click - centre) / scale)[None])[0]
        target = labels == label
        for axis in range(3):
            if self.augment and self.rng.random() < 0.5:
                image, target = np.flip(image, axis), np.flip(target, axis)
                click_index[axis] = self.config.crop_size - 1 - click_index[axis]
        image = z_normalise(np.ascontiguousarray(image))
        if self.augment:
            noise = self.rng.normal(0, self.rng.uniform(0, 0.15), image.shape)
            image += noise.astype(np.float32)
        return TrainingCrop(image.astype(np.float32), np.ascontiguousarray(target),
                            click_index.astype(np.float32), grid)

    def _draw_organ(self) -> int:
        if self._focused and self.rng.random() < 0.5:
            return self._focused[int(self.rng.integers(len(self._focused)))]
        return int(self.rng.integers(len(self._organs)))

    def _click_point(self, volume: PhantomVolume, voxels: np.ndarray) -> np.ndarray:
        """A voxel of the organ (patient LPS), half of the time one deep inside."""
        if self.rng.random() < 0.5:
            chosen = voxels[int(self.rng.integers(len(voxels)))]
        else:
            low, high = voxels.min(axis=0), voxels.max(axis=0) + 1
            box = volume.labels[low[0]:high[0], low[1]:high[1], low[2]:high[2]]
            label = volume.labels[tuple(voxels[0])]
            depth = ndimage.distance_transform_edt(box == label)
            deep = np.argwhere(depth >= 0.6 * depth.max())
            chosen = deep[int(self.rng.integers(len(deep)))] + low
        z, y, x = chosen
        origin, spacing = volume.grid.origin, volume.grid.spacing
        return np.array([origin[0] + x * spacing[0], origin[1] + y * spacing[1],
                         origin[2] + z * spacing[2]])

    def _resample(self, volume: PhantomVolume, grid: CropGrid, rotation: np.ndarray,
                  scale: float) -> tuple[np.ndarray, np.ndarray]:
        centre = np.asarray(grid.centre)
        points = centre + (grid.to_lps(self._index) - centre) @ rotation.T * scale
        origin, spacing = np.asarray(volume.grid.origin), np.asarray(volume.grid.spacing)
        index_xyz = (points - origin) / spacing
        coords = index_xyz[:, ::-1].T  # volume arrays are [z, y, x]
        size = (self.config.crop_size,) * 3
        image = ndimage.map_coordinates(volume.suv, coords, order=1, cval=0.0).reshape(size)
        labels = ndimage.map_coordinates(volume.labels, coords, order=0, cval=0).reshape(size)
        return image.astype(np.float32), labels


def error_click(prediction: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """The next corrective click: deepest point of the largest error region.

    Returns (crop voxel index, positive) or None when the prediction is perfect.
    """
    missed, extra = target & ~prediction, prediction & ~target
    errors = missed | extra
    if not errors.any():
        return None
    parts, _ = ndimage.label(errors)
    largest = parts == (np.argmax(np.bincount(parts.ravel())[1:]) + 1)
    depth = ndimage.distance_transform_edt(largest)
    index = np.array(np.unravel_index(int(np.argmax(depth)), depth.shape), dtype=np.float32)
    return index, bool(missed[tuple(index.astype(int))])
