"""Rows of an array file read by positioned reads, never through a kept memory map.

A memory map of a file that shrinks under an open reader turns the next access into SIGBUS,
which kills the interpreter. Signals are therefore read with ``os.pread`` at the row offsets
the header gives: a file that changed under the reader gives a short read, raised as an
:class:`~neo_alf.errors.AlfFormatError` naming the file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import readers
from .errors import AlfFormatError

__all__ = ["ConcatenatedRowFiles", "RowFile", "row_file", "row_source"]

_RULE = "a file does not change while it is read"


@dataclass(frozen=True)
class RowFile:
    """A C-ordered array stored flat in a file from ``offset`` on (``.npy`` body, ``.bin``)."""

    path: Path
    offset: int
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, i_start: int, i_stop: int) -> np.ndarray:
        """Rows ``i_start:i_stop`` (clipped to the array), as a new array."""
        n = self.shape[0]
        i_start, i_stop = max(0, min(i_start, n)), max(0, min(i_stop, n))
        i_stop = max(i_start, i_stop)
        row_bytes = self.dtype.itemsize * math.prod(self.shape[1:])
        out = np.empty((i_stop - i_start, *self.shape[1:]), dtype=self.dtype)
        want = out.nbytes
        if want == 0:
            return out
        fh = readers.open_regular(self.path)  # a regular file inside the session, or an AlfError
        fd = fh.fileno()
        try:
            view = memoryview(out.reshape(-1).view(np.uint8))
            done = 0
            start = self.offset + i_start * row_bytes
            while done < want:
                got = os.preadv(fd, [view[done:]], start + done)
                if got <= 0:
                    raise AlfFormatError(
                        f"ended after {start + done} bytes, its header needs {start + want}"
                        " (was it truncated while open?)",
                        self.path,
                        rule=_RULE,
                    )
                done += got
        finally:
            fh.close()
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(rows, slice) and rows.step in (None, 1):
            start, stop, _ = rows.indices(self.shape[0])
            data = self.rows(start, stop)
            return data[(slice(None), *rest)] if rest else data
        return self.rows(0, self.shape[0])[key]

    def __array__(self, dtype=None, copy=None):
        data = self.rows(0, self.shape[0])
        return data if dtype is None else data.astype(dtype)

    def memmap(self) -> np.ndarray:
        """A read-only memory map of the array (an empty array when it has no elements)."""
        if math.prod(self.shape) == 0:
            return np.empty(self.shape, dtype=self.dtype)
        try:
            return np.memmap(self.path, dtype=self.dtype, mode="r", shape=self.shape, offset=self.offset)
        except (OSError, ValueError) as err:
            raise AlfFormatError(f"cannot be read ({err})", self.path, rule=_RULE) from None


class ConcatenatedRowFiles:
    """Several :class:`RowFile` parts seen as one along rows (multi-part signals)."""

    def __init__(self, parts: list[Any]):
        self.parts = parts
        self.offsets = np.concatenate([[0], np.cumsum([p.shape[0] for p in parts])])
        self.dtype = np.result_type(*[p.dtype for p in parts])
        self.shape = (int(self.offsets[-1]), *parts[0].shape[1:])
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            return np.asarray(self)[key]
        start, stop, _ = rows.indices(self.shape[0])
        pieces = []
        for part, lo in zip(self.parts, self.offsets[:-1], strict=True):
            s0, s1 = max(start - lo, 0), min(stop - lo, part.shape[0])
            if s1 > s0:
                pieces.append(np.asarray(part[(slice(int(s0), int(s1)), *rest)]))
        if not pieces:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)[(slice(None), *rest)]
        return np.concatenate(pieces, axis=0).astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None):
        out = np.concatenate([np.asarray(p) for p in self.parts], axis=0)
        return out if dtype is None else out.astype(dtype)


def row_file(path: Path, metadata: dict | None) -> RowFile | None:
    """Where the array of a ``.npy`` (C order) or ``.bin`` file lies, from one read of its header."""
    ext = path.suffix.lower()
    if ext == ".npy":
        head = readers._read_npy_header(path)
        if (head.fortran_order and len(head.shape) > 1) or len(head.shape) == 0:
            return None  # read whole (a 0-d array has no rows to read by)
        return RowFile(path, head.offset, head.dtype, head.shape)
    if ext == ".bin":
        dtype, n_rows, n_cols = readers._bin_layout(path, metadata)
        return RowFile(path, 0, dtype, (n_rows, n_cols))
    return None


def row_source(dataset: Any) -> Any:
    """Something to slice rows of a dataset from without a kept memory map.

    ``.npy`` (C order) and ``.bin`` files, and multi-part datasets of them, are read by positioned
    reads per slice; anything else (text tables, JSON, Fortran-ordered arrays) is loaded once.
    """
    parts = getattr(dataset, "row_files", None)
    if parts:
        return parts[0] if len(parts) == 1 else ConcatenatedRowFiles(list(parts))
    return np.asarray(dataset.load())
