"""Readers of SpikeGLX sample files: mtscomp ``.cbin`` (+ ``.ch``) and flat ``.bin``.

Both give int16 windows ``(n_samples, n_channels)`` through one call, :meth:`read`, and share
what an ALF session needs from them:

- nothing is read at construction but the small ``.ch`` JSON index (``.cbin``) or the file size
  (``.bin``); the data file is opened on first :meth:`read`;
- :meth:`read` is thread-safe and concurrent reads give the serial answers: files are read with
  positioned reads (``os.pread``), never a shared seek position;
- ``.cbin``: only the chunks a window touches are decompressed, into one preallocated array
  each (no intermediate copy of the decompressed bytes); a bounded LRU cache of decoded chunks
  (``cache_bytes``) shared by threads, with a chunk being decoded by one thread while others
  wanting it wait; the chunks of a multi-chunk window are decoded in parallel threads;
- ``.bin``: no memory map is kept (a file that shrinks under a map kills the interpreter with
  SIGBUS); windows are read into their output array;
- a data file shorter than its index or header says, or that shrinks after it was opened,
  raises :class:`~neo_alf.errors.AlfFormatError` naming it;
- readers pickle by paths (their file handle, lock and cache are rebuilt lazily), so Dask
  workers can receive them.

The ``.cbin`` format (mtscomp 1.0): chunks of ``chunk_bounds[i]:chunk_bounds[i+1]`` samples, each
zlib-compressed at ``chunk_offsets[i]:chunk_offsets[i+1]`` in the file, of the time differences
(``do_time_diff``) of the chunk stored in ``chunk_order`` ("F": channel after channel).
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import AlfFormatError

__all__ = ["DEFAULT_CACHE_BYTES", "BinReader", "CbinReader"]

DEFAULT_CACHE_BYTES = 256 * 1024**2
"""int: decoded chunks kept per ``.cbin`` reader (about 11 one-second chunks of 385 channels at 30 kHz)."""

_BIN_BLOCK = 4 << 20  # bytes of whole rows read at a time when a .bin window wants a channel subset
_CBIN_RULE = "mtscomp .cbin: chunk_offsets of the .ch index lie inside the .cbin file"
_BIN_RULE = "SpikeGLX .bin: n_samples x nSavedChans int16 values"
_IN_BLOCK = 1 << 18  # compressed bytes read per call, and decompressed bytes per zlib call: they bound
_OUT_BLOCK = 1 << 18  # the transient copies (zlib's output blocks grow to 8 MiB when not capped)


class _ReaderBase:
    """What both readers share: lazy file descriptor, window checks, pickling by paths."""

    path: Path
    n_samples: int
    n_channels: int
    dtype: np.dtype

    def __init__(self) -> None:
        self._fd: int | None = None
        self._open_lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_samples, n_channels)`` of the whole recording."""
        return (self.n_samples, self.n_channels)

    def _file(self) -> int:
        if self._fd is None:
            with self._open_lock:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return self._fd

    def close(self) -> None:
        """Close the data file (a later :meth:`read` reopens it)."""
        with self._open_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in self._transient:
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._fd = None
        self._open_lock = threading.Lock()
        self._init_transient()

    _transient: tuple[str, ...] = ("_fd", "_open_lock")

    def _init_transient(self) -> None:
        pass

    def _window(self, i_start, i_stop, channel_indexes):
        i_start = 0 if i_start is None else int(i_start)
        i_stop = self.n_samples if i_stop is None else int(i_stop)
        if not 0 <= i_start <= i_stop <= self.n_samples:
            raise IndexError(f"window {i_start}:{i_stop} outside 0:{self.n_samples} of {self.path}")
        if channel_indexes is None:
            channels = None
        elif isinstance(channel_indexes, slice):
            channels = np.arange(self.n_channels)[channel_indexes]
        else:
            channels = np.asarray(channel_indexes, dtype=np.intp).reshape(-1)
            if channels.size and (channels.min() < -self.n_channels or channels.max() >= self.n_channels):
                raise IndexError(f"channel indexes outside 0:{self.n_channels} of {self.path}")
        if channels is not None:
            channels = channels % self.n_channels
            if channels.size and np.all(np.diff(channels) == 1):
                # A run of channels is a view of the rows, not a gathered copy.
                first = int(channels[0])
                channels = None if channels.size == self.n_channels else slice(first, first + channels.size)
        return i_start, i_stop, channels

    @staticmethod
    def _n_selected(channels, n_channels: int) -> int:
        if channels is None:
            return n_channels
        if isinstance(channels, slice):
            return channels.stop - channels.start
        return channels.size

    @staticmethod
    def _copy_columns(rows: np.ndarray, channels, target: np.ndarray) -> None:
        if channels is None:
            target[...] = rows
        elif isinstance(channels, slice):
            target[...] = rows[:, channels]
        else:  # gathered straight into the output (indexes checked: no buffered copy)
            np.take(rows, channels, axis=1, out=target, mode="clip")

    def _pread_into(self, buffer: memoryview, offset: int, expected_size: int) -> None:
        """Fill ``buffer`` from ``offset``; a short read means the file shrank: AlfFormatError."""
        fd = self._file()
        done = 0
        while done < len(buffer):
            n = os.preadv(fd, [buffer[done:]], offset + done)
            if n <= 0:
                size = os.fstat(fd).st_size
                raise AlfFormatError(
                    f"file is {size} bytes, shorter than the {expected_size} bytes it had when opened "
                    f"(truncated or shrinking under the reader)",
                    self.path,
                    rule=self._rule,
                )
            done += n


class BinReader(_ReaderBase):
    """A flat SpikeGLX ``.bin`` file: int16 samples, channels interleaved.

    Parameters
    ----------
    path : str or path-like
        The ``.bin`` file.
    n_channels : int
        ``nSavedChans`` of its ``.meta``.
    dtype : str, optional
        Sample type (SpikeGLX: int16).
    allow_partial : bool
        Ignore a trailing partial sample instead of raising.

    Raises
    ------
    AlfFormatError
        The file size is not a whole number of samples, or the file shrinks after opening.
    """

    _rule = _BIN_RULE

    def __init__(
        self, path: str | os.PathLike, n_channels: int, dtype: str = "int16", allow_partial: bool = False
    ):
        super().__init__()
        self.path = Path(path)
        self.n_channels = int(n_channels)
        self.dtype = np.dtype(dtype)
        size = self.path.stat().st_size
        frame = self.n_channels * self.dtype.itemsize
        if size % frame and not allow_partial:
            raise AlfFormatError(
                f"{size} bytes is not a whole number of {self.n_channels}-channel samples",
                self.path,
                rule=_BIN_RULE,
            )
        self.n_samples = size // frame
        self.nbytes = size

    def read(self, i_start: int | None = None, i_stop: int | None = None, channel_indexes=None) -> np.ndarray:
        """Samples ``i_start:i_stop`` of the chosen channels, int16 ``(n, n_channels)``.

        Reads only the rows of the window: all channels with one positioned read into the output
        array; a channel subset through a 4 MiB block of rows (never more than all channels cost).
        """
        i_start, i_stop, channels = self._window(i_start, i_stop, channel_indexes)
        out = np.empty((i_stop - i_start, self._n_selected(channels, self.n_channels)), dtype=self.dtype)
        frame = self.n_channels * self.dtype.itemsize
        if not out.size:
            return out
        if channels is None:
            self._pread_into(memoryview(out).cast("B"), i_start * frame, self.nbytes)
            return out
        # A subset: whole rows through a bounded scratch block, its columns copied out.
        step = max(1, _BIN_BLOCK // frame)
        scratch = np.empty((min(step, out.shape[0]), self.n_channels), dtype=self.dtype)
        for a in range(i_start, i_stop, step):
            b = min(a + step, i_stop)
            rows = scratch[: b - a]
            self._pread_into(memoryview(rows).cast("B"), a * frame, self.nbytes)
            self._copy_columns(rows, channels, out[a - i_start : b - i_start])
        return out


class _ChunkCache:
    """LRU of decoded chunks bounded in bytes; one thread decodes a chunk while others wait for it."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._pending: dict[int, Future] = {}

    def get(self, index: int, decode) -> np.ndarray:
        with self._lock:
            chunk = self._chunks.get(index)
            if chunk is not None:
                self._chunks.move_to_end(index)
                return chunk
            future = self._pending.get(index)
            owner = future is None
            if owner:
                future = self._pending[index] = Future()
        if not owner:
            return future.result()
        try:
            chunk = decode(index)
        except BaseException as err:
            with self._lock:
                del self._pending[index]
            future.set_exception(err)
            raise
        with self._lock:
            del self._pending[index]
            if chunk.nbytes <= self.max_bytes:
                self._chunks[index] = chunk
                self._bytes += chunk.nbytes
                while self._bytes > self.max_bytes:
                    _, old = self._chunks.popitem(last=False)
                    self._bytes -= old.nbytes
        future.set_result(chunk)
        return chunk

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes of decoded chunks held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._chunks)


class CbinReader(_ReaderBase):
    """An mtscomp-compressed SpikeGLX recording (``.cbin`` with its ``.ch`` index).

    Parameters
    ----------
    path : str or path-like
        The ``.cbin`` file.
    ch_path : str or path-like, optional
        Its ``.ch`` JSON index (default: beside it, same stem).
    cache_bytes : int, optional
        Bytes of decoded chunks kept (LRU, shared by threads); 0 keeps none.
    n_threads : int, optional
        Threads decoding the chunks of one multi-chunk window (default: 2).

    Raises
    ------
    AlfFormatError
        The ``.ch`` index is unreadable or inconsistent, or the ``.cbin`` is shorter than it says
        (checked at construction by size, and again on every read).
    """

    _rule = _CBIN_RULE
    _transient = ("_fd", "_open_lock", "_cache", "_pool", "_pool_lock")

    def __init__(
        self,
        path: str | os.PathLike,
        ch_path: str | os.PathLike | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        n_threads: int = 2,
    ):
        super().__init__()
        self.path = Path(path)
        self.ch_path = Path(ch_path) if ch_path is not None else self.path.with_suffix(".ch")
        self.cache_bytes = int(cache_bytes)
        self.n_threads = max(1, int(n_threads))
        cmeta = read_ch(self.ch_path)
        self.cmeta = cmeta
        self.n_channels = int(cmeta["n_channels"])
        self.dtype = np.dtype(cmeta["dtype"])
        self.sample_rate = float(cmeta["sample_rate"])
        self.chunk_bounds = np.asarray(cmeta["chunk_bounds"], dtype=np.int64)
        self.chunk_offsets = np.asarray(cmeta["chunk_offsets"], dtype=np.int64)
        self.chunk_order = cmeta.get("chunk_order", "C")
        self.time_diff = bool(cmeta.get("do_time_diff", True))
        self.spatial_diff = bool(cmeta.get("do_spatial_diff", False))
        self.n_samples = int(self.chunk_bounds[-1])
        self.n_chunks = len(self.chunk_bounds) - 1
        self.nbytes = int(self.chunk_offsets[-1])
        size = self.path.stat().st_size
        if size < self.nbytes:
            raise AlfFormatError(
                f"file is {size} bytes but its index {self.ch_path.name} places chunks up to byte "
                f"{self.nbytes} (truncated .cbin)",
                self.path,
                rule=_CBIN_RULE,
            )
        self._init_transient()

    def _init_transient(self) -> None:
        self._cache = _ChunkCache(self.cache_bytes)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def chunk_nbytes(self) -> int:
        """Bytes of the largest decoded chunk."""
        return int(np.diff(self.chunk_bounds).max()) * self.n_channels * self.dtype.itemsize

    @property
    def cache(self) -> _ChunkCache:
        """The decoded-chunk cache (``len``, ``nbytes``, ``clear()``)."""
        return self._cache

    def close(self) -> None:
        """Close the file, stop the decoding threads, drop the cache."""
        super().close()
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)
            self._pool = None
        if getattr(self, "_cache", None) is not None:
            self._cache.clear()

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="neo-alf-cbin")
        return self._pool

    def decode_chunk(self, index: int) -> np.ndarray:
        """Decompress chunk ``index`` (no cache), int16 ``(n, n_channels)`` in the stored order.

        The compressed bytes are read and inflated in blocks straight into the chunk's array, and
        the time-difference cumulative sum runs in place: one chunk-sized allocation per chunk.
        """
        if not 0 <= index < self.n_chunks:
            raise IndexError(f"chunk {index} outside 0:{self.n_chunks} of {self.path}")
        start, stop = int(self.chunk_offsets[index]), int(self.chunk_offsets[index + 1])
        n = int(self.chunk_bounds[index + 1] - self.chunk_bounds[index])
        order = "F" if self.chunk_order == "F" else "C"
        chunk = np.empty((n, self.n_channels), dtype=self.dtype, order=order)
        target = memoryview(chunk.reshape(-1, order="A")).cast("B")
        inflater = zlib.decompressobj()
        done = 0
        block = memoryview(bytearray(min(_IN_BLOCK, stop - start)))
        try:
            for pos in range(start, stop, _IN_BLOCK):
                size = min(_IN_BLOCK, stop - pos)
                self._pread_into(block[:size], pos, self.nbytes)
                piece = inflater.decompress(block[:size], min(_OUT_BLOCK, len(target) - done))
                while True:
                    target[done : done + len(piece)] = piece
                    done += len(piece)
                    tail = inflater.unconsumed_tail
                    if not tail or done >= len(target):
                        break
                    piece = inflater.decompress(tail, min(_OUT_BLOCK, len(target) - done))
                if done >= len(target):
                    break
            piece = inflater.flush()
        except zlib.error as err:
            raise AlfFormatError(
                f"chunk {index} does not decompress ({err})", self.path, rule=_CBIN_RULE
            ) from None
        if done != len(target) or piece:
            raise AlfFormatError(
                f"chunk {index} decompresses to {done + len(piece)} bytes, "
                f"not the {len(target)} its index says",
                self.path,
                rule=_CBIN_RULE,
            )
        # mtscomp's own order of inverse operations: spatial cumsum first, then time.
        if self.spatial_diff:
            np.cumsum(chunk, axis=1, out=chunk)
        if self.time_diff:
            _cumsum_time_inplace(chunk)
        return chunk

    def _chunk(self, index: int) -> np.ndarray:
        if self.cache_bytes <= 0:
            return self.decode_chunk(index)
        return self._cache.get(index, self.decode_chunk)

    def read(self, i_start: int | None = None, i_stop: int | None = None, channel_indexes=None) -> np.ndarray:
        """Samples ``i_start:i_stop`` of the chosen channels, int16 ``(n, n_channels)``.

        Decompresses only the chunks the window touches (in parallel threads when there are
        several), through the cache. A channel subset copies only its columns out of the chunks.
        """
        i_start, i_stop, channels = self._window(i_start, i_stop, channel_indexes)
        n_out = self._n_selected(channels, self.n_channels)
        out = np.empty((i_stop - i_start, n_out), dtype=self.dtype)
        if i_stop == i_start or n_out == 0:
            return out
        first = int(np.searchsorted(self.chunk_bounds, i_start, side="right") - 1)
        last = int(np.searchsorted(self.chunk_bounds, i_stop - 1, side="right") - 1)

        def fill(index: int) -> None:
            chunk = self._chunk(index)
            c0 = int(self.chunk_bounds[index])
            a, b = max(i_start, c0), min(i_stop, int(self.chunk_bounds[index + 1]))
            self._copy_columns(chunk[a - c0 : b - c0], channels, out[a - i_start : b - i_start])

        indexes = range(first, last + 1)
        if len(indexes) == 1 or self.n_threads == 1:
            for index in indexes:
                fill(index)
        else:
            for future in [self._threads().submit(fill, index) for index in indexes]:
                future.result()
        return out


def _cumsum_time_inplace(chunk: np.ndarray) -> None:
    """``cumsum(axis=0)`` in place, int16 wrap-around as mtscomp's, column blocks to bound copies."""
    if chunk.flags.f_contiguous:
        step = 16
        for j in range(0, chunk.shape[1], step):
            block = chunk[:, j : j + step]
            np.cumsum(block, axis=0, out=block)
    else:
        np.cumsum(chunk, axis=0, out=chunk)


def read_ch(path: str | os.PathLike) -> dict:
    """The ``.ch`` JSON index of an mtscomp file, checked.

    Raises
    ------
    AlfFormatError
        Not JSON, keys missing, chunk bounds or offsets not increasing, an unknown algorithm.
    """
    path = Path(path)
    rule = "mtscomp .ch: JSON with n_channels, dtype, sample_rate, increasing chunk_bounds and chunk_offsets"
    try:
        with open(path, "rb") as f:
            cmeta = json.loads(f.read())
    except (OSError, ValueError) as err:
        raise AlfFormatError(f"unreadable mtscomp index ({err})", path, rule=rule) from None
    if not isinstance(cmeta, dict):
        raise AlfFormatError("the index is not a JSON object", path, rule=rule)
    missing = [
        k for k in ("n_channels", "dtype", "sample_rate", "chunk_bounds", "chunk_offsets") if k not in cmeta
    ]
    if missing:
        raise AlfFormatError(f"keys missing: {', '.join(missing)}", path, rule=rule)
    if cmeta.get("algorithm", "zlib") != "zlib":
        raise AlfFormatError(f"algorithm {cmeta.get('algorithm')!r} (only zlib exists)", path, rule=rule)
    bounds = np.asarray(cmeta["chunk_bounds"])
    offsets = np.asarray(cmeta["chunk_offsets"])
    if (
        bounds.ndim != 1
        or bounds.shape != offsets.shape
        or bounds.size < 2
        or bounds[0] != 0
        or offsets[0] != 0
        or np.any(np.diff(bounds) <= 0)
        or np.any(np.diff(offsets) < 0)
    ):
        raise AlfFormatError(
            "chunk_bounds / chunk_offsets are not two increasing lists from 0", path, rule=rule
        )
    if int(cmeta["n_channels"]) <= 0:
        raise AlfFormatError("n_channels is not positive", path, rule=rule)
    return cmeta
