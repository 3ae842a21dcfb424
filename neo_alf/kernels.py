"""The inner loops of per-unit spike access, in NumPy and, on request, compiled.

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

Both implementations give identical results (``tests/test_kernels.py``). The NumPy ones sort
cache-sized pieces of a chunk with NumPy's radix sort (8- and 16-bit keys) and move each piece's
values to their units' slots in one scatter: about 10 ns of CPU per spike, against about 3 for the
compiled loops once those are loaded (``docs/performance.rst``).

**Why NumPy is the default.** A fresh process pays about 0.2 s to import Numba and 0.25 s more to
bring up LLVM for the first compiled function (the very first run on a machine also compiles, a few
seconds, cached on disk): more than the compiled loops save below about 100 million spikes. So the
compiled loops are used only when asked for, with ``NEO_ALF_NUMBA=1`` (long-running processes that
read many large probes); they are then loaded at the first index build, never at ``parse_header``,
and each signature only when first used. ``NEO_ALF_NUMBA=0`` refuses them even to
:func:`compiled`.
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
    if int(keys.max()) >= counts.size or (keys.dtype.kind == "i" and int(keys.min()) < 0):
        bad = (keys < 0) | (keys >= counts.size) if keys.dtype.kind == "i" else keys >= counts.size
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


_SORT_ROWS = 1 << 15  # NumPy's radix sort of small keys is fastest on cache-sized pieces
_PIECE_RANKS = np.arange(_SORT_ROWS)


def _local_orders(keys: np.ndarray, fill: np.ndarray):
    """Per piece of a chunk: its first row, the stable order of its keys, and each sorted element's
    destination slot; advances ``fill``."""
    narrow = np.uint8 if fill.size <= 1 << 8 else np.uint16 if fill.size <= 1 << 16 else None
    rows = max(_SORT_ROWS, 4 * fill.size)  # many units: longer pieces, so per-unit work stays small
    ranks = _PIECE_RANKS if rows == _SORT_ROWS else np.arange(rows)
    units = np.arange(fill.size + 1)
    bisect = fill.size * 16 <= rows  # few units: bisect the sorted piece rather than count it again
    for a in range(0, keys.size, rows):
        piece = keys[a : a + rows]
        if narrow is not None:
            piece = piece.astype(narrow)  # radix sort for 8- and 16-bit keys
        local = np.argsort(piece, kind="stable")
        # the sorted piece is runs of units: unit u's run starts at first[u], bound for fill[u]
        if bisect:
            bounds = np.searchsorted(piece[local], units)
            first, per_unit = bounds[:-1], np.diff(bounds)
        else:
            per_unit = np.bincount(piece, minlength=fill.size)
            first = np.cumsum(per_unit) - per_unit
        dest = np.repeat(fill - first, per_unit)
        dest += ranks[: piece.size]
        fill += per_unit
        yield a, local, dest


def _scatter_values_numpy(keys, values, fill, out, previous) -> int:
    for a, local, dest in _local_orders(keys, fill):
        out[dest] = values[a : a + local.size][local]
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
    """The compiled kernels (Numba imported on first call; each signature is loaded or compiled when
    first used), or None without Numba or with ``NEO_ALF_NUMBA=0``."""
    global _compiled, _compiled_tried
    if not _compiled_tried:
        with _compile_lock:
            if not _compiled_tried:
                _compiled = _compile()
                _compiled_tried = True
    return _compiled


def for_rows(n_rows: int) -> Kernels:
    """The kernels for a collection of ``n_rows`` spikes: NumPy, unless ``NEO_ALF_NUMBA=1`` asks for
    the compiled ones (then loaded on this first call) and the collection is large enough."""
    if n_rows >= COMPILED_FROM and _setting() == "on":
        return compiled() or NUMPY
    return NUMPY


def _setting() -> str:
    value = os.environ.get("NEO_ALF_NUMBA", "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return "off"
    return "on" if value in ("1", "true", "yes", "on") else "auto"


def _compile() -> Kernels | None:
    if _setting() == "off":
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

    return Kernels("numba", count_into, select, scatter_values, scatter_rows)
