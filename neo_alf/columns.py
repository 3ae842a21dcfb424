"""One 1-D column of rows (``spikes.times``, ``spikes.clusters``) read in chunks or at given rows.

A column backed by a whole ``.npy``/``.bin`` file is read with ``readinto``/``pread`` into buffers
the reader owns, never through a memory map: on some systems (this project's CI sandbox among them)
a mapped file's pages count against the process as soon as any part of it is read, so one pass
through a mapping leaves the whole file in the process's memory. Reading in chunks costs a copy
from the page cache (about 10 GB/s) and keeps the process's memory at one chunk.

Other columns (in-memory arrays, multi-part datasets joined by the session, text files) are sliced.

A file that shrinks, vanishes or cannot be read after the column was opened raises
:class:`~neo_alf.errors.AlfFormatError` naming it (never a bare ``OSError``, never a SIGBUS).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from .errors import AlfFormatError

__all__ = ["Column", "zip_chunks"]

CHUNK_ROWS = 1 << 18  # 2 MiB of float64: little fresh memory per pass, few calls
_GAP = 64  # scattered rows closer than this are read in one call
_SEARCH_BLOCK = 4096  # a binary search reads single rows down to a block of this many, then the block


class Column:
    """Rows of a 1-D array, read without keeping its file mapped.

    Parameters
    ----------
    source : numpy.ndarray or callable
        The array, or a function returning it (e.g. opening a memmap). A memmap of a whole file is
        then read through the file; anything else is sliced (and a function is called per pass,
        so that what it returns is not kept).
    """

    def __init__(self, source: np.ndarray | Callable[[], np.ndarray]):
        array = source() if callable(source) else source
        self.shape: tuple[int, ...] = tuple(array.shape)
        self.ndim = len(self.shape)
        self.size = self.shape[0] if self.shape else 0
        self.dtype = np.dtype(array.dtype)
        self.file = _whole_file(array)
        self._array = None if self.file is not None or callable(source) else array
        self._open = source if callable(source) else None

    def open(self) -> np.ndarray:
        """The whole column as an array (a memmap for files: its pages count once read)."""
        return self._array if self._array is not None else self._open()

    def chunks(self, start: int = 0, stop: int | None = None, rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        """Consecutive chunks of ``rows`` rows from ``start`` to ``stop``, in native byte order.

        A file's chunks are read into one buffer, reused: a chunk is valid until the next one.
        """
        stop = self.size if stop is None else stop
        if self.file is None:
            array = self.open()
            for first in range(start, stop, rows):
                yield _native(np.asarray(array[first : min(first + rows, stop)]))
            return
        path, offset, dtype = self.file
        buffer = np.empty(min(rows, max(stop - start, 0)), dtype=dtype)
        with _reading(path), open(path, "rb", buffering=0) as fh:
            for first in range(start, stop, rows):
                n = min(rows, stop - first)
                _read_exactly(fh, offset + first * dtype.itemsize, buffer[:n], path)
                yield _native(buffer[:n])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a fresh array of the reader's own (native byte order)."""
        if self.file is None:
            return _native(np.array(self.open()[start:stop]))
        path, offset, dtype = self.file
        out = np.empty(max(stop - start, 0), dtype=dtype)
        with _reading(path), open(path, "rb", buffering=0) as fh:
            _read_exactly(fh, offset + start * dtype.itemsize, out, path)
        return _native(out)

    def search(self, value: float, side: str = "left") -> int:
        """``numpy.searchsorted`` on a sorted column, reading O(log n) rows of a file."""
        if self.file is None:
            return int(np.searchsorted(self.open(), value, side=side))
        lo, hi = 0, self.size
        while hi - lo > _SEARCH_BLOCK:
            mid = (lo + hi) // 2
            v = self.take(np.array([mid]))[0]
            if v < value or (side == "right" and v == value):
                lo = mid + 1
            else:
                hi = mid
        return lo + int(np.searchsorted(self.read(lo, hi), value, side=side))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """``column[rows]`` (a fresh array): positioned reads of nearby rows for a file."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.file is None or rows.size == 0:
            return _native(np.array(self.open()[rows]))
        path, offset, dtype = self.file
        order = None
        if rows.size > 1 and np.any(np.diff(rows) < 0):
            order = np.argsort(rows, kind="stable")
            rows = rows[order]
        out = np.empty(rows.size, dtype=dtype)
        breaks = np.flatnonzero(np.diff(rows) > _GAP)
        starts = np.concatenate([[0], breaks + 1]).tolist()
        stops = np.concatenate([breaks + 1, [rows.size]]).tolist()
        item = dtype.itemsize
        with _reading(path):
            fd = os.open(path, os.O_RDONLY)
            try:
                for a, b in zip(starts, stops, strict=True):
                    first, last = int(rows[a]), int(rows[b - 1])
                    data = os.pread(fd, (last - first + 1) * item, offset + first * item)
                    if len(data) < (last - first + 1) * item:
                        raise OSError(f"{path}: file ended before row {last} (was it truncated?)")
                    out[a:b] = np.frombuffer(data, dtype=dtype)[rows[a:b] - first]
            finally:
                os.close(fd)
        if order is not None:
            unsorted = np.empty_like(out)
            unsorted[order] = out
            out = unsorted
        return _native(out)


def zip_chunks(
    *columns: Column, start: int = 0, stop: int | None = None, scale: int = 1
) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
    """``(first row, (chunk of each column))`` over rows ``start:stop`` of columns of equal length,
    ``scale`` times :data:`CHUNK_ROWS` rows at a time."""
    rows = CHUNK_ROWS * scale  # read per call: tests make it small to cross many chunk edges
    stop = columns[0].size if stop is None else stop
    iterators = [c.chunks(start, stop, rows) for c in columns]
    yield from zip(range(start, stop, rows), zip(*iterators, strict=True), strict=True)


@contextmanager
def _reading(path: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise AlfFormatError(
            f"cannot read {path} any more: {error.strerror or error}",
            [path],
            rule="a dataset does not change while a reader has it open",
        ) from error


def _read_exactly(fh, position: int, out: np.ndarray, path: str) -> None:
    view = memoryview(out).cast("B")
    fh.seek(position)
    done = 0
    while done < view.nbytes:
        got = fh.readinto(view[done:])
        if not got:
            raise OSError(f"{path}: file ended {view.nbytes - done} bytes early (was it truncated?)")
        done += got


def _native(array: np.ndarray) -> np.ndarray:
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def _whole_file(array) -> tuple[str, int, np.dtype] | None:
    """``(path, data offset, dtype)`` when ``array`` is a 1-D memmap of a whole file's data, else None."""
    if not isinstance(array, np.memmap) or array.ndim != 1 or not array.flags.c_contiguous:
        return None
    path, offset = getattr(array, "filename", None), getattr(array, "offset", None)
    if not path or offset is None:
        return None
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if offset + array.nbytes != size:  # a view, or not the whole file: do not guess positions
        return None
    return str(path), int(offset), np.dtype(array.dtype)
