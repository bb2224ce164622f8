"""``summary.json`` and the lesion masks: the lesion section, organs' lesions, references in
SUVbw and SUL, and caveats that say how far lesions were assessed."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.units import Unit
from seganypet_node.lesions.results import (
    NOT_ASSESSED,
    Delineation,
    DetectionThreshold,
    Lesion,
    LesionSearch,
    ThresholdRule,
    TumourBurden,
)
from seganypet_node.measure.reference import ReferenceKind, ReferenceRegion
from seganypet_node.measure.uptake import uptake_stats
from seganypet_node.outputs.summary import RunRecord, caveats, summary, write_results
from seganypet_node.pipeline import OrganResult, PipelineResult, RunSource

SHAPE = (40, 32, 32)  # z, y, x
SPACING = (4.0, 4.0, 4.0)


def ball(centre: tuple[int, int, int], radius: float) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in SHAPE)]
    return sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True)) <= radius**2


def synthetic_result(search_lesions: bool = True) -> tuple[PipelineResult, np.ndarray]:
    """A liver with a hot lesion, a lesion outside the organs, and two references; the
    values' array is returned with it."""
    values = np.full(SHAPE, 0.5, np.float32)
    liver = ball((15, 16, 8), 7)
    aorta = ball((28, 20, 16), 2)
    values[liver] = 2.0
    values[aorta] = 1.6
    first, second = ball((15, 16, 6), 2) & liver, ball((30, 12, 24), 2)
    values[first], values[second] = 9.0, 6.0
    lesions = (
        Lesion(1, BoxMask.of(first),
               uptake_stats(values, first, SPACING, Unit.SUVBW, lesion=True), 6.1,
               "liver", (-40.0, 10.0, 60.0), (-42.0, 10.0, 60.0), Delineation.SEGANYPET, 4,
               "1.2.3.4.1"),
        Lesion(2, BoxMask.of(second),
               uptake_stats(values, second, SPACING, Unit.SUVBW, lesion=True), None,
               "outside the segmented organs", (30.0, -20.0, 120.0), (30.0, -20.0, 121.0),
               Delineation.THRESHOLD, None, "1.2.3.4.2", note="SegAnyPET's mask leaked"),
    )
    normal = liver & ~first
    organs = (OrganResult("liver", BoxMask.of(liver),
                          uptake_stats(values, normal, SPACING, Unit.SUVBW), (),
                          lesions=("lesion_1",)),
              OrganResult("aorta", BoxMask.of(aorta),
                          uptake_stats(values, aorta, SPACING, Unit.SUVBW), ()),
              OrganResult("brain", None, None, (), "not in view"))
    references = (
        ReferenceRegion(ReferenceKind.LIVER, 2.0, 0.2, 14.1, (15, 16, 10), None,
                        "right lobe of the liver", BoxMask.of(ball((15, 16, 10), 2) & normal),
                        0.75),
        ReferenceRegion(ReferenceKind.BLOOD_POOL, 1.6, 0.1, 1.5, (28, 20, 16),
                        "narrow lumen", "descending thoracic aorta", BoxMask.of(aorta), 0.75))
    search = LesionSearch(
        True, lesions, DetectionThreshold(3.4, ThresholdRule.PERCIST),
        ("brain", "heart"), ("kidney_left",), dropped_small=2, capped=1,
        burden=TumourBurden(2, sum(x.stats.volume_ml for x in lesions),
                            sum(x.stats.tlg or 0.0 for x in lesions), 123.456)) \
        if search_lesions else NOT_ASSESSED
    result = PipelineResult(organs, None, Unit.SUVBW, (), references, search)
    return result, values


def grid() -> sitk.Image:
    image = sitk.GetImageFromArray(np.zeros(SHAPE, np.float32))
    image.SetSpacing(SPACING)
    image.SetOrigin((-64.0, -64.0, -80.0))
    return image


def test_lesion_masks_and_the_lesion_section_are_written(tmp_path) -> None:
    result, _ = synthetic_result()
    write_results(result, grid(), tmp_path, RunRecord(RunSource(files=("test",))))
    written = json.loads((tmp_path / "summary.json").read_text())
    section = written["lesions"]
    assert section["assessed"] is True and section["reason"] is None
    assert section["threshold"] == {"value": 3.4, "rule": "PERCIST: 1.5 x liver mean + 2 SD",
                                    "note": None}
    assert section["excluded_organs"] == ["brain", "heart"]
    assert section["not_excluded_organs"] == ["kidney_left"]
    assert (section["dropped_small"], section["capped"]) == (2, 1)
    assert section["notes"] == list(result.lesions.notes()) and len(section["notes"]) == 3
    first, second = section["lesions"]
    lesion = result.lesions.lesions[0]
    assert first["label"] == "lesion_1" and first["tracking_uid"] == "1.2.3.4.1"
    assert first["site"] == "liver" and first["maximum"] == 9.0 and first["sul_peak"] == 6.1
    assert first["mtv_ml"] == round(lesion.stats.volume_ml, 3)
    assert first["tlg"] == round(lesion.stats.tlg, 3)
    assert first["centroid_lps_mm"] == [-40.0, 10.0, 60.0]
    assert first["click_lps_mm"] == [-42.0, 10.0, 60.0]
    assert first["delineation"] == str(Delineation.SEGANYPET) and first["deauville_aid"] == 4
    assert second["sul_peak"] is None and second["deauville_aid"] is None
    assert second["note"] == "SegAnyPET's mask leaked"
    assert section["tumour_burden"]["count"] == 2
    assert section["tumour_burden"]["dmax_mm"] == 123.5
    for k, entry in enumerate(section["lesions"]):
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / entry["mask"]))) > 0
        assert np.array_equal(mask, result.lesions.lesions[k].mask.full())
    assert written["organs"]["liver"]["lesions"] == ["lesion_1"]
    assert "lesion_1" in written["organs"]["liver"]["uptake_note"]
    assert written["organs"]["aorta"]["lesions"] == []
    assert written["organs"]["aorta"]["uptake_note"] is None


def test_references_have_site_suvbw_sul_and_centre() -> None:
    result, _ = synthetic_result()
    entry = summary(result, RunRecord(RunSource(files=("t",))), grid())["reference_regions"]
    blood = entry["blood pool"]
    assert blood["site"] == "descending thoracic aorta"
    assert (blood["mean"], blood["sd"]) == (1.6, 0.1)
    assert (blood["sul_mean"], blood["sul_sd"]) == (1.2, 0.075)
    assert blood["centre_index_zyx"] == [28, 20, 16]
    assert blood["centre_lps_mm"] == [0.0, 16.0, 32.0]  # origin + index x spacing
    assert blood["note"] == "narrow lumen"
    assert entry["liver"]["site"] == "right lobe of the liver"


def test_caveats_say_how_far_lesions_were_assessed() -> None:
    result, _ = synthetic_result()
    note = caveats(result)
    assert note is not None and "lesion cap reached: 1 more candidate(s)" in note
    assert "physiological uptake not excluded (organ not found): kidney_left" in note
    unassessed, _ = synthetic_result(search_lesions=False)
    assert caveats(unassessed) == "lesions not assessed: lesion detection is off " \
        "([lesions] enabled)"
    section = summary(unassessed, RunRecord(RunSource(files=("t",))))["lesions"]
    assert section["assessed"] is False and section["lesions"] == []
    assert section["reason"] == NOT_ASSESSED.reason and section["tumour_burden"] is None
