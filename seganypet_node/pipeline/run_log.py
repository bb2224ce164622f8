"""What an operator reads in the log about one run: a line per stage and per organ, each with
its time, and a line as each stage begins, so a long job shows where it is."""

from __future__ import annotations

import logging
import time

from seganypet_node.pipeline.results import OrganResult, PipelineResult
from seganypet_node.pipeline.timings import Stage


class StageLog:
    """Logs each stage as it begins (the pipeline's progress callback), with the time so far.

    Parameters
    ----------
    log : logging.Logger
        Where the lines go (INFO).
    prefix : str
        What the lines are about (``"job 3"``).
    """

    def __init__(self, log: logging.Logger, prefix: str) -> None:
        self._log, self._prefix = log, prefix
        self._started = time.perf_counter()
        self._last = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == self._last:
            return
        self._last = stage
        self._log.info("%s: %s (%d/%d, %.1f s so far)", self._prefix, stage, done, total,
                       time.perf_counter() - self._started)


def log_outcome(log: logging.Logger, prefix: str, result: PipelineResult) -> None:
    """One INFO line per stage (other than an organ's inference) and one per organ."""
    inference = Stage.INFERENCE.of("")
    for name, seconds in result.timings:
        if not name.startswith(inference):
            log.info("%s: %s %.1f s", prefix, name, seconds)
    spent = {name[len(inference):]: seconds for name, seconds in result.timings
             if name.startswith(inference)}
    for organ in result.organs:
        log.info("%s: %s", prefix, organ_line(organ, result.unit.value, spent.get(organ.organ)))


def organ_line(organ: OrganResult, unit: str, seconds: float | None) -> str:
    """``liver: found, 1523 ml, mean 2.10, max 4.20 SUVbw (inference 2.1 s)``, or why not."""
    if organ.stats is None:
        text = f"{organ.organ}: not found ({organ.reason})"
    else:
        s = organ.stats
        text = (f"{organ.organ}: found, {s.volume_ml:.0f} ml, mean {s.mean:.2f}, "
                f"max {s.maximum:.2f} {unit}")
        if organ.warnings:
            text += f"; warning: {'; '.join(organ.warnings)}"
    return text + ("" if seconds is None else f" (inference {seconds:.1f} s)")
