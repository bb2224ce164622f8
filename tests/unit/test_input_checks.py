"""``segment``'s input is checked before any work, with a message that says what to do (issue
25): a study folder gives its PET series and says so, a NIfTI file must be one 3-D volume in
SUVbw with a voxel size, and a path that does not exist is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from seganypet_node.imaging.nifti import NiftiInputError, read_nifti
from seganypet_node.imaging.pet import SeriesError
from seganypet_node.imaging.series_choice import choose_pet_series
from seganypet_node.imaging.volume import load_input
from tests.support import SHARED_DATA

REAL = SHARED_DATA / "real_pet_slices"
COMUNIX = REAL / "Comunix"  # the PET and the CT of one real PET/CT study


def test_a_real_study_folder_with_its_ct_gives_the_pet_series_and_says_which() -> None:
    """Before: ``IM-0001-0001.dcm: modality CT is not PT``."""
    volume = load_input([COMUNIX])
    assert volume.pet is not None and len(volume.pet.sources) == 2
    assert {str(ds.Modality) for ds in volume.pet.sources} == {"PT"}
    note = volume.read_note or ""
    pet_uid = str(volume.pet.sources[0].SeriesInstanceUID)
    assert note.startswith(f"taking PT series {pet_uid}") and "(2 files)" in note
    assert "skipping CT series" in note


def test_the_attenuation_corrected_series_is_taken_before_the_uncorrected(tmp_path) -> None:
    nac_uid = generate_uid()
    for path in sorted((COMUNIX / "Pet").iterdir()):
        ac = pydicom.dcmread(path)
        ac.CorrectedImage = "ATTN"  # one value: pydicom gives a str, not a list
        ac.save_as(tmp_path / f"ac-{path.name}")
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID, ds.SOPInstanceUID = nac_uid, generate_uid()
        ds.CorrectedImage = [v for v in ds.CorrectedImage if v != "ATTN"]
        ds.SeriesDescription = "WB NAC"
        ds.save_as(tmp_path / f"nac-{path.name}")
    (tmp_path / "README.txt").write_text("exported by the PACS")
    choice = choose_pet_series(sorted(tmp_path.iterdir()))
    assert sorted(p.name for p in choice.files) == ["ac-IM-0001-0001.dcm", "ac-IM-0001-0002.dcm"]
    assert f'skipping PT series {nac_uid} "WB NAC" (2 files)' in choice.note
    assert "1 files that are not DICOM images" in choice.note


def test_several_pet_series_are_listed_not_guessed() -> None:
    files = [REAL / "2020-11-16-SalimKanounAnonymization.dcm",
             REAL / "2021-02-19-MalaterreCP246.dcm"]
    with pytest.raises(SeriesError, match=r"2 PET series found \(PT series .*; PT series .*\): "
                                          r"give the folder or files of one"):
        load_input(files)


def test_a_folder_without_pet_lists_what_it_holds() -> None:
    with pytest.raises(SeriesError, match=r"no PET series among 2 files \(series found: CT "
                                          r"series [0-9.]+ .*\(2 files\)"):
        load_input([COMUNIX / "Ct"])


def test_a_path_that_does_not_exist_is_named(tmp_path) -> None:
    """Before: ``no files found``, as if the folder were empty."""
    with pytest.raises(SeriesError, match=r"no-such-study does not exist: give a folder"):
        load_input([tmp_path / "no-such-study"])


def _nifti(path: Path, values: np.ndarray, spacing: tuple[float, ...] | None = (4.0, 4.0, 4.0)
           ) -> Path:
    image = sitk.GetImageFromArray(values.astype(np.float32))
    if spacing is not None:
        image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


def _suv_volume() -> np.ndarray:
    values = np.full((20, 16, 12), 1.0)
    values[8:12, 6:10, 4:8] = 12.0
    return values


def test_nifti_input_is_taken_as_suvbw_and_says_so(tmp_path) -> None:
    volume = load_input([_nifti(tmp_path / "suv.nii.gz", _suv_volume())])
    assert volume.suvbw == 1.0 and volume.pet is None
    assert volume.read_note is not None and volume.read_note.startswith(
        "NIfTI input taken as SUVbw") and "4 x 4 x 4 mm" in volume.read_note


def test_a_nifti_in_bq_per_ml_is_refused_with_what_to_do(tmp_path) -> None:
    """Before: rc 0 and 0/10 organs, each 'implausible uptake (SUV 27671)'."""
    path = _nifti(tmp_path / "bqml.nii.gz", _suv_volume() * 5000.0)
    with pytest.raises(NiftiInputError, match=r"values up to 60000 \(99.9th percentile\) "
                                              r"cannot be SUVbw; NIfTI input must already"):
        load_input([path])


def test_a_two_d_nifti_is_refused_by_its_shape(tmp_path) -> None:
    """Before: ``ValueError: cannot reshape array``."""
    image = sitk.GetImageFromArray(np.ones((64, 48), np.float32))
    sitk.WriteImage(image, str(tmp_path / "slice.nii"))
    with pytest.raises(NiftiInputError, match=r"slice.nii is a 2-D image \(48 x 64 voxels\); "
                                              r"segment needs one 3-D PET volume"):
        load_input([tmp_path / "slice.nii"])


def test_a_single_frame_4d_nifti_is_read_and_a_multi_frame_one_refused(tmp_path) -> None:
    one = sitk.JoinSeries([sitk.GetImageFromArray(_suv_volume().astype(np.float32))])
    one.SetSpacing((4.0, 4.0, 4.0, 1.0))
    sitk.WriteImage(one, str(tmp_path / "one.nii.gz"))
    assert read_nifti(tmp_path / "one.nii.gz").GetDimension() == 3
    frames = sitk.JoinSeries([sitk.GetImageFromArray(_suv_volume().astype(np.float32))] * 3)
    sitk.WriteImage(frames, str(tmp_path / "dynamic.nii.gz"))
    with pytest.raises(NiftiInputError, match=r"4-D image .*give one frame"):
        read_nifti(tmp_path / "dynamic.nii.gz")


def test_a_nifti_without_voxel_size_needs_spacing(tmp_path) -> None:
    """Before: registration failed with no hint about the voxel size."""
    path = tmp_path / "no-geometry.nii"
    image = sitk.GetImageFromArray(_suv_volume().astype(np.float32))
    sitk.WriteImage(image, str(path))
    header = bytearray(path.read_bytes())
    header[252:256] = b"\x00\x00\x00\x00"  # qform_code and sform_code: unknown
    path.write_bytes(bytes(header))
    with pytest.raises(NiftiInputError, match=r"carries no voxel size .* --spacing X Y Z"):
        load_input([path])
    with pytest.raises(NiftiInputError, match=r"--spacing 0 0 0: give three voxel sizes"):
        load_input([path], spacing_mm=(0, 0, 0))
    given = load_input([path], spacing_mm=(2.0, 2.0, 3.0))
    assert given.values.GetSpacing() == (2.0, 2.0, 3.0)
    with pytest.raises(SeriesError, match="--spacing is for NIfTI input"):
        load_input([COMUNIX / "Pet"], spacing_mm=(2.0, 2.0, 3.0))
