"""``seganypet-node segment``: the node's pipeline on files, outside the network path.

Researchers and physicists run it on a folder of DICOM files or a NIfTI volume; it prints a
progress bar on standard error and writes ``OUT/masks/<organ>.nii.gz`` and
``OUT/summary.json`` (see :mod:`seganypet_node.outputs.summary`), and for DICOM input the
SEG, SR and key image in ``OUT/dicom/``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from seganypet_node.config import Config
from seganypet_node.imaging.volume import load_input
from seganypet_node.outputs.folder import FolderResult, write_folder
from seganypet_node.paths import writable_directory
from seganypet_node.pipeline import PipelineResult, RunSource, pipeline_from_config

BAR_WIDTH = 30


class ProgressBar:
    """A one-line text progress bar (``[#####-----] 5/10 segmenting liver  12.3 s``)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.started = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        elapsed = time.perf_counter() - self.started
        self.stream.write(f"\r[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{total} "
                          f"{stage:<28} {elapsed:6.1f} s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def segment_files(config: Config, sources: Sequence[Path], out: Path,
                  stream: TextIO = sys.stderr,
                  spacing_mm: Sequence[float] | None = None) -> FolderResult:
    """Load ``sources`` (one NIfTI, or DICOM files/folders of one PET series), segment, write.

    Raises
    ------
    seganypet_node.imaging.pet.SeriesError
        The input does not make one PET volume.
    seganypet_node.atlas.register.RegistrationError
        The volume cannot be aligned with the atlas.
    seganypet_node.paths.UnusableDirectoryError
        ``out`` cannot be made or written (checked first).
    """
    writable_directory(out, "--out")  # before minutes of work, not after
    stream.write(f"reading {', '.join(str(s) for s in sources)}\n")
    volume = load_input(sources, spacing_mm)
    if volume.read_note:
        stream.write(f"{volume.read_note}\n")
    # One study in this process: torch gets every core, whatever [worker] count says.
    pipeline = pipeline_from_config(config.with_overrides("worker", count=1))
    source = RunSource(series_instance_uid=volume.pet.series_uid if volume.pet else None,
                       files=tuple(str(s) for s in sources))
    return write_folder(pipeline.run(volume, ProgressBar(stream)), volume, out, source,
                        research_label=config.outputs.research_label)


def report(written: FolderResult, out: Path) -> str:
    """A short table of what was found, for the terminal."""
    result = written.result
    lines = [f"{'organ':<16} {'found':<6} {'volume ml':>9} {'mean':>7} {'max':>7}  "
             f"({result.unit})"]
    for organ in result.organs:
        if organ.stats is None:
            lines.append(f"{organ.organ:<16} {'no':<6} {organ.reason}")
            continue
        s = organ.stats
        lines.append(f"{organ.organ:<16} {'yes':<6} {s.volume_ml:9.1f} {s.mean:7.2f} "
                     f"{s.maximum:7.2f}")
        lines.extend(f"{'':<16} warning: {warning}" for warning in organ.warnings)
    lines.extend(_lesion_lines(result))
    total = sum(seconds for _, seconds in result.timings)
    lines.append(f"{total:.1f} s; masks and summary.json in {out}")
    if written.objects:
        lines.append(f"DICOM SEG, SR and key image in {out / 'dicom'}")
    else:
        lines.append(f"no DICOM outputs: {written.dicom_note}")
    return "\n".join(lines)


def _lesion_lines(result: PipelineResult) -> list[str]:
    """The lesions found (or why none were looked for) and what the search left out."""
    search = result.lesions
    if not search.assessed:
        return [f"lesions: not assessed ({search.reason})"]
    threshold = search.threshold
    head = f"lesions: {len(search.lesions)}"
    if threshold is not None:
        head += f" (threshold {threshold.value:.2f} {result.unit}, {threshold.rule.name})"
    lines = [head]
    lines += [f"  {x.label:<14} {x.site:<28} max {x.stats.maximum:6.2f}  MTV "
              f"{x.stats.volume_ml:7.1f} ml" for x in search.lesions]
    if search.physiological:
        lines.append(f"  {len(search.physiological)} hot focus/foci set aside as physiological "
                     f"(summary.json: lesions.physiological_foci)")
    lines += [f"  note: {note}" for note in search.notes()]
    return lines
