"""The results of a study a reader corrected and verified: a new SEG, SR and key image.

Written into ``<job folder>/corrected/`` as a whole result folder (masks, ``summary.json``,
``dicom/``), staged and moved into place like a worker's run. The objects are new series in
the study (new Series Instance UIDs, "corrected and verified" in their descriptions), since
their content is not the automatic run's. The SR is VERIFIED by the reader
(:func:`outputs.verified.verified_report`) with the automatic SR as its predecessor, and
its measurements are those of the corrected masks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pydicom

from seganypet_node.imaging.volume import VolumeInput
from seganypet_node.outputs.dicom_file import write_durably
from seganypet_node.outputs.dicom_results import (
    RESEARCH_LABEL,
    OutputsUnavailableError,
    ResultObject,
    object_path,
)
from seganypet_node.outputs.folder import write_folder
from seganypet_node.outputs.kinds import ObjectKind
from seganypet_node.outputs.publish import discard, publish
from seganypet_node.outputs.verified import Verifier, verified_report
from seganypet_node.pipeline import PipelineResult, RunSource

CORRECTED_DIR = "corrected"
CORRECTED_LABEL = "corrected and verified"


def corrected_dir(job_dir: Path) -> Path:
    """Where a job's corrected results are."""
    return job_dir / CORRECTED_DIR


def write_corrected_results(result: PipelineResult, volume: VolumeInput, job_dir: Path,
                            source: RunSource, verifier: Verifier, now: dt.datetime,
                            device_name: str = "seganypet-node",
                            research_label: str = RESEARCH_LABEL) -> tuple[ResultObject, ...]:
    """Write the corrected SEG, verified SR and key image of ``result`` for the job whose
    automatic results are in ``job_dir``.

    Raises
    ------
    FileNotFoundError
        The job has no automatic SR to name as the predecessor.
    OutputsUnavailableError
        Nothing is left to report (every finding rejected), or the input is not DICOM.
    """
    automatic = pydicom.dcmread(object_path(job_dir, ObjectKind.SR), stop_before_pixels=True)
    final = corrected_dir(job_dir)
    staging = job_dir / f".{CORRECTED_DIR}-staging"
    discard(staging)
    written = write_folder(result, volume, staging, source, device_name,
                           f"{CORRECTED_LABEL}; {research_label}")
    if not written.objects:
        discard(staging)
        raise OutputsUnavailableError(written.dicom_note or "no DICOM outputs were made")
    objects = []
    for found in written.objects:
        if found.kind is ObjectKind.SR:
            report = verified_report(pydicom.dcmread(found.path), verifier, now, automatic)
            report.InstanceNumber = 1
            write_durably(report, found.path)
            found = dataclasses.replace(found, sop_instance_uid=str(report.SOPInstanceUID))
        objects.append(found)
    old = publish(staging, final)
    if old is not None:
        discard(old)
    return tuple(dataclasses.replace(o, path=final / o.path.relative_to(staging))
                 for o in objects)
