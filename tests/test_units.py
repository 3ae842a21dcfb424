"""Unit strings: a grammar of our own, never an evaluator (issue 14 item 5)."""

from __future__ import annotations

import time

import pytest
import quantities as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from neo_alf.units import ParsedUnit, parse_unit, to_neo_units


@pytest.mark.parametrize(
    ("text", "units", "scale"),
    [
        ("uV", "uV", 1.0),
        ("µV", "uV", 1.0),
        ("μV", "uV", 1.0),
        ("microvolts", "uV", 1.0),
        ("mv", "mV", 1.0),
        ("0.195*uV", "uV", 0.195),
        ("0.195 uV", "uV", 0.195),
        ("2e-6*V", "V", 2e-6),
        ("cm", "cm", 1.0),
        ("cm/s", "cm/s", 1.0),
        ("m/s^2", "m/s**2", 1.0),
        ("m*s**-2", "m/s**2", 1.0),
        ("1/s", "1/s", 1.0),
        ("kHz", "kHz", 1.0),
        ("°", "deg", 1.0),
        ("kΩ", "kohm", 1.0),
        ("%", "percent", 1.0),
        ("seconds", "s", 1.0),
        ("a.u.", "dimensionless", 1.0),
        ("1", "dimensionless", 1.0),
        ("", "dimensionless", 1.0),
    ],
)
def test_understood_units_keep_their_factor(text, units, scale):
    parsed = parse_unit(text)
    assert parsed == ParsedUnit(units, scale, True, text)
    # Independent truth: quantities' own reading of the same (harmless) text.
    if text in ("uV", "cm", "cm/s", "m/s^2", "m*s**-2", "1/s", "kHz"):
        theirs = pq.Quantity(1.0, text.replace("^", "**"))
        assert pq.Quantity(1.0, units).rescale(theirs.units).magnitude == pytest.approx(1.0)
    if scale != 1.0:  # the factor is kept: 1 stored unit is `scale` units
        assert float((scale * pq.Quantity(1.0, units)).rescale("V").magnitude) == pytest.approx(
            {"0.195*uV": 0.195e-6, "0.195 uV": 0.195e-6, "2e-6*V": 2e-6}[text]
        )


@pytest.mark.parametrize(
    "text",
    [
        "9**9**9**9",
        "-uV",
        "uV/0",
        "0*uV",
        "nan*uV",
        "inf*uV",
        "1e999*uV",
        "uV**99",
        "uV^0",
        "(uV)",
        "uV/",
        "foo",
        "uV uV",
        "__import__('os')",
        "uV;V",
        "x" * 65,
        "uV**2**3",
        "2**8",
    ],
)
def test_refused_units_are_reported_not_understood(text):
    t0 = time.perf_counter()
    parsed = parse_unit(text)
    assert time.perf_counter() - t0 < 0.05
    assert parsed.understood is False and parsed.units == "dimensionless" and parsed.scale == 1.0
    assert to_neo_units(text) == ("dimensionless", False)


def test_to_neo_units_is_truthful_about_a_scale():
    """The two-value answer cannot carry 0.195: it says `not understood`, never drops the factor."""
    assert to_neo_units("0.195*uV") == ("dimensionless", False)
    assert to_neo_units("uV") == ("uV", True)
    assert to_neo_units("1") == ("dimensionless", True)
    assert to_neo_units(None) == ("dimensionless", True)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789.*/^-+eE uVmscHzkµ()%°a", max_size=30) | st.text(max_size=30))
def test_any_text_is_answered_at_once_with_a_safe_unit(text):
    t0 = time.perf_counter()
    parsed = parse_unit(text)
    assert time.perf_counter() - t0 < 0.05
    if parsed.understood:
        assert parsed.scale > 0 and parsed.scale < float("inf")
        pq.Quantity(1.0, parsed.units)  # our output is always a unit quantities knows
    else:
        assert (parsed.units, parsed.scale) == ("dimensionless", 1.0)
