"""TID 1500 Measurement Report (Comprehensive 3D SR) of the organ, lesion and reference segments.

One TID 1411 volumetric group per SEG segment: organs with SUV (DCM 126401, UCUM
``{SUVbw}g/ml``) mean / maximum / peak / SD (SD coded per CID 7464) and volume by sum of
segmented voxel volumes; lesions and the reference regions as in :mod:`outputs.sr_lesions`;
the study's tumour burden as a TID 1501 group. Every group carries the time point and the
algorithm (SegAnyPET, version, checkpoint and its SHA-256); the TID 1600 image library lists
the PET slices measured. When SUV cannot be had, measurements are activity concentrations in
Bq/ml and a comment says why; likewise when lesions were not assessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from seganypet_node import __version__
from seganypet_node.imaging.units import Unit
from seganypet_node.lesions.results import LesionSearch, TumourBurden
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.measure.uptake import UptakeStats
from seganypet_node.organs import Organ
from seganypet_node.outputs.seg import (
    ANATOMICAL_STRUCTURE,
    LATERALITY,
    MANUFACTURER,
    labelled_description,
    organ_code,
    stamp_series_time,
)
from seganypet_node.outputs.sr_items import (
    MAXIMUM,
    MEAN,
    ML,
    PEAK,
    SD,
    VOXEL_SUM,
    GroupContext,
    measurement,
    quantity,
)
from seganypet_node.outputs.sr_lesions import Group, burden_group, lesion_group, reference_group
from seganypet_node.outputs.sr_library import image_library

PET_WHOLE_BODY = hd.sr.CodedConcept("44139-4", "LN", "PET whole body")
QUALITATIVE = hd.sr.CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")
COMMENT = hd.sr.CodedConcept("121106", "DCM", "Comment")
# Each library entry costs ~1 KB and a few ms; a longer series lists every n-th slice.
MAX_LIBRARY_IMAGES = 1000


@dataclass(frozen=True)
class RegionReport:
    """What the SR says about one organ segment (tracked by the organ's name).

    Parameters
    ----------
    organ : Organ
        Catalogue organ.
    stats : UptakeStats
        Its measurements (lesion voxels already left out).
    """

    organ: Organ
    stats: UptakeStats


@dataclass(frozen=True, eq=False)
class ReportContent:
    """What one report holds.

    Parameters
    ----------
    organs : sequence of RegionReport
        The organs found, in SEG order.
    lesions : LesionSearch
        The lesions found, or why they were not assessed.
    references : sequence of ReferenceRegion
        PERCIST liver and blood pool.
    unit : Unit
        The unit uptake was measured in.
    suv_note : str | None
        Which SUV rule was used, or why there is no SUV.
    """

    organs: Sequence[RegionReport]
    lesions: LesionSearch
    references: Sequence[ReferenceRegion]
    unit: Unit
    suv_note: str | None = None


def build_report(seg: Dataset, sources: Sequence[Dataset], content: ReportContent,
                 device_name: str, algorithm: hd.sr.AlgorithmIdentification,
                 series_label: str = "research use only",
                 series_number: int = 902) -> hd.sr.Comprehensive3DSR:
    """The measurement report of ``content`` on the segments of ``seg`` (made on ``sources``,
    the PET slices, whose patient and study it shares)."""
    if not content.organs and not content.lesions.lesions:
        raise ValueError("a measurement report needs at least one organ or lesion")
    context = GroupContext(seg, str(sources[0].SeriesInstanceUID),
                           time_point(sources[0]), algorithm)
    groups: list[Group] = [organ_group(region, context) for region in content.organs]
    groups += [lesion_group(lesion, context) for lesion in content.lesions.lesions]
    groups += [reference_group(region, content.unit, context) for region in content.references]
    search = content.lesions
    if search.assessed:
        burden = search.burden or TumourBurden(len(search.lesions), sum(
            lesion.stats.volume_ml for lesion in search.lesions), None, None)
        groups.append(burden_group(burden, content.unit, context))
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[device_name]), name=device_name,
            manufacturer_name=MANUFACTURER, model_name="seganypet-node"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=PET_WHOLE_BODY, imaging_measurements=groups)
    _add_library(report, library_images(sources))
    _add_comments(report, report_comments(content))
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg, *sources], content=report, series_instance_uid=generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER,
        series_description=labelled_description("SegAnyPET organ and lesion SUV report",
                                                 series_label),
        software_versions=__version__, is_complete=True)
    stamp_series_time(sr)
    return sr


def organ_group(region: RegionReport, context: GroupContext
                ) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """An organ's group on its SEG segment: uptake statistics and volume."""
    found = context.segment(region.organ.name)
    if found is None:
        raise ValueError(f"{region.organ.name} has no segment in the SEG")
    number, uid = found
    laterality = LATERALITY.get(region.organ.laterality or "")
    structure = organ_code(region.organ)
    stats = region.stats
    name, unit = quantity(stats.unit)
    items = [measurement(name, value, unit, derivation)
             for derivation, value in ((MEAN, stats.mean), (MAXIMUM, stats.maximum),
                                       (PEAK, stats.peak), (SD, stats.sd))]
    items.append(measurement(codes.SCT.Volume, stats.volume_ml, ML, method=VOXEL_SUM))
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier=region.organ.name),
        referenced_segment=context.referenced_segment(number),
        time_point_context=context.time_point, finding_category=ANATOMICAL_STRUCTURE,
        finding_type=structure, algorithm_id=context.algorithm,
        finding_sites=[hd.sr.FindingSite(structure, laterality=laterality)],
        measurements=items)


def time_point(source: Dataset) -> hd.sr.TimePointContext:
    """The study's time point: its date (whether baseline or follow-up is not known here)."""
    date = str(source.get("StudyDate") or "")
    label = f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 else "study date unknown"
    return hd.sr.TimePointContext(time_point=f"study of {label}")


def library_images(sources: Sequence[Dataset]) -> list[Dataset]:
    """The PET slices the image library lists: all, or every n-th of a very long series."""
    step = -(-len(sources) // MAX_LIBRARY_IMAGES)
    return list(sources[::step])


def report_comments(content: ReportContent) -> list[str]:
    """What a reader must know beside the numbers: no SUV, lesions not assessed, search notes."""
    texts = []
    if not content.unit.is_suv:
        texts.append(f"SUV not reported: {content.suv_note or 'the header does not allow it'}")
    search = content.lesions
    threshold = search.threshold
    if search.assessed and threshold is not None:
        texts.append(f"lesion detection threshold {threshold.value:.2f} {content.unit} "
                     f"({threshold.rule})")
    if search.assessed and not search.lesions:
        texts.append("no lesion found")
    texts += search.notes()
    if search.lesions:
        texts.append("organ uptake leaves lesion voxels out")
    return texts


def _add_library(report: hd.sr.MeasurementReport, sources: Sequence[Dataset]) -> None:
    """The image library where TID 1500 puts it: before the imaging measurements."""
    content = report[0].ContentSequence
    at = next(i for i, item in enumerate(content) if item.name == codes.DCM.ImagingMeasurements)
    content.insert(at, image_library(sources))


def _add_comments(report: hd.sr.MeasurementReport, texts: Sequence[str]) -> None:
    if not texts:
        return
    container = hd.sr.ContainerContentItem(name=QUALITATIVE,
                                           relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    container.ContentSequence = hd.sr.ContentSequence([hd.sr.TextContentItem(
        name=COMMENT, value=text[:1024],
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS) for text in texts])
    report[0].ContentSequence.append(container)
