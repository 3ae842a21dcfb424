"""The README's tour runs as written, and its two set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = (Path(__file__).parents[1] / "README.rst").read_text()


def test_setup_commands():
    commands = re.findall(r"^    (pip install .+)$", README, flags=re.M)
    assert commands[:2] == ["pip install . && neo-alf info --example", 'pip install -e ".[test]" && pytest']
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert 'pip install -e "\\.\\[test\\]" && pytest' in ci  # CI greps and runs the README's test command


def test_tour_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("NEO_ALF_CACHE", str(tmp_path))
    (block,) = re.findall(r"A tour\n-+\n\n\.\. code-block:: python\n\n((?:    .*\n|\n)+)", README)
    code = "\n".join(line[4:] for line in block.splitlines())
    namespace: dict = {}
    exec(compile(code, "README.rst", "exec"), namespace)  # our own README
    assert namespace["trials"]["intervals"].shape[1] == 2
    assert namespace["chunk"].shape[0] == 1000
    assert len(namespace["st"]) > 0 and float(namespace["rate"]) > 0
    unit = namespace["unit"]
    assert (unit.annotations["collection"], unit.annotations["cluster_id"]) == ("alf/probe00/pykilosort", 2)
    psth, onsets = namespace["psth"], namespace["trials"]["stimOn_times"]
    # the PSTH, counted independently: spikes within [onset + a, onset + a + 50 ms) for each bin
    spikes = np.sort(unit.magnitude)
    for i, a in enumerate(np.arange(-0.2, 0.5, 0.05)):
        n = sum(np.searchsorted(spikes, t + a + 0.05) - np.searchsorted(spikes, t + a) for t in onsets)
        assert psth[i] == pytest.approx(n / (len(onsets) * 0.05))
    assert 0.0 <= np.arange(-0.2, 0.5, 0.05)[np.argmax(psth)] < 0.15  # the response follows onset
    assert len(namespace["eids"]) == 1


def test_tour_needs_no_elephant():
    (block,) = re.findall(r"A tour\n-+\n\n\.\. code-block:: python\n\n((?:    .*\n|\n)+)", README)
    assert "elephant" not in block and "parents[" not in block
