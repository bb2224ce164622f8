"""Anatomical plausibility of segmented organs, checked before anything is reported.

``judge_masks`` measures every mask (:mod:`.facts`) and applies the rules (:mod:`.rules`); the
pipeline reports an organ that fails as not found, with the rule and the figures.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.plausibility.facts import BodyFacts, OrganFacts, body_facts, organ_facts
from seganypet_node.plausibility.rules import Verdict, judge

__all__ = ["BodyFacts", "OrganFacts", "Verdict", "judge", "judge_masks"]


def judge_masks(masks: Mapping[str, BoxMask], values: np.ndarray, suv: sitk.Image,
                weight_kg: float | None, height_m: float | None,
                uptake_in_suv: bool) -> dict[str, Verdict]:
    """Verdicts for non-empty masks ([z, y, x] on ``suv``'s grid) of catalogue organs.

    Parameters
    ----------
    masks : mapping of str to BoxMask
        Mask per organ name, on ``suv``'s grid.
    values : numpy.ndarray
        The measured values on the same grid (SUVbw when ``uptake_in_suv``).
    suv : SimpleITK.Image
        The study's SUV-like image: its grid and the body outline.
    weight_kg, height_m : float or None
        From the header, to scale the expected volumes and distances.
    uptake_in_suv : bool
        Whether ``values`` are SUVbw, so uptake ranges apply.
    """
    body = body_facts(suv, weight_kg, height_m)
    facts = {name: organ_facts(mask, values, suv) for name, mask in masks.items() if mask.any()}
    return judge(facts, body, uptake_in_suv)
