"""A signal stream as a ``dask.array``: a whole recording, read on demand (extra ``[dask]``).

:func:`signal_array` gives a ``(samples, channels)`` dask array over one signal stream of an
:class:`~neo_alf.rawio.AlfRawIO`. Each chunk is one call to ``get_analogsignal_chunk``, so the
values, dtype and channel order are the reader's; nothing is read until computed. On a
``dask.distributed`` cluster the reader travels pickled by path and reopens on the worker.

Chunks follow the file's own storage, so that no chunk straddles two reads or decompressions:

1. the reader's ``signal_chunk_bounds(stream_index)`` method, when it has one, or else an optional
   ``chunk_bounds`` attribute of the stream the reader keeps: an increasing integer array
   ``[0, b1, ..., n_samples]`` (for an mtscomp ``.cbin``, its chunk bounds: one dask chunk per
   compressed chunk);
2. otherwise the parts of a multi-part dataset (``lfp.raw.part001.npy``, ``part002``...);
3. within those, blocks of whole rows of about ``target_bytes`` (``.npy``/``.bin`` memory maps).

Example: a band-pass filter over a whole recording, each chunk padded with its neighbours' samples
so that the result equals filtering the whole array at once::

    from scipy.signal import butter, sosfiltfilt
    x = signal_array(reader, "raw_ephys_data/probe00/lfp")
    sos = butter(3, [300, 5000], btype="band", fs=30000, output="sos")
    y = x.map_overlap(lambda b: sosfiltfilt(sos, b, axis=0), depth={0: 30000, 1: 0},
                      boundary="none", dtype="float64")
    y[:300_000].compute()          # or y.to_zarr(...) on a cluster
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .errors import AlfDependencyError, AlfNotFoundError

__all__ = ["TARGET_BYTES", "chunk_bounds", "signal_array", "stream_index"]

TARGET_BYTES = 64 << 20
"""int: the size a row-block chunk aims at (64 MiB): large enough to amortise a task, small enough
for a few per worker."""


def _dask_array():
    try:
        import dask.array as da
    except ImportError:
        raise AlfDependencyError(
            "signal_array needs dask: pip install 'neo-alf[dask]'", rule="optional extra `dask`"
        ) from None
    return da


def stream_index(reader, stream: int | str) -> int:
    """The index of a signal stream given by index, id or name (``"raw_ephys_data/probe00/lfp"``)."""
    streams = reader.header["signal_streams"]
    if isinstance(stream, (int, np.integer)):
        if not 0 <= int(stream) < len(streams):
            raise AlfNotFoundError(f"no signal stream {stream} ({len(streams)} streams)", reader.dirname)
        return int(stream)
    for i, row in enumerate(streams):
        if stream in (row["id"], row["name"]):
            return i
    names = ", ".join(str(r["name"]) for r in streams)
    raise AlfNotFoundError(f"no signal stream {stream!r} (streams: {names})", reader.dirname)


def chunk_bounds(
    reader, stream_index: int, target_bytes: int = TARGET_BYTES, max_rows: int | None = None
) -> np.ndarray:
    """Sample bounds ``[0, ..., n_samples]`` of the chunks of a stream, aligned to its storage.

    Parameters
    ----------
    reader : AlfRawIO
        A parsed reader.
    stream_index : int
        The signal stream.
    target_bytes : int
        Row blocks aim at this many bytes (all channels).
    max_rows : int, optional
        At most this many rows per chunk (e.g. to make many chunks of a short signal).

    Returns
    -------
    numpy.ndarray of int64
        Increasing bounds; chunk ``k`` is samples ``bounds[k]:bounds[k + 1]``.
    """
    n = int(reader.get_signal_size(0, 0, stream_index))
    storage = _storage_bounds(reader, stream_index, n)
    n_channels = int(reader.signal_channels_count(stream_index))
    itemsize = np.dtype(
        reader.header["signal_channels"]["dtype"][_first_channel(reader, stream_index)]
    ).itemsize
    rows = max(1, int(target_bytes) // max(1, n_channels * itemsize))
    if max_rows is not None:
        rows = max(1, min(rows, int(max_rows)))
    out = [0]
    for lo, hi in itertools.pairwise(storage.tolist()):
        if hi > lo:
            out.extend(range(int(lo) + rows, int(hi), rows))
            out.append(int(hi))
    return np.asarray(out if n else [0], dtype=np.int64)


def _first_channel(reader, stream_index: int) -> int:
    stream_id = reader.header["signal_streams"]["id"][stream_index]
    return int(np.flatnonzero(reader.header["signal_channels"]["stream_id"] == stream_id)[0])


def _storage_bounds(reader, stream_index: int, n: int) -> np.ndarray:
    """Where the file's own blocks start and end: a hook, multi-part offsets, or the whole stream."""
    bounds = None
    hook = getattr(reader, "signal_chunk_bounds", None)
    if callable(hook):
        bounds = hook(stream_index)  # None: the stream has no chunks of its own (not a .cbin)
    if bounds is None:
        stream = _private_stream(reader, stream_index)
        bounds = getattr(stream, "chunk_bounds", None)
        if bounds is None and stream is not None:
            bounds = _part_offsets(stream)
    if bounds is None:
        return np.array([0, n], dtype=np.int64)
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1)
    if bounds.size < 2 or bounds[0] != 0 or bounds[-1] != n or np.any(np.diff(bounds) < 0):
        raise ValueError(
            f"chunk bounds of stream {stream_index} must rise from 0 to {n} samples, got "
            f"{bounds[:3].tolist()}...{bounds[-2:].tolist()}"
        )
    return bounds


def _private_stream(reader, stream_index: int) -> Any:
    # AlfRawIO's layout has one record per stream; other readers may not: then only the hook applies
    layout = getattr(reader, "layout", None)
    try:
        return layout.streams[stream_index]
    except (AttributeError, TypeError, IndexError):
        return None


def _part_offsets(stream) -> np.ndarray | None:
    """Row offsets of the parts of a stream's multi-part datasets (union over its attributes)."""
    edges: set[int] = set()
    for d in getattr(stream, "datasets", []):
        if getattr(d, "is_multipart", False):
            parts = getattr(d, "row_files", None)
            if parts:  # the headers the session already read
                sizes = [p.shape[0] for p in parts]
            else:
                from .readers import file_shape

                sizes = [file_shape(f.path, d.metadata_for(f))[0] for f in d.files]
            edges.update(np.cumsum([0, *sizes]).tolist())
    return np.array(sorted(edges), dtype=np.int64) if edges else None


class _StreamSlicer:
    """What ``dask.array.from_array`` slices: rows and channels of one stream, through the reader."""

    def __init__(self, reader, stream_index: int, channel_indexes: np.ndarray | None, shape, dtype):
        self.reader = reader
        self.stream_index = stream_index
        self.channel_indexes = channel_indexes
        self.shape = shape
        self.dtype = dtype
        self.ndim = 2

    def __getitem__(self, key):
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        start, stop, step = rows.indices(self.shape[0])
        channels = self.channel_indexes
        if channels is None:
            channels = np.arange(self.shape[1])
        chunk = self.reader.get_analogsignal_chunk(
            block_index=0,
            seg_index=0,
            i_start=start,
            i_stop=max(start, stop),
            stream_index=self.stream_index,
            channel_indexes=channels[cols],
        )
        return chunk[::step] if step != 1 else chunk


def signal_array(
    reader,
    stream: int | str,
    *,
    channel_indexes=None,
    target_bytes: int = TARGET_BYTES,
    max_rows: int | None = None,
):
    """One signal stream as a lazy ``(samples, channels)`` dask array, chunked like its files.

    Parameters
    ----------
    reader : AlfRawIO
        The session's reader (parsed here when it is not yet).
    stream : int or str
        Stream index, id or name (``"raw_ephys_data/probe00/lfp"``).
    channel_indexes : array-like of int, optional
        Channels of the stream (default: all), in this order.
    target_bytes, max_rows
        Row-block sizing, see :func:`chunk_bounds`; storage bounds (``.cbin`` chunks, parts) are
        always kept.

    Returns
    -------
    dask.array.Array
        The reader's raw values (``get_analogsignal_chunk``: the file's dtype; ALF channels have
        gain 1, offset 0), one chunk per ``chunk_bounds`` interval along samples, all channels in
        one chunk. Sampling rate and start time: ``reader.get_signal_sampling_rate(stream_index)``,
        ``reader.get_signal_t_start(0, 0, stream_index)``.

    Raises
    ------
    AlfNotFoundError
        No such stream.
    AlfDependencyError
        dask is not installed (extra ``[dask]``).
    """
    da = _dask_array()
    from dask.base import tokenize

    if not reader.is_header_parsed:
        reader.parse_header()
    index = stream_index(reader, stream)
    n = int(reader.get_signal_size(0, 0, index))
    n_all = int(reader.signal_channels_count(index))
    channels = None if channel_indexes is None else np.asarray(channel_indexes, dtype=np.int64).reshape(-1)
    if channels is not None and channels.size and (channels.min() < 0 or channels.max() >= n_all):
        raise AlfNotFoundError(f"channel indexes outside 0..{n_all - 1} of stream {index}", reader.dirname)
    n_channels = n_all if channels is None else channels.size
    dtype = np.dtype(reader.header["signal_channels"]["dtype"][_first_channel(reader, index)])
    bounds = chunk_bounds(reader, index, target_bytes, max_rows)
    row_chunks = tuple(int(x) for x in np.diff(bounds)) or (0,)
    slicer = _StreamSlicer(reader, index, channels, (n, n_channels), dtype)
    name = "alf-signal-" + tokenize(
        reader.dirname,
        getattr(reader, "collections", None),
        getattr(reader, "revision", None),
        index,
        None if channels is None else channels.tolist(),
        bounds.tolist(),
    )
    return da.from_array(
        slicer,
        chunks=(row_chunks, (n_channels,)),
        name=name,
        asarray=False,
        fancy=False,
        lock=False,
        meta=np.empty((0, 0), dtype=dtype),
    )
