"""SEG, SR and key image: valid for dciodvfy, read back by dcmqi and highdicom, masks exact
(organs, lesions and reference regions); the SR's content is checked in test_sr_outputs.py.

The results are built from a phantom's ground truth (as if the pipeline had found it), so the
checks are about the DICOM objects, not the network's accuracy.
"""

from __future__ import annotations

import dataclasses
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
from pydicom.uid import generate_uid
from scipy import ndimage

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.volume import VolumeInput, load_input, points_of_voxels
from seganypet_node.lesions.results import (
    NOT_ASSESSED,
    Delineation,
    DetectionThreshold,
    Lesion,
    LesionSearch,
    ThresholdRule,
    TumourBurden,
)
from seganypet_node.measure.reference import (
    Orientation,
    ReferenceRegion,
    blood_pool_reference,
    liver_reference,
)
from seganypet_node.measure.uptake import uptake_stats
from seganypet_node.model.checkpoint import ModelIdentity
from seganypet_node.model.modeling.family import RelPosBias
from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE, ORGANS
from seganypet_node.outputs.dicom_results import ObjectKind, write_dicom_results
from seganypet_node.outputs.key_image import PANEL_WIDTH
from seganypet_node.outputs.seg import (
    LESION_PALETTE,
    REFERENCE_RGB,
    labelled_description,
    reference_label,
)
from seganypet_node.pipeline import OrganResult, PipelineResult

VENV_BIN = str(Path(sys.executable).parent)  # dcmqi's wrappers live beside the interpreter
DCMQI_SEG = shutil.which("segimage2itkimage", path=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
DCMQI_SR = shutil.which("tid1500reader", path=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
SUV_UNIT = "{SUVbw}g/ml"
SUL_UNIT = "{SUVlbm(Janma)}g/ml"
MODEL = ModelIdentity("seganypet_compact.pth", "ab" * 32, "seganypet_compact",
                      RelPosBias.TEXTBOOK)


@pytest.fixture(scope="module")
def lesion_study(make_phantom):
    return make_phantom(41, matrix=96, slices=260, lesions=2)


def truth_lesions(labels: np.ndarray, values: np.ndarray, volume: VolumeInput,
                  unit) -> tuple[Lesion, ...]:
    """The phantom's lesions as the lesion search would report them (site: the organ they
    touch most)."""
    spacing = volume.values.GetSpacing()[::-1]
    sul = volume.sul_per_suv
    lesions = []
    for v in sorted(v for v in np.unique(labels) if v > LESION_LABEL_BASE):
        mask = labels == v
        rim = ndimage.binary_dilation(mask, iterations=2) & ~mask
        around = [int(o) for o in labels[rim] if 0 < o < LESION_LABEL_BASE]
        site = next((o.name for o in BY_NAME.values()
                     if around and o.label == max(set(around), key=around.count)),
                    "outside the segmented organs")
        stats = uptake_stats(values, mask, spacing, unit, lesion=True)
        points = points_of_voxels(volume.values, np.argwhere(mask))
        hottest = points_of_voxels(volume.values, np.argwhere(mask & (values == values[
            mask].max())))[0]
        lesions.append(Lesion(
            int(v - LESION_LABEL_BASE), BoxMask.of(mask), stats,
            None if sul is None or not unit.is_suv else stats.peak * sul, site,
            tuple(float(c) for c in points.mean(axis=0)), tuple(float(c) for c in hottest),
            Delineation.SEGANYPET, 4, generate_uid()))
    return tuple(lesions)


def truth_references(volume: VolumeInput, values: np.ndarray, masks: dict[str, BoxMask]
                     ) -> tuple[ReferenceRegion, ...]:
    spacing = volume.values.GetSpacing()[::-1]
    direction = volume.values.GetDirection()
    sul = volume.sul_per_suv if volume.suvbw is not None else None
    liver = liver_reference(values, masks["liver"], spacing, direction[0] > 0)
    blood = blood_pool_reference(values, masks["aorta"], spacing,
                                 Orientation.of_direction(direction))
    return tuple(dataclasses.replace(r, sul_per_value=sul) for r in (liver, blood))


def truth_result(study, volume: VolumeInput) -> PipelineResult:
    """What a perfect pipeline would return: the ground-truth masks and their measurements."""
    labels_image = sitk.Resample(sitk.ReadImage(str(study.labels_path)), volume.values,
                                 sitk.Transform(), sitk.sitkNearestNeighbor)
    labels = sitk.GetArrayFromImage(labels_image)
    values = sitk.GetArrayFromImage(volume.values) * (volume.suvbw or 1.0)
    spacing = volume.values.GetSpacing()[::-1]
    unit = volume.measured_unit
    lesions = truth_lesions(labels, values, volume, unit)
    organs = []
    for organ in BY_NAME.values():
        mask = labels == organ.label
        inside = tuple(lesion.label for lesion in lesions if lesion.site == organ.name)
        organs.append(OrganResult(organ.name, BoxMask.of(mask),
                                  uptake_stats(values, mask, spacing, unit),
                                  (), lesions=inside)
                      if mask.any() else OrganResult(organ.name, None, None, (), "not in view"))
    masks = {o.organ: o.mask for o in organs if o.mask is not None}
    centroids = np.array([lesion.centroid_lps for lesion in lesions])
    dmax = float(max(np.linalg.norm(a - b) for a in centroids for b in centroids))
    burden = TumourBurden(len(lesions), sum(lesion.stats.volume_ml for lesion in lesions),
                          sum(lesion.stats.tlg or 0.0 for lesion in lesions), dmax)
    search = LesionSearch(True, lesions, DetectionThreshold(3.1, ThresholdRule.PERCIST),
                          ("brain", "heart", "kidney_left", "kidney_right", "urinary_bladder"),
                          dropped_small=1, burden=burden)
    return PipelineResult(tuple(organs), None, unit, (),
                          truth_references(volume, values, masks), search)


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


def segment_masks(result: PipelineResult) -> dict[str, np.ndarray]:
    """Every mask the SEG should hold, by tracking identifier."""
    masks = {o.organ: o.mask.full() for o in result.organs if o.mask is not None}
    masks |= {lesion.label: lesion.mask.full() for lesion in result.lesions.lesions}
    return masks | {reference_label(r): r.mask.full() for r in result.references
                    if r.mask is not None}


@pytest.mark.parametrize("kind", list(ObjectKind))
def test_dciodvfy_finds_no_error(written, kind) -> None:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dicom3tools not installed (apt-get install dicom3tools)")
    assert dciodvfy_errors(written[0][kind].path) == []


def test_all_three_are_new_labelled_series_in_the_patients_study(written, lesion_study) -> None:
    objects = written[0]
    source = pydicom.dcmread(lesion_study.files[0], stop_before_pixels=True)
    series = set()
    for obj in objects.values():
        ds = pydicom.dcmread(obj.path, stop_before_pixels=True)
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.PatientID == source.PatientID and ds.PatientName == source.PatientName
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        assert ds.SeriesDescription.startswith("SegAnyPET")
        assert ds.SeriesDescription.endswith(" - RESEARCH USE ONLY")
        assert len(ds.SeriesDate) == 8 and len(ds.SeriesTime) >= 6
        series.add((ds.SeriesInstanceUID, int(ds.SeriesNumber)))
    assert len(series) == 3
    assert obj.path.name == f"{obj.kind.value}.dcm"  # named by kind, never by a UID


def test_the_research_label_fits_a_long_string() -> None:
    assert labelled_description("SegAnyPET key image", "RUO") == "SegAnyPET key image - RUO"
    long = labelled_description("x" * 80, "RESEARCH USE ONLY")
    assert len(long) == 64 and long.endswith(" - RESEARCH USE ONLY")
    assert labelled_description("SegAnyPET key image", "") == "SegAnyPET key image"


def test_seg_masks_equal_the_pipeline_masks_voxel_for_voxel(written) -> None:
    objects, result, volume, _ = written
    seg = hd.seg.segread(objects[ObjectKind.SEG].path)
    sources = [str(ds.SOPInstanceUID) for ds in volume.pet.sources]
    labels = {int(d.SegmentNumber): str(d.TrackingID) for d in seg.SegmentSequence}
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=sources,
                                               segment_numbers=list(labels))
    regions = segment_masks(result)
    # Organs, both lesions and both references; empty segments (brain out of view) absent.
    assert set(labels.values()) == set(regions)
    assert {"lesion_1", "lesion_2", "PERCIST liver reference", "blood pool reference"} <= set(
        regions)
    for index, label in enumerate(labels.values()):
        assert np.array_equal(pixels[..., index] > 0, regions[label]), label
    first = seg.SegmentSequence[0]
    assert first.SegmentAlgorithmType == "AUTOMATIC"
    algorithm = first.SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "SegAnyPET"
    parameters = str(algorithm.AlgorithmParameters)
    assert "checkpoint=seganypet_compact.pth" in parameters
    assert f"checkpoint_sha256={'ab' * 32}" in parameters and "rel_pos_bias=textbook" in parameters
    assert seg.FrameOfReferenceUID == volume.pet.sources[0].FrameOfReferenceUID
    assert seg.ContentDescription == "SegAnyPET automatic organ and lesion segmentation"


def test_seg_codes_organs_lesions_and_references(written) -> None:
    seg = pydicom.dcmread(written[0][ObjectKind.SEG].path, stop_before_pixels=True)
    result = written[1]
    by_label = {str(d.TrackingID): d for d in seg.SegmentSequence}
    kidney = by_label["kidney_left"]
    assert kidney.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    kidney_type = kidney.SegmentedPropertyTypeCodeSequence[0]
    assert kidney_type.CodeValue == "64033007"
    assert kidney_type.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "7771000"
    for lesion in result.lesions.lesions:
        segment = by_label[lesion.label]
        assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"
        assert segment.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
        assert segment.TrackingUID == lesion.tracking_uid
        if lesion.site in BY_NAME:
            region = segment.AnatomicRegionSequence[0]
            assert region.CodeValue == BY_NAME[lesion.site].snomed_code
    for label, site in (("PERCIST liver reference", "10200004"),
                        ("blood pool reference", "32672002")):
        segment = by_label[label]
        assert segment.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "309825002"
        kind = segment.SegmentedPropertyTypeCodeSequence[0]
        assert (kind.CodeValue, kind.CodingSchemeDesignator) == ("C94970", "NCIt")
        assert segment.AnatomicRegionSequence[0].CodeValue == site
    assert by_label["blood pool reference"].SegmentLabel == \
        "blood pool reference (descending thoracic aorta)"
    colours = {label: tuple(d.RecommendedDisplayCIELabValue) for label, d in by_label.items()}
    assert len(set(colours.values())) >= len(colours) - 1  # lesions alternate two colours
    assert colours["kidney_left"] != colours["kidney_right"]
    assert colours["lung_left"] != colours["lung_right"]


def test_colours_tell_every_organ_lesion_and_reference_apart() -> None:
    colours = {o.name: o.rgb for o in ORGANS}
    colours |= {f"lesion {i}": rgb for i, rgb in enumerate(LESION_PALETTE)}
    colours |= {f"{kind} reference": rgb for kind, rgb in REFERENCE_RGB.items()}
    names = list(colours)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            distance = float(np.linalg.norm(np.subtract(colours[a], colours[b])))
            assert distance > 60, (a, b, distance)


def test_dcmqi_reads_the_seg_and_it_lies_on_the_pet_grid_in_world_space(written, tmp_path) -> None:
    if DCMQI_SEG is None:
        pytest.skip("dcmqi not installed (pip install dcmqi)")
    objects, result, volume, _ = written
    subprocess.run([DCMQI_SEG, "--inputDICOM", str(objects[ObjectKind.SEG].path),
                    "--outputDirectory", str(tmp_path), "--outputType", "nifti"],
                   check=True, capture_output=True)
    meta = json.loads((tmp_path / "meta.json").read_text())
    labels = [attrs[0]["TrackingIdentifier"] for attrs in meta["segmentAttributes"]]
    regions = segment_masks(result)
    assert set(labels) == set(regions)
    for number, label in enumerate(labels, start=1):
        image = sitk.ReadImage(str(tmp_path / f"{number}.nii.gz"))
        on_pet = sitk.Resample(image, volume.values, sitk.Transform(),
                               sitk.sitkNearestNeighbor, 0)
        assert np.array_equal(sitk.GetArrayFromImage(on_pet) > 0, regions[label]), label


def test_key_image_outlines_organs_and_lesions_on_the_mip(written) -> None:
    ds = pydicom.dcmread(written[0][ObjectKind.KEY_IMAGE].path)
    assert ds.Modality == "OT" and ds.PhotometricInterpretation == "RGB"
    assert ds.BurnedInAnnotation == "YES" and list(ds.PatientOrientation) == ["L", "F"]
    pixels = ds.pixel_array
    assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.shape[0] >= 700
    legend_start = pixels.shape[1] - PANEL_WIDTH
    liver_rgb = np.array(BY_NAME["liver"].rgb)
    columns = np.nonzero(np.all(pixels == liver_rgb, axis=-1))[1]
    in_picture = columns[columns < legend_start]
    # The liver is on the patient's right, shown on the viewer's left.
    assert in_picture.size and np.median(in_picture) < legend_start / 2
    for rgb in LESION_PALETTE:  # both lesions outlined on the MIP and in the table
        where = np.nonzero(np.all(pixels == np.array(rgb), axis=-1))[1]
        assert (where < legend_start).any() and (where >= legend_start).any(), rgb


def test_the_research_label_is_configurable(lesion_study, tmp_path) -> None:
    volume = load_input([lesion_study.dicom_dir])
    result = dataclasses.replace(truth_result(lesion_study, volume), lesions=NOT_ASSESSED)
    objects = write_dicom_results(result, volume, tmp_path, None, "AE",
                                  research_label="Not for diagnosis")
    for obj in objects:
        ds = pydicom.dcmread(obj.path, stop_before_pixels=True)
        assert ds.SeriesDescription.endswith(" - Not for diagnosis"), obj.kind


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
    assert "Bq/mL" in units and SUV_UNIT not in units and SUL_UNIT not in units
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(objects[ObjectKind.SR].path) == []
