"""Pipeline results on disk: one binary NIfTI mask per organ and ``summary.json``.

Layout of a result folder (``OUT`` of ``seganypet-node segment``, ``<data_dir>/results/job-N``
for the node's jobs)::

    masks/<organ>.nii.gz    uint8 0/1 on the input grid, catalogue organ names
    summary.json            per organ: found or why not, volume, uptake statistics, prompts,
                            rejected landmarks, seconds; registration quality; stage timings
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

from seganypet_node.imaging.volume import array_on_grid
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.pipeline import OrganResult, PipelineResult, RunSource

SUMMARY_FILE = "summary.json"
MASKS_DIR = "masks"


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
    for organ in result.organs:
        if organ.mask is not None:
            image = array_on_grid(organ.mask.astype(np.uint8), grid)
            sitk.WriteImage(image, str(masks / f"{organ.organ}.nii.gz"), useCompression=True)
    path = out / SUMMARY_FILE
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(summary(result, record), indent=2) + "\n")
    os.replace(temp, path)
    return path


def summary(result: PipelineResult, record: RunRecord) -> dict[str, Any]:
    """The JSON-ready summary of a pipeline run."""
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
        "reference_regions": {r.name: _reference(r) for r in result.references},
        "timings_s": {stage: round(seconds, 3) for stage, seconds in result.timings},
    }


def caveats(result: PipelineResult) -> str | None:
    """One line of what a reader should know before trusting the result: organs the
    plausibility checks refused, and bounds an organ reached; None when there are none."""
    parts = [f"{o.organ} not reported ({o.reason.removeprefix('failed plausibility: ')})"
             for o in result.organs if o.reason and o.reason.startswith("failed plausibility")]
    parts += [f"{o.organ}: {warning}" for o in result.organs for warning in o.warnings]
    return "; ".join(parts) or None


def _reference(region: ReferenceRegion) -> dict[str, Any]:
    return {"mean": round(region.mean, 4), "sd": round(region.sd, 4),
            "volume_ml": round(region.volume_ml, 2), "centre_index_zyx": list(region.centre_index),
            "note": region.note}


def _organ(result: OrganResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "found": result.found,
        "reason": result.reason,
        "mask": f"{MASKS_DIR}/{result.organ}.nii.gz" if result.found else None,
        "prompts": [{"point_lps_mm": [round(v, 1) for v in p.point], "positive": p.positive}
                    for p in result.prompts],
        "rejected_landmarks": list(result.rejected),
        "warnings": list(result.warnings),
        "seconds": round(result.seconds, 3),
    }
    if result.stats is not None:
        entry.update({k: (round(v, 4) if isinstance(v, float) else v)
                      for k, v in asdict(result.stats).items()})
    return entry
