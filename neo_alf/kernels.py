"""The inner loops of per-unit spike access, in NumPy and, with the ``fast`` extra, compiled.

Four loops over one chunk of ``spikes.clusters`` (the *keys*: unit positions) and, where needed,
the matching chunk of ``spikes.times`` (the *values*):

``count_into(keys, counts)``
    Add each key's occurrences to ``counts``; return the first position whose key is outside
    ``0 .. counts.size - 1`` (-1 when none), so that the caller can name the bad row.
``select(keys, values, unit, start, rows_out, values_out, n)``
    Append the rows (``start + i``) and values of one unit's spikes at position ``n`` of the outputs;
    return the new ``n``. ``rows_out`` or ``values_out`` may be empty when not wanted.
``scatter_values(keys, values, fill, out, previous)``
    Stable counting sort step: write each value at its unit's next free slot ``fill[key]`` and
    advance it. Return the first position where the values decrease or are NaN (-1 when none),
    ``previous`` being the last value of the chunk before.
``scatter_rows(keys, start, fill, order)``
    The same for row numbers: ``order[fill[key]] = start + i``.

Both implementations give identical results (``tests/test_kernels.py``). The compiled ones (Numba,
``pip install neo-alf[fast]``) run a chunk in one pass, without temporaries: every unit of a
20-million-spike probe in about 0.12 s instead of 0.3 s. Loading them costs about 0.25 s and 120 MiB
(Numba and LLVM; the very first run also compiles, a few seconds, cached on disk), once per process,
so :func:`for_rows` hands them out only for collections of at least :data:`COMPILED_FROM` spikes and
a small session never imports Numba. For one large probe read once in a fresh process the load
roughly cancels the gain; from the second large probe in a process, or for bigger ones, it is won
back. Set ``NEO_ALF_NUMBA=0`` to use NumPy always.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["COMPILED_FROM", "NUMPY", "Kernels", "compiled", "for_rows"]

COMPILED_FROM = 1_000_000


class Kernels(NamedTuple):
    """One implementation of the four loops (see the module docstring)."""

    name: str
    count_into: Callable
    select: Callable
    scatter_values: Callable
    scatter_rows: Callable


# ----------------------------------------------------------------------------------------- NumPy


def _count_into_numpy(keys: np.ndarray, counts: np.ndarray) -> int:
    if keys.size == 0:
        return -1
    bad = (keys < 0) | (keys >= counts.size) if keys.dtype.kind == "i" else keys >= counts.size
    if bad.any():
        return int(np.flatnonzero(bad)[0])
    counts += np.bincount(keys, minlength=counts.size)
    return -1


def _select_numpy(keys, values, unit, start, rows_out, values_out, n) -> int:
    found = np.flatnonzero(keys == unit)  # one chunk, for the one unit served before any index exists
    if rows_out.size:
        rows_out[n : n + found.size] = found + start
    if values_out.size:
        values_out[n : n + found.size] = values[found]
    return n + int(found.size)


_SORT_ROWS = 1 << 16  # NumPy's radix sort of small keys is fastest on cache-sized pieces


def _local_orders(keys: np.ndarray, fill: np.ndarray):
    """Per piece of a chunk: its first row, the stable order of its keys, and each element's
    destination slot; advances ``fill``."""
    narrow = np.uint8 if fill.size <= 1 << 8 else np.uint16 if fill.size <= 1 << 16 else None
    for a in range(0, keys.size, _SORT_ROWS):
        piece = keys[a : a + _SORT_ROWS]
        if narrow is not None:
            piece = piece.astype(narrow)  # radix sort for 8- and 16-bit keys
        local = np.argsort(piece, kind="stable")
        per_unit = np.bincount(piece, minlength=fill.size)
        first_in_piece = np.cumsum(per_unit) - per_unit
        dest = (fill - first_in_piece)[piece[local]] + np.arange(piece.size)
        fill += per_unit
        yield a, local, dest


def _scatter_values_numpy(keys, values, fill, out, previous) -> int:
    for a, local, dest in _local_orders(keys, fill):
        out[dest] = values[a + local]
    if values.size == 0:
        return -1
    ok = np.empty(values.size, dtype=bool)
    ok[0] = values[0] >= previous
    np.greater_equal(values[1:], values[:-1], out=ok[1:])  # NaN compares False: flagged
    return -1 if ok.all() else int(np.flatnonzero(~ok)[0])


def _scatter_rows_numpy(keys, start, fill, order) -> None:
    for a, local, dest in _local_orders(keys, fill):
        order[dest] = local + (start + a)


NUMPY = Kernels("numpy", _count_into_numpy, _select_numpy, _scatter_values_numpy, _scatter_rows_numpy)


# ----------------------------------------------------------------------------------------- Numba


_compiled: Kernels | None = None
_compiled_tried = False
_compile_lock = threading.Lock()


def compiled() -> Kernels | None:
    """The compiled kernels (loaded on first call), or None without Numba or with ``NEO_ALF_NUMBA=0``."""
    global _compiled, _compiled_tried
    if not _compiled_tried:
        with _compile_lock:
            if not _compiled_tried:
                _compiled = _compile()
                _compiled_tried = True
    return _compiled


def for_rows(n_rows: int) -> Kernels:
    """The kernels to use for a collection of ``n_rows`` spikes: compiled when worth it and available."""
    return (compiled() or NUMPY) if n_rows >= COMPILED_FROM else NUMPY


def _compile() -> Kernels | None:
    if os.environ.get("NEO_ALF_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        from numba import njit
    except ImportError:
        return None

    jit = njit(cache=True, nogil=True)

    @jit
    def count_into(keys, counts):
        n_units = counts.shape[0]
        for i in range(keys.shape[0]):
            k = keys[i]
            if k < 0 or k >= n_units:
                return i
            counts[k] += 1
        return -1

    @jit
    def select(keys, values, unit, start, rows_out, values_out, n):
        want_rows = rows_out.shape[0] > 0
        want_values = values_out.shape[0] > 0
        for i in range(keys.shape[0]):
            if keys[i] == unit:
                if want_rows:
                    rows_out[n] = start + i
                if want_values:
                    values_out[n] = values[i]
                n += 1
        return n

    @jit
    def scatter_values(keys, values, fill, out, previous):
        bad = -1
        for i in range(keys.shape[0]):
            v = values[i]
            if bad < 0 and not v >= previous:  # decreasing, or NaN
                bad = i
            previous = v
            k = keys[i]
            j = fill[k]
            out[j] = v
            fill[k] = j + 1
        return bad

    @jit
    def scatter_rows(keys, start, fill, order):
        for i in range(keys.shape[0]):
            k = keys[i]
            j = fill[k]
            order[j] = start + i
            fill[k] = j + 1

    kernels = Kernels("numba", count_into, select, scatter_values, scatter_rows)
    _warm(kernels)
    return kernels


def _warm(kernels: Kernels) -> None:
    """Load from Numba's on-disk cache (or compile, on the very first run) the usual signatures:
    uint32/int32 cluster indices and int64 unit positions (sparse ids), float64 seconds, int32 rows.
    Others compile on first use and are cached too."""
    for key_dtype in (np.uint32, np.int32, np.int64):
        keys, fill, values = np.zeros(1, dtype=key_dtype), np.zeros(1, dtype=np.int64), np.zeros(1)
        kernels.count_into(keys, np.zeros(1, dtype=np.int64))
        kernels.select(keys, values, 0, 0, np.zeros(1, np.int64), np.zeros(1), 0)
        kernels.scatter_values(keys, values, fill.copy(), np.zeros(1), -np.inf)
        kernels.scatter_rows(keys, 0, fill.copy(), np.zeros(1, dtype=np.int32))
