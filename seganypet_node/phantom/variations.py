"""What a subject shows beyond the typical phantom: pose, field of view, physiology, disease.

A :class:`Variation` is drawn from a seed (:meth:`Variation.draw`) or set by hand; the
generator paints it (:mod:`findings`) and the scanner model images it. The ranges follow what
whole-body FDG studies of adults show in clinical routine, not what the node handles well.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class ArmPose(enum.Enum):
    """Where the arms are during the scan."""

    DOWN = "down"  # beside the trunk
    BESIDE_HEAD = "beside_head"  # raised, along the head
    OVER_HEAD = "over_head"  # raised, hands meeting above the vertex
    CROSSED = "crossed"  # forearms folded over the abdomen


class FieldTop(enum.Enum):
    """Where the field of view starts (cranial end)."""

    VERTEX = "vertex"
    MID_BRAIN = "mid_brain"
    ORBITS = "orbits"
    SKULL_BASE = "skull_base"


class FieldBottom(enum.Enum):
    """Where the field of view ends (caudal end)."""

    PELVIS = "pelvis"
    MID_THIGH = "mid_thigh"
    KNEES = "knees"
    FEET = "feet"


class Myocardium(enum.Enum):
    """Myocardial FDG uptake: suppressed (fasting, hyperglycaemia), usual, or very hot."""

    LOW = "low"
    USUAL = "usual"
    HOT = "hot"


class TumourSite(enum.Enum):
    """Where a tumour grows; ``BESIDE_*`` tumours sit against that organ, outside it."""

    THIGH = "thigh"
    ARM = "arm"
    BESIDE_BLADDER = "beside_bladder"
    BESIDE_KIDNEY = "beside_kidney"
    BESIDE_HEART = "beside_heart"
    LIVER = "liver"
    LUNG = "lung"
    BONE = "bone"
    LYMPH_NODE = "lymph_node"


@dataclass(frozen=True)
class Tumour:
    """One FDG-avid tumour: site, volume, and the necrotic fraction of its radius."""

    site: TumourSite
    volume_ml: float
    necrotic_fraction: float = 0.0  # radius of the cold core / radius of the tumour
    suv: float = 8.0

    @property
    def radius_mm(self) -> float:
        return float((3 * self.volume_ml * 1000 / (4 * np.pi)) ** (1 / 3))


@dataclass(frozen=True)
class Variation:
    """Everything about a subject the typical phantom does not vary.

    Parameters
    ----------
    arms, top, bottom : ArmPose, FieldTop, FieldBottom
        Pose and the field of view along the body.
    bladder_fill : float
        Linear scale of the bladder (0.45: nearly empty, about 20 ml; 1.6: about 950 ml).
    catheter : bool
        A urinary catheter along the thigh to a urine bag beside the leg.
    hot_bowel, ureters, muscle, brown_fat : bool
        Physiological uptake that is not an organ of the catalogue.
    hyperglycaemia : bool
        Low brain uptake (and low myocardium unless ``myocardium`` says otherwise).
    myocardium : Myocardium
    injection_site : bool
        A hot (paravenous) injection site in one arm.
    effusion : str or None
        ``"left"``, ``"right"`` or ``"both"``: pleural fluid filling the posterior lung base.
    tumours : tuple of Tumour
    """

    arms: ArmPose = ArmPose.DOWN
    top: FieldTop = FieldTop.VERTEX
    bottom: FieldBottom = FieldBottom.MID_THIGH
    bladder_fill: float = 1.0
    catheter: bool = False
    hot_bowel: bool = False
    ureters: bool = False
    muscle: bool = False
    brown_fat: bool = False
    hyperglycaemia: bool = False
    myocardium: Myocardium = Myocardium.USUAL
    injection_site: bool = False
    effusion: str | None = None
    tumours: tuple[Tumour, ...] = ()

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Variation:
        """A subject of the "hard" population: every feature with a clinical frequency or more."""
        arms = [ArmPose.BESIDE_HEAD, ArmPose.OVER_HEAD, ArmPose.DOWN, ArmPose.CROSSED]
        tops = list(FieldTop)
        bottoms = list(FieldBottom)
        hyper = bool(rng.random() < 0.2)
        heart = [Myocardium.LOW, Myocardium.USUAL, Myocardium.HOT]
        myocardium = Myocardium.LOW if hyper else heart[int(rng.choice(3, p=[0.25, 0.45, 0.3]))]
        effusion = rng.choice(["none", "left", "right", "both"], p=[0.7, 0.1, 0.1, 0.1])
        return cls(
            arms=arms[int(rng.choice(4, p=[0.35, 0.2, 0.3, 0.15]))],
            top=tops[int(rng.choice(4, p=[0.35, 0.15, 0.2, 0.3]))],
            bottom=bottoms[int(rng.choice(4, p=[0.2, 0.5, 0.15, 0.15]))],
            bladder_fill=float(rng.uniform(0.45, 1.6)),
            catheter=bool(rng.random() < 0.15),
            hot_bowel=bool(rng.random() < 0.5),
            ureters=bool(rng.random() < 0.5),
            muscle=bool(rng.random() < 0.3),
            brown_fat=bool(rng.random() < 0.2),
            hyperglycaemia=hyper,
            myocardium=myocardium,
            injection_site=bool(rng.random() < 0.2),
            effusion=None if effusion == "none" else str(effusion),
            tumours=tuple(_draw_tumour(rng) for _ in range(int(rng.integers(0, 5)))),
        )


def draw_tumours(rng: np.random.Generator, count: int) -> tuple[Tumour, ...]:
    """``count`` tumours drawn as the hard population draws them (site, volume, necrosis)."""
    return tuple(_draw_tumour(rng) for _ in range(count))


def _draw_tumour(rng: np.random.Generator) -> Tumour:
    site = list(TumourSite)[int(rng.integers(len(TumourSite)))]
    if site in (TumourSite.LYMPH_NODE, TumourSite.LUNG, TumourSite.BONE):
        volume = float(np.exp(rng.uniform(np.log(0.5), np.log(30.0))))
    else:  # up to a litre (log-uniform: most are tens of ml)
        volume = float(np.exp(rng.uniform(np.log(2.0), np.log(1000.0))))
    necrotic = float(rng.uniform(0.3, 0.7)) if volume > 50 and rng.random() < 0.6 else 0.0
    return Tumour(site, round(volume, 1), round(necrotic, 2), round(float(rng.uniform(4, 25)), 1))


@dataclass(frozen=True)
class Acquisition3D:
    """Voxel grid and image quality of a scan: matrix, pixel and slice size, PSF, counts."""

    matrix: int
    pixel_mm: float
    slice_mm: float
    fwhm_mm: float
    counts_per_suv_ml: float

    @classmethod
    def draw(cls, rng: np.random.Generator, finest_mm: float = 1.6) -> Acquisition3D:
        """Transaxial field 500-700 mm; pixels ``finest_mm``-5.5 mm (matrix 128-440), slices
        2-5 mm, PSF 4-8 mm FWHM, counts from a third of the typical phantom's to its level."""
        pixel = float(rng.uniform(finest_mm, 5.5))
        matrix = int(np.clip(round(rng.uniform(500, 700) / pixel), 128, 440))
        return cls(matrix, round(pixel, 2), round(float(rng.uniform(max(2.0, finest_mm), 5.0)), 2),
                   round(float(rng.uniform(4.0, 8.0)), 1),
                   round(float(rng.uniform(50.0, 150.0)), 1))
