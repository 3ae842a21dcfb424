"""AlfRawIO: an ALF session as a Neo rawio (header dicts and NumPy buffers).

One block, one segment: ALF has one universal clock per session. The mapping
(``docs/alf_to_neo.rst``):

- **signal streams**: one per *regularly sampled* continuous object (``timestamps`` as two sync
  points, collinear sync points, or per-sample times with a constant step); its channels are
  the columns of the object's numeric attributes, read as slices of memory maps. Irregular
  continuous objects (IBL wheel, multi-segment sync) are not rawio streams: Neo rawio has no
  irregular signals; :class:`neo_alf.io.AlfIO` gives them as ``IrregularlySampledSignal``.
- **spike channels**: per collection with ``spikes.times``: one per row of ``clusters.*`` (empty
  clusters included), else one per distinct ``spikes.clusters`` id, else one for all spikes.
- **event channels**: ``event`` per event series (``obj.times``) and ``*_times`` attribute,
  ``epoch`` per interval series and ``*_intervals`` attribute. NaN times are kept.

Timescale variants (``times_ephysClock``) are never used as session time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from neo.rawio.baserawio import (
    BaseRawIO,
    _event_channel_dtype,
    _signal_buffer_dtype,
    _signal_channel_dtype,
    _signal_stream_dtype,
    _spike_channel_dtype,
)

from ..errors import AlfDimensionError, AlfFormatError, AlfRelationError
from ..readers import column_names, column_units
from ..session import AlfObject, AlfSession, Dataset
from ..spikeindex import SpikeIndex
from ..timebase import Timebase, timebase_from_timestamps
from ..units import to_neo_units

__all__ = ["AlfRawIO"]

_ID_LENGTH = 64  # Neo header ids are U64: longer ones would be cut, and could collide


@dataclass
class _Stream:
    object: AlfObject
    timebase: Timebase
    datasets: list[Dataset]
    columns: list[tuple[int, int | None]]  # per channel: (index in datasets, column or None for 1-D)
    dtype: np.dtype
    arrays: list[Any] = field(default_factory=list)


@dataclass
class _SpikeSource:
    collection: str
    index: SpikeIndex
    per_spike: dict[str, Dataset]  # spikes.* attributes other than times/clusters (1-D, same rows)
    clusters: AlfObject | None  # the clusters.* table, when spikes.clusters refers to it
    arrays: dict[str, Any] | None = None  # per_spike, opened on first use


@dataclass
class _EventSource:
    object: AlfObject
    dataset: Dataset
    is_epoch: bool
    times: np.ndarray
    durations: np.ndarray | None
    labels: np.ndarray


@dataclass
class IrregularSignal:
    """A continuous object whose samples are not evenly spaced (given as IrregularlySampledSignal)."""

    object: AlfObject
    timebase: Timebase
    datasets: list[Dataset]
    arrays: list[Any] | None = None


@dataclass(frozen=True)
class ColumnInfo:
    """One channel of a continuous object: a column of one of its numeric attributes."""

    dataset: int  # index into the object's signal datasets
    column: int | None  # None for a 1-D attribute
    name: str
    id: str
    units: str  # for Neo (quantities)
    original_units: str  # as the metadata wrote it ("" when absent)


def column_info(datasets: list[Dataset]) -> list[ColumnInfo]:
    """Every channel of a continuous object, with names and units from the metadata files."""
    out = []
    for i, d in enumerate(datasets):
        n_cols = 1 if len(d.shape) == 1 else d.shape[1]
        names, units = column_names(d.metadata, n_cols), column_units(d.metadata, n_cols)
        for j in range(n_cols):
            col = None if len(d.shape) == 1 else j
            neo_units, _ = to_neo_units(units[j])
            default = d.key if col is None else f"{d.key}[{col}]"
            out.append(
                ColumnInfo(
                    i,
                    col,
                    names[j] or default,
                    d.key if col is None else f"{d.key}:{col}",
                    neo_units,
                    "" if units[j] is None else str(units[j]),
                )
            )
    return out


def _read_columns(arrays, columns, dtype, i_start: int, i_stop: int, selected: np.ndarray) -> np.ndarray:
    """Rows ``i_start:i_stop`` of the selected channels, reading only those rows of each array."""
    if len(arrays) == 1:  # the usual case: one attribute (lfp.raw), slice it in place
        array = arrays[0]
        if array.ndim == 1:
            return np.asarray(array[i_start:i_stop], dtype=dtype).reshape(-1, 1)[:, selected]
        return np.asarray(array[i_start:i_stop, selected], dtype=dtype)
    out = np.empty((i_stop - i_start, selected.size), dtype=dtype)
    for k, channel in enumerate(selected):
        d_index, col = columns[channel]
        array = arrays[d_index]
        out[:, k] = array[i_start:i_stop] if col is None else array[i_start:i_stop, col]
    return out


class AlfRawIO(BaseRawIO):
    """Read an ALF session folder as a Neo rawio.

    Parameters
    ----------
    dirname : str or path-like
        The session folder (``[lab/Subjects/]subject/yyyy-mm-dd/number``).
    collections : iterable of str, optional
        Only these collections, and the collections below them (``"alf/probe00"`` includes
        ``"alf/probe00/pykilosort"``); default: all.
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.
    spike_array_annotations : bool
        Put per-spike attributes (``spikes.amps``, ``spikes.depths``...) in each unit's
        ``__array_annotations__``. Off by default: it reads every per-spike attribute whole.

    Examples
    --------
    >>> reader = AlfRawIO(session_path)
    >>> reader.parse_header()
    >>> chunk = reader.get_analogsignal_chunk(stream_index=0, i_start=0, i_stop=2500)
    >>> ts = reader.get_spike_timestamps(spike_channel_index=3)

    Spike timestamps are read-only views of a per-unit index built on the second request (the
    first is served by one streaming pass): copy them to modify. See :mod:`neo_alf.spikeindex`.
    """

    extensions: ClassVar[list[str]] = []
    rawmode = "one-dir"
    name = "AlfRawIO"
    description = "ALF sessions (ONE / International Brain Laboratory)"

    def __init__(
        self,
        dirname: str | os.PathLike = "",
        collections: Iterable[str] | None = None,
        revision: str | None = None,
        spike_array_annotations: bool = False,
        **kwargs: Any,
    ):
        BaseRawIO.__init__(self, **kwargs)
        self.dirname = str(dirname)
        self.collections = None if collections is None else [c.strip("/") for c in collections]
        self.revision = revision
        self.spike_array_annotations = spike_array_annotations

    def _source_name(self) -> str:
        return self.dirname

    # ==================================================================================== header

    def _parse_header(self) -> None:
        self.session = AlfSession(self.dirname, revision=self.revision)
        objects = [o for o in self.session.objects if self._selected(o.collection)]
        self._streams: list[_Stream] = []
        self.irregular_signals: list[IrregularSignal] = []
        self._spike_sources: list[_SpikeSource] = []
        self._unit_map: list[tuple[int, int]] = []  # spike channel -> (source, unit)
        self._events: list[_EventSource] = []
        spans: list[tuple[float, float]] = []

        spike_collections = set()
        for obj in objects:
            if obj.name == "spikes" and "times" in obj:
                spike_collections.add(obj.collection)
                self._add_spikes(obj)
            elif obj.kind == "continuous":
                self._add_continuous(obj)
        for obj in objects:
            if obj.kind != "continuous" and not (
                obj.name == "spikes" and obj.collection in spike_collections
            ):
                self._add_events(obj)

        for src in self._spike_sources:
            if src.index.t_first is not None:
                spans.append((src.index.t_first, src.index.t_last))
        for ev in self._events:
            starts, stops = ev.times, ev.times + ev.durations if ev.is_epoch else ev.times
            if np.isfinite(starts).any():
                spans.append((float(np.nanmin(starts)), float(np.nanmax(stops))))
        for tb in [s.timebase for s in self._streams] + [s.timebase for s in self.irregular_signals]:
            if tb.n_samples:
                spans.append((tb.t_start, tb.t_stop))
        self._t_start = min((a for a, _ in spans), default=0.0)
        self._t_stop = max((b for _, b in spans), default=0.0)
        if not self._t_stop > self._t_start:  # Neo needs t_stop > t_start, even for a single time
            self._t_stop = float(np.nextafter(self._t_start, np.inf))

        self.header = {
            "nb_block": 1,
            "nb_segment": [1],
            "signal_buffers": np.array([], dtype=_signal_buffer_dtype),
            "signal_streams": self._stream_header(),
            "signal_channels": self._channel_header(),
            "spike_channels": self._spike_header(),
            "event_channels": self._event_header(),
        }
        self._generate_minimal_annotations()
        self._annotate()

    def _selected(self, collection: str) -> bool:
        if self.collections is None:
            return True
        return any(collection == c or collection.startswith(c + "/") for c in self.collections)

    # --------------------------------------------------------------------------------- continuous

    def _add_continuous(self, obj: AlfObject) -> None:
        n_samples = obj.check_rows()
        if n_samples is None:
            return
        ts_dataset = obj["timestamps"]
        timebase = timebase_from_timestamps(ts_dataset.open(), n_samples, ts_dataset.paths)
        datasets = [
            d
            for k, d in sorted(obj.row_datasets.items())
            if d.timescale is None and _is_numeric(d) and d.shape is not None and 1 <= len(d.shape) <= 2
        ]
        if not datasets:
            return
        if not timebase.is_regular:
            self.irregular_signals.append(IrregularSignal(obj, timebase, datasets))
            return
        columns = [
            (i, None if len(d.shape) == 1 else j)
            for i, d in enumerate(datasets)
            for j in range(1 if len(d.shape) == 1 else d.shape[1])
        ]
        dtype = np.result_type(*[_dtype_of(d) for d in datasets])
        self._streams.append(_Stream(obj, timebase, datasets, columns, dtype))

    def _stream_header(self) -> np.ndarray:
        rows = []
        for i, s in enumerate(self._streams):
            full = f"{s.object.collection}/{s.object.name}".lstrip("/")
            rows.append((full, _fit_id(full, f"stream{i}"), ""))
        return np.array(rows, dtype=_signal_stream_dtype)

    def _channel_header(self) -> np.ndarray:
        rows = []
        self._original_units: list[list[str]] = []
        for i, s in enumerate(self._streams):
            stream_id = _fit_id(f"{s.object.collection}/{s.object.name}".lstrip("/"), f"stream{i}")
            info = column_info(s.datasets)
            self._original_units.append([c.original_units for c in info])
            for c in info:
                rows.append((c.name, c.id, s.timebase.rate, s.dtype.name, c.units, 1.0, 0.0, stream_id, ""))
        return np.array(rows, dtype=_signal_channel_dtype)

    # ------------------------------------------------------------------------------------ spikes

    def _add_spikes(self, obj: AlfObject) -> None:
        obj.check_rows()  # rows that differ within spikes.* -> AlfDimensionError
        times_ds = obj["times"]
        clusters_ds = obj.datasets.get("clusters")
        table = self._table(obj.collection, "clusters") if clusters_ds is not None else None
        n_units = table.check_rows() if table is not None else None
        index = SpikeIndex(  # openers: files are read in chunks, never kept mapped
            lambda: _whole_rows(times_ds),
            None if clusters_ds is None else (lambda: _whole_rows(clusters_ds)),
            n_units=n_units,
            times_paths=times_ds.paths,
            clusters_paths=() if clusters_ds is None else clusters_ds.paths,
        )
        per_spike = {
            k: d
            for k, d in sorted(obj.row_datasets.items())
            if k not in ("times", "clusters") and d.shape is not None and len(d.shape) == 1
        }
        source = len(self._spike_sources)
        self._spike_sources.append(_SpikeSource(obj.collection, index, per_spike, table))
        self._unit_map += [(source, u) for u in range(index.n_units)]

    def _table(self, collection: str, name: str) -> AlfObject | None:
        found = self.session.find_objects(name, collection)
        return found[0] if found else None

    def _spike_header(self) -> np.ndarray:
        rows = []
        for source, unit in self._unit_map:
            src = self._spike_sources[source]
            cluster_id = int(src.index.unit_ids[unit])
            full = f"{src.collection}#{cluster_id}"
            unit_id = _fit_id(full, f"spikes{source}#{cluster_id}")
            rows.append((_fit_id(full, f"cluster{cluster_id}"), unit_id, "", 1.0, 0.0, 0, 0.0))
        return np.array(rows, dtype=_spike_channel_dtype)

    # ------------------------------------------------------------------------------------ events

    def _add_events(self, obj: AlfObject) -> None:
        timed = [d for k, d in sorted(obj.datasets.items()) if d.is_universal_time]
        if not timed:
            return
        n_rows = obj.check_rows()
        labels = _row_labels(obj, n_rows)
        for d in timed:
            data = d.load()
            if not isinstance(data, np.ndarray) or data.dtype.kind not in "iuf":
                raise AlfFormatError(
                    f"times are {getattr(data, 'dtype', type(data))}, not numbers",
                    d.paths,
                    rule="times are numeric seconds",
                )
            is_epoch = d.attribute.endswith("intervals")
            if is_epoch:
                if data.ndim != 2 or data.shape[1] != 2:
                    raise AlfDimensionError(
                        f"intervals have shape {data.shape}, not (n, 2)",
                        d.paths,
                        rule="intervals have two columns: start, end",
                    )
                times = np.asarray(data[:, 0], dtype=np.float64)
                durations = np.asarray(data[:, 1], dtype=np.float64) - times
            else:
                if data.ndim != 1 and not (data.ndim == 2 and data.shape[1] == 1):
                    raise AlfDimensionError(
                        f"times have shape {data.shape}, not (n,)",
                        d.paths,
                        rule="times are one column of seconds",
                    )
                times, durations = np.asarray(data, dtype=np.float64).reshape(-1), None
            self._events.append(_EventSource(obj, d, is_epoch, times, durations, labels))

    def _event_header(self) -> np.ndarray:
        rows = []
        for i, ev in enumerate(self._events):
            name = f"{ev.object.name}.{ev.dataset.key}"
            full = f"{ev.object.collection}/{name}".lstrip("/")
            rows.append((name, _fit_id(full, f"event{i}"), "epoch" if ev.is_epoch else "event"))
        return np.array(rows, dtype=_event_channel_dtype)

    # ------------------------------------------------------------------------------- annotations

    def _annotate(self) -> None:
        block = self.raw_annotations["blocks"][0]
        parts = self.session.parts
        block["name"] = parts.rel_path if parts else os.path.basename(self.dirname.rstrip("/"))
        block["session_path"] = str(self.session.path)
        if parts:
            block.update(
                lab=parts.lab or "", subject=parts.subject, date=parts.date.isoformat(), number=parts.number
            )
        if self.revision:
            block["revision"] = self.revision
        seg = block["segments"][0]
        seg["name"] = block["name"]
        for i, s in enumerate(self._streams):
            ann = seg["signals"][i]
            ann.update(
                collection=s.object.collection,
                alf_object=s.object.name,
                timestamps=s.object["timestamps"].rel_paths[0],
            )
            arr = ann["__array_annotations__"]
            arr["alf_attribute"] = np.array([s.datasets[d].key for d, _ in s.columns])
            arr["alf_column"] = np.array([-1 if c is None else c for _, c in s.columns])
            arr["alf_units"] = np.array(self._original_units[i])
        self._annotate_units(seg)
        for i, ev in enumerate(self._events):
            ann = seg["events"][i]
            ann.update(
                collection=ev.object.collection,
                dataset=ev.dataset.rel_paths[0],
                alf_object=ev.object.name,
                alf_attribute=ev.dataset.key,
            )
            ann["__array_annotations__"].update(
                self._row_attributes(ev.object, exclude=ev.dataset.key, n_rows=ev.times.size)
            )

    def _annotate_units(self, seg: dict) -> None:
        tables: dict[int, tuple[dict, dict, np.ndarray | None, str | None]] = {}
        for source, src in enumerate(self._spike_sources):
            cl = _load_rows(src.clusters) if src.clusters is not None else {}
            channels = self._table(src.collection, "channels")
            ch = _load_rows(channels) if channels is not None and cl else {}
            link = cl.get("channels") if ch else None
            if link is not None:
                n_channels = channels.check_rows() or 0
                if link.dtype.kind not in "iu" or (
                    link.size and (link.min() < 0 or link.max() >= n_channels)
                ):
                    raise AlfRelationError(
                        f"clusters.channels are not row indices of the {n_channels} channels",
                        src.clusters["channels"].paths,
                        rule="clusters.channels holds 0-based row indices of channels.*",
                    )
            probe = re.search(r"probe\d+", src.collection)
            tables[source] = (_per_row(cl), _per_row(ch), link, probe.group(0) if probe else None)
        for chan, (source, unit) in enumerate(self._unit_map):
            src = self._spike_sources[source]
            cl, ch, link, probe = tables[source]
            ann = seg["spikes"][chan]
            cluster_id = int(src.index.unit_ids[unit])
            ann.update(cluster_id=cluster_id, collection=src.collection)
            if probe:
                ann["probe"] = probe
            for key, values in cl.items():
                ann[f"cluster_{key}"] = values[cluster_id]
            if link is not None:
                channel = int(link[cluster_id])
                for key, values in ch.items():
                    ann[f"channel_{key}"] = values[channel]
            if self.spike_array_annotations:
                rows = src.index.rows(unit)
                for key, d in src.per_spike.items():
                    ann["__array_annotations__"][key] = np.asarray(d.open()[rows])

    def _row_attributes(self, obj: AlfObject, exclude: str, n_rows: int) -> dict[str, np.ndarray]:
        out = {}
        for key, d in sorted(obj.row_datasets.items()):
            if key == exclude or d.shape is None or len(d.shape) != 1 or d.shape[0] != n_rows:
                continue
            data = d.load()
            if isinstance(data, np.ndarray) and data.dtype.kind in "biufUS" and data.dtype.names is None:
                out[key] = np.asarray(data)
        return out

    # ============================================================================== data access

    def _segment_t_start(self, block_index: int, seg_index: int) -> float:
        return self._t_start

    def _segment_t_stop(self, block_index: int, seg_index: int) -> float:
        return self._t_stop

    def _get_signal_size(self, block_index: int, seg_index: int, stream_index: int) -> int:
        return self._streams[stream_index].timebase.n_samples

    def _get_signal_t_start(self, block_index: int, seg_index: int, stream_index: int) -> float:
        return self._streams[stream_index].timebase.t_start

    def _get_analogsignal_chunk(self, block_index, seg_index, i_start, i_stop, stream_index, channel_indexes):
        stream = self._streams[stream_index]
        if not stream.arrays:
            stream.arrays = [d.open() for d in stream.datasets]
        n = stream.timebase.n_samples
        i_start = 0 if i_start is None else int(i_start)
        i_stop = n if i_stop is None else int(i_stop)
        if not 0 <= i_start <= i_stop <= n:
            raise IndexError(f"samples {i_start}:{i_stop} outside 0:{n} of stream {stream_index}")
        if channel_indexes is None:
            selected = np.arange(len(stream.columns))
        elif isinstance(channel_indexes, slice):
            selected = np.arange(len(stream.columns))[channel_indexes]
        else:
            selected = np.asarray(channel_indexes, dtype=np.int64).reshape(-1)
        return _read_columns(stream.arrays, stream.columns, stream.dtype, i_start, i_stop, selected)

    def _spike_count(self, block_index: int, seg_index: int, spike_channel_index: int) -> int:
        source, unit = self._unit_map[spike_channel_index]
        return self._spike_sources[source].index.count(unit)

    def _get_spike_timestamps(self, block_index, seg_index, spike_channel_index, t_start, t_stop):
        source, unit = self._unit_map[spike_channel_index]
        return self._spike_sources[source].index.times(unit, t_start, t_stop)

    def _rescale_spike_timestamp(self, spike_timestamps: np.ndarray, dtype) -> np.ndarray:
        # already seconds: no copy when the dtype matches, so still a read-only view of the index
        # (AlfIO's SpikeTrains are copies)
        return spike_timestamps.astype(dtype, copy=False)

    def _get_spike_raw_waveforms(self, block_index, seg_index, spike_channel_index, t_start, t_stop):
        return None  # ALF spike sorting outputs carry no per-spike waveforms

    def _event_count(self, block_index: int, seg_index: int, event_channel_index: int) -> int:
        return int(self._events[event_channel_index].times.size)

    def _get_event_timestamps(self, block_index, seg_index, event_channel_index, t_start, t_stop):
        ev = self._events[event_channel_index]
        keep = self.event_row_mask(event_channel_index, t_start, t_stop)  # fancy indexing copies
        return ev.times[keep], None if ev.durations is None else ev.durations[keep], ev.labels[keep]

    def _rescale_event_timestamp(self, event_timestamps, dtype, event_channel_index=None):
        return event_timestamps.astype(dtype)

    def _rescale_epoch_duration(self, raw_duration, dtype, event_channel_index=None):
        return raw_duration.astype(dtype)

    # ============================================================================ for the IO layer

    def spike_rows(self, spike_channel_index: int, t_start: float | None = None, t_stop: float | None = None):
        """Rows into ``spikes.*`` of one unit's spikes within ``[t_start, t_stop]`` (time order)."""
        source, unit = self._unit_map[spike_channel_index]
        return self._spike_sources[source].index.window(unit, t_start, t_stop)[0]

    def per_spike_datasets(self, spike_channel_index: int) -> dict[str, Dataset]:
        """The per-spike attributes (``amps``, ``depths``...) of a unit's collection."""
        source, _ = self._unit_map[spike_channel_index]
        return self._spike_sources[source].per_spike

    def per_spike_arrays(self, spike_channel_index: int) -> dict[str, Any]:
        """The per-spike attributes of a unit's collection, opened once (memory maps)."""
        source, _ = self._unit_map[spike_channel_index]
        src = self._spike_sources[source]
        if src.arrays is None:
            src.arrays = {key: _whole_rows(d) for key, d in src.per_spike.items()}
        return src.arrays

    def irregular_channels(self, signal: IrregularSignal) -> list[ColumnInfo]:
        """Name, id, units of each channel (column of a numeric attribute) of an irregular signal."""
        return column_info(signal.datasets)

    def irregular_chunk(self, signal: IrregularSignal, i_start: int, i_stop: int, channels) -> np.ndarray:
        """Samples ``i_start:i_stop`` of some channels of an irregular signal, as float64."""
        if signal.arrays is None:
            signal.arrays = [d.open() for d in signal.datasets]
        columns = [(c.dataset, c.column) for c in column_info(signal.datasets)]
        selected = np.asarray(channels, dtype=np.int64)
        return _read_columns(signal.arrays, columns, np.dtype(np.float64), i_start, i_stop, selected)

    def event_row_mask(self, event_channel_index: int, t_start=None, t_stop=None) -> np.ndarray:
        """Which rows of an event channel fall within ``[t_start, t_stop]`` (all when both are None)."""
        times = self._events[event_channel_index].times
        keep = np.ones(times.size, dtype=bool)
        if t_start is not None:
            keep &= times >= t_start
        if t_stop is not None:
            keep &= times <= t_stop
        return keep

    # ============================================================ pickling (neo_alf.parallel, Dask)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle by path and constructor keywords: no arrays, memory maps or indexes travel.

        Unpickling (on a Dask worker) calls the constructor again and, when the original was
        parsed, :meth:`parse_header` (a folder scan); data files are opened on first access, as in
        any new reader. Subclasses (:class:`~neo_alf.io.AlfIO`) get the keywords their constructor
        takes.
        """
        import inspect

        known = {
            "dirname": self.dirname,
            "collections": self.collections,
            "revision": self.revision,
            "spike_array_annotations": getattr(self, "_with_spike_arrays", self.spike_array_annotations),
            "eid": getattr(self, "eid", None),
        }
        accepted = inspect.signature(type(self).__init__).parameters
        kwargs = {k: v for k, v in known.items() if k in accepted}
        return {"kwargs": kwargs, "parsed": bool(self.is_header_parsed)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["kwargs"])
        if state["parsed"]:
            self.parse_header()


# ==================================================================================== helpers


def _whole_rows(d: Dataset) -> Any:
    """A dataset as one array supporting fancy row indexing: the memmap, or the parts joined."""
    return d.load() if d.is_multipart else d.open()


def _is_numeric(d: Dataset) -> bool:
    return _dtype_of(d).kind in "iuf"


def _dtype_of(d: Dataset) -> np.dtype:
    data = d.open()
    return np.dtype(getattr(data, "dtype", object))


def _fit_id(text: str, fallback: str) -> str:
    return text if len(text) <= _ID_LENGTH else fallback


def _row_labels(obj: AlfObject, n_rows: int | None) -> np.ndarray:
    """Event labels: a 1-D text attribute of the object names its rows; else the row index."""
    n = n_rows or 0
    for _, d in sorted(obj.row_datasets.items()):
        if d.shape is not None and len(d.shape) == 1 and _dtype_of(d).kind in "US":
            return np.asarray(d.load()).astype(str)
    return np.arange(n).astype(str)


def _load_rows(obj: AlfObject) -> dict[str, np.ndarray]:
    """Every attribute of a small table (clusters, channels) as arrays; structured ones split by field."""
    obj.check_rows()
    out: dict[str, np.ndarray] = {}
    for key, d in sorted(obj.row_datasets.items()):
        data = d.load()
        if not isinstance(data, np.ndarray):
            continue
        if data.dtype.names:
            for name in data.dtype.names:
                out[f"{key}_{name}"] = np.asarray(data[name])
        elif data.dtype.kind in "biufUS":
            out[key] = np.asarray(data)
    return out


def _per_row(table: dict[str, np.ndarray]) -> dict[str, list]:
    """Each attribute as a list of row values, converted once: Python scalars (``str`` for text)
    for 1-D attributes, arrays (views of one copy) for the rows of 2-D ones."""
    return {
        key: values.tolist() if values.ndim == 1 else list(np.array(values)) for key, values in table.items()
    }
