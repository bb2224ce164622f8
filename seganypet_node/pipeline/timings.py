"""How long each stage of a run took: one accumulator, the stages named by an enum."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stage(enum.StrEnum):
    """A stage of a run, as ``summary.json``'s ``timings_s`` names it."""

    READ_SERIES = "read series"
    LOAD = "load model and atlas"
    REGISTRATION = "registration and prompts"
    INFERENCE = "inference"  # one entry per organ: "inference liver"
    MEASUREMENTS = "clean-up and measurements"
    LESIONS = "lesions"
    WRITING = "writing"  # one entry per DICOM object: "writing seg"
    MASKS_AND_SUMMARY = "writing masks and summary"

    def of(self, detail: str) -> str:
        """The entry's name for one organ or object (``Stage.INFERENCE.of("liver")``)."""
        return f"{self.value} {detail}"


class Timings:
    """Seconds per stage in the order the stages ran."""

    def __init__(self, entries: tuple[tuple[str, float], ...] = ()) -> None:
        self._entries = [(str(name), float(seconds)) for name, seconds in entries]

    def add(self, name: str, seconds: float) -> None:
        """Record a stage (a :class:`Stage`, or ``Stage.X.of(detail)``)."""
        self._entries.append((str(name), float(seconds)))

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Record the time the ``with`` block takes under ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    @property
    def entries(self) -> tuple[tuple[str, float], ...]:
        return tuple(self._entries)
