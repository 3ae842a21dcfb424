"""The NumPy and compiled kernels agree with each other and with plain NumPy expressions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neo_alf import kernels


@pytest.fixture(params=["numpy", "numba"])
def impl(request):
    chosen = kernels.NUMPY if request.param == "numpy" else kernels.compiled()
    if chosen is None:
        pytest.skip("Numba is not installed (pip install neo-alf[fast])")
    return chosen


def _keys(n=10_000, k=37, dtype=np.uint32, seed=0):
    return np.random.default_rng(seed).integers(0, k, n).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint32, np.int32, np.int64, np.uint16])
def test_count_into_accumulates(impl, dtype):
    keys = _keys(dtype=dtype)
    counts = np.ones(37, dtype=np.int64)
    assert impl.count_into(keys, counts) == -1
    np.testing.assert_array_equal(counts, np.bincount(keys, minlength=37) + 1)
    assert impl.count_into(keys[:0], counts) == -1


@pytest.mark.parametrize("bad", [37, 1000, -1])
def test_count_into_reports_the_first_key_outside(impl, bad):
    keys = _keys(dtype=np.int64)
    keys[[500, 700]] = bad
    counts = np.zeros(37, dtype=np.int64)
    assert impl.count_into(keys, counts) == 500


def test_select_picks_rows_and_values_in_order(impl):
    keys, values = _keys(), np.linspace(0, 1, 10_000)
    n = int(np.sum(keys == 5))
    rows, out = np.full(n + 3, -1, dtype=np.int64), np.zeros(n + 3)
    got = impl.select(keys[:4000], values[:4000], 5, 0, rows, out, 0)
    got = impl.select(keys[4000:], values[4000:], 5, 4000, rows, out, got)
    assert got == n
    np.testing.assert_array_equal(rows[:n], np.flatnonzero(keys == 5))
    np.testing.assert_array_equal(out[:n], values[keys == 5])
    only_rows = np.zeros(n, dtype=np.int64)
    assert impl.select(keys, values, 5, 0, only_rows, np.zeros(0), 0) == n
    np.testing.assert_array_equal(only_rows, np.flatnonzero(keys == 5))


@pytest.mark.parametrize("chunk", [7, 777, 100_000])
@pytest.mark.parametrize("n_units", [37, 700, 5_000, 70_000])  # 8, 16 (bisected, counted), wider keys
def test_scatters_are_a_stable_counting_sort(impl, chunk, n_units):
    keys = _keys(n=100_000, k=n_units)
    values = np.sort(np.random.default_rng(1).uniform(0, 10, keys.size))
    counts = np.bincount(keys, minlength=n_units)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out, order = np.zeros(keys.size), np.zeros(keys.size, dtype=np.int32)
    fill_v, fill_r, previous = start.copy(), start.copy(), -np.inf
    for a in range(0, keys.size, chunk):
        assert impl.scatter_values(keys[a : a + chunk], values[a : a + chunk], fill_v, out, previous) == -1
        previous = values[min(a + chunk, keys.size) - 1]
        impl.scatter_rows(keys[a : a + chunk], a, fill_r, order)
    expected = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(out, values[expected])
    np.testing.assert_array_equal(fill_v, start + counts)


@pytest.mark.parametrize(
    ("where", "value", "previous"), [(3, 0.5, -np.inf), (6, np.nan, -np.inf), (0, 1.0, 2.0)]
)
def test_scatter_values_reports_the_first_fall_or_nan(impl, where, value, previous):
    keys = np.zeros(10, dtype=np.uint32)
    values = np.arange(10.0) + 1
    values[where] = value
    out, fill = np.zeros(10), np.zeros(1, dtype=np.int64)
    assert impl.scatter_values(keys, values, fill, out, previous) == where
    np.testing.assert_array_equal(out, values)  # written all the same


def test_numba_is_used_only_when_asked_for(monkeypatch):
    monkeypatch.delenv("NEO_ALF_NUMBA", raising=False)
    assert kernels.for_rows(10**9) is kernels.NUMPY  # by default: its load costs more than it saves
    monkeypatch.setenv("NEO_ALF_NUMBA", "1")
    assert kernels.for_rows(kernels.COMPILED_FROM - 1) is kernels.NUMPY
    assert kernels.for_rows(kernels.COMPILED_FROM) is (kernels.compiled() or kernels.NUMPY)


def test_a_fresh_process_reading_a_large_probe_never_imports_numba(tmp_path):
    """parse_header and every unit of a 1.5 M-spike collection, as a user runs them by default."""
    code = f"""
import sys
import numpy as np
from neo_alf.spikeindex import SpikeIndex
rng = np.random.default_rng(0)
n = 1_500_000
np.save({str(tmp_path)!r} + "/t.npy", np.sort(rng.uniform(0, 100, n)))
np.save({str(tmp_path)!r} + "/c.npy", rng.integers(0, 50, n).astype(np.uint32))
index = SpikeIndex(lambda: np.load({str(tmp_path)!r} + "/t.npy", mmap_mode="r"),
                   lambda: np.load({str(tmp_path)!r} + "/c.npy", mmap_mode="r"), n_units=50)
assert "numba" not in sys.modules
assert sum(index.times(u).size for u in range(50)) == n
print("numba" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if k != "NEO_ALF_NUMBA"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_numba_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("NEO_ALF_NUMBA", "0")
    assert kernels._compile() is None
    assert kernels.for_rows(10**9) is kernels.NUMPY
