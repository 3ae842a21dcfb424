"""The README's tour runs as written, and its two set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

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
    assert len(namespace["eids"]) == 1
