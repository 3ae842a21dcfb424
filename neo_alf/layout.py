"""The ALF-to-Neo plan of one session, built once: what becomes a signal, a spike train, an event.

:func:`build_layout` turns an :class:`~neo_alf.session.AlfSession` into a :class:`SessionLayout` of
frozen dataclasses: regular signal streams, irregular signals, spike sources (one per collection with
``spikes.times``), event and epoch sources, the session span, and the problems met. It reads headers,
the small tables that become annotations, and event times; never a signal or a spike time beyond the
one streaming pass that counts units. :class:`~neo_alf.rawio.AlfRawIO` turns the layout into Neo's
header and serves Neo's accessors; :class:`~neo_alf.io.AlfIO`, the CLI and the SpikeInterface adapter
read the same ``reader.layout``.

**Tolerant per object, strict on request.** A dataset or object that breaks a rule never stops the
session: what can stand stands (an event series keeps its times when one of its annotation attributes
is broken), what cannot is left out with an :class:`~neo_alf.errors.AlfWarning` naming the file and
the rule, and is listed in :attr:`SessionLayout.problems`. With ``strict=True`` the first problem is
raised instead. Departures that IBL publishes and ONE-api tolerates (:data:`neo_alf.rules.KNOWN_QUIRKS`)
are :attr:`SessionLayout.notes`, not problems.

The mapping (``docs/alf_to_neo.rst``):

- **signal streams**: one per *regularly sampled* continuous object (``timestamps`` as two sync points,
  collinear sync points, or per-sample times with a constant step); channels are the columns of its
  numeric attributes. Irregular ones (IBL wheel) are :attr:`SessionLayout.irregular`.
- **spike sources**: per collection with ``spikes.times``: one unit per row of ``clusters.*`` (empty
  clusters included), else per distinct ``spikes.clusters`` id, else one for all spikes.
- **events / epochs**: one per event series (``obj.times``) and ``*_times`` attribute, one epoch per
  interval series and ``*_intervals`` attribute, columns of ``table`` attributes included (IBL trials
  tables). Rows with a NaN time leave the Event/Epoch; its ``row`` array annotation keeps the others
  aligned with the object's rows.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from . import readers, rules
from .errors import AlfDimensionError, AlfError, AlfNotFoundError, AlfRelationError, AlfWarning
from .readers import column_names, column_units
from .rowread import row_source
from .session import AlfObject, AlfSession, Dataset
from .spikeglx import RawStream, find_raw_streams
from .spikeindex import SpikeIndex
from .timebase import Timebase
from .units import to_neo_units

__all__ = [
    "STANDARD_UNITS",
    "ChannelInfo",
    "EventSource",
    "SessionLayout",
    "SignalSource",
    "SpikeSource",
    "build_layout",
    "select_collections",
]

STANDARD_UNITS: dict[tuple[str, str], str] = {
    ("wheel", "position"): "rad",
    ("wheel", "velocity"): "rad/s",
    ("wheel", "acceleration"): "rad/s**2",
    ("wheelMoves", "peakAmplitude"): "rad",
    ("spikes", "amps"): "V",
    ("spikes", "depths"): "um",
    ("clusters", "depths"): "um",
    ("channels", "localCoordinates"): "um",
    ("channels", "mlapdv"): "um",
}
"""dict: ``(object, attribute) -> unit`` of IBL's standard dataset types, from their published
descriptions (wheel angles in radians, spike amplitudes in volts, depths in micrometres); used where
no metadata file says otherwise."""

_T = TypeVar("_T")
_ANNOTATION_MAX_COLUMNS = 3  # 2-D cluster/channel attributes up to xyz become annotations


@dataclass(frozen=True)
class ChannelInfo:
    """One channel of a continuous object: a column of one of its numeric attributes."""

    dataset: int  # index into the source's datasets
    column: int | None  # None for a 1-D attribute
    name: str
    id: str
    units: str  # for Neo (quantities)
    original_units: str  # as the metadata wrote it ("" when absent)


@dataclass(frozen=True)
class SignalSource:
    """A continuous object: a regular stream (``AnalogSignal``) or an irregular signal."""

    name: str  # "collection/object", unique
    collection: str
    object: str
    timebase: Timebase
    datasets: tuple[Dataset, ...]
    channels: tuple[ChannelInfo, ...]
    dtype: np.dtype
    timestamps: str  # rel_path of the timestamps file
    readers: list = field(default_factory=list, compare=False, repr=False)  # opened on first read

    def read(self, i_start: int, i_stop: int, channels: np.ndarray, dtype: Any = None) -> np.ndarray:
        """Samples ``i_start:i_stop`` of some channels, ``(n, len(channels))``, by positioned reads."""
        if not self.readers:
            self.readers.extend(row_source(d) for d in self.datasets)
        dtype = np.dtype(dtype or self.dtype)
        if len(self.readers) == 1:
            data = _as_rows(self.readers[0][i_start:i_stop], i_stop - i_start)
            return np.asarray(data[:, channels], dtype=dtype)
        out = np.empty((i_stop - i_start, len(channels)), dtype=dtype)
        blocks: dict[int, np.ndarray] = {}
        for k, channel in enumerate(channels):
            info = self.channels[int(channel)]
            if info.dataset not in blocks:
                blocks[info.dataset] = _as_rows(self.readers[info.dataset][i_start:i_stop], i_stop - i_start)
            out[:, k] = blocks[info.dataset][:, 0 if info.column is None else info.column]
        return out


@dataclass(frozen=True)
class SpikeSource:
    """``spikes.*`` of one collection: the per-unit index and what annotates each unit."""

    collection: str
    probe: str | None
    index: SpikeIndex
    times: Dataset
    per_spike: Mapping[str, Dataset]  # 1-D attributes with a row per spike (amps, depths ...)
    unit_annotations: tuple[dict[str, Any], ...]  # one dict per unit, in unit order
    arrays: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def per_spike_arrays(self) -> dict[str, np.ndarray]:
        """Every per-spike attribute, read once (positioned reads) and kept."""
        if not self.arrays:
            for key, d in self.per_spike.items():
                self.arrays[key] = np.asarray(row_source(d)[:])
        return self.arrays


@dataclass(frozen=True)
class EventSource:
    """One ``Event`` (``*times``) or ``Epoch`` (``*intervals``) of an object's attribute."""

    name: str  # unique, plain str: "alf/task_00/trials.stimOn_times"
    collection: str
    object: str
    key: str
    kind: str  # "event" or "epoch"
    rel_path: str
    times: np.ndarray  # float64 seconds, finite
    durations: np.ndarray | None  # float64, epochs only
    rows: np.ndarray  # int32 (int64 past 2**31 rows): the object's row of each time (NaN times left out)
    annotations: Mapping[str, np.ndarray]  # other 1-D attributes of the object, at ``rows``
    label_key: str | None  # the 1-D text attribute naming each row, when there is one

    def labels(self, keep: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Row labels (from the object's text attribute; empty strings without one), built on request."""
        if self.label_key is not None:
            return np.asarray(self.annotations[self.label_key][keep]).astype(str)
        return np.zeros(self.rows[keep].size, dtype="U1")


@dataclass(frozen=True)
class SessionLayout:
    """What an ALF session becomes in Neo, and what was left out.

    Attributes
    ----------
    session : AlfSession
    streams : tuple of SignalSource
        Regularly sampled continuous objects (Neo signal streams).
    irregular : tuple of SignalSource
        Continuous objects with irregular times (``IrregularlySampledSignal``).
    spikes : tuple of SpikeSource
    events : tuple of EventSource
    raw : tuple of RawStream
        SpikeGLX recordings (``probe00.ap``, ``probe00.ap-SYNC``, ``probe00.lf``, ``nidq``...): int16
        samples with gains to microvolts, on the session clock through their sync files.
    t_start, t_stop : float
        The Segment's span: 0.0 (ALF times count from the start of the experiment) or the
        earliest datum if earlier, to the latest.
    problems : tuple of AlfError
        Rules broken by what was left out (each was also warned, as :class:`AlfWarning`).
    notes : tuple of str
        Departures IBL publishes and ONE-api tolerates, and files neo-alf does not read.
    collections : tuple of str
        The collections read.
    """

    session: AlfSession
    streams: tuple[SignalSource, ...]
    irregular: tuple[SignalSource, ...]
    spikes: tuple[SpikeSource, ...]
    events: tuple[EventSource, ...]
    t_start: float
    t_stop: float
    problems: tuple[AlfError, ...]
    notes: tuple[str, ...]
    collections: tuple[str, ...]
    raw: tuple[RawStream, ...] = ()


# ======================================================================================= collections


def select_collections(session: AlfSession, wanted: Iterable[str] | None) -> tuple[str, ...]:
    """The collections asked for: exact names; ``"alf/probe00/**"`` adds those below it.

    Raises
    ------
    AlfNotFoundError
        A name (or pattern) that matches no collection; the message lists those that exist.
    """
    existing = sorted(set(session.collections) | set(session.raw_collections))
    if wanted is None:
        return tuple(existing)
    chosen: list[str] = []
    for raw in wanted:
        name = str(raw).strip()
        if name.endswith("/**"):
            base = name[:-3].strip("/")
            found = [c for c in existing if c == base or c.startswith(base + "/") or base == ""]
        else:
            base = name.strip("/")
            found = [c for c in existing if c == base]
        if not found:
            listed = ", ".join(repr(c) for c in existing) or "none"
            raise AlfNotFoundError(
                f"no collection {name!r} (collections: {listed}; add '/**' for those below one)",
                session.path,
            )
        chosen += [c for c in found if c not in chosen]
    return tuple(sorted(chosen))


# ============================================================================================ build


class _Builder:
    def __init__(self, session: AlfSession, strict: bool):
        self.session = session
        self.strict = strict
        self.problems: list[AlfError] = []
        self.notes: list[str] = []

    def tolerate(self, err: AlfError, what: str) -> None:
        """Raise in strict mode; else record the problem and warn, naming the file and the rule."""
        if self.strict:
            raise err
        self.problems.append(err)
        warnings.warn(AlfWarning(f"{what} left out: {err}", err), stacklevel=5)

    def attempt(self, what: str, build: Callable[[], _T]) -> _T | None:
        try:
            return build()
        except AlfError as err:
            self.tolerate(err, what)
            return None

    # ------------------------------------------------------------------------------ continuous

    def signal(self, obj: AlfObject) -> SignalSource | None:
        try:
            n_samples = obj.check_rows()
        except AlfDimensionError as err:
            self.tolerate(err, f"signal {obj.collection}/{obj.name}")
            return None
        if n_samples is None:
            return None
        timebase = rules.object_timebase(obj, n_samples)
        datasets = []
        for d in sorted(obj.row_datasets.values(), key=lambda a: a.key):
            if not isinstance(d, Dataset) or d.timescale is not None:
                continue
            dtype = _dtype_of(d)
            if dtype.kind in "iuf" and d.shape is not None and 1 <= len(d.shape) <= 2:
                datasets.append(d)
        if not datasets:
            return None
        name = f"{obj.collection}/{obj.name}".lstrip("/")
        return SignalSource(
            name=name,
            collection=obj.collection,
            object=obj.name,
            timebase=timebase,
            datasets=tuple(datasets),
            channels=tuple(channel_info(obj.name, datasets)),
            dtype=np.result_type(*[_dtype_of(d) for d in datasets]),
            timestamps=obj["timestamps"].rel_paths[0],
        )

    # ---------------------------------------------------------------------------------- spikes

    def spikes(self, obj: AlfObject) -> SpikeSource | None:
        times_ds = obj["times"]
        attributes = obj.attributes
        n_spikes = times_ds.rows
        clusters_ds = attributes.get("clusters")
        if clusters_ds is not None and clusters_ds.rows != n_spikes:
            raise AlfDimensionError(
                f"spikes.clusters has {clusters_ds.rows} rows, spikes.times {n_spikes}",
                clusters_ds.paths,
                rule=rules.RULES["rows"],
            )
        table = self.table(obj.collection, "clusters") if clusters_ds is not None else None
        n_units = None
        if table is not None:
            try:
                n_units = table.check_rows()
            except AlfDimensionError as err:
                self.tolerate(err, f"unit annotations from {obj.collection}/clusters.*")
                table = None
        index = SpikeIndex(  # openers: files are read in chunks, never kept mapped
            lambda: _whole_rows(times_ds),
            None if clusters_ds is None else (lambda: _whole_rows(clusters_ds)),
            n_units=n_units,
            times_paths=times_ds.paths,
            clusters_paths=() if clusters_ds is None else clusters_ds.paths,
        )
        per_spike = {}
        for key, d in sorted(obj.row_datasets.items()):
            if key in ("times", "clusters") or not isinstance(d, Dataset):
                continue
            if d.shape is None or len(d.shape) != 1 or _dtype_of(d).kind not in "biuf":
                continue
            if d.rows != n_spikes:
                self.tolerate(
                    AlfDimensionError(
                        f"spikes.{key} has {d.rows} rows, spikes.times {n_spikes}",
                        d.paths,
                        rule=rules.RULES["rows"],
                    ),
                    f"per-spike attribute spikes.{key}",
                )
                continue
            per_spike[key] = d
        probe = re.search(r"probe\d+", obj.collection)
        return SpikeSource(
            collection=obj.collection,
            probe=probe.group(0) if probe else None,
            index=index,
            times=times_ds,
            per_spike=MappingProxyType(per_spike),
            unit_annotations=tuple(self.unit_annotations(obj.collection, index, table)),
        )

    def raw_streams(self, chosen: tuple[str, ...]) -> list[RawStream]:
        """The session's SpikeGLX recordings in the chosen collections, from their headers only."""
        files = [r for r in self.session.raw_files if r.rpartition("/")[0] in chosen]
        if not files:
            return []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AlfWarning)
            found = find_raw_streams(self.session.path, files, strict=self.strict)
        for w in caught:  # a broken recording: left out, named, listed with the other problems
            error = getattr(w.message, "error", None)
            if isinstance(error, AlfError):
                self.problems.append(error)
            warnings.warn(w.message, stacklevel=4)
        return found

    def table(self, collection: str, name: str) -> AlfObject | None:
        found = self.session.find_objects(name, collection)
        return found[0] if found else None

    def unit_annotations(self, collection: str, index: SpikeIndex, clusters: AlfObject | None) -> list[dict]:
        """Each unit's cluster attributes (``cluster_*``) and its channel's (``channel_*``)."""
        cl = self.rows_of(clusters) if clusters is not None else {}
        channels = self.table(collection, "channels")
        ch = self.rows_of(channels) if channels is not None and cl else {}
        link = cl.get("channels") if ch else None
        if link is not None:
            n_channels = len(next(iter(ch.values())))
            if (
                link.ndim != 1
                or link.dtype.kind not in "iu"
                or (link.size and (link.min() < 0 or link.max() >= n_channels))
            ):
                self.tolerate(
                    AlfRelationError(
                        f"clusters.channels are not row indices of the {n_channels} channels",
                        clusters["channels"].paths,
                        rule=rules.RULES["clusters_channels"],
                    ),
                    "channel annotations of units",
                )
                link = None
        ch.update(_region_names(ch))
        cl_rows = {k: _per_row(v) for k, v in cl.items()}
        ch_rows = {k: _per_row(v) for k, v in ch.items()} if link is not None else {}
        link_rows = link.tolist() if link is not None else None
        out = []
        for cluster_id in index.unit_ids.tolist():
            ann: dict[str, Any] = {}
            for key, values in cl_rows.items():
                if 0 <= cluster_id < len(values):
                    ann[f"cluster_{key}"] = values[cluster_id]
            if link_rows is not None and 0 <= cluster_id < len(link_rows):
                channel = link_rows[cluster_id]
                for key, values in ch_rows.items():
                    ann[f"channel_{key}"] = values[channel]
            out.append(ann)
        return out

    def rows_of(self, obj: AlfObject) -> dict[str, np.ndarray]:
        """The annotation-sized attributes of a small table (clusters, channels), each checked alone."""
        out: dict[str, np.ndarray] = {}
        for key, d in sorted(obj.row_datasets.items()):
            shape = self.attempt(f"annotation {obj.name}.{key}", lambda d=d: d.shape)  # the header only
            if shape is None or not _may_annotate(d, shape):
                continue  # waveforms and other wide arrays: not annotations, not read
            data = self.attempt(f"annotation {obj.name}.{key}", d.load)
            if not isinstance(data, np.ndarray):
                continue
            if data.dtype.names:
                for name in data.dtype.names:
                    column = np.asarray(data[name])
                    if _annotatable(column):
                        out[f"{key}_{name}"] = column
            elif _annotatable(data):
                out[key] = np.asarray(data)
        return out

    # ---------------------------------------------------------------------------------- events

    def events(self, obj: AlfObject) -> list[EventSource]:
        attributes = obj.attributes
        timed = [(k, a) for k, a in sorted(attributes.items()) if a.is_universal_time]
        if "start" in attributes and "stop" in attributes and "intervals" not in attributes:
            # a table of stimuli with start and stop columns (IBL's _ibl_passiveGabor.table.csv)
            timed.append(("intervals", _StartStop(attributes["start"], attributes["stop"])))
        if not timed:
            return []
        try:
            n_rows = obj.check_rows()
        except AlfDimensionError as err:
            why = rules.rows_quirk(obj)
            if why is not None:
                self.notes.append(f"{err} [tolerated: {why}]")
            n_rows = None  # each odd attribute is left out of the annotations, named, below
        except AlfError:
            n_rows = None  # a broken attribute: left out of the annotations, named, below
        if n_rows is None:  # rows differ, or an attribute is broken: the first healthy time's rows
            n_rows = next((r for r in (_rows_or_none(a) for _, a in timed) if r is not None), 0)
        # each 1-D attribute is read once: as an annotation of the others and, if timed, as times
        columns = self.row_attributes(obj, n_rows)
        out = []
        for key, attr in timed:
            try:
                starts, durations = rules.event_times(attr, columns.get(key))
            except AlfError as err:
                self.tolerate(err, f"{'epoch' if key.endswith('intervals') else 'event'} {obj.name}.{key}")
                continue
            finite = np.isfinite(starts)
            if durations is not None:
                finite &= np.isfinite(durations)
            keep_all = bool(finite.all())
            index_type = np.int32 if starts.size < 2**31 else np.int64
            rows = np.arange(starts.size, dtype=index_type) if keep_all else np.flatnonzero(finite)
            rows = rows.astype(index_type, copy=False)
            annotations = {
                k: (v if keep_all else v[rows])
                for k, v in columns.items()
                if k != key and v.shape[0] == starts.size
            }
            label_key = next((k for k, v in annotations.items() if v.dtype.kind in "US"), None)
            name = f"{obj.collection}/{obj.name}.{key}".lstrip("/")
            out.append(
                EventSource(
                    name=name,
                    collection=obj.collection,
                    object=obj.name,
                    key=key,
                    kind="epoch" if durations is not None else "event",
                    rel_path=attr.rel_paths[0],
                    times=starts if keep_all else starts[rows],
                    durations=None if durations is None else (durations if keep_all else durations[rows]),
                    rows=rows,
                    annotations=MappingProxyType(annotations),
                    label_key=label_key,
                )
            )
        return out

    def row_attributes(self, obj: AlfObject, n_rows: int) -> dict[str, np.ndarray]:
        """1-D attributes of an event object with its row count, for array annotations; a broken
        or mis-sized one is left out (warned), the event keeps its times."""
        out: dict[str, np.ndarray] = {}
        for key, d in sorted(obj.row_datasets.items()):
            if d.error is not None:
                continue  # broken while scanning (a duplicate): already a problem of the session
            try:
                shape = d.shape
            except AlfError as err:
                self.tolerate(err, f"array annotation {obj.name}.{key}")
                continue
            if shape is None or len(shape) != 1:
                continue
            if shape[0] != n_rows:
                if rules.rows_quirk(obj) is None:
                    self.tolerate(
                        AlfDimensionError(
                            f"{obj.name}.{key} has {shape[0]} rows, the object's times {n_rows}",
                            d.paths,
                            rule=rules.RULES["rows"],
                        ),
                        f"array annotation {obj.name}.{key}",
                    )
                continue
            data = self.attempt(f"array annotation {obj.name}.{key}", d.load)
            if isinstance(data, np.ndarray) and data.dtype.kind in "biufUS" and data.dtype.names is None:
                out[key] = np.asarray(data)
        return out


def build_layout(
    session: AlfSession, collections: Iterable[str] | None = None, strict: bool = False
) -> SessionLayout:
    """Plan how a session becomes Neo objects, reading headers and small tables only.

    Parameters
    ----------
    session : AlfSession
    collections : iterable of str, optional
        Exactly these collections (``"alf/probe00/**"`` adds those below); default: all.
    strict : bool
        Raise the first problem instead of leaving the object out with a warning.

    Returns
    -------
    SessionLayout
    """
    with readers._inside(session.path):  # every file opened must stay in this session folder
        return _build_layout(session, collections, strict)


def _build_layout(session: AlfSession, collections: Iterable[str] | None, strict: bool) -> SessionLayout:
    chosen = select_collections(session, collections)
    builder = _Builder(session, strict)
    if strict and session.problems:
        raise session.problems[0]
    for err in session.problems:
        builder.tolerate(err, "dataset")
    objects = [o for o in session.objects if o.collection in chosen]
    streams: list[SignalSource] = []
    irregular: list[SignalSource] = []
    spikes: list[SpikeSource] = []
    events: list[EventSource] = []
    spike_collections = set()
    for obj in objects:
        where = f"{obj.collection}/{obj.name}".lstrip("/")
        if not obj.attributes:
            continue
        if obj.name == "spikes" and "times" in obj.attributes:
            spike_collections.add(obj.collection)
            what = f"spikes of {obj.collection or 'the session root'}"
            source = builder.attempt(what, lambda o=obj: builder.spikes(o))
            if source is not None:
                spikes.append(source)
        elif obj.kind == "continuous":
            signal = builder.attempt(f"signal {where}", lambda o=obj: builder.signal(o))
            if signal is not None:
                (streams if signal.timebase.is_regular else irregular).append(signal)
    for obj in objects:
        if (
            obj.kind != "continuous"
            and obj.attributes
            and not (obj.name == "spikes" and obj.collection in spike_collections)
        ):
            what = f"events of {obj.collection}/{obj.name}"
            events += builder.attempt(what, lambda o=obj: builder.events(o)) or []
    builder.notes += session.unread_notes()
    raw = builder.raw_streams(chosen)
    t_start, t_stop = _span(streams, irregular, spikes, events, raw)
    return SessionLayout(
        session=session,
        streams=tuple(streams),
        irregular=tuple(irregular),
        spikes=tuple(spikes),
        events=tuple(events),
        t_start=t_start,
        t_stop=t_stop,
        problems=tuple(builder.problems),
        notes=tuple(builder.notes),
        collections=chosen,
        raw=tuple(raw),
    )


def _span(streams, irregular, spikes, events, raw=()) -> tuple[float, float]:
    spans: list[tuple[float, float]] = []
    for r in raw:
        if r.n_samples:
            spans.append((r.t_start, r.t_start + r.n_samples / r.rate_in_session))
    for src in spikes:
        if src.index.t_first is not None:
            spans.append((src.index.t_first, src.index.t_last))
    for ev in events:
        if ev.times.size:
            stops = ev.times + ev.durations if ev.durations is not None else ev.times
            spans.append((float(ev.times.min()), float(stops.max())))
    for s in (*streams, *irregular):
        if s.timebase.n_samples:
            spans.append((s.timebase.t_start, s.timebase.t_stop))
    # ALF times are seconds from the start of the experiment: the Segment starts at 0 unless data
    # come earlier, so a Neo user's time_slice=(0 s, 5 s) means what it says
    t_start = min([0.0, *[a for a, _ in spans]])
    t_stop = max([t_start, *[b for _, b in spans]])
    if not t_stop > t_start:  # Neo needs t_stop > t_start, even for a single time
        t_stop = float(np.nextafter(t_start, np.inf))
    return float(t_start), float(t_stop)


# ========================================================================================== helpers


def channel_info(object_name: str, datasets: list[Dataset]) -> list[ChannelInfo]:
    """Every channel of a continuous object, with names and units (metadata, else IBL's standard units)."""
    out = []
    for i, d in enumerate(datasets):
        n_cols = 1 if len(d.shape) == 1 else d.shape[1]
        names, units = column_names(d.metadata, n_cols), column_units(d.metadata, n_cols)
        standard = STANDARD_UNITS.get((object_name, d.attribute))
        for j in range(n_cols):
            col = None if len(d.shape) == 1 else j
            given = units[j] if units[j] is not None else standard
            neo_units, _ = to_neo_units(given)
            default = d.key if col is None else f"{d.key}[{col}]"
            out.append(
                ChannelInfo(
                    i,
                    col,
                    str(names[j] or default),
                    d.key if col is None else f"{d.key}:{col}",
                    neo_units,
                    "" if units[j] is None else str(units[j]),
                )
            )
    return out


def _whole_rows(d: Dataset) -> Any:
    """A dataset as one array supporting fancy row indexing: the memmap, or the parts joined."""
    return d.load() if d.is_multipart else d.open()


def _dtype_of(d: Any) -> np.dtype:
    dtype = getattr(d, "dtype", None)  # a Dataset knows it from its header
    if dtype is None:
        dtype = getattr(d.open(), "dtype", object)
    return np.dtype(dtype)


class _StartStop:
    """``start`` and ``stop`` attributes of a table, seen as its ``intervals`` (n, 2)."""

    attribute = key = "intervals"
    timescale = None
    is_universal_time = True
    error = None

    def __init__(self, start: Any, stop: Any):
        self.start, self.stop = start, stop
        self.paths = tuple(dict.fromkeys((*start.paths, *stop.paths)))
        self.rel_paths = tuple(dict.fromkeys((*start.rel_paths, *stop.rel_paths)))

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.start.rows, 2)

    @property
    def rows(self) -> int:
        return self.start.rows

    def load(self) -> np.ndarray:
        start, stop = np.asarray(self.start.load()), np.asarray(self.stop.load())
        if start.shape != stop.shape or start.ndim != 1:
            raise AlfDimensionError(
                f"start {start.shape} and stop {stop.shape} are not two columns of one table",
                self.paths,
                rule=rules.RULES["intervals_shape"],
            )
        return np.column_stack([start, stop])


_REGION_IDS = "brainLocationIds_ccf_2017"


def _region_names(channels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Acronym and name of each channel's Allen region, beside its id, when iblatlas is installed
    (its wheel ships the Allen table; extra ``[atlas]``); nothing without it."""
    ids = channels.get(_REGION_IDS)
    if ids is None or ids.ndim != 1:
        return {}
    try:
        from .atlas import region_annotations

        regions = region_annotations(ids)
    except (ImportError, AlfError):  # no iblatlas: ids only
        return {}
    return {"brainLocation_acronym": regions["acronym"], "brainLocation_name": regions["name"]}


def _as_rows(data: Any, n: int) -> np.ndarray:
    """Rows of a 1-D or 2-D attribute as an ``(n, columns)`` array."""
    data = np.asarray(data)
    return data.reshape(n, 1) if data.ndim == 1 else data.reshape(n, data.shape[1])


def _rows_or_none(attribute: Any) -> int | None:
    try:
        return attribute.rows
    except AlfError:
        return None


def _may_annotate(d: Any, shape: tuple[int, ...]) -> bool:
    """From its header: 1-D, a few columns, or a table (whose columns are looked at one by one)."""
    if getattr(d, "extension", "").lower() in ("pqt", "csv", "tsv", "ssv") and len(shape) <= 2:
        return True
    return len(shape) == 1 or (len(shape) == 2 and shape[1] <= _ANNOTATION_MAX_COLUMNS)


def _annotatable(values: np.ndarray) -> bool:
    """1-D numbers/text, or 2-D with a few columns (coordinates), not waveforms."""
    if values.dtype.kind not in "biufUS" or values.dtype.names:
        return False
    return values.ndim == 1 or (values.ndim == 2 and values.shape[1] <= _ANNOTATION_MAX_COLUMNS)


def _per_row(values: np.ndarray) -> list:
    """Row values converted once: Python scalars (``str`` for text), or rows of a 2-D array."""
    return values.tolist() if values.ndim == 1 else list(np.array(values))
