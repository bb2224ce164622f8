"""The organ catalogue: names, label values, SNOMED CT codes, laterality and display colours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Organ:
    """One organ the node segments.

    Parameters
    ----------
    name : str
        Catalogue name used in configs, label files and logs (e.g. ``kidney_left``).
    label : int
        Value in label maps (phantom ground truth, atlas).
    snomed_code, snomed_meaning : str
        SNOMED CT code of the structure (without laterality).
    laterality : str | None
        ``"left"``/``"right"`` for paired organs.
    rgb : tuple[int, int, int]
        Recommended display colour.
    """

    name: str
    label: int
    snomed_code: str
    snomed_meaning: str
    laterality: str | None
    rgb: tuple[int, int, int]


# Colours are far apart (pairs too: CIE76 dE >= 40 between any two organs, and from the lesion
# and reference colours in outputs/seg.py) so a reader tells each outline and legend row from
# its neighbours in the key image and in SEG viewers. All sit in a mid-luminance band (WCAG
# contrast >= 3 against white and against black) so each reads on the white legend and on a
# MIP that runs from white to black, and each is saturated (CIE chroma >= 30) so that a
# viewer's translucent fill visibly tints grey PET (a greyish spleen did not, in OHIF);
# yellow and magenta are kept for lesions.
# tests/unit/test_key_image_legibility.py checks these rules.
ORGANS: tuple[Organ, ...] = (
    Organ("brain", 1, "12738006", "Brain", None, (185, 15, 95)),
    Organ("heart", 2, "80891009", "Heart", None, (255, 35, 50)),
    Organ("liver", 3, "10200004", "Liver", None, (135, 80, 50)),
    Organ("spleen", 4, "78961009", "Spleen", None, (140, 50, 155)),
    Organ("kidney_left", 5, "64033007", "Kidney", "left", (10, 130, 60)),
    Organ("kidney_right", 6, "64033007", "Kidney", "right", (135, 130, 0)),
    Organ("urinary_bladder", 7, "89837001", "Urinary bladder", None, (5, 155, 165)),
    Organ("lung_left", 8, "39607008", "Lung", "left", (65, 50, 255)),
    Organ("lung_right", 9, "39607008", "Lung", "right", (100, 135, 255)),
    Organ("aorta", 10, "15825003", "Aorta", None, (220, 115, 0)),
)

BY_NAME = {organ.name: organ for organ in ORGANS}
LESION_LABEL_BASE = 100  # lesion k has label LESION_LABEL_BASE + k


def display_label(name: str) -> str:
    """What readers see for a catalogue or region name: ``kidney_left`` -> ``kidney left``."""
    return name.replace("_", " ")


def organ(name: str) -> Organ:
    """Look an organ up by its catalogue name; raises KeyError naming the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown organ {name!r}; known: {', '.join(BY_NAME)}") from None
