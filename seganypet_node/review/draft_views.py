"""What the review page shows of an open study, as JSON: geometry, findings with their
figures and colours, the PERCIST references, tumour burden, organs not found, the steps."""

from __future__ import annotations

from dataclasses import dataclass

from seganypet_node.lesions.results import Lesion
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.organs import organ
from seganypet_node.outputs.seg import LESION_PALETTE, REFERENCE_RGB, reference_label
from seganypet_node.pipeline.findings import Finding, FindingKind, FindingStatus, Step
from seganypet_node.pipeline.results import OrganResult
from seganypet_node.review.drafts import OpenStudy
from seganypet_node.review.views import Overlay

MAX_STEPS_SHOWN = 50


@dataclass(frozen=True)
class Figures:
    """A finding's measurements (in ``unit``)."""

    unit: str
    volume_ml: float
    mean: float
    maximum: float
    peak: float
    sul_peak: float | None = None
    tlg: float | None = None
    site: str | None = None
    deauville_aid: int | None = None
    label: str | None = None  # the lesion's tracking identifier in the reports
    lesions: tuple[str, ...] = ()  # an organ's lesions (left out of its figures)


@dataclass(frozen=True)
class FindingView:
    key: str
    name: str
    kind: FindingKind
    status: FindingStatus
    added: bool
    clicks: int
    colour: str
    centre_zyx: tuple[int, int, int] | None
    figures: Figures | None


@dataclass(frozen=True)
class ReferenceView:
    name: str
    label: str
    site: str
    mean: float
    sd: float
    sul_mean: float | None
    centre_zyx: tuple[int, int, int]
    note: str | None


@dataclass(frozen=True)
class StepView:
    action: str
    finding: str
    detail: str
    seconds: float
    changed_voxels: int


@dataclass(frozen=True)
class ReviewState:
    """An open review as the page (or a viewer plugin) shows it."""

    job_id: int
    shape_zyx: tuple[int, int, int]
    spacing_zyx_mm: tuple[float, float, float]
    head_first: bool
    unit: str
    window: tuple[float, float]
    findings: list[FindingView]
    references: list[ReferenceView]
    not_found: dict[str, str]
    lesion_count: int
    total_mtv_ml: float | None
    total_tlg: float | None
    dmax_mm: float | None
    steps: list[StepView]
    last_step: StepView | None
    changed: bool
    crops_embedded: int  # 0 while the crops are still being embedded
    opened_by: str


def review_state(study: OpenStudy, step: Step | None = None) -> ReviewState:
    """The page's view of ``study`` (``step``: the one just taken)."""
    draft = study.draft
    result = draft.result()
    organs = {o.organ: o for o in result.organs}
    lesions = {x.tracking_uid: x for x in result.lesions.lesions}
    burden = result.lesions.burden
    window = study.window
    spacing = draft.suv.GetSpacing()[::-1]
    return ReviewState(
        study.job_id, tuple(draft.values.shape),
        (float(spacing[0]), float(spacing[1]), float(spacing[2])), draft.head_first,
        str(result.unit), (window.low, window.high),
        [_finding(f, n, organs, lesions) for n, f in enumerate(draft.findings)],
        [_reference(r) for r in result.references],
        {o.organ: o.reason or "" for o in result.organs if not o.found},
        len(result.lesions.lesions), burden.total_mtv_ml if burden else None,
        burden.total_tlg if burden else None, burden.dmax_mm if burden else None,
        [_step(s) for s in draft.steps[-MAX_STEPS_SHOWN:]], None if step is None else _step(step),
        draft.changed, study.warmed, study.opened_by)


def study_overlays(study: OpenStudy, selected: str | None) -> list[Overlay]:
    """The outlines to draw: every finding not rejected, and the reference regions."""
    shown = [Overlay(f.mask, colour_of(f, n), f.key == selected)
             for n, f in enumerate(study.draft.findings)
             if f.status is not FindingStatus.REJECTED and f.mask.any()]
    shown += [Overlay(r.mask, REFERENCE_RGB[r.name]) for r in study.draft.result().references
              if r.mask is not None]
    return shown


def colour_of(finding: Finding, number: int) -> tuple[int, int, int]:
    """The organ's catalogue colour; lesions alternate the SEG's lesion colours."""
    if finding.kind is FindingKind.ORGAN:
        return organ(finding.name).rgb
    return LESION_PALETTE[number % len(LESION_PALETTE)]


def _finding(found: Finding, number: int, organs: dict[str, OrganResult],
             lesions: dict[str, Lesion]) -> FindingView:
    figures = None
    if found.status is not FindingStatus.REJECTED:
        if found.kind is FindingKind.ORGAN and found.name in organs:
            figures = _organ_figures(organs[found.name])
        elif found.lesion is not None and found.lesion.tracking_uid in lesions:
            figures = _lesion_figures(lesions[found.lesion.tracking_uid])
    centre = None
    if found.mask.any():
        middle = found.mask.indices().mean(axis=0).round().astype(int)
        centre = (int(middle[0]), int(middle[1]), int(middle[2]))
    r, g, b = colour_of(found, number)
    return FindingView(found.key, found.name, found.kind, found.status, found.added,
                       len(found.clicks), f"#{r:02x}{g:02x}{b:02x}", centre, figures)


def _organ_figures(result: OrganResult) -> Figures | None:
    stats = result.stats
    if stats is None:
        return None
    return Figures(str(stats.unit), _round(stats.volume_ml, 1), _round(stats.mean),
                   _round(stats.maximum), _round(stats.peak), lesions=result.lesions)


def _lesion_figures(lesion: Lesion) -> Figures:
    stats = lesion.stats
    return Figures(str(stats.unit), _round(stats.volume_ml, 2), _round(stats.mean),
                   _round(stats.maximum), _round(stats.peak),
                   None if lesion.sul_peak is None else _round(lesion.sul_peak),
                   None if stats.tlg is None else _round(stats.tlg, 1), lesion.site,
                   lesion.deauville, lesion.label)


def _reference(region: ReferenceRegion) -> ReferenceView:
    return ReferenceView(str(region.name), reference_label(region), region.site,
                         _round(region.mean), _round(region.sd),
                         None if region.sul_mean is None else _round(region.sul_mean),
                         region.centre_index, region.note)


def _step(step: Step) -> StepView:
    return StepView(step.action.value, step.finding, step.detail, round(step.seconds, 3),
                    step.changed_voxels)


def _round(value: float, digits: int = 2) -> float:
    return round(float(value), digits)
