"""Pipeline results on disk: one binary NIfTI mask per organ and ``summary.json``.

Layout of a result folder (``OUT`` of ``seganypet-node segment``, ``<data_dir>/results/job-N``
for the node's jobs)::

    masks/<organ>.nii.gz    uint8 0/1 on the input grid, catalogue organ names
    masks/lesion_N.nii.gz   each lesion, the same way
    masks/PERCIST_liver_reference.nii.gz, masks/blood_pool_reference.nii.gz
                            the voxels each reference region measured
    summary.json            per organ: found or why not, volume, uptake statistics (lesion
                            voxels left out) and the lesions inside, prompts, rejected
                            landmarks, seconds; lesions (see :mod:`outputs.summary_lesions`);
                            reference regions; registration quality; stage timings
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.volume import points_of_voxels
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.outputs.seg import reference_label
from seganypet_node.outputs.summary_lesions import MASKS_DIR, lesions_summary, mask_path
from seganypet_node.pipeline import OrganResult, PipelineResult, RunSource

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class RunRecord:
    """What ``summary.json`` says a run was made of: its source, model, atlas and outputs.

    Attributes
    ----------
    source : RunSource
        The job and series, or the files.
    checkpoint, checkpoint_sha256 : str
        The network's file and the SHA-256 of its bytes ("" when not known).
    atlas : str
        The atlas's description.
    suv : str or None
        Which SUV rule was used, or why there is no SUV.
    dicom : mapping of str to str
        Each DICOM object written (kind -> path in the folder), or ``{"none": why}``.
    """

    source: RunSource
    checkpoint: str = ""
    checkpoint_sha256: str = ""
    atlas: str = ""
    suv: str | None = None
    dicom: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """``summary.json``'s ``source``: the source's fields, then the rest."""
        return {**self.source.as_json(), "checkpoint": self.checkpoint,
                "checkpoint_sha256": self.checkpoint_sha256, "atlas": self.atlas,
                "suv": self.suv, "dicom": dict(self.dicom)}


def write_results(result: PipelineResult, grid: sitk.Image, out: Path,
                  record: RunRecord) -> Path:
    """Write masks and the summary into ``out``; returns the summary's path.

    The summary is written last (through a temporary file), so a folder with a summary holds
    every mask it names.
    """
    masks = out / MASKS_DIR
    masks.mkdir(parents=True, exist_ok=True)
    named = [(o.organ, o.mask) for o in result.organs if o.mask is not None]
    named += [(lesion.label, lesion.mask) for lesion in result.lesions.lesions]
    named += [(reference_label(r).replace(" ", "_"), r.mask) for r in result.references
              if r.mask is not None]
    # One uint8 image on the input grid for every mask: each is pasted into it in place
    # (its box only), written, and cleared again.
    image = sitk.Image(grid.GetSize(), sitk.sitkUInt8)
    image.CopyInformation(grid)
    for name, mask in named:
        region = mask.box[::-1]  # SimpleITK indexes x, y, z
        if mask.any():
            image[region] = sitk.GetImageFromArray(mask.local.astype(np.uint8))
        sitk.WriteImage(image, str(out / mask_path(name)), useCompression=True)
        if mask.any():
            image[region] = 0
    path = out / SUMMARY_FILE
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(summary(result, record, grid), indent=2) + "\n")
    os.replace(temp, path)
    return path


def summary(result: PipelineResult, record: RunRecord,
            grid: sitk.Image | None = None) -> dict[str, Any]:
    """The JSON-ready summary of a pipeline run (reference centres also in patient
    coordinates when the input ``grid`` is given)."""
    registration = None
    if result.registration is not None:
        r = result.registration
        registration = {"body_overlap": round(r.body_overlap, 3),
                        "correlation": round(r.correlation, 3),
                        "height_scale": round(r.height_scale, 3), "seconds": round(r.seconds, 2),
                        "atlas_subjects_fused": r.subjects_used}
    return {
        "source": record.as_json(),
        "unit": result.unit,
        "registration": registration,
        "organs": {o.organ: _organ(o) for o in result.organs},
        "lesions": lesions_summary(result.lesions),
        "reference_regions": {r.name: _reference(r, grid) for r in result.references},
        "timings_s": {stage: round(seconds, 3) for stage, seconds in result.timings},
    }


def caveats(result: PipelineResult) -> str | None:
    """One line of what a reader should know before trusting the result: organs the
    plausibility checks refused, bounds an organ reached, and how far lesions were assessed
    (not at all, thresholds, exclusions, size limit and cap); None when there is nothing."""
    parts = [f"{o.organ} not reported ({o.reason.removeprefix('failed plausibility: ')})"
             for o in result.organs if o.reason and o.reason.startswith("failed plausibility")]
    parts += [f"{o.organ}: {warning}" for o in result.organs for warning in o.warnings]
    parts += result.lesions.notes()
    return "; ".join(parts) or None


def _reference(region: ReferenceRegion, grid: sitk.Image | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "site": region.site, "mean": round(region.mean, 4), "sd": round(region.sd, 4),
        "sul_mean": _rounded(region.sul_mean), "sul_sd": _rounded(region.sul_sd),
        "volume_ml": round(region.volume_ml, 2), "centre_index_zyx": list(region.centre_index)}
    if grid is not None:
        centre = points_of_voxels(grid, np.array([region.centre_index]))[0]
        entry["centre_lps_mm"] = [round(float(v), 1) for v in centre]
    entry["note"] = region.note
    return entry


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _organ(result: OrganResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "found": result.found,
        "reason": result.reason,
        "mask": mask_path(result.organ) if result.found else None,
        "prompts": [{"point_lps_mm": [round(v, 1) for v in p.point], "positive": p.positive}
                    for p in result.prompts],
        "rejected_landmarks": list(result.rejected),
        "warnings": list(result.warnings),
        "seconds": round(result.seconds, 3),
        "lesions": list(result.lesions),
        # Organ figures are of normal tissue: lesion voxels inside are measured as lesions.
        "uptake_note": ("uptake leaves out the voxels of " + ", ".join(result.lesions))
        if result.lesions else None,
    }
    if result.stats is not None:
        entry.update({k: (round(v, 4) if isinstance(v, float) else v)
                      for k, v in asdict(result.stats).items()})
    return entry
