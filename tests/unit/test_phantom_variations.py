"""The hard population: poses, field ends, scanners, physiology and tumours as painted."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE
from seganypet_node.phantom.anatomy import (
    BOWEL,
    BROWN_FAT,
    EFFUSION,
    INJECTION,
    MUSCLE,
    NECROSIS,
    URINE,
)
from seganypet_node.phantom.generate import PhantomSpec, PhantomVolume, generate_volume
from seganypet_node.phantom.variations import (
    ArmPose,
    FieldBottom,
    FieldTop,
    Myocardium,
    Tumour,
    TumourSite,
    Variation,
)

# A coarse grid keeps each subject to a second or two.
COARSE = {"matrix": 96, "voxel_mm": 6.0, "slice_mm": 5.0}


def subject(seed: int = 41, **variation: object) -> PhantomVolume:
    return generate_volume(PhantomSpec(seed=seed, **COARSE,  # type: ignore[arg-type]
                                       variation=Variation(**variation)))  # type: ignore[arg-type]


def organ_voxels(volume: PhantomVolume, name: str) -> int:
    return int((volume.labels == BY_NAME[name].label).sum())


def test_field_ends_and_slice_spacing_follow_the_subject() -> None:
    whole = subject(top=FieldTop.VERTEX, bottom=FieldBottom.FEET)
    trunk = subject(top=FieldTop.SKULL_BASE, bottom=FieldBottom.PELVIS)
    assert whole.grid.spacing == (6.0, 6.0, 5.0)
    # Vertex to feet is the subject's height; skull base to pelvis about half of it.
    height_mm = whole.acquisition.height_m * 1000
    assert abs(whole.grid.shape[0] * 5.0 - height_mm) < 60
    assert 0.35 * height_mm < trunk.grid.shape[0] * 5.0 < 0.6 * height_mm
    assert organ_voxels(trunk, "brain") < organ_voxels(whole, "brain") / 3
    assert organ_voxels(trunk, "urinary_bladder") > 0
    feet_row = whole.labels[:3].any()
    assert feet_row  # the field reaches the soles
    mid_brain = subject(top=FieldTop.MID_BRAIN)
    assert (organ_voxels(trunk, "brain") < organ_voxels(mid_brain, "brain")
            < organ_voxels(whole, "brain"))


def test_arm_poses_move_the_arms() -> None:
    down = subject(arms=ArmPose.DOWN)
    up = subject(arms=ArmPose.BESIDE_HEAD)
    crossed = subject(arms=ArmPose.CROSSED)
    x = down.grid.axes()[0]
    lateral = np.abs(x) > 230  # beyond the trunk of this subject
    waist = slice(int(down.grid.shape[0] * 0.45), int(down.grid.shape[0] * 0.55))

    def beside_trunk(v: PhantomVolume) -> int:
        return int((v.labels[waist][..., lateral] > 0).sum())

    assert beside_trunk(down) > 0 and beside_trunk(up) == 0 and beside_trunk(crossed) == 0
    # Crossed forearms lie in front of the abdomen: body anterior to where it was.
    front = [int(np.nonzero((v.labels[waist] > 0).any(axis=(0, 2)))[0].min())
             for v in (down, crossed)]
    assert front[1] < front[0]


def test_physiology_paints_its_tissues_and_only_shrinks_organs() -> None:
    plain = subject(seed=42, bottom=FieldBottom.KNEES)
    busy = subject(seed=42, bottom=FieldBottom.KNEES, hot_bowel=True, ureters=True,
                   catheter=True, muscle=True, brown_fat=True, injection_site=True,
                   effusion="left")
    present = set(np.unique(busy.labels).tolist())
    assert {BOWEL, URINE, MUSCLE, BROWN_FAT, INJECTION, EFFUSION} <= present
    for organ in BY_NAME.values():
        before, after = plain.labels == organ.label, busy.labels == organ.label
        assert not (after & ~before).any(), organ.name  # nothing painted over grows an organ
    assert organ_voxels(busy, "lung_left") < 0.9 * organ_voxels(plain, "lung_left")
    # Urine outside the bladder carries the bladder's activity; the injection site is hot.
    bladder = np.median(busy.suv[busy.labels == BY_NAME["urinary_bladder"].label])
    bag = busy.suv[ndimage.binary_erosion(busy.labels == URINE, iterations=1)]
    assert bag.size and np.median(bag) > 0.5 * bladder
    assert busy.suv[busy.labels == INJECTION].max() > 10


def test_hyperglycaemia_and_myocardium_change_uptake() -> None:
    usual = subject(seed=43)
    low = subject(seed=43, hyperglycaemia=True, myocardium=Myocardium.LOW)
    hot = subject(seed=43, myocardium=Myocardium.HOT)
    brain = BY_NAME["brain"].label
    assert np.median(low.suv[low.labels == brain]) < 5.0 <= np.median(
        usual.suv[usual.labels == brain])
    heart = BY_NAME["heart"].label
    assert hot.suv[hot.labels == heart].max() > 10.0 > low.suv[low.labels == heart].max()


@pytest.mark.parametrize("site", [TumourSite.BESIDE_BLADDER, TumourSite.BESIDE_KIDNEY,
                                  TumourSite.THIGH, TumourSite.LIVER])
def test_tumours_have_their_volume_site_uptake_and_necrotic_core(site: TumourSite) -> None:
    tumour = Tumour(site, 250.0, necrotic_fraction=0.5, suv=12.0)
    plain = subject(seed=44, bottom=FieldBottom.KNEES)
    volume = subject(seed=44, bottom=FieldBottom.KNEES, tumours=(tumour,))
    lesion = volume.labels == LESION_LABEL_BASE + 1
    core = volume.labels == NECROSIS
    voxel_ml = float(np.prod(volume.grid.spacing)) / 1000
    painted_ml = (lesion.sum() + core.sum()) * voxel_ml
    assert 0.3 * tumour.volume_ml < painted_ml < 2.0 * tumour.volume_ml
    assert core.any() and np.median(volume.suv[core]) < 0.5 * np.median(volume.suv[lesion])
    host = {TumourSite.BESIDE_BLADDER: "urinary_bladder", TumourSite.LIVER: "liver"}
    if site is TumourSite.BESIDE_BLADDER:  # against the bladder, not in it
        bladder = plain.labels == BY_NAME["urinary_bladder"].label
        assert organ_voxels(volume, "urinary_bladder") == bladder.sum()
        gap = ndimage.distance_transform_edt(~bladder, sampling=volume.grid.spacing[::-1])
        assert gap[lesion].min() < 15.0
    if site is TumourSite.LIVER:  # inside the liver: liver voxels become lesion
        assert organ_voxels(volume, host[site]) < organ_voxels(plain, host[site])
    if site is TumourSite.THIGH:
        z = volume.grid.axes()[2][np.nonzero(lesion.any(axis=(1, 2)))[0]]
        bladder_z = plain.grid.axes()[2][np.nonzero(
            (plain.labels == BY_NAME["urinary_bladder"].label).any(axis=(1, 2)))[0]]
        assert z.mean() < bladder_z.min()


def test_hard_draws_cover_the_population_and_keep_typical_phantoms() -> None:
    specs = [PhantomSpec.hard(seed) for seed in range(9300, 9340)]
    variations = [s.variation for s in specs if s.variation is not None]
    assert {v.arms for v in variations} == set(ArmPose)
    assert {v.top for v in variations} == set(FieldTop)
    assert {v.bottom for v in variations} == set(FieldBottom)
    pixels = [s.voxel_mm for s in specs]
    assert min(pixels) < 2.5 and max(pixels) > 5.0
    assert all(128 <= s.matrix <= 440 for s in specs)
    assert max(t.volume_ml for v in variations for t in v.tumours) > 300
    # A typical phantom is not touched by any of this: no new tissue.
    typical = generate_volume(PhantomSpec(seed=41, matrix=96, voxel_mm=6.0, slices=300))
    assert np.unique(typical.labels).max() <= 23


def test_phantom_command_writes_a_varied_series(tmp_path) -> None:
    out = tmp_path / "case"
    subprocess.run([sys.executable, "-m", "seganypet_node", "phantom", "--seed", "45",
                    "--out", str(out), "--matrix", "96", "--voxel-mm", "6", "--slice-mm",
                    "3.27", "--arms", "crossed", "--bottom", "pelvis", "--findings",
                    "bowel,ureters", "--tumour", "beside_bladder:150:0.4"], check=True,
                   capture_output=True)
    files = sorted((out / "dicom").iterdir())
    first, second = (pydicom.dcmread(f, stop_before_pixels=True) for f in files[:2])
    gap = float(first.ImagePositionPatient[2]) - float(second.ImagePositionPatient[2])
    assert gap == pytest.approx(3.27, abs=0.01) and len(files) > 100
    bad = subprocess.run([sys.executable, "-m", "seganypet_node", "phantom", "--seed", "45",
                          "--out", str(out), "--tumour", "elbow:10"], capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "SITE:ML" in bad.stderr

