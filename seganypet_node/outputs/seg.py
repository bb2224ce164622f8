"""DICOM Segmentation (BINARY) of organs and lesions on the grid of the source PET series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from seganypet_node import __version__
from seganypet_node.organs import Organ, display_label

LATERALITY = {"left": hd.sr.CodedConcept("7771000", "SCT", "Left"),
              "right": hd.sr.CodedConcept("24028007", "SCT", "Right")}
MANUFACTURER = "seganypet-node"
ALTERED_STRUCTURE = hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure")
NEOPLASM = hd.sr.CodedConcept("108369006", "SCT", "Neoplasm")
LESION_RGB = (255, 255, 0)


@dataclass(frozen=True, eq=False)
class SegmentMask:
    """One segment to write: a catalogue organ, or a lesion when ``organ`` is None.

    Parameters
    ----------
    label : str
        Organ name or ``lesion_N``: the segment's tracking identifier.
    organ : Organ | None
        The catalogue organ (codes, laterality, colour).
    mask : numpy.ndarray
        Boolean (slices, rows, columns) on the source grid.
    """

    label: str
    organ: Organ | None
    mask: np.ndarray


def organ_code(organ: Organ) -> hd.sr.CodedConcept:
    """SNOMED CT code of an organ (without laterality)."""
    return hd.sr.CodedConcept(organ.snomed_code, "SCT", organ.snomed_meaning)


@dataclass(frozen=True)
class Algorithm:
    """Who made the masks, for the SEG's algorithm identification."""

    name: str
    version: str
    family: str = "Artificial Intelligence"
    parameters: Mapping[str, str] | None = None
    automatic: bool = True


def segment_description(
    number: int, segment: SegmentMask, algorithm: Algorithm
) -> hd.seg.SegmentDescription:
    """Segment with SNOMED CT category/type, laterality modifier and recommended colour."""
    organ = segment.organ
    family = hd.sr.CodedConcept("123109", "DCM", "Artificial Intelligence") \
        if algorithm.family == "Artificial Intelligence" else codes.DCM.ImageProcessing
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=display_label(segment.label),
        segmented_property_category=codes.SCT.Organ if organ else ALTERED_STRUCTURE,
        segmented_property_type=organ_code(organ) if organ else NEOPLASM,
        algorithm_type=(hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC if algorithm.automatic
                        else hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC),
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=algorithm.name, family=family, version=algorithm.version,
            parameters=dict(algorithm.parameters or {})),
        tracking_uid=generate_uid(),
        tracking_id=segment.label,
        display_color=hd.color.CIELabColor.from_rgb(*(organ.rgb if organ else LESION_RGB)),
    )
    if organ and organ.laterality:
        organ_type = description.SegmentedPropertyTypeCodeSequence[0]
        organ_type.SegmentedPropertyTypeModifierCodeSequence = [LATERALITY[organ.laterality]]
    return description


def build_segmentation(
    source: Sequence[Dataset], segments: Sequence[SegmentMask], algorithm: Algorithm,
    series_number: int = 901, series_description: str = "SegAnyPET organs",
) -> hd.seg.Segmentation:
    """A BINARY SEG with one segment per non-empty mask, numbered from 1 in the given order.

    Parameters
    ----------
    source : sequence of pydicom.Dataset
        The PET slices, in the order of the masks' first axis.
    segments : sequence of SegmentMask
        Masks on the source grid; empty ones are left out.
    algorithm : Algorithm
        Identification written into every segment.
    """
    present = [segment for segment in segments if segment.mask.any()]
    if not present:
        raise ValueError("no mask has any voxel; a SEG needs at least one segment")
    shape = (len(source), int(source[0].Rows), int(source[0].Columns))
    for segment in present:
        if segment.mask.shape != shape:
            raise ValueError(f"{segment.label} mask has shape {segment.mask.shape}, "
                             f"source grid is {shape}")
    stack = np.stack([segment.mask for segment in present], axis=-1).astype(np.uint8)
    descriptions = [segment_description(i, segment, algorithm)
                    for i, segment in enumerate(present, start=1)]
    return hd.seg.Segmentation(
        source_images=list(source), pixel_array=stack,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, manufacturer_model_name="seganypet-node",
        software_versions=__version__, device_serial_number="0",
        series_description=series_description,
        # Some viewers misplace SEGs whose empty frames are left out.
        omit_empty_frames=False,
    )
