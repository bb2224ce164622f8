"""DICOM Segmentation (BINARY) of catalogue organs on the grid of the source PET series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from seganypet_node import __version__
from seganypet_node.organs import Organ

LATERALITY = {"left": hd.sr.CodedConcept("7771000", "SCT", "Left"),
              "right": hd.sr.CodedConcept("24028007", "SCT", "Right")}
MANUFACTURER = "seganypet-node"


@dataclass(frozen=True)
class Algorithm:
    """Who made the masks, for the SEG's algorithm identification."""

    name: str
    version: str
    family: str = "Artificial Intelligence"
    parameters: Mapping[str, str] | None = None
    automatic: bool = True


def segment_description(
    number: int, organ: Organ, algorithm: Algorithm
) -> hd.seg.SegmentDescription:
    """Segment with SNOMED CT category/type, laterality modifier and recommended colour."""
    family = hd.sr.CodedConcept("123109", "DCM", "Artificial Intelligence") \
        if algorithm.family == "Artificial Intelligence" else codes.DCM.ImageProcessing
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=organ.name.replace("_", " "),
        segmented_property_category=codes.SCT.Organ,
        segmented_property_type=hd.sr.CodedConcept(organ.snomed_code, "SCT", organ.snomed_meaning),
        algorithm_type=(hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC if algorithm.automatic
                        else hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC),
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=algorithm.name, family=family, version=algorithm.version,
            parameters=dict(algorithm.parameters or {})),
        tracking_uid=generate_uid(),
        tracking_id=organ.name,
        display_color=hd.color.CIELabColor.from_rgb(*organ.rgb),
    )
    if organ.laterality:
        organ_type = description.SegmentedPropertyTypeCodeSequence[0]
        organ_type.SegmentedPropertyTypeModifierCodeSequence = [LATERALITY[organ.laterality]]
    return description


def build_segmentation(
    source: Sequence[Dataset], masks: Mapping[Organ, np.ndarray], algorithm: Algorithm,
    series_number: int = 901, series_description: str = "SegAnyPET organs",
) -> hd.seg.Segmentation:
    """A BINARY SEG with one segment per non-empty organ mask.

    Parameters
    ----------
    source : sequence of pydicom.Dataset
        The PET slices, in the order of the masks' first axis.
    masks : mapping of Organ to numpy.ndarray
        Boolean arrays (slices, rows, columns) on the source grid.
    algorithm : Algorithm
        Identification written into every segment.
    """
    present = [(organ, mask) for organ, mask in masks.items() if mask.any()]
    if not present:
        raise ValueError("no organ mask has any voxel; a SEG needs at least one segment")
    shape = (len(source), int(source[0].Rows), int(source[0].Columns))
    for organ, mask in present:
        if mask.shape != shape:
            raise ValueError(f"{organ.name} mask has shape {mask.shape}, source grid is {shape}")
    stack = np.stack([mask for _, mask in present], axis=-1).astype(np.uint8)
    segments = [segment_description(i, organ, algorithm)
                for i, (organ, _) in enumerate(present, start=1)]
    return hd.seg.Segmentation(
        source_images=list(source), pixel_array=stack,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments, series_instance_uid=generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, manufacturer_model_name="seganypet-node",
        software_versions=__version__, device_serial_number="0",
        series_description=series_description,
        # Some viewers misplace SEGs whose empty frames are left out.
        omit_empty_frames=False,
    )
