"""``summary.json``'s ``lesions`` section: how the search ran, each lesion, the tumour burden.

Uptake figures are in the summary's ``unit`` (SUVbw when the header allows it), like the
organs'; ``sul_peak`` is in SUL (lean body mass) and null when the header lacks sex, height
or weight.
"""

from __future__ import annotations

from typing import Any

from seganypet_node.lesions.results import Lesion, LesionSearch, TumourBurden

MASKS_DIR = "masks"


def mask_path(name: str) -> str:
    """Where an organ's or lesion's mask lies in the result folder."""
    return f"{MASKS_DIR}/{name}.nii.gz"


def lesions_summary(search: LesionSearch) -> dict[str, Any]:
    """The JSON-ready lesion section: assessed or why not, threshold, bounds, lesions, burden."""
    threshold = search.threshold
    return {
        "assessed": search.assessed,
        "reason": search.reason,
        "threshold": None if threshold is None else {
            "value": round(threshold.value, 4), "rule": str(threshold.rule),
            "note": threshold.note},
        "excluded_organs": list(search.excluded),
        "not_excluded_organs": list(search.not_excluded),
        "dropped_small": search.dropped_small,
        "capped": search.capped,
        "notes": list(search.notes()),
        "seconds": round(search.seconds, 3),
        "lesions": [lesion_entry(lesion) for lesion in search.lesions],
        # Hot foci set aside as not lesions, each with the rule that set it aside.
        "physiological_foci": [
            {"centre_lps_mm": [round(v, 1) for v in focus.centre_lps],
             "suv_max": round(focus.suv_max, 2), "volume_ml": round(focus.volume_ml, 2),
             "reason": focus.reason} for focus in search.physiological],
        "tumour_burden": None if not search.assessed else burden_entry(
            search.burden or TumourBurden(len(search.lesions), sum(
                lesion.stats.volume_ml for lesion in search.lesions), None, None)),
    }


def lesion_entry(lesion: Lesion) -> dict[str, Any]:
    """One lesion: identity, where it is, its uptake and volume, and how it was delineated."""
    stats = lesion.stats
    return {
        "label": lesion.label,
        "tracking_uid": lesion.tracking_uid,
        "mask": mask_path(lesion.label),
        "site": lesion.site,
        "unit": stats.unit,
        "maximum": round(stats.maximum, 4),
        "peak": round(stats.peak, 4),
        "mean": round(stats.mean, 4),
        "sd": round(stats.sd, 4),
        "sul_peak": None if lesion.sul_peak is None else round(lesion.sul_peak, 4),
        "mtv_ml": round(stats.volume_ml, 3),
        "tlg": None if stats.tlg is None else round(stats.tlg, 3),
        "centroid_lps_mm": [round(v, 1) for v in lesion.centroid_lps],
        "click_lps_mm": [round(v, 1) for v in lesion.click_lps],
        "delineation": str(lesion.delineation),
        # An aid against the blood pool and liver means, not a reader's score.
        "deauville_aid": lesion.deauville,
        "note": lesion.note,
    }


def burden_entry(burden: TumourBurden) -> dict[str, Any]:
    """Study totals: lesion count, total MTV and TLG, Dmax (largest centroid distance)."""
    return {
        "count": burden.count,
        "total_mtv_ml": round(burden.total_mtv_ml, 3),
        "total_tlg": None if burden.total_tlg is None else round(burden.total_tlg, 3),
        "dmax_mm": None if burden.dmax_mm is None else round(burden.dmax_mm, 1),
    }
