"""Anatomical plausibility: is a segmented organ where, how big and how hot that organ can be?

Every organ is checked on its own first (volume against a range scaled to the patient, one
connected piece, uptake), then against the body and the organs that passed: the bladder in
the midline pelvis below the kidneys, each lung on its side above the liver dome, the aorta
between its arch and its bifurcation, the brain at the top, liver right and spleen left. An
organ that fails any rule is reported not found with the rule and the figures, because a
mask the node cannot stand behind must not reach a reader as a finding. The ranges are wide
(adult FDG PET, disease included); they are there to catch a mask on the wrong structure, not
unusual anatomy. The inter-organ distances were read off the project's own XCAT-derived
phantoms and widened; they have not been checked on patient scans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from seganypet_node.organs import display_label
from seganypet_node.plausibility.facts import BodyFacts, OrganFacts


@dataclass(frozen=True)
class VolumeRange:
    """Plausible volume of an organ in a standard adult, ml (scaled by body size)."""

    low: float
    high: float


VOLUMES: Mapping[str, VolumeRange] = {
    "brain": VolumeRange(700, 2100),
    "heart": VolumeRange(150, 1800),
    "liver": VolumeRange(500, 5000),
    "spleen": VolumeRange(30, 3000),
    "kidney_left": VolumeRange(40, 600),
    "kidney_right": VolumeRange(40, 600),
    "urinary_bladder": VolumeRange(2, 1500),
    "lung_left": VolumeRange(400, 5500),
    "lung_right": VolumeRange(500, 6000),
    "aorta": VolumeRange(20, 800),
}
# Median uptake (SUVbw) of a mask on the organ: an organ's own range is much narrower; a
# mask on a neighbour (a lung on the heart, the liver on a kidney) falls outside.
MEDIAN_SUV: Mapping[str, tuple[float, float]] = {
    "brain": (0.8, 30.0), "heart": (0.4, 30.0), "liver": (0.6, 6.0), "spleen": (0.5, 6.0),
    "kidney_left": (0.6, 40.0), "kidney_right": (0.6, 40.0),
    "urinary_bladder": (0.8, 200.0), "lung_left": (0.02, 1.5), "lung_right": (0.02, 1.5),
    "aorta": (0.5, 4.0),
}
# Share of the mask in its largest piece; the aorta may come as a few stretches (correct
# aortas of the hard set came in up to 4 pieces, 64 % in the largest).
LARGEST_SHARE = {"aorta": 0.6}
DEFAULT_LARGEST_SHARE = 0.9
# Distances in a standard adult (mm), scaled by the patient's height. Kidney centres to the
# bladder's: 270-380 mm in the XCAT-derived phantoms (heights 1.45-1.95 m); the aorta's lowest
# point (with the common iliac arteries): 180-290 mm below the kidneys; its top 0-60 mm below
# the lung apices.
BLADDER_MIDLINE_MM = 60.0
# The bladder lies behind the pubic symphysis, in front of the rectum and sacrum: its centre
# in the front part of the body's depth at its level (0.36-0.46 in our phantoms; a tumour
# behind a small bladder was at 0.63).
BLADDER_MAX_DEPTH = 0.55
BLADDER_BELOW_KIDNEYS_MM = (150.0, 460.0)
SIDE_MM = {"lung_left": 25.0, "lung_right": 25.0, "kidney_left": 15.0,
           "kidney_right": 15.0, "spleen": 25.0, "liver": 10.0}
LUNG_BELOW_DOME_MM = 30.0  # a lung's centre may sit this far below the liver's top, no more
AORTA_ABOVE_APEX_MM = 20.0
AORTA_BELOW_KIDNEYS_MM = 360.0
# The abdominal aorta runs on past the renal arteries (at the kidneys' level) to its
# bifurcation, about 100 mm lower in an adult: a mask ending before this has lost it.
AORTA_MIN_BELOW_KIDNEYS_MM = 70.0
BRAIN_ABOVE_APEX_MM = 50.0
HEART_MIDLINE_MM = 90.0


@dataclass(frozen=True)
class Verdict:
    """What the checks found about one organ: the first failed rule's message, or None."""

    organ: str
    failure: str | None

    @property
    def plausible(self) -> bool:
        return self.failure is None


def judge(facts: Mapping[str, OrganFacts], body: BodyFacts,
          uptake_in_suv: bool) -> dict[str, Verdict]:
    """Verdicts for every organ in ``facts``; relative rules use only organs that pass alone."""
    alone = {name: _alone(name, f, body, uptake_in_suv) for name, f in facts.items()}
    references = {name: f for name, f in facts.items() if alone[name] is None}
    verdicts = {}
    for name, organ_facts in facts.items():
        failure = alone[name] or _relative(name, organ_facts, body, references)
        verdicts[name] = Verdict(name, None if failure is None
                                 else f"failed plausibility: {failure}")
    return verdicts


def _alone(name: str, f: OrganFacts, body: BodyFacts, uptake_in_suv: bool) -> str | None:
    label = display_label(name)
    volumes = VOLUMES.get(name)
    if volumes is not None:
        low, high = body.volume_range(volumes.low, volumes.high)
        if f.volume_ml > high:
            return f"{label} {f.volume_ml:.0f} ml, more than {high:.0f} ml ({body.size_note})"
        if f.volume_ml < low and not f.cut_by_field:
            return f"{label} {f.volume_ml:.0f} ml, less than {low:.0f} ml ({body.size_note})"
    share = LARGEST_SHARE.get(name, DEFAULT_LARGEST_SHARE)
    if f.largest_share < share:
        return (f"{label} in {f.pieces} pieces, the largest {100 * f.largest_share:.0f} % of it "
                f"(at least {100 * share:.0f} % expected)")
    bounds = MEDIAN_SUV.get(name)
    if uptake_in_suv and bounds is not None and not bounds[0] <= f.median_suv <= bounds[1]:
        return (f"{label} median SUV {f.median_suv:.2f}, outside {bounds[0]:g}-{bounds[1]:g} "
                f"for this organ")
    return None


def _relative(name: str, f: OrganFacts, body: BodyFacts,
              others: Mapping[str, OrganFacts]) -> str | None:
    rule = RELATIVE.get(name)
    return _side(name, f, body) or (rule(name, f, body, others) if rule else None)


def _side(name: str, f: OrganFacts, body: BodyFacts) -> str | None:
    """Paired and one-sided organs on their side of the midline (LPS +x: patient's left)."""
    margin = SIDE_MM.get(name)
    if margin is None:
        return None
    offset = f.centre[0] - body.midline_x  # > 0: toward the patient's left
    left = name.endswith("_left") or name == "spleen"
    label = display_label(name)
    if left and offset < margin:
        return f"{label} centre {_lateral(offset)}, expected at least {margin:.0f} mm to the left"
    if not left and -offset < margin:
        return f"{label} centre {_lateral(offset)}, expected at least {margin:.0f} mm to the right"
    return None


def _lateral(offset: float) -> str:
    side = "left" if offset > 0 else "right"
    return f"{abs(offset):.0f} mm {side} of the body midline"


def _bladder(name: str, f: OrganFacts, body: BodyFacts,
             others: Mapping[str, OrganFacts]) -> str | None:
    off_midline = abs(f.centre[0] - body.midline_x)
    if off_midline > body.length_range(0, BLADDER_MIDLINE_MM)[1]:
        return f"bladder centre {off_midline:.0f} mm from the body midline"
    depth = body.depth_share(f.centre)
    if depth is not None and depth > BLADDER_MAX_DEPTH:
        return (f"bladder centre {100 * depth:.0f} % of the body's depth back from the front "
                f"(at most {100 * BLADDER_MAX_DEPTH:.0f} %: behind it lie rectum and sacrum)")
    kidneys = _kidney_level(others)
    if kidneys is not None:
        below = kidneys - f.centre[2]
        low, high = body.length_range(*BLADDER_BELOW_KIDNEYS_MM)
        if not low <= below <= high:
            return (f"bladder centre {below:.0f} mm below the kidneys (expected "
                    f"{low:.0f}-{high:.0f} mm)")
    return None


def _lung(name: str, f: OrganFacts, body: BodyFacts,
          others: Mapping[str, OrganFacts]) -> str | None:
    liver = others.get("liver")
    if liver is not None and f.centre[2] < liver.top_mm - LUNG_BELOW_DOME_MM:
        return (f"{display_label(name)} centre {liver.top_mm - f.centre[2]:.0f} mm below "
                f"the liver dome")
    return None


def _aorta(name: str, f: OrganFacts, body: BodyFacts,
           others: Mapping[str, OrganFacts]) -> str | None:
    apex = _apex(others)
    if apex is not None and f.top_mm > apex + AORTA_ABOVE_APEX_MM:
        return f"aorta reaches {f.top_mm - apex:.0f} mm above the lung apices (neck or head)"
    kidneys = _kidney_level(others)
    if kidneys is not None:
        below = kidneys - f.bottom_mm
        if below > body.length_range(0, AORTA_BELOW_KIDNEYS_MM)[1]:
            return (f"aorta reaches {below:.0f} mm below the kidneys, past its bifurcation "
                    f"(pelvis or legs)")
        shortest = body.length_range(AORTA_MIN_BELOW_KIDNEYS_MM, 0)[0]
        if below < shortest and not f.cut_by_field:
            return (f"aorta ends {below:.0f} mm below the kidneys' centres (at least "
                    f"{shortest:.0f} mm expected: the abdominal aorta is missing)")
    return None


def _brain(name: str, f: OrganFacts, body: BodyFacts,
           others: Mapping[str, OrganFacts]) -> str | None:
    apex = _apex(others)
    if apex is not None and f.centre[2] < apex + BRAIN_ABOVE_APEX_MM:
        return (f"brain centre {f.centre[2] - apex:.0f} mm above the lung apices (at least "
                f"{BRAIN_ABOVE_APEX_MM:.0f} mm expected)")
    return None


def _heart(name: str, f: OrganFacts, body: BodyFacts,
           others: Mapping[str, OrganFacts]) -> str | None:
    off_midline = abs(f.centre[0] - body.midline_x)
    if off_midline > body.length_range(0, HEART_MIDLINE_MM)[1]:
        return f"heart centre {off_midline:.0f} mm from the body midline"
    liver = others.get("liver")
    if liver is not None and f.centre[2] < liver.centre[2]:
        return f"heart centre {liver.centre[2] - f.centre[2]:.0f} mm below the liver's centre"
    return None


def _kidney(name: str, f: OrganFacts, body: BodyFacts,
            others: Mapping[str, OrganFacts]) -> str | None:
    heart = others.get("heart")
    if heart is not None and f.centre[2] > heart.centre[2]:
        return (f"{display_label(name)} centre {f.centre[2] - heart.centre[2]:.0f} mm above "
                f"the heart's centre")
    return None


def _kidney_level(others: Mapping[str, OrganFacts]) -> float | None:
    """Mean LPS z of the kidneys' centres that passed."""
    levels = [others[k].centre[2] for k in ("kidney_left", "kidney_right") if k in others]
    return sum(levels) / len(levels) if levels else None


def _apex(others: Mapping[str, OrganFacts]) -> float | None:
    tops = [others[k].top_mm for k in ("lung_left", "lung_right") if k in others]
    return max(tops) if tops else None


RELATIVE: Mapping[str, Callable[[str, OrganFacts, BodyFacts, Mapping[str, OrganFacts]],
                                str | None]] = {
    "urinary_bladder": _bladder, "lung_left": _lung, "lung_right": _lung, "aorta": _aorta,
    "brain": _brain, "heart": _heart, "kidney_left": _kidney, "kidney_right": _kidney,
}
