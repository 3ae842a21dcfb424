"""AlfRawIO: an ALF session as a Neo rawio (header dicts and NumPy buffers).

One block, one segment: ALF has one universal clock per session. The rawio only turns the session's
:class:`~neo_alf.layout.SessionLayout` (built once at ``parse_header``) into Neo's header, and serves
Neo's accessors from it; the mapping itself, and the tolerance of broken objects, live in
:mod:`neo_alf.layout` (``docs/alf_to_neo.rst``). Timescale variants (``times_ephysClock``) are never
used as session time.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
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

from ..errors import AlfError
from ..layout import STANDARD_UNITS, ChannelInfo, SessionLayout, SignalSource, build_layout
from ..session import AlfSession

__all__ = ["AlfRawIO"]

_ID_LENGTH = 64  # Neo header ids are U64: longer ones would be cut, and could collide


class AlfRawIO(BaseRawIO):
    """Read an ALF session folder as a Neo rawio.

    Parameters
    ----------
    dirname : str or path-like, optional
        The session folder (``[lab/Subjects/]subject/yyyy-mm-dd/number``).
    session : AlfSession, optional
        An already scanned session, instead of ``dirname``.
    collections : iterable of str, optional
        Exactly these collections (``"alf/probe00"`` is that folder only; ``"alf/probe00/**"`` adds
        the collections below it); default: all. An unknown collection raises, naming those that exist.
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.
    strict : bool
        Raise the first rule broken (:class:`~neo_alf.errors.AlfError`). By default a dataset or
        object that breaks a rule is left out with an :class:`~neo_alf.errors.AlfWarning` naming
        the file and the rule, and listed in :attr:`problems`; the rest of the session stands.
    spike_array_annotations : bool
        Put per-spike attributes (``spikes.amps``, ``spikes.depths``...) in each unit's
        ``__array_annotations__``. Off by default: it reads every per-spike attribute whole.

    Attributes
    ----------
    layout : SessionLayout
        What the session became (after ``parse_header``): signal streams, irregular signals, spike
        sources, event sources, problems, notes.
    problems : list of AlfError
        The rules broken by what was left out.

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
        dirname: str | os.PathLike | None = None,
        collections: Iterable[str] | None = None,
        revision: str | None = None,
        spike_array_annotations: bool = False,
        strict: bool = False,
        session: AlfSession | None = None,
        **kwargs: Any,
    ):
        BaseRawIO.__init__(self, **kwargs)
        if dirname is None and session is None:
            raise TypeError("AlfRawIO needs a session folder (dirname=) or an AlfSession (session=)")
        self.dirname = str(dirname if dirname is not None else session.path)
        self.collections = None if collections is None else [str(c) for c in collections]
        self.revision = revision if session is None else session.revision
        self.spike_array_annotations = spike_array_annotations
        self.strict = strict
        self._given_session = session
        self.problems: list[AlfError] = []

    def _source_name(self) -> str:
        return self.dirname

    @property
    def session(self) -> AlfSession:
        """The scanned session (available after ``parse_header``)."""
        return self.layout.session

    @property
    def irregular_signals(self) -> tuple[SignalSource, ...]:
        """Continuous objects with irregular times (``IrregularlySampledSignal`` in AlfIO)."""
        return self.layout.irregular

    # ==================================================================================== header

    def _parse_header(self) -> None:
        session = self._given_session or AlfSession(self.dirname, revision=self.revision)
        self.layout: SessionLayout = build_layout(session, self.collections, strict=self.strict)
        self.problems = list(self.layout.problems)
        spikes = self.layout.spikes
        self._unit_map = [(s, u) for s, src in enumerate(spikes) for u in range(src.index.n_units)]
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

    @property
    def raw_streams(self) -> tuple:
        """SpikeGLX recordings (:class:`neo_alf.spikeglx.RawStream`), streams after the ALF ones."""
        return self.layout.raw

    def raw_stream(self, stream_index: int):
        """The :class:`~neo_alf.spikeglx.RawStream` of a signal stream, or None for an ALF stream."""
        k = stream_index - len(self.layout.streams)
        return self.layout.raw[k] if k >= 0 else None

    def _stream_header(self) -> np.ndarray:
        names = [s.name for s in self.layout.streams] + [r.name for r in self.layout.raw]
        rows = [(n, _fit_id(n, f"stream{i}"), "") for i, n in enumerate(names)]
        return np.array(rows, dtype=_signal_stream_dtype)

    def _channel_header(self) -> np.ndarray:
        rows = []
        for i, s in enumerate(self.layout.streams):
            stream_id = _fit_id(s.name, f"stream{i}")
            for c in s.channels:
                rows.append((c.name, c.id, s.timebase.rate, s.dtype.name, c.units, 1.0, 0.0, stream_id, ""))
        first = len(self.layout.streams)
        for k, raw in enumerate(self.layout.raw):  # int16 with gains to microvolts, session-clock rate
            rows += raw.neo_signal_channels(stream_id=_fit_id(raw.name, f"stream{first + k}"))
        return np.array(rows, dtype=_signal_channel_dtype)

    def _spike_header(self) -> np.ndarray:
        rows = []
        for source, unit in self._unit_map:
            src = self.layout.spikes[source]
            cluster_id = int(src.index.unit_ids[unit])
            full = f"{src.collection}#{cluster_id}"
            unit_id = _fit_id(full, f"spikes{source}#{cluster_id}")
            rows.append((_fit_id(full, f"cluster{cluster_id}"), unit_id, "", 1.0, 0.0, 0, 0.0))
        return np.array(rows, dtype=_spike_channel_dtype)

    def _event_header(self) -> np.ndarray:
        rows = [(ev.name, _fit_id(ev.name, f"event{i}"), ev.kind) for i, ev in enumerate(self.layout.events)]
        return np.array(rows, dtype=_event_channel_dtype)

    # ------------------------------------------------------------------------------- annotations

    def _annotate(self) -> None:
        block = self.raw_annotations["blocks"][0]
        session = self.layout.session
        parts = session.parts
        block["name"] = parts.rel_path if parts else os.path.basename(self.dirname.rstrip("/"))
        block["session_path"] = str(session.path)
        if parts:
            block.update(
                lab=parts.lab or "", subject=parts.subject, date=parts.date.isoformat(), number=parts.number
            )
            # ALF gives the session's date, not its start time: midnight of that day
            block["rec_datetime"] = datetime.datetime.combine(parts.date, datetime.time())
        if self.revision:
            block["revision"] = self.revision
        block["collections"] = list(self.layout.collections)
        block["alf_problems"] = [str(p) for p in self.layout.problems]
        block["alf_notes"] = list(self.layout.notes)
        seg = block["segments"][0]
        seg["name"] = block["name"]
        if "rec_datetime" in block:
            seg["rec_datetime"] = block["rec_datetime"]
        for i, s in enumerate(self.layout.streams):
            ann = seg["signals"][i]
            ann.update(collection=s.collection, alf_object=s.object, timestamps=s.timestamps)
            arr = ann["__array_annotations__"]
            arr["alf_attribute"] = np.array([s.datasets[c.dataset].key for c in s.channels])
            arr["alf_column"] = np.array([-1 if c.column is None else c.column for c in s.channels])
            arr["alf_units"] = np.array([c.original_units for c in s.channels])
        for k, raw in enumerate(self.layout.raw):
            ann = seg["signals"][len(self.layout.streams) + k]
            ann.update(collection=raw.collection, **_plain(raw.annotations))
            arr = ann["__array_annotations__"]
            for key, values in raw.array_annotations.items():
                if np.shape(values)[:1] == (len(raw.channel_names),):
                    arr[key] = np.asarray(values)
        for chan, (source, unit) in enumerate(self._unit_map):
            src = self.layout.spikes[source]
            ann = seg["spikes"][chan]
            ann.update(cluster_id=int(src.index.unit_ids[unit]), collection=src.collection)
            if src.probe:
                ann["probe"] = src.probe
            ann.update(src.unit_annotations[unit])
            units = _standard_units("spikes", src.per_spike)
            if units:  # Neo array annotations carry no units: IBL's standard ones, by attribute
                ann["array_annotation_units"] = units
            if self.spike_array_annotations:
                rows = src.index.rows(unit)
                for key, values in src.per_spike_arrays().items():
                    ann["__array_annotations__"][key] = values[rows]
        for i, ev in enumerate(self.layout.events):
            ann = seg["events"][i]
            ann.update(
                collection=ev.collection, dataset=ev.rel_path, alf_object=ev.object, alf_attribute=ev.key
            )
            ann["__array_annotations__"].update(ev.annotations)
            ann["__array_annotations__"]["row"] = ev.rows

    # ============================================================================== data access

    def _segment_t_start(self, block_index: int, seg_index: int) -> float:
        return self.layout.t_start

    def _segment_t_stop(self, block_index: int, seg_index: int) -> float:
        return self.layout.t_stop

    def _get_signal_size(self, block_index: int, seg_index: int, stream_index: int) -> int:
        raw = self.raw_stream(stream_index)
        return raw.n_samples if raw is not None else self.layout.streams[stream_index].timebase.n_samples

    def _get_signal_t_start(self, block_index: int, seg_index: int, stream_index: int) -> float:
        raw = self.raw_stream(stream_index)  # session time of sample 0 (least-squares clock line)
        return raw.t_start if raw is not None else self.layout.streams[stream_index].timebase.t_start

    def _get_analogsignal_chunk(self, block_index, seg_index, i_start, i_stop, stream_index, channel_indexes):
        # Must return the original dtype (ALF: gains 1; SpikeGLX: int16, gains in the header). Read
        # by positioned reads or chunk decompression; nothing kept mapped.
        raw = self.raw_stream(stream_index)
        n = self._get_signal_size(block_index, seg_index, stream_index)
        i_start = 0 if i_start is None else int(i_start)
        i_stop = n if i_stop is None else int(i_stop)
        if not 0 <= i_start <= i_stop <= n:
            raise IndexError(f"samples {i_start}:{i_stop} outside 0:{n} of stream {stream_index}")
        if raw is not None:
            return raw.read(i_start, i_stop, _channel_selection(channel_indexes, len(raw.channel_names)))
        stream = self.layout.streams[stream_index]
        return stream.read(i_start, i_stop, _channel_selection(channel_indexes, len(stream.channels)))

    def signal_chunk_bounds(self, stream_index: int) -> np.ndarray | None:
        """Sample bounds of the stream's storage chunks (one per mtscomp chunk of a ``.cbin``), or
        None: :func:`neo_alf.dask.signal_array` aligns its chunks to them."""
        raw = self.raw_stream(stream_index)
        bounds = getattr(raw.reader, "chunk_bounds", None) if raw is not None else None
        return None if bounds is None else np.asarray(bounds, dtype=np.int64)

    def probe_to_session(self, stream: str | int, samples) -> np.ndarray:
        """Session seconds of probe samples of a raw stream (its exact, piecewise-linear sync map)."""
        return self._raw(stream).probe_to_session(samples, unit="samples")

    def session_to_probe(self, stream: str | int, seconds) -> np.ndarray:
        """Probe samples (fractional) of session seconds, for a raw stream (the exact map)."""
        return self._raw(stream).session_to_probe(seconds, unit="samples")

    def _raw(self, stream: str | int):
        names = [r.name for r in self.layout.raw]
        if isinstance(stream, str):
            if stream not in names:
                raise KeyError(f"no raw stream {stream!r} (raw streams: {', '.join(names) or 'none'})")
            return self.layout.raw[names.index(stream)]
        raw = self.raw_stream(int(stream))
        if raw is None:
            raise KeyError(f"stream {stream} is not a raw stream")
        return raw

    def _spike_count(self, block_index: int, seg_index: int, spike_channel_index: int) -> int:
        source, unit = self._unit_map[spike_channel_index]
        return self.layout.spikes[source].index.count(unit)

    def _get_spike_timestamps(self, block_index, seg_index, spike_channel_index, t_start, t_stop):
        source, unit = self._unit_map[spike_channel_index]
        return self.layout.spikes[source].index.times(unit, t_start, t_stop)

    def _rescale_spike_timestamp(self, spike_timestamps: np.ndarray, dtype) -> np.ndarray:
        # already seconds: no copy when the dtype matches, so still a read-only view of the index
        # (AlfIO's SpikeTrains are copies)
        return spike_timestamps.astype(dtype, copy=False)

    def _get_spike_raw_waveforms(self, block_index, seg_index, spike_channel_index, t_start, t_stop):
        return None  # ALF spike sorting outputs carry no per-spike waveforms

    def _event_count(self, block_index: int, seg_index: int, event_channel_index: int) -> int:
        return int(self.layout.events[event_channel_index].times.size)

    def _get_event_timestamps(self, block_index, seg_index, event_channel_index, t_start, t_stop):
        ev = self.layout.events[event_channel_index]
        keep = self.event_row_mask(event_channel_index, t_start, t_stop)  # fancy indexing copies
        return ev.times[keep], None if ev.durations is None else ev.durations[keep], ev.labels(keep)

    def _rescale_event_timestamp(self, event_timestamps, dtype, event_channel_index=None):
        return event_timestamps.astype(dtype)

    def _rescale_epoch_duration(self, raw_duration, dtype, event_channel_index=None):
        return raw_duration.astype(dtype)

    # ============================================================================ for the IO layer

    def spike_rows(self, spike_channel_index: int, t_start: float | None = None, t_stop: float | None = None):
        """Rows into ``spikes.*`` of one unit's spikes within ``[t_start, t_stop]`` (time order)."""
        source, unit = self._unit_map[spike_channel_index]
        return self.layout.spikes[source].index.window(unit, t_start, t_stop)[0]

    def per_spike_arrays(self, spike_channel_index: int) -> dict[str, np.ndarray]:
        """The per-spike attributes (``amps``, ``depths``...) of a unit's collection, read once."""
        source, _ = self._unit_map[spike_channel_index]
        return self.layout.spikes[source].per_spike_arrays()

    def irregular_channels(self, signal: SignalSource) -> tuple[ChannelInfo, ...]:
        """Name, id, units of each channel (column of a numeric attribute) of an irregular signal."""
        return signal.channels

    def irregular_chunk(self, signal: SignalSource, i_start: int, i_stop: int, channels) -> np.ndarray:
        """Samples ``i_start:i_stop`` of some channels of an irregular signal, as float64."""
        return signal.read(i_start, i_stop, np.asarray(channels, dtype=np.int64), dtype=np.float64)

    def event_row_mask(self, event_channel_index: int, t_start=None, t_stop=None) -> np.ndarray:
        """Which times of an event channel fall within ``[t_start, t_stop]`` (all when both are None)."""
        times = self.layout.events[event_channel_index].times
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
            "strict": self.strict,
            "load_raw": getattr(self, "load_raw", False),
        }
        accepted = inspect.signature(type(self).__init__).parameters
        kwargs = {k: v for k, v in known.items() if k in accepted}
        return {"kwargs": kwargs, "parsed": bool(self.is_header_parsed)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["kwargs"])
        if state["parsed"]:
            self.parse_header()


# ==================================================================================== helpers


def _channel_selection(channel_indexes, n_channels: int) -> np.ndarray:
    if channel_indexes is None:
        return np.arange(n_channels)
    if isinstance(channel_indexes, slice):
        return np.arange(n_channels)[channel_indexes]
    return np.asarray(channel_indexes, dtype=np.int64).reshape(-1)


def _standard_units(obj: str, keys) -> dict[str, str]:
    return {k: STANDARD_UNITS[(obj, k)] for k in keys if (obj, k) in STANDARD_UNITS}


def _plain(annotations: dict) -> dict:
    """Annotation values Neo accepts (numbers, text, arrays); anything else as text."""
    out = {}
    for key, value in annotations.items():
        ok = value is None or isinstance(value, str | int | float | bool | np.ndarray | np.generic | list)
        out[key] = value if ok else str(value)
    return out


def _fit_id(text: str, fallback: str) -> str:
    return text if len(text) <= _ID_LENGTH else fallback
