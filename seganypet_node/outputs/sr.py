"""TID 1500 measurement report (Comprehensive 3D SR) of the organs of one SEG.

One volumetric ROI group per SEG segment (referencing the segment and the source series), coded
as dcmqi codes PET SUV reports: quantity SUVbw (DCM 126401) in ``{SUVbw}g/ml`` with derivations
mean / maximum / peak / SD, volume by sum of segmented voxel volumes, TLG and metabolic volume
for lesions. Reference regions (PERCIST liver, blood pool) are TID 1501 groups. When SUV cannot
be had, measurements are activity concentrations in Bq/ml and a comment says why.
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
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.measure.uptake import UptakeStats
from seganypet_node.organs import Organ
from seganypet_node.outputs.seg import LATERALITY, MANUFACTURER, NEOPLASM, organ_code

SUVBW = hd.sr.CodedConcept("126401", "DCM", "SUVbw")
SUVBW_UNIT = hd.sr.CodedConcept("{SUVbw}g/ml", "UCUM", "Standardized Uptake Value body weight")
BQML_UNIT = hd.sr.CodedConcept("Bq/mL", "UCUM", "Becquerels/milliliter")
NO_UNIT = hd.sr.CodedConcept("1", "UCUM", "no units")
ML = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
GRAM = hd.sr.CodedConcept("g", "UCUM", "gram")
VOXEL_SUM = hd.sr.CodedConcept("126030", "DCM", "Sum of segmented voxel volumes")
PET_WHOLE_BODY = hd.sr.CodedConcept("44139-4", "LN", "PET whole body")
QUALITATIVE = hd.sr.CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")
COMMENT = hd.sr.CodedConcept("121106", "DCM", "Comment")


@dataclass(frozen=True)
class RegionReport:
    """What the SR says about one SEG segment.

    Parameters
    ----------
    segment_number : int
        Number of the segment in the SEG.
    organ : Organ | None
        Catalogue organ; None for a lesion.
    label : str
        Tracking identifier (organ name or lesion_N).
    stats : UptakeStats
        Its measurements (``stats.tlg`` set for lesions).
    """

    segment_number: int
    organ: Organ | None
    label: str
    stats: UptakeStats


def build_report(seg: Dataset, source_series_uid: str, regions: Sequence[RegionReport],
                 references: Sequence[ReferenceRegion], device_name: str,
                 suv_note: str | None, series_number: int = 902) -> hd.sr.Comprehensive3DSR:
    """The measurement report of ``regions`` of ``seg`` (whose patient and study it shares)."""
    if not regions:
        raise ValueError("a measurement report needs at least one region")
    tracking = {int(item.SegmentNumber): str(item.TrackingUID) for item in seg.SegmentSequence}
    groups: list[hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations
                 | hd.sr.MeasurementsAndQualitativeEvaluations] = [
        _segment_group(seg, source_series_uid, region, tracking[region.segment_number])
        for region in regions]
    unit = regions[0].stats.unit
    groups += [_reference_group(reference, unit) for reference in references]
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[device_name]), name=device_name,
            manufacturer_name=MANUFACTURER, model_name="seganypet-node"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=PET_WHOLE_BODY, imaging_measurements=groups)
    if not unit.is_suv:
        _add_comment(report, f"SUV not reported: {suv_note or 'the header does not allow it'}")
    return hd.sr.Comprehensive3DSR(
        evidence=[seg], content=report, series_instance_uid=generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, series_description="SegAnyPET organ SUV report",
        software_versions=__version__, is_complete=True)


def _segment_group(seg: Dataset, source_series_uid: str, region: RegionReport,
                   tracking_uid: str) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    referenced = hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
        segment_number=region.segment_number,
        source_series=hd.sr.SourceSeriesForSegmentation(source_series_uid))
    if region.organ is None:
        finding, sites = NEOPLASM, None
    else:
        finding = organ_code(region.organ)
        laterality = LATERALITY.get(region.organ.laterality or "")
        sites = [hd.sr.FindingSite(finding, laterality=laterality)]
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=region.label),
        referenced_segment=referenced, finding_type=finding, finding_sites=sites,
        measurements=_measurements(region.stats))


def _measurements(stats: UptakeStats) -> list[hd.sr.Measurement]:
    name, unit = _quantity(stats.unit)
    uptake = [
        hd.sr.Measurement(name=name, value=value, unit=unit, derivation=derivation)
        for derivation, value in ((codes.SCT.Mean, stats.mean), (codes.SCT.Maximum, stats.maximum),
                                  (codes.DCM.PeakValueWithinROI, stats.peak),
                                  (codes.DCM.StandardDeviation, stats.sd))]
    volume_name = codes.DCM.MetabolicVolume if stats.tlg is not None else codes.SCT.Volume
    volume = hd.sr.Measurement(name=volume_name, value=stats.volume_ml, unit=ML, method=VOXEL_SUM)
    extra = []
    if stats.tlg is not None and stats.unit.is_suv:
        extra.append(hd.sr.Measurement(name=codes.DCM.TotalLesionGlycolysis, value=stats.tlg,
                                       unit=GRAM))
    return [*uptake, volume, *extra]


def _reference_group(region: ReferenceRegion, unit: Unit
                     ) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    name, quantity_unit = _quantity(unit)
    site = codes.SCT.Liver if region.name == "liver" else codes.SCT.Aorta
    sites = [hd.sr.FindingSite(site)]
    measurements = [hd.sr.Measurement(name=name, value=value, unit=quantity_unit,
                                      derivation=derivation, finding_sites=sites)
                    for derivation, value in ((codes.SCT.Mean, region.mean),
                                              (codes.DCM.StandardDeviation, region.sd))]
    label = "PERCIST liver reference" if region.name == "liver" else "blood pool reference"
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=label),
        finding_type=site, measurements=measurements)


def _quantity(unit: Unit) -> tuple[hd.sr.CodedConcept, hd.sr.CodedConcept]:
    if unit.is_suv:
        return SUVBW, SUVBW_UNIT
    if unit is Unit.BQML:
        return hd.sr.CodedConcept.from_code(codes.DCM.NuclearMedicineTomographicActivity), BQML_UNIT
    return hd.sr.CodedConcept.from_code(codes.DCM.NuclearMedicineTomographicActivity), NO_UNIT


def _add_comment(report: hd.sr.MeasurementReport, text: str) -> None:
    container = hd.sr.ContainerContentItem(name=QUALITATIVE,
                                           relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    container.ContentSequence = hd.sr.ContentSequence([hd.sr.TextContentItem(
        name=COMMENT, value=text[:1024],
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)])
    report[0].ContentSequence.append(container)
