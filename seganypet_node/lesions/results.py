"""What lesion detection gives: each lesion with its measurements, and how the search ran."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from seganypet_node.imaging.boxes import BoxMask, require_box_mask
from seganypet_node.measure.uptake import UptakeStats


class Delineation(enum.StrEnum):
    """Which rule made a lesion's mask."""

    SEGANYPET = "SegAnyPET, cut back to the lesion's A50 region"
    THRESHOLD = "A50 region (SegAnyPET's mask refused)"
    CORRECTED = "SegAnyPET with a reader's corrective clicks"


class ThresholdRule(enum.StrEnum):
    """Where the detection threshold came from."""

    PERCIST = "PERCIST: 1.5 x liver mean + 2 SD"
    FALLBACK = "fixed fallback ([lesions] fallback_threshold_suv)"


@dataclass(frozen=True)
class DetectionThreshold:
    """The uptake a voxel must reach to start a lesion candidate, and why that value."""

    value: float
    rule: ThresholdRule
    note: str | None = None


@dataclass(frozen=True, eq=False)
class Lesion:
    """One lesion: its mask on the input grid, measurements and where it lies.

    Attributes
    ----------
    number : int
        1 for the hottest lesion, then by decreasing SUVmax (``label`` is ``lesion_<number>``).
    mask : BoxMask
        On the input grid, held on the lesion's box.
    stats : UptakeStats
        SUVmax/peak/mean, MTV (``volume_ml``) and TLG.
    sul_peak : float or None
        SULpeak (lean body mass), None when the header has no sex, height or weight.
    site : str
        The organ holding most of its voxels, or ``"outside the segmented organs"``.
    centroid_lps : tuple of float
        Centre of mass in patient coordinates (mm).
    click_lps : tuple of float
        The positive click SegAnyPET was given (the candidate's hottest voxel).
    delineation : Delineation
        Which rule made the mask, and ``note`` why when SegAnyPET's was refused.
    deauville : int or None
        Deauville-style 1-5 aid from SUVmax against the blood pool and liver means.
    tracking_uid : str
        The UID the SEG segment and the SR group share.
    """

    number: int
    mask: BoxMask
    stats: UptakeStats
    sul_peak: float | None
    site: str
    centroid_lps: tuple[float, float, float]
    click_lps: tuple[float, float, float]
    delineation: Delineation
    deauville: int | None
    tracking_uid: str
    note: str | None = None

    def __post_init__(self) -> None:
        require_box_mask(self.mask, f"lesion {self.number} mask")

    @property
    def label(self) -> str:
        """Tracking identifier: ``lesion_<number>``."""
        return f"lesion_{self.number}"


@dataclass(frozen=True)
class PhysiologicalFocus:
    """A hot focus set aside as not a lesion, and why (centre in patient mm)."""

    centre_lps: tuple[float, float, float]
    suv_max: float
    volume_ml: float
    reason: str


@dataclass(frozen=True)
class TumourBurden:
    """Study totals over the reported lesions (Dmax: largest centroid distance, mm)."""

    count: int
    total_mtv_ml: float
    total_tlg: float | None
    dmax_mm: float | None


@dataclass(frozen=True, eq=False)
class LesionSearch:
    """Every lesion found and what bounded the search, so a reader knows what was assessed.

    Attributes
    ----------
    assessed : bool
        False when lesions were not looked for (``reason`` says why).
    threshold : DetectionThreshold or None
        The detection threshold used.
    excluded : tuple of str
        Organs whose uptake was treated as physiological.
    not_excluded : tuple of str
        Physiological-uptake organs that were not found, so hot foci there may be reported.
    dropped_small : int
        Foci below ``[lesions] min_volume_ml``.
    capped : int
        Candidates left out because ``[lesions] max_count`` was reached.
    physiological : tuple of PhysiologicalFocus
        Hot foci set aside as not lesions (noise, organ uptake, tubes, mirrored uptake).
    """

    assessed: bool
    lesions: tuple[Lesion, ...] = ()
    threshold: DetectionThreshold | None = None
    excluded: tuple[str, ...] = ()
    not_excluded: tuple[str, ...] = ()
    dropped_small: int = 0
    capped: int = 0
    reason: str | None = None
    burden: TumourBurden | None = None
    physiological: tuple[PhysiologicalFocus, ...] = ()
    seconds: float = 0.0

    def notes(self) -> tuple[str, ...]:
        """What a reader should know about the search, one line each."""
        if not self.assessed:
            return (f"lesions not assessed: {self.reason}",)
        lines = []
        if self.threshold is not None and self.threshold.note:
            lines.append(self.threshold.note)
        if self.not_excluded:
            lines.append("physiological uptake not excluded (organ not found): "
                         + ", ".join(self.not_excluded))
        if self.dropped_small:
            lines.append(f"{self.dropped_small} focus/foci below the minimum lesion volume")
        if self.capped:
            lines.append(f"lesion cap reached: {self.capped} more candidate(s) not delineated")
        return tuple(lines)


NOT_ASSESSED = LesionSearch(assessed=False, reason="lesion detection is off ([lesions] enabled)")
