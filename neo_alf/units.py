"""Units of measurement: ALF metadata strings to unit strings Neo (quantities) understands."""

from __future__ import annotations

import quantities as pq

__all__ = ["to_neo_units"]

_ALIASES = {
    "": "dimensionless",
    "a.u.": "dimensionless",
    "au": "dimensionless",
    "arbitrary": "dimensionless",
    "µv": "uV",
    "μv": "uV",
    "microvolts": "uV",
    "mv": "mV",
    "v": "V",
    "s": "s",
    "sec": "s",
    "seconds": "s",
    "ms": "ms",
    "hz": "Hz",
    "deg": "deg",
    "degrees": "deg",
    "rad": "rad",
    "radians": "rad",
    "cm": "cm",
    "mm": "mm",
    "um": "um",
    "µm": "um",
    "μm": "um",
}


def to_neo_units(unit: str | None) -> tuple[str, bool]:
    """A unit string for Neo, and whether the ALF unit was understood.

    Parameters
    ----------
    unit : str or None
        The ``unit`` of a metadata column (``"uV"``, ``"µV"``, ``"cm"``); None: no unit given.

    Returns
    -------
    units : str
        A string ``quantities`` parses; ``"dimensionless"`` when none was given or it is unknown.
    understood : bool
        False when ``unit`` was given but is not a unit ``quantities`` knows: the caller keeps the
        original string (as an annotation) rather than pretending.
    """
    if unit is None:
        return "dimensionless", True
    text = str(unit).strip()
    candidate = _ALIASES.get(text.lower(), text)
    try:
        pq.Quantity(1.0, candidate)
    except (LookupError, ValueError, TypeError, SyntaxError):
        return "dimensionless", False
    return candidate, True
