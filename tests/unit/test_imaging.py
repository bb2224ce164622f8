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
    assert volume.unit == "SUVbw" and volume.suvbw == 1.0  # scaled once, as it was read
    suv = sitk.GetArrayFromImage(volume.values)
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
    measured = sitk.GetArrayFromImage(volume.measured_image())
    assert np.array_equal(measured, sitk.GetArrayFromImage(volume.values).astype(np.float32))


def test_the_measured_image_is_the_stored_values_in_suvbw_held_once(phantom_study) -> None:
    from seganypet_node.imaging.suv import suv_scale

    volume = load_input([phantom_study.dicom_dir])
    assert volume.measured_image() is volume.values  # one SUV image per study, no copy
    first = pydicom.dcmread(phantom_study.files[0])
    factor = suv_scale(first).suvbw
    assert factor is not None
    values = sitk.GetArrayViewFromImage(volume.values)
    assert volume.pet is not None
    for path in phantom_study.files[::97]:
        ds = pydicom.dcmread(path)
        k = [str(s.SOPInstanceUID) for s in volume.pet.sources].index(str(ds.SOPInstanceUID))
        expected = (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)) * factor
        assert values.dtype == np.float32 and np.allclose(values[k], expected, rtol=1e-5)


def test_reading_a_series_never_holds_its_pixels_twice(phantom_study) -> None:
    """The volume is filled file by file: the reader's own arrays stay about one slice, not
    a list of every slice plus a stack of them (2 x 470 MB at 2 mm)."""
    import tracemalloc

    files = phantom_study.files[:120]
    plane = pydicom.dcmread(files[0]).pixel_array.size * 4
    tracemalloc.start()
    try:
        volume = read_pet_series(files)
        kept, peak = tracemalloc.get_traced_memory()  # kept: the headers the volume holds
    finally:
        tracemalloc.stop()
    assert volume.image.GetSize()[2] == len(files)
    transient = peak - kept
    assert transient < 10 * plane, f"{transient} bytes held at once for {plane}-byte planes"


def test_nifti_input_is_taken_as_suv(tmp_path, phantom_study) -> None:
    shutil.copy(phantom_study.labels_path, tmp_path / "suv.nii.gz")
    volume = load_input([tmp_path / "suv.nii.gz"])
    assert volume.unit == "SUVbw" and volume.suvbw == 1.0 and volume.pet is None


def shifted_copies(study, tmp_path, count: int, shift_mm) -> list:
    """The first ``count`` slices written again with ``shift_mm(i)`` (a 3-vector, LPS mm) added
    to slice i's ImagePositionPatient: series as scanners write them, made from a phantom."""
    files = []
    for i, path in enumerate(study.files[:count]):
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [float(v) + float(d) for v, d in
                                   zip(ds.ImagePositionPatient, shift_mm(i), strict=True)]
        out = tmp_path / path.name
        ds.save_as(out)
        files.append(out)
    return files


def slice_z(ds_files) -> np.ndarray:
    return np.array([float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2])
                     for f in ds_files])


def test_bed_junction_jitter_is_accepted_on_the_fitted_grid(phantom_study, tmp_path) -> None:
    """As the GE Discovery ST series: most gaps equal, a few a fraction of a slice off at bed
    junctions (here +0.02 x4 and -0.08 of a 4 mm slice, and one junction half a slice long)."""
    offsets = np.zeros(120)
    for junction, change in ((20, 0.08), (40, 0.08), (60, -0.32), (80, 0.08), (100, 0.08)):
        offsets[junction:] += change
    offsets[90:] += 2.0  # half a 4 mm slice
    files = shifted_copies(phantom_study, tmp_path, 120, lambda i: (0, 0, offsets[i]))
    stored = slice_z(files)
    volume = read_pet_series(files)
    image = volume.image
    positions = np.array([image.TransformIndexToPhysicalPoint((0, 0, k))[2]
                          for k in range(image.GetSize()[2])])
    assert image.GetSize()[2] == 120  # one volume slice per stored instance
    assert np.abs(np.sort(positions) - np.sort(stored)).max() < 4.0 / 3  # a third of a slice
    assert abs(image.GetSpacing()[2] - 4.0) < 0.1


def test_series_that_is_not_one_grid_is_refused_saying_why(phantom_study, tmp_path) -> None:
    step = float(np.sign(np.diff(slice_z(phantom_study.files[:2]))[0]))  # file order along z
    cases = {
        "gap": (lambda i: (0, 0, step * 8.0 if i >= 30 else 0.0),
                r"slice gap of 12\.00 mm after slice \d+ where the spacing is 4\.00 mm: "
                r"about 2 slice\(s\) missing"),
        "overlap": (lambda i: (0, 0, step * 3.0 if i == 30 else 0.0),
                    "overlapping bed positions"),
        "tilt": (lambda i: (0, 0.35 * i, 0), r"sheared 5\.0 degrees .*gantry tilt"),
        # 4 mm slices, then 5 mm: no gap is missing a slice, but no grid fits either.
        "two spacings": (lambda i: (0, 0, step * max(i - 30, 0) * 1.0),
                         "not on a regular grid: slice"),
    }
    for name, (shift, message) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises(SeriesError, match=message):
            read_pet_series(shifted_copies(phantom_study, folder, 60, shift))


def test_pixel_spacing_or_matrix_changing_within_the_series_is_named(phantom_study,
                                                                    tmp_path) -> None:
    spacing = []
    for i, path in enumerate(phantom_study.files[:10]):
        ds = pydicom.dcmread(path)
        if i >= 6:
            ds.PixelSpacing = [5.0, 5.0]
        ds.save_as(tmp_path / path.name)
        spacing.append(tmp_path / path.name)
    with pytest.raises(SeriesError, match=r"PixelSpacing \(mm\) changes within the series: "
                                          r".* in 6 slice\(s\), 5/5 in 4 slice\(s\)"):
        read_pet_series(spacing)
    small = tmp_path / "small.dcm"
    ds = pydicom.dcmread(phantom_study.files[10])
    pixels = ds.pixel_array[:32, :32].copy()
    ds.Rows, ds.Columns, ds.PixelData = 32, 32, pixels.tobytes()
    ds.save_as(small)
    with pytest.raises(SeriesError, match=r"matrix \(rows x columns\) changes within the series"):
        read_pet_series([*phantom_study.files[:10], small])


def test_units_of_a_series_are_typed_and_show_as_their_value() -> None:
    import json

    from seganypet_node.imaging.units import Unit

    assert Unit.of_series("BQML") is Unit.BQML and Unit.of_series(" bqml ") is Unit.BQML
    assert Unit.of_series("CNTS") is Unit.CNTS and Unit.of_series("1CM") is Unit.PER_CM
    assert Unit.of_series("furlongs") is Unit.UNKNOWN and Unit.of_series(None) is Unit.UNKNOWN
    assert Unit.of_series("SUVbw") is Unit.UNKNOWN  # not a DICOM Units term
    assert Unit.SUVBW.is_suv and not Unit.BQML.is_suv
    assert json.dumps({"unit": Unit.SUVBW}) == '{"unit": "SUVbw"}' and f"{Unit.BQML}" == "Bq/ml"


def enhanced_from(files, path, shuffle_seed: int = 3, drop_frames: int = 0):
    """One Enhanced (multi-frame) PET file from classic slices: positions and rescale per
    frame, orientation and pixel spacing shared, frames in shuffled order."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    slices = [pydicom.dcmread(p) for p in files]
    order = np.random.default_rng(shuffle_seed).permutation(len(slices))
    ds = slices[0]
    shared = Dataset()
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = ds.ImageOrientationPatient
    measures.PixelSpacing = ds.PixelSpacing
    measures.SliceThickness = ds.get("SliceThickness", 4.0)
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    groups = []
    for k in order:
        group, plane, transform = Dataset(), Dataset(), Dataset()
        plane.ImagePositionPatient = slices[k].ImagePositionPatient
        transform.RescaleSlope = slices[k].RescaleSlope
        transform.RescaleIntercept = slices[k].get("RescaleIntercept", 0)
        group.PlanePositionSequence = Sequence([plane])
        group.PixelValueTransformationSequence = Sequence([transform])
        groups.append(group)
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                    "NumberOfSlices"):
        if keyword in ds:
            delattr(ds, keyword)
    kept = order[:len(order) - drop_frames]
    ds.NumberOfFrames = len(kept)
    ds.PixelData = b"".join(slices[k].PixelData for k in kept)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_enhanced_pet_reads_as_its_classic_slices_do(phantom_study, tmp_path) -> None:
    files = phantom_study.files[100:112]
    classic = read_pet_series(files)
    enhanced = read_pet_series([enhanced_from(files, tmp_path / "enhanced.dcm")])
    assert enhanced.image.GetSize() == classic.image.GetSize()
    assert np.allclose(enhanced.image.GetOrigin(), classic.image.GetOrigin())
    assert np.allclose(sitk.GetArrayViewFromImage(enhanced.image),
                       sitk.GetArrayViewFromImage(classic.image), rtol=1e-6)


def test_pixels_that_do_not_match_the_header_are_refused_by_file(phantom_study,
                                                                 tmp_path) -> None:
    # 12 per-frame groups place 12 planes; NumberOfFrames and the pixels hold 10
    short = enhanced_from(phantom_study.files[100:112], tmp_path / "short.dcm", drop_frames=2)
    with pytest.raises(SeriesError, match=r"short\.dcm: 10 frame\(s\) of pixel data for 12"):
        read_pet_series([short])
    broken = tmp_path / "broken.dcm"
    ds = pydicom.dcmread(phantom_study.files[3])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
    ds.save_as(broken, enforce_file_format=True)
    with pytest.raises(SeriesError, match=r"broken\.dcm: pixel data does not decode"):
        read_pet_series([*phantom_study.files[:3], broken, *phantom_study.files[4:8]])
