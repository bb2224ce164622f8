import datetime as dt
import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from seganypet_node.organs import BY_NAME
from seganypet_node.phantom.generate import PhantomSpec, generate


def volume(study) -> tuple[np.ndarray, list[pydicom.Dataset]]:
    slices = sorted((pydicom.dcmread(f) for f in study.files),
                    key=lambda ds: float(ds.ImagePositionPatient[2]))
    data = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
                     for ds in slices])
    return data, slices


def suv_factor(ds: pydicom.Dataset) -> float:
    """SUVbw factor straight from the header (QIBA rule for BQML, START decay correction)."""
    drug = ds.RadiopharmaceuticalInformationSequence[0]
    injected = dt.datetime.strptime(drug.RadiopharmaceuticalStartDateTime, "%Y%m%d%H%M%S")
    scan = dt.datetime.strptime(ds.SeriesDate + ds.SeriesTime, "%Y%m%d%H%M%S")
    decayed = float(drug.RadionuclideTotalDose) * 2 ** (
        -(scan - injected).total_seconds() / float(drug.RadionuclideHalfLife))
    return float(ds.PatientWeight) * 1000 / decayed


def test_header_is_a_realistic_pet_header(phantom_study) -> None:
    ds = pydicom.dcmread(phantom_study.files[0])
    assert ds.Modality == "PT" and ds.Units == "BQML" and ds.DecayCorrection == "START"
    assert {"ATTN", "DECY"} <= set(ds.CorrectedImage)
    assert ds.NumberOfSlices == len(phantom_study.files) == 300
    assert ds.PixelSpacing == [4, 4] and float(ds.SliceThickness) == 4
    assert float(ds.PatientWeight) > 0
    slopes = {pydicom.dcmread(f, stop_before_pixels=True).RescaleSlope
              for f in phantom_study.files[100:110]}
    assert len(slopes) > 1  # per-slice rescale slope, as scanners write


def test_suv_from_the_header_reproduces_the_drawn_uptake(phantom_study) -> None:
    data, slices = volume(phantom_study)
    suv = data * suv_factor(slices[0])
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(phantom_study.labels_path)))
    assert labels.shape == suv.shape
    inner = {name: np.median(suv[labels == BY_NAME[name].label]) for name in
             ("liver", "brain", "lung_left", "urinary_bladder", "spleen")}
    assert 1.3 < inner["liver"] < 3.2
    assert 4.0 < inner["brain"] < 13.0
    assert inner["lung_left"] < 1.0
    assert inner["urinary_bladder"] > inner["liver"]
    assert 1.1 < inner["spleen"] < 2.8


def test_labels_share_the_dicom_geometry(phantom_study) -> None:
    labels = sitk.ReadImage(str(phantom_study.labels_path))
    _, slices = volume(phantom_study)
    first = slices[0]
    assert np.allclose(labels.GetOrigin(), [float(v) for v in first.ImagePositionPatient])
    assert np.allclose(labels.GetSpacing(), (4, 4, 4))
    names = json.loads(phantom_study.labels_json.read_text())
    assert {"brain", "liver", "kidney_left", "urinary_bladder", "aorta"} <= set(names.values())


def test_same_seed_same_images_new_uids(tmp_path) -> None:
    spec = PhantomSpec(seed=5, slices=40, matrix=48, lesions=2)
    a, b = generate(spec, tmp_path / "a"), generate(spec, tmp_path / "b")
    da, db = (pydicom.dcmread(s.files[20]) for s in (a, b))
    assert da.PixelData == db.PixelData and da.RescaleSlope == db.RescaleSlope
    assert da.SOPInstanceUID != db.SOPInstanceUID
    assert a.labels_json.read_text() == b.labels_json.read_text()
    other = generate(PhantomSpec(seed=6, slices=40, matrix=48), tmp_path / "c")
    assert pydicom.dcmread(other.files[20]).PixelData != da.PixelData


def test_lesions_get_their_own_labels(tmp_path) -> None:
    study = generate(PhantomSpec(seed=3, slices=300, matrix=64, lesions=3), tmp_path)
    names = json.loads(study.labels_json.read_text()).values()
    assert {"lesion_1", "lesion_2", "lesion_3"} <= set(names)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_dciodvfy_finds_no_error(phantom_study) -> None:
    result = subprocess.run(["dciodvfy", str(phantom_study.files[150])],
                            capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert "Error" not in output, output


@pytest.fixture(scope="module")
def full_study(tmp_path_factory):
    """A study with its CT and the ground truth as a DICOM SEG."""
    out = tmp_path_factory.mktemp("full")
    return generate(PhantomSpec(seed=8, slices=300, matrix=96, lesions=1), out, ct=True,
                    reference_seg=True)


def test_ct_series_shares_study_and_frame_of_reference(full_study) -> None:
    ct_files = sorted((full_study.dicom_dir.parent / "ct").glob("*.dcm"))
    assert len(ct_files) == 300
    ct = pydicom.dcmread(ct_files[150])
    pet = pydicom.dcmread(full_study.files[150])
    assert ct.Modality == "CT" and ct.StudyInstanceUID == pet.StudyInstanceUID
    assert ct.FrameOfReferenceUID == pet.FrameOfReferenceUID
    assert ct.SeriesInstanceUID != pet.SeriesInstanceUID
    assert ct.ImagePositionPatient == pet.ImagePositionPatient
    hu = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    assert hu.min() < -900 and hu.max() > 0


def test_reference_seg_holds_the_ground_truth(full_study) -> None:
    import highdicom as hd

    seg = hd.seg.segread(full_study.dicom_dir.parent / "reference_seg.dcm")
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(full_study.labels_path)))
    names = {d.SegmentLabel: d for d in seg.SegmentSequence}
    assert {"liver", "kidney left", "lung right", "aorta"} <= set(names)
    modifier = names["kidney left"].SegmentedPropertyTypeCodeSequence[0]
    assert modifier.SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning == "Left"
    number = int(names["liver"].SegmentNumber)
    volume = seg.get_volume(segment_numbers=[number], combine_segments=False)
    assert volume.array[..., 0].sum() == (labels == BY_NAME["liver"].label).sum()


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_ct_and_reference_seg_pass_dciodvfy(full_study) -> None:
    folder = full_study.dicom_dir.parent
    for path in (next((folder / "ct").glob("*.dcm")), folder / "reference_seg.dcm"):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                                check=False)
        assert "Error" not in result.stdout + result.stderr, path


def test_subjects_vary_arms_and_coverage(tmp_path) -> None:
    from seganypet_node.phantom.generate import generate_volume

    volumes = [generate_volume(PhantomSpec(seed=s, slices=300, matrix=96)) for s in range(4)]
    heights = {round(float(v.acquisition.height_m), 2) for v in volumes}
    assert len(heights) > 1
    top_row = [v.labels[-3].any() for v in volumes]  # raised arms reach above the head
    assert any(top_row)
    skull_base = generate_volume(PhantomSpec(seed=0, slices=300, matrix=96,
                                             coverage="skull_base"))
    brain = BY_NAME["brain"].label
    assert (skull_base.labels == brain).sum() < (volumes[0].labels == brain).sum() / 2


def test_lungs_are_split_left_and_right(phantom_study) -> None:
    labels = sitk.ReadImage(str(phantom_study.labels_path))
    array = sitk.GetArrayFromImage(labels)
    x = np.array(labels.GetOrigin())[0] + labels.GetSpacing()[0] * np.arange(array.shape[2])
    for name, sign in (("lung_left", 1), ("lung_right", -1)):
        columns = np.nonzero((array == BY_NAME[name].label).any(axis=(0, 1)))[0]
        assert sign * x[columns].mean() > 0, name  # LPS: +x is the patient's left
