"""A stored PET series becomes one checked volume in Bq/ml with its SUVbw factor."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from seganypet_node.imaging.pet import SeriesError, read_pet_series
from seganypet_node.imaging.volume import from_pet_series, load_input
from seganypet_node.organs import BY_NAME


def test_series_reads_onto_the_label_grid_with_suv_from_the_header(phantom_study) -> None:
    volume = load_input([phantom_study.dicom_dir])
    labels = sitk.ReadImage(str(phantom_study.labels_path))
    assert volume.values.GetSize() == labels.GetSize()
    assert np.allclose(volume.values.GetOrigin(), labels.GetOrigin(), atol=1e-3)
    assert np.allclose(volume.values.GetDirection(), labels.GetDirection())
    assert volume.unit == "Bq/ml" and volume.suvbw is not None
    suv = sitk.GetArrayFromImage(volume.values) * volume.suvbw
    liver = np.median(suv[sitk.GetArrayFromImage(labels) == BY_NAME["liver"].label])
    assert 1.3 < liver < 3.2
    assert volume.pet is not None and len(volume.pet.sources) == 300


def test_slice_order_does_not_depend_on_file_order(phantom_study) -> None:
    forward = read_pet_series(phantom_study.files[:40])
    backward = read_pet_series(list(reversed(phantom_study.files[:40])))
    assert np.array_equal(sitk.GetArrayFromImage(forward.image),
                          sitk.GetArrayFromImage(backward.image))


def test_missing_slice_is_refused_with_the_reason(phantom_study) -> None:
    files = phantom_study.files[:20] + phantom_study.files[21:40]
    with pytest.raises(SeriesError, match="1 slice\\(s\\) missing"):
        read_pet_series(files)


def test_non_pet_and_mixed_series_are_refused(phantom_study, tmp_path) -> None:
    ds = pydicom.dcmread(phantom_study.files[0])
    ds.Modality = "CT"
    ct = tmp_path / "ct.dcm"
    ds.save_as(ct)
    with pytest.raises(SeriesError, match="is not PT"):
        read_pet_series([ct])
    other = pydicom.dcmread(phantom_study.files[1])
    other.SeriesInstanceUID = "1.2.3.4"
    mixed = tmp_path / "other.dcm"
    other.save_as(mixed)
    with pytest.raises(SeriesError, match="series"):
        read_pet_series([phantom_study.files[0], mixed])


def test_series_without_suv_is_measured_in_its_units(phantom_study, tmp_path) -> None:
    for path in phantom_study.files[:10]:
        ds = pydicom.dcmread(path)
        del ds.PatientWeight
        ds.save_as(tmp_path / path.name)
    volume = from_pet_series(read_pet_series(sorted(tmp_path.iterdir())))
    assert volume.suvbw is None and volume.unit == "Bq/ml"
    assert "weight" in (volume.suv_note or "").lower()


def test_nifti_input_is_taken_as_suv(tmp_path, phantom_study) -> None:
    shutil.copy(phantom_study.labels_path, tmp_path / "suv.nii.gz")
    volume = load_input([tmp_path / "suv.nii.gz"])
    assert volume.unit == "SUVbw" and volume.suvbw == 1.0 and volume.pet is None
