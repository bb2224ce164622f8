"""The verified measurement report: the automatic SR as a physician signed it off.

A new instance in the node's SR series (same series, next instance number, new SOP Instance
UID) with VerificationFlag VERIFIED, the verifying observer's name and organisation and the
time (PS3.3 C.17.2), CompletionFlag COMPLETE, PreliminaryFlag FINAL, and the automatic SR
in its Predecessor Documents Sequence. Its content is the automatic report's: measurements
of masks the physician accepted as they are. A report of corrected masks is written by
:mod:`outputs.corrected` (new series) and verified the same way.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from seganypet_node.outputs.dicom_file import write_durably
from seganypet_node.outputs.dicom_results import DICOM_DIR, object_path
from seganypet_node.outputs.kinds import ObjectKind, ResultObject

VERIFIED_SR_NAME = "sr_verified.dcm"


@dataclass(frozen=True)
class Verifier:
    """Who verifies: as written in the report."""

    name: str  # as a DICOM Person Name, e.g. "Reader^Alice^^Dr"
    organisation: str


def verified_report(automatic: Dataset, verifier: Verifier, now: dt.datetime,
                    predecessor: Dataset | None = None) -> Dataset:
    """A copy of ``automatic`` (an SR dataset) verified by ``verifier`` at ``now``, with
    ``predecessor`` (default: ``automatic`` itself) as the report it supersedes."""
    if automatic.get("Modality") != "SR":
        raise ValueError("only a structured report can be verified")
    report = copy.deepcopy(automatic)
    uid = generate_uid()
    report.SOPInstanceUID = uid
    report.file_meta.MediaStorageSOPInstanceUID = uid
    report.InstanceNumber = int(automatic.get("InstanceNumber", 1) or 1) + 1
    local = now.astimezone()
    report.InstanceCreationDate = report.ContentDate = local.strftime("%Y%m%d")
    report.InstanceCreationTime = report.ContentTime = local.strftime("%H%M%S")
    report.CompletionFlag = "COMPLETE"
    report.PreliminaryFlag = "FINAL"
    report.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = verifier.name
    observer.VerifyingOrganization = verifier.organisation[:64]
    observer.VerificationDateTime = local.strftime("%Y%m%d%H%M%S%z")
    observer.VerifyingObserverIdentificationCodeSequence = []
    report.VerifyingObserverSequence = [observer]
    report.PredecessorDocumentsSequence = [_reference(predecessor or automatic)]
    return report


def write_verified_report(results_dir: Path, verifier: Verifier,
                          now: dt.datetime) -> ResultObject:
    """Write the verified report of the automatic SR in ``results_dir``'s DICOM folder.

    Raises
    ------
    FileNotFoundError
        The job has no automatic SR (its outputs could not be made).
    """
    automatic = pydicom.dcmread(object_path(results_dir, ObjectKind.SR))
    report = verified_report(automatic, verifier, now)
    path = results_dir / DICOM_DIR / VERIFIED_SR_NAME
    write_durably(report, path)
    return ResultObject(ObjectKind.SR, path, str(report.SOPClassUID),
                        str(report.SOPInstanceUID))


def _reference(automatic: Dataset) -> Dataset:
    instance = Dataset()
    instance.ReferencedSOPClassUID = automatic.SOPClassUID
    instance.ReferencedSOPInstanceUID = automatic.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = automatic.SeriesInstanceUID
    series.ReferencedSOPSequence = [instance]
    study = Dataset()
    study.StudyInstanceUID = automatic.StudyInstanceUID
    study.ReferencedSeriesSequence = [series]
    return study
