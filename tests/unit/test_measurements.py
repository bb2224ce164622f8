"""Measurements: SUVpeak in a true 1 ml sphere, TLG, PERCIST liver and blood-pool references."""

from __future__ import annotations

import numpy as np
import pytest

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.units import Unit
from seganypet_node.measure.reference import blood_pool_reference, liver_reference
from seganypet_node.measure.uptake import (
    sphere_kernel,
    sphere_peak,
    sphere_radius_mm,
    uptake_stats,
)


def ball(shape, centre, radius_mm, spacing) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    distance = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True))
    return distance <= radius_mm**2


@pytest.mark.parametrize("spacing", [(4.0, 4.0, 4.0), (2.0, 2.0, 2.0), (3.27, 2.04, 2.04)])
def test_peak_sphere_holds_one_millilitre_on_any_grid(spacing) -> None:
    kernel = sphere_kernel(sphere_radius_mm(1.0), spacing)
    assert kernel.sum() * np.prod(spacing) == pytest.approx(1000.0, rel=0.02)
    assert kernel.max() == 1.0 and kernel.min() >= 0.0


def test_peak_is_the_sphere_mean_not_the_hottest_voxel() -> None:
    spacing = (2.0, 2.0, 2.0)
    values = np.ones((40, 40, 40))
    values[20, 20, 20] = 101.0  # one hot voxel: max 101, a 1 ml sphere dilutes it
    mask = np.zeros(values.shape, bool)
    mask[10:30, 10:30, 10:30] = True
    stats = uptake_stats(values, mask, spacing, Unit.SUVBW)
    kernel = sphere_kernel(sphere_radius_mm(1.0), spacing)
    assert stats.maximum == 101.0
    assert stats.peak == pytest.approx(1.0 + 100.0 / kernel.sum())
    assert stats.peak < 0.1 * stats.maximum


def test_peak_of_a_uniform_hot_sphere_larger_than_1ml_is_its_uptake() -> None:
    spacing = (3.0, 3.0, 3.0)
    values = np.full((40, 40, 40), 1.0)
    hot = ball(values.shape, (20, 20, 20), 15.0, spacing)
    values[hot] = 8.0
    assert sphere_peak(values, hot, spacing) == pytest.approx(8.0)


def test_peak_centre_stays_in_the_region_even_next_to_hotter_tissue() -> None:
    spacing = (4.0, 4.0, 4.0)
    values = np.full((30, 30, 30), 2.0)
    values[:, :, 16:] = 20.0  # a hot neighbour (bladder next to a lesion)
    region = np.zeros(values.shape, bool)
    region[10:20, 10:20, 5:12] = True  # ends 4 voxels short of the hot side
    assert sphere_peak(values, region, spacing) == pytest.approx(2.0)


def test_lesion_tlg_is_volume_times_mean() -> None:
    spacing = (4.0, 4.0, 4.0)
    values = np.zeros((20, 20, 20))
    lesion = ball(values.shape, (10, 10, 10), 8.0, spacing)
    values[lesion] = 6.0
    stats = uptake_stats(values, lesion, spacing, Unit.SUVBW, lesion=True)
    assert stats.volume_ml == pytest.approx(lesion.sum() * 0.064)
    assert stats.tlg == pytest.approx(stats.volume_ml * 6.0)
    assert uptake_stats(values, lesion, spacing, Unit.SUVBW).tlg is None


def test_percist_liver_sphere_is_3cm_inside_the_right_lobe() -> None:
    spacing = (4.0, 4.0, 4.0)
    shape = (40, 40, 60)
    right_lobe = ball(shape, (20, 20, 20), 40.0, spacing)  # low x = patient right in LPS
    left_lobe = ball(shape, (20, 20, 40), 44.0, spacing)  # bigger, but the wrong lobe
    liver = right_lobe | left_lobe
    values = np.where(right_lobe, 2.0, 3.0)
    reference = liver_reference(values, BoxMask.of(liver), spacing, right_is_low_x=True)
    assert reference.centre_index[2] < 30
    assert reference.mean == pytest.approx(2.0)
    assert reference.volume_ml == pytest.approx(4 / 3 * np.pi * 1.5**3, rel=0.2)
    assert reference.note is None


def test_small_liver_is_reported_not_silently_used() -> None:
    spacing = (4.0, 4.0, 4.0)
    liver = ball((20, 20, 20), (10, 10, 10), 10.0, spacing)
    reference = liver_reference(np.ones(liver.shape), BoxMask.of(liver), spacing)
    assert "does not fit" in (reference.note or "")


def test_blood_pool_is_the_aorta_core() -> None:
    spacing = (4.0, 4.0, 4.0)
    aorta = np.zeros((40, 20, 20), bool)
    yy, xx = np.ogrid[:20, :20]
    aorta[:, (yy - 10) ** 2 + (xx - 10) ** 2 <= 9] = True  # 12 mm radius tube
    values = np.where(aorta, 1.8, 0.5)
    wall = aorta & ~np.pad(aorta[:, 1:-1, 1:-1], ((0, 0), (1, 1), (1, 1)))
    values[wall] = 1.0  # partial volume at the wall must not pull the reference down
    reference = blood_pool_reference(values, BoxMask.of(aorta), spacing)
    assert reference.mean == pytest.approx(1.8)
    assert reference.volume_ml < aorta[:6].sum() * 0.064  # a 2 cm slab, not the whole tube
