"""Every code block of README.rst and docs/*.rst is run, or marked as not runnable with a reason;
the gallery figures are drawn and what they show is checked against the files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.rst"))]

# A Python block preceded by the comment ``.. not-run: <reason>`` is skipped with that reason.
NOT_RUN_MARK = re.compile(r"^\.\. not-run: (.+)$")

# Literal blocks (``::`` and ``code-block:: text``) hold shell commands, file trees and printed
# output, not Python. Each is listed here with why it is not run (or where it is run), keyed by
# page and first line; a new literal block fails `test_every_literal_block_has_a_reason`.
CHOICE_PATHS = ".../alf/_ibl_trials.choice.npy: attributes of object 'trials'"
LITERAL_BLOCKS = {
    ("README.rst", "pip install . && neo-alf info --example"): "installs: .ci/run runs it in a fresh venv",
    ("README.rst", 'pip install -e ".[test]" && pytest'): "installs: .ci/run runs it (tests/test_readme.py)",
    (
        "alf_to_neo.rst",
        "<root>/[<lab>/Subjects/]<subject>/<yyyy-mm-dd>/<number>/",
    ): "a name pattern, not code",
    ("cli.rst", "neo-alf --version"): "usage summary; tests/test_cli.py runs every subcommand",
    ("cli.rst", "$ neo-alf info bad_session"): "printed output; tests/test_cli.py checks this message",
    ("gallery.rst", "python -m neo_alf.gallery docs/_static"): "the same as make_gallery, run below",
    ("scaling.rst", "distributed:"): "Dask settings (YAML); tests/test_parallel.py checks them",
    (
        "getting_started.rst",
        "pip install .                 # numpy, neo, quantities, requests, scipy",
    ): "installs",
    (
        "getting_started.rst",
        "neo_alf.errors.AlfDimensionError: " + CHOICE_PATHS,
    ): ("printed output; tests/test_corrupt.py checks the message"),
    ("test_data.rst", "python -m neo_alf.testing --write-manifest test_data_manifest.json"): (
        "rewrites the manifest; tests/test_testing.py regenerates and compares instead"
    ),
    ("test_data.rst", "python -m neo_alf.testing --preset bench_20m --root /tmp/bench"): (
        "writes 370 MB (a benchmark preset)"
    ),
    (
        "scaling.rst",
        'pip install "neo-alf[dask,atlas]"      # dask[distributed] and pandas; iblatlas for region names',
    ): "installs",
    (
        "raw.rst",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.cbin   (+ .ch, .meta)   "
        "30 kHz, 385 channels",
    ): "a folder listing, not code",
    ("raw.rst", "from spikeinterface.core import create_sorting_analyzer"): (
        "needs a real recording; tests/test_spikeinterface_raw.py runs the same analyzer"
    ),
    ("test_data.rst", "python -m neo_alf.testing_ibl --root benchmarks/_data/ibl --scale real"): (
        "writes 1.2 GB (a benchmark scale)"
    ),
    ("test_data.rst", "from neo_alf.testing_ibl import make_ibl_session"): (
        "tests/test_testing_ibl.py and tests/test_ibl_layout.py run the generator"
    ),
    ("scaling.rst", "neo-alf aggregate units --cache-dir /data/ONE/cache --workers 2 --out units.pqt"): (
        "the same as units_table on a cluster; tests/test_aggregate.py runs the command"
    ),
}

# Python blocks that name a place on the reader's disk: run with the example's place instead.
PLACES = {"/data/ONE/cache": "EXAMPLE_ROOT"}

# Blocks that need an optional extra run only where it is installed.
EXTRAS = {"elephant": "elephant", "neo_alf.spikeinterface": "spikeinterface"}


def _blocks(page: Path):
    """``(kind, first line number, code, not-run reason)`` of every code block of an rst page."""
    lines = page.read_text().splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        python = re.match(r"^\.\. code-block:: python\s*$", line)
        literal = re.match(r"^\.\. code-block:: \w+\s*$", line) or (
            line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        )
        if not (python or literal):
            i += 1
            continue
        reason = None
        back = i - 1
        while back >= 0 and not lines[back].strip():
            back -= 1
        if back >= 0 and NOT_RUN_MARK.match(lines[back]):
            reason = NOT_RUN_MARK.match(lines[back]).group(1)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        start = j
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(" ")):
            j += 1
        body = lines[start:j]
        indent = min(len(b) - len(b.lstrip()) for b in body if b.strip()) if body else 0
        code = "\n".join(b[indent:] for b in body).rstrip() + "\n"
        out.append(("python" if python else "literal", start + 1, code, reason))
        i = j
    return out


def _python_pages():
    return [p for p in PAGES if any(kind == "python" for kind, *_ in _blocks(p))]


def test_every_literal_block_has_a_reason():
    found = {
        (page.name, code.splitlines()[0].strip())
        for page in PAGES
        for kind, _, code, _ in _blocks(page)
        if kind == "literal" and code.strip()
    }
    assert found == set(LITERAL_BLOCKS), "a literal block without a reason (or a stale reason)"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    import os

    old = os.environ.get("NEO_ALF_CACHE")
    os.environ["NEO_ALF_CACHE"] = str(tmp_path_factory.mktemp("example_cache"))
    from neo_alf.example import example_root, example_session

    yield example_session(), example_root()
    if old is None:
        del os.environ["NEO_ALF_CACHE"]
    else:
        os.environ["NEO_ALF_CACHE"] = old


@pytest.mark.parametrize("page", _python_pages(), ids=lambda p: p.name)
def test_python_blocks_run(page, example, tmp_path, monkeypatch):
    """The blocks of one page run in order in one namespace, as a reader types them, with
    ``session_path`` the example session and the working folder a temporary one."""
    session_path, root = example
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"session_path": session_path}
    namespace["EXAMPLE_ROOT"] = root
    ran = 0
    for kind, line, code, reason in _blocks(page):
        if kind != "python" or reason is not None:
            continue
        needs = [
            extra
            for module, extra in EXTRAS.items()
            if re.search(rf"^\s*(from|import) {module}\b", code, re.M)
        ]
        if not all(_importable(extra) for extra in needs):
            continue  # run where the extra is installed (CI installs them)
        for place, name in PLACES.items():
            code = code.replace(f'"{place}"', name)
        exec(compile(code, f"{page.name}:{line}", "exec"), namespace)  # our own documentation
        ran += 1
    assert ran, f"{page.name}: no block ran"


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# ----------------------------------------------------------------------------------------- gallery


def _trials(session_path):
    alf = session_path / "alf"
    stim = np.load(alf / "_ibl_trials.stimOn_times.npy")
    contrast = np.fmax(
        np.load(alf / "_ibl_trials.contrastLeft.npy"), np.load(alf / "_ibl_trials.contrastRight.npy")
    )
    return stim, contrast


def test_gallery_raster_psth(example, tmp_path):
    pytest.importorskip("matplotlib")
    from neo_alf.gallery import raster_psth

    session_path, _ = example
    got = raster_psth(session_path, tmp_path / "f.png", cluster_id=2, window=(-0.2, 0.5), bin_size=0.02)
    stim, contrast = _trials(session_path)
    folder = session_path / "alf/probe00/pykilosort"
    times = np.load(folder / "#2024-05-06#/spikes.times.npy")[np.load(folder / "spikes.clusters.npy") == 2]
    for c, row in zip(got["contrasts"], got["psth"], strict=True):
        onsets = stim[contrast == c]
        rel = np.concatenate([times[(times >= t - 0.2) & (times < t + 0.5)] - t for t in onsets])
        np.testing.assert_allclose(row, np.histogram(rel, got["edges"])[0] / (onsets.size * 0.02))
    assert got["n_trials"] == [15] * 5
    early = (got["edges"][:-1] >= 0.0) & (got["edges"][:-1] < 0.15)
    base = got["edges"][:-1] < 0
    high, zero = got["psth"][-1], got["psth"][0]
    assert high[early].mean() > 2 * high[base].mean() and high[early].mean() > 1.5 * zero[early].mean()
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_gallery_wheel(example, tmp_path):
    pytest.importorskip("matplotlib")
    from neo_alf.gallery import wheel_around_movement

    session_path, _ = example
    got = wheel_around_movement(session_path, tmp_path / "f.png")
    alf = session_path / "alf"
    t, pos = np.load(alf / "_ibl_wheel.timestamps.npy"), np.load(alf / "_ibl_wheel.position.npy")
    move = np.load(alf / "_ibl_trials.firstMovement_times.npy")
    move = move[np.isfinite(move)]
    assert got["traces"].shape == (move.size, got["t"].size)
    k = 3
    expect = np.interp(move[k] + got["t"], t, pos) - np.interp(move[k], t, pos)
    np.testing.assert_allclose(got["traces"][k], expect)
    end = got["traces"][:, -1]
    assert np.all(np.sign(end) == got["choice"])  # the wheel turns the chosen way


def test_gallery_lfp(example, tmp_path):
    pytest.importorskip("matplotlib")
    from neo_alf.gallery import lfp_around_stimulus

    session_path, _ = example
    got = lfp_around_stimulus(session_path, tmp_path / "f.png")
    stim, contrast = _trials(session_path)
    raw = np.fromfile(session_path / "raw_ephys_data/probe00/lfp.raw.bin", np.float32).reshape(-1, 4)
    t0, rate = np.load(session_path / "raw_ephys_data/probe00/lfp.timestamps.npy")[0, 1], 1000.0
    peak = np.argmin(np.abs(got["t"] - 0.04))
    first = np.rint((stim[contrast == 1.0] - 0.1 - t0) * rate).astype(int)  # Neo's proxy rounds so
    evoked = [raw[i + peak] - raw[i : i + 100].mean(axis=0) for i in first]  # minus the 100 ms before
    np.testing.assert_allclose(got["mean"][1.0][peak], np.mean(evoked, axis=0), rtol=1e-5, atol=1e-3)
    assert got["mean"][1.0][peak][0] < -80 and got["mean"][1.0][peak][-1] > 40  # reverses with depth
    assert np.all(np.abs(got["mean"][0.0][peak]) < 15)
    assert got["channels"] == ["ch0", "ch1", "ch2", "ch3"]


def test_gallery_probe_view(example, tmp_path):
    pytest.importorskip("matplotlib")
    from neo_alf.gallery import probe_view

    session_path, _ = example
    got = probe_view(session_path, tmp_path / "f.png")
    folder = session_path / "alf/probe00/pykilosort"
    clusters = np.load(folder / "spikes.clusters.npy")
    depths = np.load(folder / "clusters.depths.npy")
    regions = np.load(folder / "channels.brainLocationIds_ccf_2017.npy")[
        np.load(folder / "clusters.channels.npy")
    ]
    acronyms = {0: "void", 997: "root", 315: "Isocortex", 1089: "HPF", 549: "TH"}
    ids = np.flatnonzero(np.bincount(clusters, minlength=depths.size))
    assert got["cluster_id"].tolist() == ids.tolist()
    np.testing.assert_allclose(got["depth"], depths[ids])
    assert got["region"] == [acronyms[r] for r in regions[ids]]
    counts = np.bincount(clusters)[ids]
    assert np.all(np.argsort(got["rate"], kind="stable") == np.argsort(counts, kind="stable"))


def test_make_gallery_writes_every_figure(example, tmp_path):
    pytest.importorskip("matplotlib")
    from neo_alf.gallery import make_gallery

    written = make_gallery(tmp_path, example[0])
    assert sorted(written) == sorted(
        [
            "gallery_raster_psth.png",
            "gallery_wheel.png",
            "gallery_lfp.png",
            "gallery_probe.png",
            "overview.png",
        ]
    )
    page = (ROOT / "docs/gallery.rst").read_text()
    for name in written:
        assert f"_static/{name}" in page and (ROOT / "docs/_static" / name).is_file()
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_waveforms_gives_no_waveforms(example):
    """ALF keeps no per-spike waveforms: Neo's ``load_waveforms=True`` gives none, not an error."""
    from neo_alf import AlfIO

    proxy = AlfIO(example[0]).read_block(lazy=True).segments[0].spiketrains[2]
    with_flag, without = proxy.load(load_waveforms=True), proxy.load()
    assert with_flag.waveforms is None and len(with_flag) > 0
    np.testing.assert_array_equal(with_flag.magnitude, without.magnitude)
    eager = AlfIO(example[0]).read_block(load_waveforms=True).segments[0].spiketrains[2]
    assert eager.waveforms is None and np.array_equal(eager.magnitude, without.magnitude)


def test_api_page_without_the_optional_extras(tmp_path):
    """As after ``pip install ".[docs]"`` alone: the extras cannot be imported, yet the API page builds
    with no warning (-W) and documents the modules that import them."""
    pytest.importorskip("sphinx")
    import subprocess
    import sys

    blocked = tmp_path / "blocked"
    for name in [
        "spikeinterface",
        "matplotlib",
        "numba",
        "nixio",
        "pynwb",
        "one",
        "pynapple",
        "dask",
        "iblatlas",
    ]:
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    src = tmp_path / "src"
    src.mkdir()
    # the API page's sections whose modules import an extra (CI builds the whole page so: .ci/run)
    (src / "index.rst").write_text(
        "API\n===\n\n"
        + "".join(
            f".. automodule:: neo_alf.{m}\n   :members: {members}\n   :no-inherited-members:\n\n"
            for m, members in [
                ("spikeinterface", "read_alf_sorting, AlfSortingExtractor"),
                ("plot", "plot_overview"),
                ("gallery", "raster_psth"),
                ("kernels", "compiled"),
            ]
        )
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "-q",
            "-b",
            "html",
            "-c",
            str(ROOT / "docs"),
            str(src),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": f"{blocked}{__import__('os').pathsep}{ROOT}"},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "html/index.html").read_text()
    assert "read_alf_sorting" in html and "AlfSortingExtractor" in html  # imports spikeinterface
    assert "plot_overview" in html and "raster_psth" in html


def test_spikeinterface_own_reader_needs_samples(example):
    """What docs/io.rst says of SpikeInterface's ALF reader, checked: no ``spikes.samples``, KeyError."""
    extractors = pytest.importorskip("spikeinterface.extractors")
    pytest.importorskip("one.alf.io")
    folder = example[0] / "alf/probe01/pykilosort"
    with pytest.raises(KeyError, match="samples"):
        extractors.read_alf_sorting(folder, sampling_frequency=30000)
    from neo_alf.spikeinterface import read_alf_sorting

    sorting = read_alf_sorting(example[0], collection="alf/probe01/pykilosort", sampling_frequency=30000.0)
    times = np.load(folder / "spikes.times.npy")[np.load(folder / "spikes.clusters.npy") == 2]
    np.testing.assert_array_equal(  # no spikes.samples here: frames rounded, never truncated
        sorting.get_unit_spike_train(unit_id=2), np.rint(times * 30000).astype(int)
    )


def test_block_parser_sees_marks_and_kinds(tmp_path):
    page = tmp_path / "p.rst"
    page.write_text(
        "Title\n=====\n\nText::\n\n    $ neo-alf info\n\n.. not-run: needs a lab's server\n\n"
        ".. code-block:: python\n\n    import os\n    x = 1\n\n.. code-block:: python\n\n    y = 2\n\nEnd.\n"
    )
    blocks = _blocks(page)
    assert [(kind, code, reason) for kind, _, code, reason in blocks] == [
        ("literal", "$ neo-alf info\n", None),
        ("python", "import os\nx = 1\n", "needs a lab's server"),
        ("python", "y = 2\n", None),
    ]
