"""FDG uptake per tissue, and the scanner: resolution blur, count noise, SUV to Bq/ml."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE
from seganypet_node.phantom.anatomy import (
    AIRWAY,
    BODY,
    BONE,
    BOWEL,
    BROWN_FAT,
    EFFUSION,
    FAT,
    INJECTION,
    MUSCLE,
    NECROSIS,
    URINE,
)

F18_HALF_LIFE_S = 6586.2
F18_POSITRON_FRACTION = 0.9673

# Published FDG SUVbw ranges at ~60 min (low, high) per tissue.
SUV_RANGES: dict[int, tuple[float, float]] = {
    BY_NAME["brain"].label: (5.0, 12.0),
    BY_NAME["heart"].label: (1.0, 12.0),  # myocardium; the cavity gets the blood pool value
    BY_NAME["liver"].label: (1.5, 3.0),
    BY_NAME["spleen"].label: (1.3, 2.5),
    BY_NAME["kidney_left"].label: (3.0, 12.0),
    BY_NAME["kidney_right"].label: (3.0, 12.0),
    BY_NAME["urinary_bladder"].label: (8.0, 35.0),
    BY_NAME["lung_left"].label: (0.3, 0.8),
    BY_NAME["lung_right"].label: (0.3, 0.8),
    BY_NAME["aorta"].label: (1.2, 2.2),
    BODY: (0.5, 1.0),
    FAT: (0.2, 0.45),
    BONE: (1.2, 2.2),
    AIRWAY: (0.05, 0.15),
}
# Tissues only the varied (hard) population has; drawn only when present, so the typical
# phantoms of every seed keep their images.
VARIATION_RANGES: dict[int, tuple[float, float]] = {
    BOWEL: (2.0, 7.0),
    MUSCLE: (1.5, 4.5),
    BROWN_FAT: (3.0, 15.0),
    INJECTION: (20.0, 150.0),
    EFFUSION: (0.6, 1.5),
    NECROSIS: (0.3, 1.0),
}
LESION_SUV = (4.0, 15.0)
# Urine outside the bladder (ureters, catheter, bag) has the bladder's activity.
SAME_AS = {URINE: BY_NAME["urinary_bladder"].label}


@dataclass(frozen=True)
class Acquisition:
    """Dose, patient and timing of one scan; fixes the SUV <-> Bq/ml conversion."""

    weight_kg: float
    height_m: float
    injected_dose_bq: float
    injection_time: dt.datetime
    series_time: dt.datetime

    @property
    def decayed_dose_bq(self) -> float:
        """Injected dose decayed to the series start (DecayCorrection START)."""
        elapsed = (self.series_time - self.injection_time).total_seconds()
        return self.injected_dose_bq * 2.0 ** (-elapsed / F18_HALF_LIFE_S)

    @property
    def bqml_per_suv(self) -> float:
        """Activity concentration (Bq/ml) of SUVbw 1."""
        return self.decayed_dose_bq / (self.weight_kg * 1000.0)

    @classmethod
    def draw(cls, rng: np.random.Generator, day: dt.date, height_mm: float,
             girth: float) -> Acquisition:
        weight = float(np.clip(22.0 * (height_mm / 1000) ** 2 * girth**2, 45, 140))
        injection = dt.datetime.combine(day, dt.time(8, 0)) + dt.timedelta(
            minutes=int(rng.integers(0, 8 * 60)))
        uptake = dt.timedelta(minutes=int(rng.integers(55, 76)), seconds=int(rng.integers(0, 60)))
        dose = round(float(rng.uniform(3.0, 4.0)) * weight, 1) * 1e6
        return cls(round(weight, 1), round(height_mm / 1000, 2), dose, injection,
                   injection + uptake)


def uptake_suv(labels: np.ndarray, spacing_mm: tuple[float, float, float],
               rng: np.random.Generator,
               ranges: Mapping[int, tuple[float, float]] | None = None,
               fixed: Mapping[int, float] | None = None) -> np.ndarray:
    """True SUVbw per voxel: a value per tissue, heart cavity as blood, smooth heterogeneity.

    ``ranges`` replaces tissues' ranges (physiology of a varied subject), ``fixed`` sets
    labels to exact values (tumours of a stated SUV).
    """
    suv = np.zeros(labels.shape, dtype=np.float32)
    blood = float(rng.uniform(*SUV_RANGES[BY_NAME["aorta"].label]))
    drawn = {}
    chosen = {**SUV_RANGES, **(ranges or {})}
    for label, (low, high) in chosen.items():
        value = blood if label == BY_NAME["aorta"].label else float(rng.uniform(low, high))
        suv[labels == label] = drawn[label] = value
    for label, (low, high) in VARIATION_RANGES.items():
        if (labels == label).any():
            suv[labels == label] = float(rng.uniform(low, high))
    for label, source in SAME_AS.items():
        suv[labels == label] = drawn[source]
    for label in np.unique(labels[labels > LESION_LABEL_BASE]):
        suv[labels == label] = float(rng.uniform(*LESION_SUV))
    for label, value in (fixed or {}).items():
        suv[labels == label] = value
    _heart_cavity(labels, suv, spacing_mm, blood)
    texture = ndimage.gaussian_filter(rng.standard_normal(labels.shape).astype(np.float32), 2.0)
    texture /= max(float(texture.std()), 1e-6)
    return np.clip(suv * (1.0 + 0.08 * texture), 0.0, None)


def _heart_cavity(labels: np.ndarray, suv: np.ndarray,
                  spacing_mm: tuple[float, float, float], blood: float) -> None:
    heart = labels == BY_NAME["heart"].label
    if not heart.any():
        return
    depth = ndimage.distance_transform_edt(heart, sampling=spacing_mm[::-1])
    suv[heart & (depth > 9.0)] = blood  # myocardium ~9 mm thick around the blood pool


def scanner(suv: np.ndarray, spacing_mm: tuple[float, float, float], fwhm_mm: float,
            counts_per_suv_ml: float, rng: np.random.Generator) -> np.ndarray:
    """Blur with the scanner PSF and add count-dependent noise; returns reconstructed SUV."""
    sigma = [fwhm_mm / (2 * math.sqrt(2 * math.log(2))) / s for s in spacing_mm[::-1]]
    blurred = ndimage.gaussian_filter(suv.astype(np.float32), sigma)
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    counts = np.clip(blurred, 0.0, None) * counts_per_suv_ml * voxel_ml
    noisy = rng.poisson(counts).astype(np.float32) / (counts_per_suv_ml * voxel_ml)
    # Reconstruction correlates noise between neighbouring voxels.
    return np.clip(ndimage.gaussian_filter(noisy, 0.6), 0.0, None)
