"""DICOM Segmentation (BINARY) of organs, lesions and reference regions on the source PET grid.

Organs are coded as CID 7150 "Anatomical Structure" (SCT 91723000), as Slicer and dcmqi code
them; lesions as Morphologically Abnormal Structure / Neoplasm; the PERCIST liver sphere and
blood-pool cylinder as Spatial and Relational Concept / Reference Region (NCIt C94970) with
their anatomic region, so the SR's reference groups can point at the voxels they measured.
"""

from __future__ import annotations

import datetime as dt
import enum
import mmap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from seganypet_node import __version__
from seganypet_node.imaging.boxes import BoxMask, require_box_mask
from seganypet_node.lesions.results import Lesion
from seganypet_node.measure.reference import ReferenceKind, ReferenceRegion
from seganypet_node.organs import BY_NAME, Organ, display_label
from seganypet_node.outputs.seg_stack import PlaneCheckedSegmentation

LATERALITY = {"left": hd.sr.CodedConcept("7771000", "SCT", "Left"),
              "right": hd.sr.CodedConcept("24028007", "SCT", "Right")}
MANUFACTURER = "seganypet-node"
ANATOMICAL_STRUCTURE = hd.sr.CodedConcept.from_code(codes.SCT.AnatomicalStructure)
ABNORMAL_STRUCTURE = hd.sr.CodedConcept.from_code(codes.SCT.MorphologicallyAbnormalStructure)
NEOPLASM = hd.sr.CodedConcept.from_code(codes.SCT.Neoplasm)
SPATIAL_CONCEPT = hd.sr.CodedConcept.from_code(codes.SCT.SpatialAndRelationalConcept)
REFERENCE_REGION = hd.sr.CodedConcept.from_code(codes.NCIt.ReferenceRegion)
# 32672002 is SNOMED's "Structure of descending thoracic aorta"; DICOM's CID 4 names it so.
DESCENDING_AORTA = hd.sr.CodedConcept.from_code(codes.SCT.StructureOfDescendingThoracicAorta)
LIVER = hd.sr.CodedConcept.from_code(codes.SCT.Liver)
AORTA = hd.sr.CodedConcept.from_code(codes.SCT.Aorta)
# Lesions alternate two hues no organ uses, so neighbouring lesions stay apart in a viewer.
LESION_PALETTE: tuple[tuple[int, int, int], ...] = ((255, 220, 0), (230, 0, 230))
LESION_RGB = LESION_PALETTE[0]
REFERENCE_RGB = {ReferenceKind.LIVER: (0, 255, 170), ReferenceKind.BLOOD_POOL: (255, 255, 255)}
REFERENCE_LABELS = {ReferenceKind.LIVER: "PERCIST liver reference",
                    ReferenceKind.BLOOD_POOL: "blood pool reference"}
CONTENT_DESCRIPTION = "SegAnyPET automatic organ and lesion segmentation"
LO_LIMIT = 64  # characters of a DICOM Long String (SeriesDescription, SegmentLabel)


class SegmentKind(enum.StrEnum):
    """What a segment shows: a catalogue organ, a lesion or a reference region."""

    ORGAN = "organ"
    LESION = "lesion"
    REFERENCE = "reference"


@dataclass(frozen=True, eq=False)
class SegmentMask:
    """One segment to write.

    Parameters
    ----------
    label : str
        Organ name, ``lesion_N`` or the reference's name: the segment's tracking identifier.
    organ : Organ | None
        The catalogue organ (codes, laterality, colour); set exactly for organ segments.
    mask : BoxMask
        On the source grid (slices, rows, columns), held on its box.
    kind : SegmentKind
        Organ, lesion or reference region.
    tracking_uid : str | None
        The segment's TrackingUID (a new one when None).
    rgb : tuple of int | None
        Display colour (the organ's when None).
    title : str | None
        SegmentLabel shown to readers (``label`` without underscores when None).
    anatomy : hd.sr.CodedConcept | None
        Anatomic region (the organ a lesion lies in, the site of a reference region).
    anatomy_laterality : hd.sr.CodedConcept | None
        Its laterality modifier.
    """

    label: str
    organ: Organ | None
    mask: BoxMask
    kind: SegmentKind = SegmentKind.ORGAN
    tracking_uid: str | None = None
    rgb: tuple[int, int, int] | None = None
    title: str | None = None
    anatomy: hd.sr.CodedConcept | None = None
    anatomy_laterality: hd.sr.CodedConcept | None = None

    def __post_init__(self) -> None:
        require_box_mask(self.mask, f"{self.label} segment mask")
        if (self.kind is SegmentKind.ORGAN) != (self.organ is not None):
            raise ValueError(f"{self.label}: organ segments, and only they, need an organ")

    @property
    def colour(self) -> tuple[int, int, int]:
        """Recommended display colour."""
        if self.rgb is not None:
            return self.rgb
        return self.organ.rgb if self.organ is not None else LESION_RGB

    @property
    def display(self) -> str:
        """What readers see as the segment's name."""
        return (self.title or display_label(self.label))[:LO_LIMIT]


def organ_code(organ: Organ) -> hd.sr.CodedConcept:
    """SNOMED CT code of an organ (without laterality)."""
    return hd.sr.CodedConcept(organ.snomed_code, "SCT", organ.snomed_meaning)


def organ_segment(organ: Organ, mask: BoxMask) -> SegmentMask:
    """The segment of a catalogue organ."""
    return SegmentMask(organ.name, organ, mask)


def lesion_colour(number: int) -> tuple[int, int, int]:
    """Display colour of lesion ``number`` (1-based)."""
    return LESION_PALETTE[(number - 1) % len(LESION_PALETTE)]


def lesion_segment(lesion: Lesion) -> SegmentMask:
    """A lesion's segment: its tracking UID and label, and the organ it lies in as region."""
    organ = BY_NAME.get(lesion.site)
    return SegmentMask(
        lesion.label, None, lesion.mask, SegmentKind.LESION, lesion.tracking_uid,
        lesion_colour(lesion.number), f"lesion {lesion.number}",
        organ_code(organ) if organ else None,
        LATERALITY.get(organ.laterality or "") if organ else None)


def reference_site(region: ReferenceRegion) -> hd.sr.CodedConcept:
    """Anatomic code of where a reference region lies."""
    if region.name is ReferenceKind.LIVER:
        return LIVER
    return DESCENDING_AORTA if "descending thoracic" in region.site else AORTA


def reference_label(region: ReferenceRegion) -> str:
    """Tracking identifier of a reference region, the same in SEG, SR and summary."""
    return REFERENCE_LABELS[region.name]


def reference_segment(region: ReferenceRegion) -> SegmentMask:
    """The segment of a reference region's measured voxels (``region.mask`` must be set)."""
    if region.mask is None:
        raise ValueError(f"the {region.name} reference has no mask")
    label = reference_label(region)
    title = f"{label} ({region.site})" if region.site else label
    return SegmentMask(label, None, region.mask, SegmentKind.REFERENCE, None,
                       REFERENCE_RGB[region.name], title, reference_site(region))


def labelled_description(base: str, label: str) -> str:
    """``base`` with the research-use ``label`` appended, cut to fit a Long String.

    The label is kept whole (it is the point); ``base`` gives way when both do not fit.
    """
    label = label.strip()[:LO_LIMIT]
    if not label:
        return base[:LO_LIMIT]
    room = LO_LIMIT - len(label) - 3
    return f"{base[:room].rstrip()} - {label}" if room > 0 else label


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
    if segment.kind is SegmentKind.ORGAN and organ is not None:
        category, kind = ANATOMICAL_STRUCTURE, organ_code(organ)
    elif segment.kind is SegmentKind.LESION:
        category, kind = ABNORMAL_STRUCTURE, NEOPLASM
    else:
        category, kind = SPATIAL_CONCEPT, REFERENCE_REGION
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=segment.display,
        segmented_property_category=category,
        segmented_property_type=kind,
        algorithm_type=(hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC if algorithm.automatic
                        else hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC),
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=algorithm.name, family=family, version=algorithm.version,
            parameters=dict(algorithm.parameters or {})),
        tracking_uid=segment.tracking_uid or generate_uid(),
        tracking_id=segment.label,
        anatomic_regions=[segment.anatomy] if segment.anatomy is not None else None,
        display_color=hd.color.CIELabColor.from_rgb(*segment.colour),
    )
    if organ is not None and organ.laterality:
        organ_type = description.SegmentedPropertyTypeCodeSequence[0]
        organ_type.SegmentedPropertyTypeModifierCodeSequence = [LATERALITY[organ.laterality]]
    if segment.anatomy is not None and segment.anatomy_laterality is not None:
        region = description.AnatomicRegionSequence[0]
        region.AnatomicRegionModifierSequence = [segment.anatomy_laterality]
    return description


def build_segmentation(
    source: Sequence[Dataset], segments: Sequence[SegmentMask], algorithm: Algorithm,
    series_number: int = 901, series_description: str = "SegAnyPET organs and lesions",
    series_label: str = "research use only",
    content_description: str = CONTENT_DESCRIPTION, keep_pixel_data: bool = True,
) -> PlaneCheckedSegmentation:
    """A BINARY SEG with one segment per non-empty mask, numbered from 1 in the given order.

    Parameters
    ----------
    source : sequence of pydicom.Dataset
        The PET slices, in the order of the masks' first axis.
    segments : sequence of SegmentMask
        Masks on the source grid; empty ones are left out.
    algorithm : Algorithm
        Identification written into every segment.
    series_label : str
        Research-use label appended to the SeriesDescription ("" for none).
    content_description : str
        ContentDescription: what the object holds.
    keep_pixel_data : bool
        False: PixelData is left out, for a writer to stream from
        :meth:`~seganypet_node.outputs.seg_stack.PlaneCheckedSegmentation.take_pixel_data`.
    """
    present = [segment for segment in segments if segment.mask.any()]
    if not present:
        raise ValueError("no mask has any voxel; a SEG needs at least one segment")
    shape = (len(source), int(source[0].Rows), int(source[0].Columns))
    for segment in present:
        if segment.mask.shape != shape:
            raise ValueError(f"{segment.label} mask has shape {segment.mask.shape}, "
                             f"source grid is {shape}")
    stack = segment_stack([segment.mask for segment in present], shape)
    descriptions = [segment_description(i, segment, algorithm)
                    for i, segment in enumerate(present, start=1)]
    seg = PlaneCheckedSegmentation(
        source_images=list(source), pixel_array=stack,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, manufacturer_model_name="seganypet-node",
        software_versions=__version__, device_serial_number="0",
        series_description=labelled_description(series_description, series_label),
        content_description=content_description[:LO_LIMIT],
        # Some viewers misplace SEGs whose empty frames are left out.
        omit_empty_frames=False, keep_pixel_data=keep_pixel_data,
    )
    stamp_series_time(seg)
    return seg


def segment_stack(masks: Sequence[BoxMask], shape: tuple[int, int, int]) -> np.ndarray:
    """The (frames, rows, columns, segments) binary stack highdicom takes, on sparse memory.

    Stored segment by segment and seen through a transposed view, so a segment's planes are
    only touched inside its box. The buffer is a private anonymous mapping: untouched pages
    read as zeros without being allocated, and, unlike numpy's own large arrays (advised to
    use 2 MB huge pages), each box costs its 4 kB pages only. Cost: the boxes, not segments x
    field of view (1.6 GB at 2 mm with 14 segments).
    """
    size = len(masks) * int(np.prod(shape))
    buffer = mmap.mmap(-1, max(size, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    by_segment = np.frombuffer(buffer, dtype=np.uint8, count=size).reshape(len(masks), *shape)
    for index, mask in enumerate(masks):
        by_segment[index][mask.box] = mask.local
    return by_segment.transpose(1, 2, 3, 0)


def stamp_series_time(dataset: Dataset, now: dt.datetime | None = None) -> None:
    """SeriesDate/SeriesTime of a derived series: when it was made (highdicom leaves them out)."""
    now = now or dt.datetime.now()
    dataset.SeriesDate = now.strftime("%Y%m%d")
    dataset.SeriesTime = now.strftime("%H%M%S")
