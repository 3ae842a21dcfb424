"""Shared fixtures: generated sessions (written once per test run) and file-tree snapshots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import neo_alf
from neo_alf.testing import GeneratedSession, make_session

from .alf_server import server  # noqa: F401 - the loopback ALF file server fixture


@pytest.fixture(scope="session")
def make_generated(tmp_path_factory):
    """``make_generated(preset, **overrides)``: a session written once per run and shared (read-only!)."""
    cache: dict[tuple, GeneratedSession] = {}

    def make(preset: str, **overrides) -> GeneratedSession:
        key = (preset, tuple(sorted(overrides.items())))
        if key not in cache:
            cache[key] = make_session(tmp_path_factory.mktemp(preset), preset, **overrides)
        return cache[key]

    return make


@pytest.fixture
def fresh_session(tmp_path):
    """``fresh_session(preset, **overrides)``: a private session a test may damage."""

    def make(preset: str = "tiny", **overrides) -> GeneratedSession:
        return make_session(tmp_path, preset, **overrides)

    return make


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime_ns)`` of every file and folder below ``folder``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, folder)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def no_pyarrow(monkeypatch):
    """Make ``import pyarrow`` fail, as on a machine without the optional extras."""
    import builtins

    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError("no pyarrow here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)


@pytest.fixture(params=["numpy", "numba"])
def kernels_backend(request, monkeypatch):
    """Run a test with each implementation of :mod:`neo_alf.kernels`, whatever the data size."""
    from neo_alf import kernels

    chosen = kernels.NUMPY if request.param == "numpy" else kernels.compiled()
    if chosen is None:
        pytest.skip("Numba is not installed (pip install neo-alf[fast])")
    monkeypatch.setattr(kernels, "for_rows", lambda n_rows: chosen)
    return chosen


@pytest.fixture
def small_chunks(monkeypatch):
    """Columns read 1,000 rows at a time: every pass crosses many chunk edges."""
    from neo_alf import columns

    monkeypatch.setattr(columns, "CHUNK_ROWS", 1000)
    return 1000


@pytest.fixture
def many_parts(monkeypatch, small_chunks):
    """Spike passes in three threaded parts of at least 5,000 rows, crossing 1,000-row chunks."""
    from neo_alf import spikeindex

    monkeypatch.setattr(spikeindex, "_THREADS", 3)
    monkeypatch.setattr(spikeindex, "_MIN_PART_ROWS", 5000)
    return 3


RAWIO_COMPLIANCE = [
    "header_is_total",
    "check_signal_stream_buffer_hierachy",
    "count_element",
    "read_analogsignals",
    "read_spike_times",
    "read_spike_waveforms",
    "read_events",
    "has_annotations",
]
"""Neo's rawio compliance functions (``neo.test.rawiotest.rawio_compliance``), called directly:
Neo's ``BaseTestRawIO`` passes silently without its datalad test data."""


@pytest.fixture(scope="session")
def client():
    """A 2-process Dask LocalCluster, one for the test run (workers import neo_alf from this checkout)."""
    distributed = pytest.importorskip("distributed")
    root = str(Path(neo_alf.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([root, *([old] if old else [])])
    from neo_alf.parallel import local_cluster

    cluster = local_cluster(2)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
