"""SEG, SR and key image: valid for dciodvfy, read back by dcmqi and highdicom, masks exact.

The results are built from a phantom's ground truth (as if the pipeline had found it), so the
checks are about the DICOM objects, not the network's accuracy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from seganypet_node.imaging.volume import VolumeInput, load_input
from seganypet_node.measure.uptake import uptake_stats
from seganypet_node.model.checkpoint import ModelIdentity
from seganypet_node.model.modeling.family import RelPosBias
from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE
from seganypet_node.outputs.dicom_results import ObjectKind, write_dicom_results
from seganypet_node.pipeline import OrganResult, PipelineResult, reference_regions

VENV_BIN = str(Path(sys.executable).parent)  # dcmqi's wrappers live beside the interpreter
DCMQI_SEG = shutil.which("segimage2itkimage", path=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
DCMQI_SR = shutil.which("tid1500reader", path=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
SUV_UNIT = "{SUVbw}g/ml"
MODEL = ModelIdentity("seganypet_compact.pth", "ab" * 32, "seganypet_compact",
                      RelPosBias.TEXTBOOK)


@pytest.fixture(scope="module")
def lesion_study(make_phantom):
    return make_phantom(41, matrix=96, slices=260, lesions=2)


def truth_result(study, volume: VolumeInput) -> PipelineResult:
    """What a perfect pipeline would return: the ground-truth masks and their measurements."""
    labels_image = sitk.Resample(sitk.ReadImage(str(study.labels_path)), volume.values,
                                 sitk.Transform(), sitk.sitkNearestNeighbor)
    labels = sitk.GetArrayFromImage(labels_image)
    values = sitk.GetArrayFromImage(volume.values) * (volume.suvbw or 1.0)
    spacing = volume.values.GetSpacing()[::-1]
    unit = volume.measured_unit
    organs = []
    for organ in BY_NAME.values():
        mask = labels == organ.label
        organs.append(OrganResult(organ.name, mask, uptake_stats(values, mask, spacing, unit), ())
                      if mask.any() else OrganResult(organ.name, None, None, (), "not in view"))
    lesions = tuple(
        OrganResult(f"lesion_{v - LESION_LABEL_BASE}", labels == v,
                    uptake_stats(values, labels == v, spacing, unit, lesion=True), ())
        for v in np.unique(labels) if v > LESION_LABEL_BASE)
    suv = sitk.GetImageFromArray(values.astype(np.float32))
    suv.CopyInformation(volume.values)
    return PipelineResult(tuple(organs), None, unit, (),
                          reference_regions(volume, suv, organs), lesions)


@pytest.fixture(scope="module")
def written(lesion_study, tmp_path_factory):
    volume = load_input([lesion_study.dicom_dir])
    result = truth_result(lesion_study, volume)
    out = tmp_path_factory.mktemp("outputs")
    objects = write_dicom_results(result, volume, out, MODEL, "SEGANYPET")
    return {o.kind: o for o in objects}, result, volume, out


def content_values(ds: pydicom.Dataset, keyword: str):
    """Every value of ``keyword`` anywhere in an SR content tree (sequences flattened)."""
    for item in ds.get("ContentSequence", []):
        value = item.get(keyword)
        if value is not None:
            yield from (value if isinstance(value, pydicom.Sequence) else [value])
        for measured in item.get("MeasuredValueSequence", []):
            yield from measured.get(keyword, [])
        yield from content_values(item, keyword)


def dciodvfy_errors(path: Path) -> list[str]:
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.parametrize("kind", list(ObjectKind))
def test_dciodvfy_finds_no_error(written, kind) -> None:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dicom3tools not installed (apt-get install dicom3tools)")
    assert dciodvfy_errors(written[0][kind].path) == []


def test_all_three_are_new_series_in_the_patients_study(written, lesion_study) -> None:
    objects = written[0]
    source = pydicom.dcmread(lesion_study.files[0], stop_before_pixels=True)
    series = set()
    for obj in objects.values():
        ds = pydicom.dcmread(obj.path, stop_before_pixels=True)
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.PatientID == source.PatientID and ds.PatientName == source.PatientName
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        assert ds.SeriesDescription.startswith("SegAnyPET")
        series.add((ds.SeriesInstanceUID, int(ds.SeriesNumber)))
    assert len(series) == 3
    assert obj.path.name == f"{obj.kind.value}.dcm"  # named by kind, never by a UID


def test_seg_masks_equal_the_pipeline_masks_voxel_for_voxel(written) -> None:
    objects, result, volume, _ = written
    seg = hd.seg.segread(objects[ObjectKind.SEG].path)
    sources = [str(ds.SOPInstanceUID) for ds in volume.pet.sources]
    labels = {int(d.SegmentNumber): str(d.TrackingID) for d in seg.SegmentSequence}
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=sources,
                                               segment_numbers=list(labels))
    regions = {o.organ: o for o in (*result.organs, *result.lesions) if o.mask is not None}
    assert set(labels.values()) == set(regions)  # empty segments (brain out of view) absent
    for index, label in enumerate(labels.values()):
        assert np.array_equal(pixels[..., index] > 0, regions[label].mask), label
    first = seg.SegmentSequence[0]
    assert first.SegmentAlgorithmType == "AUTOMATIC"
    algorithm = first.SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "SegAnyPET"
    parameters = str(algorithm.AlgorithmParameters)
    assert "checkpoint=seganypet_compact.pth" in parameters
    assert f"checkpoint_sha256={'ab' * 32}" in parameters and "rel_pos_bias=textbook" in parameters
    assert seg.FrameOfReferenceUID == volume.pet.sources[0].FrameOfReferenceUID


def test_seg_codes_laterality_and_lesions(written) -> None:
    seg = pydicom.dcmread(written[0][ObjectKind.SEG].path, stop_before_pixels=True)
    by_label = {str(d.TrackingID): d for d in seg.SegmentSequence}
    kidney = by_label["kidney_left"].SegmentedPropertyTypeCodeSequence[0]
    assert kidney.CodeValue == "64033007"
    assert kidney.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "7771000"
    lesion = by_label["lesion_1"]
    assert lesion.SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"
    assert lesion.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"


def test_dcmqi_reads_the_seg_and_it_lies_on_the_pet_grid_in_world_space(written, tmp_path) -> None:
    if DCMQI_SEG is None:
        pytest.skip("dcmqi not installed (pip install dcmqi)")
    objects, result, volume, _ = written
    subprocess.run([DCMQI_SEG, "--inputDICOM", str(objects[ObjectKind.SEG].path),
                    "--outputDirectory", str(tmp_path), "--outputType", "nifti"],
                   check=True, capture_output=True)
    meta = json.loads((tmp_path / "meta.json").read_text())
    labels = [attrs[0]["TrackingIdentifier"] for attrs in meta["segmentAttributes"]]
    regions = {o.organ: o for o in (*result.organs, *result.lesions) if o.mask is not None}
    for number, label in enumerate(labels, start=1):
        image = sitk.ReadImage(str(tmp_path / f"{number}.nii.gz"))
        on_pet = sitk.Resample(image, volume.values, sitk.Transform(),
                               sitk.sitkNearestNeighbor, 0)
        assert np.array_equal(sitk.GetArrayFromImage(on_pet) > 0, regions[label].mask), label


def test_sr_is_read_back_by_dcmqi_with_suv_coding(written, tmp_path) -> None:
    if DCMQI_SR is None:
        pytest.skip("dcmqi not installed (pip install dcmqi)")
    objects, result, _, _ = written
    out = tmp_path / "sr.json"
    subprocess.run([DCMQI_SR, "--inputDICOM", str(objects[ObjectKind.SR].path),
                    "--outputMetadata", str(out)], check=True, capture_output=True)
    groups = {g["TrackingIdentifier"]: g for g in json.loads(out.read_text())["Measurements"]}
    liver = groups["liver"]
    items = {(i["quantity"]["CodeValue"], i.get("derivationModifier", {}).get("CodeMeaning")): i
             for i in liver["measurementItems"]}
    stats = next(o.stats for o in result.organs if o.organ == "liver")
    assert float(items["126401", "Mean"]["value"]) == pytest.approx(stats.mean, rel=1e-5)
    assert float(items["126401", "Peak Value Within ROI"]["value"]) == pytest.approx(
        stats.peak, rel=1e-5)
    assert items["126401", "Maximum"]["units"]["CodeValue"] == SUV_UNIT
    assert float(items["118565006", None]["value"]) == pytest.approx(stats.volume_ml, rel=1e-5)
    lesion = {i["quantity"]["CodeValue"] for i in groups["lesion_1"]["measurementItems"]}
    assert {"126033", "126032"} <= lesion  # TLG and metabolic volume
    assert liver["ReferencedSegment"] >= 1


def test_highdicom_reads_the_sr_and_finds_every_segment(written) -> None:
    objects, result, _, _ = written
    sr = hd.sr.srread(objects[ObjectKind.SR].path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    expected = [o.organ for o in (*result.organs, *result.lesions) if o.found]
    assert [str(g.tracking_identifier) for g in groups] == expected
    references = sr.content.get_image_measurement_groups()
    assert len(references) == 2  # PERCIST liver and blood pool


def test_key_image_shows_mip_legend_and_table(written) -> None:
    ds = pydicom.dcmread(written[0][ObjectKind.KEY_IMAGE].path)
    assert ds.Modality == "OT" and ds.PhotometricInterpretation == "RGB"
    assert ds.BurnedInAnnotation == "YES" and list(ds.PatientOrientation) == ["L", "F"]
    pixels = ds.pixel_array
    assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.shape[0] >= 700
    liver_rgb = np.array(BY_NAME["liver"].rgb)
    outline = np.all(pixels == liver_rgb, axis=-1)
    columns = np.nonzero(outline)[1]
    legend_start = pixels.shape[1] - 560
    in_picture = columns[columns < legend_start]
    # The liver is on the patient's right, shown on the viewer's left.
    assert in_picture.size and np.median(in_picture) < legend_start / 2


def test_without_suv_the_sr_reports_bq_per_ml_and_says_why(lesion_study, tmp_path) -> None:
    folder = tmp_path / "noweight"
    folder.mkdir()
    for path in lesion_study.files:
        ds = pydicom.dcmread(path)
        del ds.PatientWeight
        ds.save_as(folder / path.name)
    volume = load_input([folder])
    assert volume.suvbw is None and volume.unit == "Bq/ml"
    result = truth_result(lesion_study, volume)
    objects = {o.kind: o for o in write_dicom_results(result, volume, tmp_path, None, "AE")}
    sr = pydicom.dcmread(objects[ObjectKind.SR].path)
    texts = list(content_values(sr, "TextValue"))
    units = {code.CodeValue for code in content_values(sr, "MeasurementUnitsCodeSequence")}
    assert any(t.startswith("SUV not reported: PatientWeight is missing") for t in texts)
    assert "Bq/mL" in units and SUV_UNIT not in units
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(objects[ObjectKind.SR].path) == []
