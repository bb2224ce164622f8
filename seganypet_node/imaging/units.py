"""The units a volume's values and its measurements are in."""

from __future__ import annotations

import enum


class Unit(enum.StrEnum):
    """What values are in: SUVbw, Bq/ml, or a series' own Units (DICOM PS3.3 C.8.9.1.1.3).

    A :class:`str` enum, so that the value itself ("SUVbw") is what JSON, tables and logs show.
    """

    SUVBW = "SUVbw"
    BQML = "Bq/ml"
    CNTS = "CNTS"
    NONE = "NONE"
    CM2 = "CM2"
    CM2ML = "CM2ML"
    PCNT = "PCNT"
    CPS = "CPS"
    MGMINML = "MGMINML"
    UMOLMINML = "UMOLMINML"
    MLMING = "MLMING"
    MLG = "MLG"
    PER_CM = "1CM"
    UMOLML = "UMOLML"
    PROPCNTS = "PROPCNTS"
    PROPCPS = "PROPCPS"
    MLMINML = "MLMINML"
    MLML = "MLML"
    GML = "GML"
    STDDEV = "STDDEV"
    UNKNOWN = "unknown units"

    @classmethod
    def of_series(cls, units: str | None) -> Unit:
        """The unit of a series' Units value (BQML is Bq/ml; an unknown term is UNKNOWN)."""
        term = (units or "").strip().upper()
        if term == "BQML":
            return cls.BQML
        unit = cls._value2member_map_.get(term)
        return unit if isinstance(unit, cls) and unit is not cls.UNKNOWN else cls.UNKNOWN

    @property
    def is_suv(self) -> bool:
        """Whether values in this unit are SUVbw (uptake ranges and SUV windows apply)."""
        return self is Unit.SUVBW
