"""The TID 1500 report: organ, lesion, reference and tumour-burden groups, read back by dcmqi and
highdicom, with CID 7464 SD, SULpeak, image library, time point and algorithm, rounded values."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import highdicom as hd
import pydicom
import pytest

from seganypet_node.imaging.volume import load_input
from seganypet_node.lesions.results import LesionSearch
from seganypet_node.outputs.dicom_results import ObjectKind, write_dicom_results
from seganypet_node.outputs.sr_library import image_library
from tests.unit.test_dicom_outputs import (
    DCMQI_SR,
    MODEL,
    SUL_UNIT,
    SUV_UNIT,
    content_values,
    dciodvfy_errors,
    truth_result,
)

REFERENCES = ("PERCIST liver reference", "blood pool reference")


@pytest.fixture(scope="module")
def lesion_study(make_phantom):
    return make_phantom(41, matrix=96, slices=260, lesions=2)


@pytest.fixture(scope="module")
def written(lesion_study, tmp_path_factory):
    volume = load_input([lesion_study.dicom_dir])
    result = truth_result(lesion_study, volume)
    out = tmp_path_factory.mktemp("sr")
    objects = {o.kind: o for o in write_dicom_results(result, volume, out, MODEL, "SEGANYPET")}
    return objects, result, volume


@pytest.fixture(scope="module")
def dcmqi_groups(written, tmp_path_factory):
    if DCMQI_SR is None:
        pytest.skip("dcmqi not installed (pip install dcmqi)")
    out = tmp_path_factory.mktemp("dcmqi") / "sr.json"
    subprocess.run([DCMQI_SR, "--inputDICOM", str(written[0][ObjectKind.SR].path),
                    "--outputMetadata", str(out)], check=True, capture_output=True)
    report = json.loads(out.read_text())
    return {g["TrackingIdentifier"]: g for g in report["Measurements"]}, report


def items_of(group: dict) -> dict[tuple[str, str | None], dict]:
    return {(i["quantity"]["CodeValue"], i.get("derivationModifier", {}).get("CodeValue")): i
            for i in group["measurementItems"]}


def test_dcmqi_reads_organ_groups_with_suv_coding_and_cid_7464_sd(written, dcmqi_groups) -> None:
    groups, report = dcmqi_groups
    liver = items_of(groups["liver"])
    stats = next(o.stats for o in written[1].organs if o.organ == "liver")
    assert float(liver["126401", "373098007"]["value"]) == round(stats.mean, 2)
    assert float(liver["126401", "126031"]["value"]) == round(stats.peak, 2)
    assert liver["126401", "56851009"]["units"]["CodeValue"] == SUV_UNIT
    assert ("126401", "386136009") in liver and ("126401", "113061") not in liver
    assert float(liver["118565006", None]["value"]) == round(stats.volume_ml, 2)
    assert groups["liver"]["ReferencedSegment"] >= 1
    # TID 1600: every slice of the PET series in the image library.
    assert len(report["imageLibrary"]) == len(written[2].pet.sources)


def test_dcmqi_reads_every_lesion_group(written, dcmqi_groups) -> None:
    groups = dcmqi_groups[0]
    lesions = written[1].lesions.lesions
    assert len(lesions) == 2
    for lesion in lesions:
        group = groups[lesion.label]
        assert group["TrackingUniqueIdentifier"] == lesion.tracking_uid
        assert group["Finding"]["CodeValue"] == "108369006"
        assert [q["conceptValue"]["CodeValue"] for q in group["qualitativeEvaluations"]] == [
            "49755003"]  # finding category
        assert "checkpoint_sha256=" in group["measurementAlgorithmIdentification"][
            "AlgorithmParameters"][0]
        items = items_of(group)
        assert float(items["126401", "56851009"]["value"]) == round(lesion.stats.maximum, 2)
        sul = items["126405", "126031"]
        assert sul["units"]["CodeValue"] == SUL_UNIT
        assert float(sul["value"]) == round(lesion.sul_peak, 2)
        assert float(items["126032", None]["value"]) == round(lesion.stats.volume_ml, 2)
        assert float(items["126033", None]["value"]) == round(lesion.stats.tlg, 2)
        if lesion.site != "outside the segmented organs":
            assert "FindingSite" in group


def test_dcmqi_reads_references_as_reference_regions_on_their_segments(written,
                                                                       dcmqi_groups) -> None:
    groups = dcmqi_groups[0]
    references = {r.name.value: r for r in written[1].references}
    for label, region in zip(REFERENCES, (references["liver"], references["blood pool"]),
                             strict=True):
        group = groups[label]
        assert group["Finding"]["CodeValue"] == "C94970"
        assert group["ReferencedSegment"] >= 1
        assert group["FindingSite"]["CodeValue"] in {"10200004", "32672002"}
        items = items_of(group)
        assert float(items["126401", "373098007"]["value"]) == round(region.mean, 2)
        assert float(items["126405", "373098007"]["value"]) == round(region.sul_mean, 2)
        assert all("FindingSite" not in item for item in group["measurementItems"])
    assert groups["blood pool reference"]["FindingSite"]["CodeValue"] == "32672002"


def test_no_value_carries_more_digits_than_the_measurement_supports(written) -> None:
    sr = pydicom.dcmread(written[0][ObjectKind.SR].path)
    values = [measured.NumericValue for item in _walk(sr, skip="Image Library")
              for measured in item.get("MeasuredValueSequence", [])]
    assert len(values) >= 70  # organs, lesions, references and burden
    for value in values:
        assert len(str(value.original_string).partition(".")[2]) <= 2, value


def test_highdicom_finds_segments_burden_time_point_and_algorithm(written) -> None:
    objects, result, _ = written
    sr = hd.sr.srread(objects[ObjectKind.SR].path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    expected = [o.organ for o in result.organs if o.found]
    expected += [lesion.label for lesion in result.lesions.lesions] + list(REFERENCES)
    assert [str(g.tracking_identifier) for g in groups] == expected
    burden = sr.content.get_image_measurement_groups()
    assert [str(g.tracking_identifier) for g in burden] == ["tumour burden"]
    values = {m.name.value: m.value for m in burden[0].get_measurements()}
    assert values["246206008"] == 2
    assert values["126032"] == pytest.approx(
        sum(lesion.stats.volume_ml for lesion in result.lesions.lesions), abs=0.01)
    assert values["121206"] == pytest.approx(result.lesions.burden.dmax_mm, abs=0.1)
    ds = pydicom.dcmread(objects[ObjectKind.SR].path)
    names = [item.ConceptNameCodeSequence[0].CodeMeaning for item in _walk(ds)
             if "ConceptNameCodeSequence" in item]
    group_count = len(groups) + len(burden)
    assert names.count("Time Point") == group_count
    assert names.count("Algorithm Name") == group_count
    texts = list(content_values(ds, "TextValue"))
    assert "SegAnyPET" in texts
    assert any(f"checkpoint_sha256={'ab' * 32}" in t for t in texts)


def test_the_report_says_when_lesions_were_not_assessed(lesion_study, tmp_path) -> None:
    volume = load_input([lesion_study.dicom_dir])
    search = LesionSearch(assessed=False, reason="no lesion checkpoint configured")
    result = dataclasses.replace(truth_result(lesion_study, volume), lesions=search)
    objects = {o.kind: o for o in write_dicom_results(result, volume, tmp_path, None, "AE")}
    sr = pydicom.dcmread(objects[ObjectKind.SR].path)
    assert "lesions not assessed: no lesion checkpoint configured" in list(
        content_values(sr, "TextValue"))
    report = hd.sr.srread(objects[ObjectKind.SR].path)
    assert report.content.get_image_measurement_groups() == []  # no tumour burden
    assert dciodvfy_errors(objects[ObjectKind.SR].path) == []


def test_the_search_notes_are_comments(written) -> None:
    sr = pydicom.dcmread(written[0][ObjectKind.SR].path)
    texts = list(content_values(sr, "TextValue"))
    for note in written[1].lesions.notes():
        assert note in texts
    assert any(t.startswith("lesion detection threshold 3.10 SUVbw (PERCIST") for t in texts)


def _walk(ds: pydicom.Dataset, skip: str = ""):
    """Every content item under ``ds``, leaving out the subtree of a container named ``skip``."""
    for item in ds.get("ContentSequence", []):
        names = item.get("ConceptNameCodeSequence") or [None]
        if names[0] is not None and names[0].CodeMeaning == skip:
            continue
        yield item
        yield from _walk(item, skip)


def _meanings(items) -> list[str]:
    return [item.ConceptNameCodeSequence[0].CodeMeaning for item in items]


def test_the_image_library_says_shared_descriptors_once_and_each_slice_its_position(
        written) -> None:
    objects, _, volume = written
    ds = pydicom.dcmread(objects[ObjectKind.SR].path)
    top = ds.ContentSequence
    library = next(i for i in top if _meanings([i]) == ["Image Library"])
    assert _meanings(top).index("Image Library") < _meanings(top).index("Imaging Measurements")
    (group,) = library.ContentSequence
    shared = [i for i in group.ContentSequence if i.ValueType != "IMAGE"]
    entries = [i for i in group.ContentSequence if i.ValueType == "IMAGE"]
    assert {"Modality", "Frame of Reference UID", "Pixel Data Rows",
            "Image Orientation (Patient) Row X"} <= set(_meanings(shared))
    assert not any(m.startswith("Image Position") for m in _meanings(shared))
    sources = volume.pet.sources
    assert [e.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for e in entries] == [
        s.SOPInstanceUID for s in sources]
    for entry, source in zip(entries, sources, strict=True):
        position = [float(i.MeasuredValueSequence[0].NumericValue) for i in entry.ContentSequence]
        assert position == pytest.approx([float(v) for v in source.ImagePositionPatient])
    # A fraction of highdicom's per-slice form (16 descriptors, ~4 KB, under every image).
    assert objects[ObjectKind.SR].path.stat().st_size < 1500 * len(sources) + 100_000


def test_slices_of_mixed_geometry_keep_their_own_descriptors(lesion_study) -> None:
    volume = load_input([lesion_study.dicom_dir])
    sources = list(volume.pet.sources[:3])
    odd = pydicom.Dataset(sources[1])
    odd.PixelSpacing = [9.0, 9.0]
    library = image_library([sources[0], odd, sources[2]])
    (group,) = library.ContentSequence
    entries = [i for i in group.ContentSequence if i.ValueType == "IMAGE"]
    assert len(entries) == 3
    assert all("Horizontal Pixel Spacing" in _meanings(e.ContentSequence) for e in entries)
