"""Units of measurement: ALF metadata strings parsed by a small grammar of our own.

A metadata ``unit`` is untrusted text. ``quantities`` parses unit strings by evaluating them as
Python expressions (``"9**9**9**9"`` never returns), so no metadata string ever reaches it: this
module tokenises the string, accepts only the grammar below, and builds the unit string Neo gets
from names of its own table.

Grammar (whitespace around operators is ignored)::

    unit     := [factor ["*" | "/"]] product | factor
    product  := power (("*" | "/" | "·") power)*
    power    := NAME [("^" | "**") INTEGER]        (INTEGER: -9 .. 9, not 0)
    factor   := a positive finite decimal number     ("0.195", "1e-6")

``NAME`` is a unit of the table (``uV``, ``µV``, ``mV``, ``cm``, ``s``, ``Hz``, ``deg`` ...,
SI-prefixed where ``quantities`` knows the result) or a word (``seconds``, ``microvolts``,
``a.u.``). A leading factor is kept (``0.195*uV`` is a scale of 0.195 on ``uV``); a sign, a zero,
a number anywhere else, parentheses, or an exponent on a number are refused. ``"1"`` is
dimensionless.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

__all__ = ["ParsedUnit", "parse_unit", "to_neo_units"]

_MAX_LENGTH = 64  # a unit string longer than this is not a unit

# Words and spellings mapped to the name quantities knows (case-insensitive lookup).
_WORDS = {
    "a.u.": "dimensionless",
    "au": "dimensionless",
    "arbitrary": "dimensionless",
    "arb": "dimensionless",
    "dimensionless": "dimensionless",
    "unitless": "dimensionless",
    "none": "dimensionless",
    "microvolts": "uV",
    "microvolt": "uV",
    "millivolts": "mV",
    "millivolt": "mV",
    "volts": "V",
    "volt": "V",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "msec": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
    "hertz": "Hz",
    "degree": "deg",
    "degrees": "deg",
    "radian": "rad",
    "radians": "rad",
    "micron": "um",
    "microns": "um",
    "micrometer": "um",
    "micrometers": "um",
    "micrometre": "um",
    "micrometres": "um",
    "millimeter": "mm",
    "millimeters": "mm",
    "centimeter": "cm",
    "centimeters": "cm",
    "meter": "m",
    "meters": "m",
    "percent": "percent",
    "%": "percent",
    "ohm": "ohm",
    "ohms": "ohm",
}

_PREFIXES = {p: p for p in "pnumckMG"} | {"µ": "u", "μ": "u"}
_PREFIXED_BASES = {
    b: b for b in ("V", "A", "s", "m", "g", "Hz", "ohm", "W", "L", "F", "Pa", "J", "N", "C")
} | {"Ω": "ohm"}
_PLAIN = {n: n for n in ("deg", "rad", "K", "degC", "mmHg", "min", "h", "mol", "T", "sr", "cd")} | {
    "°": "deg"
}


def _known(name: str) -> bool:
    import quantities as pq

    try:
        # Only identifiers from the tables above reach the registry, never metadata text.
        pq.unit_registry[name]
    except LookupError:
        return False
    return True


def _build_symbols() -> dict[str, str]:
    symbols: dict[str, str] = {}
    for base, canonical in _PREFIXED_BASES.items():
        if _known(canonical):
            symbols[base] = canonical
        for prefix, canonical_prefix in _PREFIXES.items():
            name = canonical_prefix + canonical
            if _known(name):
                symbols.setdefault(prefix + base, name)
    for symbol, canonical in _PLAIN.items():
        if _known(canonical):
            symbols[symbol] = canonical
    return symbols


_SYMBOLS: dict[str, str] | None = None  # built on first use: importing quantities is not free


def _symbols() -> dict[str, str]:
    global _SYMBOLS
    if _SYMBOLS is None:
        _SYMBOLS = _build_symbols()
    return _SYMBOLS


class ParsedUnit(NamedTuple):
    """A metadata unit string as this module understood it.

    Attributes
    ----------
    units : str
        A unit string built from known names only (``"uV"``, ``"cm/s"``, ``"dimensionless"``):
        safe to give ``quantities`` and Neo. ``"dimensionless"`` when not understood.
    scale : float
        The leading factor (``0.195`` for ``"0.195*uV"``): a stored value times ``scale`` is in
        ``units``. 1.0 when there is none.
    understood : bool
        False when the text was given but is not in the grammar or names an unknown unit; then
        ``units`` is ``"dimensionless"``, ``scale`` 1.0, and the caller keeps the original text.
    text : str or None
        The original text (None when no unit was given).
    """

    units: str
    scale: float
    understood: bool
    text: str | None


_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<power>\*\*|\^)"
    r"|(?P<op>[*/·])"
    r"|(?P<name>[A-Za-zµμΩ°%][A-Za-z0-9_µμΩ°%]*(?:\.[A-Za-z]+\.?)?)"
    r"|(?P<sign>[+-])"
    r")"
)


class _Refused(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _Refused(f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m[kind]))
        pos = m.end()
    return out


def _lookup(name: str) -> str | None:
    symbols = _symbols()
    if name in symbols:
        return symbols[name]
    lowered = name.lower()
    if lowered in _WORDS:
        return _WORDS[lowered]
    # Spellings older neo-alf accepted: `mv`, `v`, `hz`, `µv` (case-insensitive symbols with one meaning).
    return {"mv": "mV", "uv": "uV", "µv": "uV", "μv": "uV", "v": "V", "hz": "Hz", "µm": "um", "μm": "um"}.get(
        lowered
    )


def _parse(text: str) -> tuple[str, float]:
    tokens = _tokens(text)
    if not tokens:
        return "dimensionless", 1.0
    scale = 1.0
    i = 0
    if tokens[0][0] == "number":
        scale = float(tokens[0][1])
        if not math.isfinite(scale) or scale <= 0:
            raise _Refused("the factor must be a positive finite number")
        i = 1
        if i == len(tokens):
            return "dimensionless", scale
    sign = 1
    if scale != 1.0 or tokens[0][0] == "number":
        if tokens[i] == ("op", "*"):
            i += 1
        elif tokens[i] == ("op", "/"):  # `1/s`
            sign = -1
            i += 1
    exponents: dict[str, int] = {}
    order: list[str] = []
    expect_name = True
    while i < len(tokens):
        kind, value = tokens[i]
        if expect_name:
            if kind != "name":
                raise _Refused(f"expected a unit name, got {value!r}")
            canonical = _lookup(value)
            if canonical is None:
                raise _Refused(f"unknown unit {value!r}")
            power = 1
            if i + 1 < len(tokens) and tokens[i + 1][0] == "power":
                power, i = _exponent(tokens, i + 2)
            else:
                i += 1
            if canonical != "dimensionless":
                if canonical not in exponents:
                    order.append(canonical)
                exponents[canonical] = exponents.get(canonical, 0) + sign * power
            expect_name = False
        else:
            if kind == "op" and value in "*·":
                sign = 1
            elif kind == "op" and value == "/":
                sign = -1
            else:
                raise _Refused(f"expected `*` or `/`, got {value!r}")
            i += 1
            expect_name = True
    if expect_name:
        raise _Refused("the string ends with an operator")
    return _format(order, exponents), scale


def _exponent(tokens: list[tuple[str, str]], i: int) -> tuple[int, int]:
    negative = False
    if i < len(tokens) and tokens[i][0] == "sign":
        negative = tokens[i][1] == "-"
        i += 1
    if i >= len(tokens) or tokens[i][0] != "number" or not tokens[i][1].isdigit():
        raise _Refused("an exponent is a small integer")
    value = int(tokens[i][1]) if len(tokens[i][1]) <= 2 else 99
    if value == 0 or value > 9:
        raise _Refused("an exponent is a small integer, -9 to 9, not 0")
    if i + 1 < len(tokens) and tokens[i + 1][0] == "power":
        raise _Refused("chained exponents")
    return (-value if negative else value), i + 1


def _format(order: list[str], exponents: dict[str, int]) -> str:
    num = [(n, exponents[n]) for n in order if exponents[n] > 0]
    den = [(n, -exponents[n]) for n in order if exponents[n] < 0]

    def term(name: str, power: int) -> str:
        return name if power == 1 else f"{name}**{power}"

    if not num and not den:
        return "dimensionless"
    text = "*".join(term(n, p) for n, p in num) if num else "1"
    for n, p in den:
        text += "/" + term(n, p)
    return text


def parse_unit(unit: str | None) -> ParsedUnit:
    """Parse an ALF metadata unit string with the grammar of this module (never an evaluator).

    Parameters
    ----------
    unit : str or None
        The ``unit`` of a metadata column (``"uV"``, ``"µV"``, ``"0.195*uV"``, ``"cm/s"``); None:
        no unit given.

    Returns
    -------
    ParsedUnit
        ``units`` safe for ``quantities``, the leading ``scale`` kept, and whether it was understood.

    Examples
    --------
    >>> parse_unit("0.195*uV")
    ParsedUnit(units='uV', scale=0.195, understood=True, text='0.195*uV')
    >>> parse_unit("9**9**9**9").understood
    False
    """
    if unit is None:
        return ParsedUnit("dimensionless", 1.0, True, None)
    text = unit if isinstance(unit, str) else str(unit)
    if isinstance(unit, bool) or not isinstance(unit, (str, int, float)):
        return ParsedUnit("dimensionless", 1.0, False, text[:_MAX_LENGTH])
    if len(text) > _MAX_LENGTH:
        return ParsedUnit("dimensionless", 1.0, False, text[:_MAX_LENGTH])
    try:
        units, scale = _parse(text.strip())
    except _Refused:
        return ParsedUnit("dimensionless", 1.0, False, text)
    return ParsedUnit(units, scale, True, text)


def to_neo_units(unit: str | None) -> tuple[str, bool]:
    """A unit string for Neo, and whether the ALF unit was understood exactly.

    Parameters
    ----------
    unit : str or None
        The ``unit`` of a metadata column; None: no unit given.

    Returns
    -------
    units : str
        A string built from known unit names (safe for ``quantities``); ``"dimensionless"`` when
        none was given or it is not understood.
    understood : bool
        False when ``unit`` was given but is not in the grammar, names an unknown unit, or carries
        a scale other than 1 (``"0.195*uV"``: this two-value answer cannot keep the factor; use
        :func:`parse_unit` and apply ``scale`` as a gain). The caller then keeps the original string.
    """
    parsed = parse_unit(unit)
    if not parsed.understood or parsed.scale != 1.0:
        return "dimensionless", False
    return parsed.units, True
