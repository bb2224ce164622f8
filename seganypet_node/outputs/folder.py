"""A result folder: masks, DICOM objects and ``summary.json`` of one pipeline run (written
from its result; the run itself is :meth:`seganypet_node.pipeline.OrganPipeline.run`).

The worker writes one per job (``<data_dir>/results/job-N``), ``seganypet-node segment`` into
``OUT``. See :mod:`outputs.summary` for the masks and summary, :mod:`outputs.dicom_results`
for ``dicom/``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from seganypet_node.imaging.volume import VolumeInput
from seganypet_node.outputs.dicom_results import (
    RESEARCH_LABEL,
    OutputsUnavailableError,
    ResultObject,
    write_dicom_results,
)
from seganypet_node.outputs.summary import RunRecord, write_results
from seganypet_node.pipeline import PipelineResult, RunSource
from seganypet_node.pipeline.timings import Stage, Timings

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class FolderResult:
    """What a run wrote: the pipeline result, the DICOM objects, or why there are none."""

    result: PipelineResult
    objects: tuple[ResultObject, ...]
    dicom_note: str | None = None


def write_folder(result: PipelineResult, volume: VolumeInput, out: Path, source: RunSource,
                 device_name: str = "seganypet-node",
                 research_label: str = RESEARCH_LABEL) -> FolderResult:
    """Write a run's masks, DICOM SEG/SR/key image and summary into ``out``
    (``research_label``: appended to the DICOM objects' series descriptions).

    The returned result's timings are the run's, one per DICOM object and, last, the time
    spent writing masks and summary (not in the summary itself).
    """
    try:
        objects = write_dicom_results(result, volume, out, result.model, device_name,
                                      research_label=research_label)
        note = None
    except OutputsUnavailableError as exc:
        objects, note = (), str(exc)
        log.info("no DICOM outputs: %s", note)
    timings = Timings(result.timings)
    for written in objects:
        timings.add(Stage.WRITING.of(written.kind.value), written.seconds)
    result = dataclasses.replace(result, timings=timings.entries)
    start = time.perf_counter()
    record = RunRecord(
        source, result.checkpoint_name, result.model.sha256 if result.model else "",
        result.atlas, volume.suv_note,
        {o.kind.value: str(o.path.relative_to(out)) for o in objects}
        if objects else {"none": note or ""})
    write_results(result, volume.values, out, record)
    timings.add(Stage.MASKS_AND_SUMMARY, time.perf_counter() - start)
    return FolderResult(dataclasses.replace(result, timings=timings.entries), objects, note)
