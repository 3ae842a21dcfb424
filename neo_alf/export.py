"""Plain arrays of a session for the writers (:mod:`neo_alf.nwb`, :mod:`neo_alf.pynapple`).

Three things both need, read through the session model:

- whole columns and row blocks read by positioned reads (:func:`rows_reader`, :func:`read_whole`):
  walking a memory map leaves every page it touched counted against the process;
- an object's columns with an attribute ``table`` merged as ONE-api does (:func:`object_columns`);
- spikes ordered by unit with one stable counting sort, no mask per unit (:func:`unit_order`).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import AlfFormatError, AlfRelationError
from .session import AlfObject, Dataset

__all__ = [
    "ROWS",
    "UnitOrder",
    "native",
    "object_columns",
    "read_whole",
    "rows_reader",
    "table_columns",
    "unit_order",
]

ROWS = 1 << 20
"""int: rows read per block (and per pass of the counting sort)."""


# =========================================================================================== reading


def rows_reader(array: Any) -> Callable[[int, int], np.ndarray]:
    """A function reading rows ``a:b`` of ``array`` into a fresh native array.

    A memory map of a whole C-ordered file is read with ``os.pread`` (rows are contiguous bytes):
    walking a map would leave every page it touched counted against the process.
    """
    if isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.flags.c_contiguous:
        filename, offset = getattr(array, "filename", None), getattr(array, "offset", None)
        if filename and offset is not None and offset + array.nbytes == os.path.getsize(filename):
            dtype, shape = np.dtype(array.dtype), array.shape
            row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

            def read(a: int, b: int) -> np.ndarray:
                out = np.empty((b - a, *shape[1:]), dtype=dtype)
                view = memoryview(out).cast("B")
                fd = os.open(filename, os.O_RDONLY)
                try:
                    done, position = 0, offset + a * row_bytes
                    while done < view.nbytes:
                        got = os.preadv(fd, [view[done:]], position + done)
                        if got <= 0:
                            raise AlfFormatError("file ended early (truncated?)", filename)
                        done += got
                finally:
                    os.close(fd)
                return native(out)

            return read
    return lambda a, b: native(np.array(array[a:b]))


def native(array: np.ndarray) -> np.ndarray:
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def read_whole(d: Dataset) -> np.ndarray:
    """A dataset as one fresh array, read in row blocks."""
    data = d.open()
    n = data.shape[0]
    read = rows_reader(data)
    if n <= ROWS:
        return read(0, n)
    out = np.empty(data.shape, dtype=native(np.empty(0, data.dtype)).dtype)
    for a in range(0, n, ROWS):
        b = min(n, a + ROWS)
        out[a:b] = read(a, b)
    return out


def table_columns(obj: AlfObject) -> dict[str, np.ndarray]:
    """Every attribute of a small table; structured ones (parquet, mixed csv) split by field."""
    obj.check_rows()
    out: dict[str, np.ndarray] = {}
    for key, d in sorted(obj.row_datasets.items()):
        data = d.load()
        if not isinstance(data, np.ndarray):
            continue
        if data.dtype.names:
            for name in data.dtype.names:
                out[f"{key}.{name}"] = np.asarray(data[name])
        elif data.dtype.kind in "biufUS":
            out[key] = np.asarray(data)
    return out


def object_columns(obj: AlfObject) -> dict[str, np.ndarray]:
    """Every row attribute of a non-continuous object as ``name -> array``, checked for equal rows.

    A parquet/csv attribute named ``table`` (``_ibl_trials.table.pqt``) is merged into the object,
    as ONE-api's ``load_object`` does: its fields become attributes (``intervals_0``/``intervals_1``
    paired into ``intervals``); an attribute stored in its own file wins over a table field of the
    same name. Fields of other structured attributes are ``<attribute>.<field>``. Non-numeric,
    non-text attributes (JSON objects) are left out.
    """
    n = obj.check_rows()
    own: dict[str, np.ndarray] = {}
    merged: dict[str, np.ndarray] = {}
    for key, d in sorted(obj.row_datasets.items()):
        data = d.load()
        if not isinstance(data, np.ndarray) or data.shape[:1] != (n,):
            continue
        data = np.asarray(data)
        if data.dtype.names:
            target = merged if key == "table" else own
            for field in data.dtype.names:
                target[field if key == "table" else f"{key}.{field}"] = np.asarray(data[field])
        elif data.dtype.kind in "biufUS" and data.ndim <= 2:
            own[key] = data
    if "intervals_0" in merged and "intervals_1" in merged and "intervals" not in own:
        merged["intervals"] = np.c_[merged.pop("intervals_0"), merged.pop("intervals_1")]
    return {**{k: v for k, v in merged.items() if k not in own}, **own}


# ====================================================================================== spike order


@dataclass
class UnitOrder:
    """Spikes of one collection ordered by unit: unit *k* is rows ``order[offsets[k]:offsets[k+1]]``.

    Attributes
    ----------
    unit_ids : numpy.ndarray
        Cluster id of each unit.
    counts : numpy.ndarray
        Spikes per unit.
    order : numpy.ndarray
        Rows of ``spikes.*`` grouped by unit, time order kept within a unit (int32 when it fits).
    """

    unit_ids: np.ndarray
    counts: np.ndarray
    order: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)


def unit_order(clusters: Dataset | None, n_spikes: int, n_units: int | None) -> UnitOrder:
    """Order the spikes of a collection by unit with one stable counting sort (no mask per unit).

    Parameters
    ----------
    clusters : Dataset or None
        ``spikes.clusters``; None makes one unit of every spike.
    n_spikes : int
        Rows of ``spikes.times``.
    n_units : int, optional
        Rows of ``clusters.*``: units are then every row, empty ones included. Without it, units
        are the cluster ids present.

    Raises
    ------
    AlfRelationError
        Cluster indices that are not integers, negative, or not rows of ``clusters.*``.
    """
    index_dtype = np.int32 if n_spikes < 2**31 else np.int64
    if clusters is None:
        return UnitOrder(np.zeros(1, np.int64), np.array([n_spikes]), np.arange(n_spikes, dtype=index_dtype))
    rule = "spikes.clusters holds 0-based row indices of clusters.*"
    data = clusters.open()
    read = rows_reader(data)
    if np.dtype(data.dtype).kind not in "iu":
        raise AlfRelationError(f"spike clusters are {data.dtype}, not integers", clusters.paths, rule=rule)
    counts = np.zeros(0, dtype=np.int64)
    for a in range(0, n_spikes, ROWS):
        keys = read(a, min(n_spikes, a + ROWS))
        if keys.size and (keys.min() < 0):
            raise AlfRelationError("negative cluster index", clusters.paths, rule=rule)
        if keys.size and int(keys.max()) >= 2**26 and n_units is None:
            return _sparse_order(np.asarray(clusters.load()), index_dtype)
        c = np.bincount(keys.astype(np.int64, copy=False))
        if c.size > counts.size:
            c[: counts.size] += counts
            counts = c
        else:
            counts[: c.size] += c
    if n_units is not None:
        if counts.size > n_units:
            raise AlfRelationError(
                f"cluster indices reach {counts.size - 1} but clusters.* has {n_units} rows",
                clusters.paths,
                rule=rule,
            )
        counts = np.concatenate([counts, np.zeros(n_units - counts.size, np.int64)])
    fill = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    order = np.empty(n_spikes, dtype=index_dtype)
    # NumPy's stable sort is a radix sort for 16-bit keys: six times faster than for wider ones
    key_dtype = np.uint16 if counts.size <= 1 << 16 else np.int64
    for a in range(0, n_spikes, ROWS):
        keys = read(a, min(n_spikes, a + ROWS)).astype(key_dtype, copy=False)
        local = np.argsort(keys, kind="stable")
        sorted_keys = keys[local]
        c = np.bincount(sorted_keys, minlength=counts.size)
        rank = np.arange(keys.size) - np.repeat(np.cumsum(c) - c, c)
        order[fill[sorted_keys] + rank] = a + local
        fill += c
    if n_units is None:
        present = np.flatnonzero(counts)
        return UnitOrder(present.astype(np.int64), counts[present], order)
    return UnitOrder(np.arange(n_units, dtype=np.int64), counts, order)


def _sparse_order(keys: np.ndarray, index_dtype) -> UnitOrder:
    ids, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable").astype(index_dtype)
    return UnitOrder(ids.astype(np.int64), counts.astype(np.int64), order)
