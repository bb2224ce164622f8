"""The report's lesion, tumour-burden and reference-region groups.

- Each lesion is a TID 1411 group on its own SEG segment (same TrackingUID): finding category
  Morphologically Abnormal Structure, type Neoplasm, the organ it lies in as finding site, and
  SUVmax/peak/mean/SD, SULpeak, metabolic volume and TLG.
- Tumour burden (lesion count, total MTV, total TLG, Dmax) is a TID 1501 group of the study.
- The PERCIST liver sphere and the blood-pool cylinder are TID 1411 groups coded as Reference
  Region (NCIt C94970) with their finding site on the group (dcmqi drops it from a NUM) and
  their own SEG segment, in SUVbw and SUL when the lean body mass is known.
"""

from __future__ import annotations

import highdicom as hd
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from seganypet_node.imaging.units import Unit
from seganypet_node.lesions.results import Lesion, TumourBurden
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.organs import BY_NAME
from seganypet_node.outputs.seg import (
    ABNORMAL_STRUCTURE,
    LATERALITY,
    NEOPLASM,
    REFERENCE_REGION,
    organ_code,
    reference_label,
    reference_site,
)
from seganypet_node.outputs.sr_items import (
    GRAM,
    LESIONS_UNIT,
    MAXIMUM,
    MEAN,
    ML,
    MM,
    PEAK,
    SD,
    SUL,
    SUL_UNIT,
    TOTAL,
    VOXEL_SUM,
    GroupContext,
    measurement,
    quantity,
)

BURDEN_LABEL = "tumour burden"
Group = (hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations
         | hd.sr.MeasurementsAndQualitativeEvaluations)


def lesion_group(lesion: Lesion, context: GroupContext
                 ) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """A lesion's group on its SEG segment (which must be in ``context.seg``)."""
    found = context.segment(lesion.label)
    if found is None:
        raise ValueError(f"{lesion.label} has no segment in the SEG")
    organ = BY_NAME.get(lesion.site)
    sites = None if organ is None else [hd.sr.FindingSite(
        organ_code(organ), laterality=LATERALITY.get(organ.laterality or ""))]
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=lesion.tracking_uid,
                                                     identifier=lesion.label),
        referenced_segment=context.referenced_segment(found[0]),
        time_point_context=context.time_point, finding_category=ABNORMAL_STRUCTURE,
        finding_type=NEOPLASM, algorithm_id=context.algorithm, finding_sites=sites,
        measurements=lesion_measurements(lesion))


def lesion_measurements(lesion: Lesion) -> list[hd.sr.Measurement]:
    """SUVmax/peak/mean/SD, SULpeak, MTV and TLG (TLG and SUL only when in SUV)."""
    stats = lesion.stats
    name, unit = quantity(stats.unit)
    items = [measurement(name, value, unit, derivation)
             for derivation, value in ((MAXIMUM, stats.maximum), (PEAK, stats.peak),
                                       (MEAN, stats.mean), (SD, stats.sd))]
    if lesion.sul_peak is not None and stats.unit.is_suv:
        items.append(measurement(SUL, lesion.sul_peak, SUL_UNIT, PEAK))
    items.append(measurement(codes.DCM.MetabolicVolume, stats.volume_ml, ML, method=VOXEL_SUM))
    if stats.tlg is not None and stats.unit.is_suv:
        items.append(measurement(codes.DCM.TotalLesionGlycolysis, stats.tlg, GRAM))
    return items


def burden_group(burden: TumourBurden, unit: Unit, context: GroupContext
                 ) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """The study's tumour burden: lesion count, total MTV and TLG, Dmax."""
    items = [measurement(codes.SCT.NumberOfLesions, burden.count, LESIONS_UNIT),
             measurement(codes.DCM.MetabolicVolume, burden.total_mtv_ml, ML, TOTAL)]
    if burden.total_tlg is not None and unit.is_suv:
        items.append(measurement(codes.DCM.TotalLesionGlycolysis, burden.total_tlg, GRAM, TOTAL))
    if burden.dmax_mm is not None:
        # Dmax: the largest distance between two lesion centroids (no code of its own).
        items.append(measurement(codes.DCM.Distance, burden.dmax_mm, MM, MAXIMUM))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(),
                                                     identifier=BURDEN_LABEL),
        time_point_context=context.time_point, finding_category=ABNORMAL_STRUCTURE,
        finding_type=NEOPLASM, algorithm_id=context.algorithm, measurements=items)


def reference_group(region: ReferenceRegion, unit: Unit, context: GroupContext) -> Group:
    """A reference region's group, on its SEG segment when it has one."""
    label = reference_label(region)
    name, quantity_unit = quantity(unit)
    items = [measurement(name, region.mean, quantity_unit, MEAN),
             measurement(name, region.sd, quantity_unit, SD)]
    if unit.is_suv and region.sul_mean is not None and region.sul_sd is not None:
        items += [measurement(SUL, region.sul_mean, SUL_UNIT, MEAN),
                  measurement(SUL, region.sul_sd, SUL_UNIT, SD)]
    items.append(measurement(codes.SCT.Volume, region.volume_ml, ML, method=VOXEL_SUM))
    sites = [hd.sr.FindingSite(reference_site(region))]
    found = context.segment(label)
    if found is None:  # no mask to point at: the site alone says where
        return hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=label),
            time_point_context=context.time_point, finding_type=REFERENCE_REGION,
            algorithm_id=context.algorithm, finding_sites=sites, measurements=items)
    number, uid = found
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier=label),
        referenced_segment=context.referenced_segment(number),
        time_point_context=context.time_point, finding_type=REFERENCE_REGION,
        algorithm_id=context.algorithm, finding_sites=sites, measurements=items)
