"""The three DICOM objects of one pipeline run: SEG, TID 1500 SR and key image, on disk.

Files are ``<out>/dicom/seg.dcm``, ``sr.dcm`` and ``key_image.dcm`` (named by kind, never by a
UID), each written to a temporary name, flushed to disk and renamed, so a file that exists is
whole: outbound rows point at them and the sender may read them after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from seganypet_node import __version__
from seganypet_node.errors import NodeError
from seganypet_node.imaging.pet import PetVolume
from seganypet_node.imaging.volume import VolumeInput
from seganypet_node.model.checkpoint import ModelIdentity
from seganypet_node.organs import organ
from seganypet_node.outputs.dicom_file import write_durably
from seganypet_node.outputs.key_image import KeyImageContent, build_key_image, render_key_image
from seganypet_node.outputs.key_image_facts import scan_facts
from seganypet_node.outputs.key_image_panel import KeyImageRow
from seganypet_node.outputs.kinds import ObjectKind, ResultObject
from seganypet_node.outputs.seg import (
    Algorithm,
    SegmentMask,
    build_segmentation,
    lesion_segment,
    organ_segment,
    reference_segment,
)
from seganypet_node.outputs.sr import RegionReport, ReportContent, build_report
from seganypet_node.outputs.sr_items import algorithm_identification
from seganypet_node.pipeline import PipelineResult

DICOM_DIR = "dicom"
RESEARCH_LABEL = "RESEARCH USE ONLY"


class OutputsUnavailableError(NodeError, ValueError):
    """No DICOM outputs can be made for this input; the message says why."""


def write_dicom_results(result: PipelineResult, volume: VolumeInput, out: Path,
                        model: ModelIdentity | None, device_name: str, *,
                        research_label: str = RESEARCH_LABEL) -> tuple[ResultObject, ...]:
    """Build and write SEG, SR and key image for the found organs and lesions into
    ``out/dicom/``; ``research_label`` is appended to each series description.

    Raises
    ------
    OutputsUnavailableError
        The input is not a classic DICOM PET series, or neither organ nor lesion was found.
    """
    pet = _classic_pet(volume)
    rows = [KeyImageRow(organ_segment(organ(o.organ), o.mask), o.stats)
            for o in result.organs if o.mask is not None and o.stats is not None]
    lesions = result.lesions.lesions
    if not rows and not lesions:
        raise OutputsUnavailableError("no organ was found, so there is nothing to report")
    segments: list[SegmentMask] = [row.segment for row in rows]
    segments += [lesion_segment(lesion) for lesion in lesions]
    segments += [reference_segment(r) for r in result.references if r.mask is not None]
    parameters = _algorithm_parameters(model)
    algorithm = Algorithm("SegAnyPET", __version__, parameters=parameters)
    folder = out / DICOM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # The SR needs the SEG's segments and frame references, not its pixels (0.25 GB at 2 mm):
    # they go from the packing buffer to the file and are dropped.
    seg = build_segmentation(pet.sources, segments, algorithm, series_label=research_label,
                             keep_pixel_data=False)
    written = [_save(ObjectKind.SEG, seg, folder, start, seg.take_pixel_data())]
    start = time.perf_counter()
    content = ReportContent([RegionReport(row.segment.organ, row.stats) for row in rows
                             if row.segment.organ is not None],
                            result.lesions, result.references, result.unit, volume.suv_note)
    # One text, as in the SEG's AlgorithmParameters: dcmqi keeps only a group's first one.
    identification = algorithm_identification(
        "SegAnyPET", __version__, [",".join(f"{k}={v}" for k, v in parameters.items())])
    sr = build_report(seg, pet.sources, content, device_name, identification,
                      series_label=research_label)
    written.append(_save(ObjectKind.SR, sr, folder, start))
    start = time.perf_counter()
    picture = _picture(result, volume, rows, model.label if model else "", research_label)
    key = build_key_image(pet.sources[0], picture, series_label=research_label)
    written.append(_save(ObjectKind.KEY_IMAGE, key, folder, start))
    return tuple(written)


def _algorithm_parameters(model: ModelIdentity | None) -> dict[str, str]:
    """The SEG's AlgorithmParameters: which weights, exactly, and how they were prompted."""
    if model is None:
        return {"checkpoint": "unknown", "prompts": "atlas landmarks"}
    return {"checkpoint": model.checkpoint, "checkpoint_sha256": model.sha256,
            "network": model.network, "rel_pos_bias": model.rel_pos_bias.value,
            "prompts": "atlas landmarks"}


def _classic_pet(volume: VolumeInput) -> PetVolume:
    """The DICOM series behind ``volume``, one instance per slice."""
    if volume.pet is None:
        raise OutputsUnavailableError("DICOM outputs need a DICOM PET series; the input was NIfTI")
    sources = volume.pet.sources
    if len({str(ds.SOPInstanceUID) for ds in sources}) != len(sources):
        raise OutputsUnavailableError(
            "DICOM outputs for multi-frame (Enhanced) PET are not supported yet")
    return volume.pet


def _picture(result: PipelineResult, volume: VolumeInput, rows: Sequence[KeyImageRow],
             checkpoint: str, research_label: str) -> np.ndarray:
    measured = volume.measured_image()  # held here: the view below is into its buffer
    values = sitk.GetArrayViewFromImage(measured)
    missing = [o.organ for o in result.organs if not o.found]
    pet = _classic_pet(volume)
    footer = [scan_facts(pet.sources[0]).line(),
              f"model: {checkpoint or 'unknown'}; prompts: atlas landmarks",
              f"SUV: {volume.suv_note or 'not available'}",
              "not found: " + (", ".join(missing) if missing else "none"),
              *result.lesions.notes(),
              "Automatic segmentation: review before clinical use. " + research_label]
    content = KeyImageContent(rows, result.references, result.unit, footer, result.lesions)
    return render_key_image(values, volume.values.GetSpacing()[::-1],
                            volume.values.GetDirection(), content)


def object_path(results_dir: Path, kind: ObjectKind) -> Path:
    """Where a result folder holds its object of ``kind``."""
    return results_dir / DICOM_DIR / f"{kind.value}.dcm"


def _save(kind: ObjectKind, dataset: Dataset, folder: Path, started: float,
          pixel_data: bytearray | None = None) -> ResultObject:
    path = object_path(folder.parent, kind)
    write_durably(dataset, path, pixel_data)
    return ResultObject(kind, path, str(dataset.SOPClassUID), str(dataset.SOPInstanceUID),
                        time.perf_counter() - started)
