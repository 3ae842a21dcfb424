"""Write an ALF session to NWB with pynwb, keeping every column under its ALF name.

:func:`write_nwb` reads the session model (:class:`neo_alf.AlfSession`), not Neo objects, so that
nothing Neo cannot carry (cluster tables, per-spike attributes as ragged columns, trial columns,
brain regions) is lost on the way. What goes where:

=====================================================  ===============================================
ALF                                                    NWB
=====================================================  ===============================================
session folder ``lab/Subjects/subject/date/number``    ``NWBFile`` (identifier: the eid), ``Subject``
``channels.*`` of each spike-sorting collection        ``electrodes`` (one row per channel row; an
                                                       ``ElectrodeGroup`` and a ``Device`` per probe)
``spikes.*`` + ``clusters.*``                          ``units``: one row per cluster row (empty ones
                                                       included), ``spike_times``, every
                                                       ``clusters.<attr>`` and the unit's
                                                       ``channels.<attr>``, ``spikes.<attr>`` ragged,
                                                       ``electrodes`` (the cluster's channel)
interval series (``trials``, ``wheelMoves``...)        ``TimeIntervals`` (``trials`` for the first
                                                       ``trials``), every attribute a column
event series (``licks.times``, camera ``times``)       ``EventsTable`` (NWB 2.10+ core), every other
                                                       attribute a column
``wheel``                                              ``SpatialSeries`` in ``processing/behavior``
other continuous objects                               ``TimeSeries`` per numeric attribute, written in
                                                       chunks with compression
raw SpikeGLX streams (``raw=True``)                    ``ElectricalSeries`` (sync: ``TimeSeries``)
every dataset file                                     ``processing/alf/alf_datasets``: rel_path,
                                                       revision, size, md5, what it became
=====================================================  ===============================================

Large columns are never whole in memory twice: spikes are ordered by unit with one counting sort
(an int32 row order, no mask per unit), then each per-spike column is loaded once, gathered in
pieces and written piece by piece; signals are read in row blocks by positioned reads (a memory map
would leave every page it touched in the process) and written chunk by chunk, compressed.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import AlfDependencyError, AlfError, AlfFormatError, AlfRelationError, AlfWarning
from .export import UnitOrder, native, object_columns, read_whole, rows_reader, table_columns, unit_order
from .readers import column_names, column_units
from .session import AlfObject, AlfSession, Dataset
from .timebase import Timebase, timebase_from_timestamps

__all__ = ["DEFAULT_SPIKE_RESOLUTION", "write_nwb"]

DEFAULT_SPIKE_RESOLUTION = 1.0 / 30000.0
"""float: seconds between two possible spike times when the session does not say (Neuropixels AP rate)."""

_ROWS = 1 << 20  # rows gathered or read per piece
_SIGNAL_BLOCK_BYTES = 32 << 20  # bytes of signal read per block
_EID_NAMESPACE = uuid.UUID("6f0d6c1e-6a8e-5b43-9d4c-0a1f6e2b7c31")  # neo_alf.one.index.EID_NAMESPACE


def write_nwb(
    session: AlfSession | str | os.PathLike,
    path: str | os.PathLike,
    *,
    raw: bool = False,
    overwrite: bool = False,
    eid: str | None = None,
    session_start_time: datetime.datetime | None = None,
    subject: Mapping[str, Any] | None = None,
    nwbfile_fields: Mapping[str, Any] | None = None,
    spike_resolution: float | None = None,
    compression: str | None = "gzip",
    md5: bool = True,
    strict: bool = False,
) -> Path:
    """Write an ALF session to an NWB file (HDF5), every dataset under its ALF name.

    Parameters
    ----------
    session : AlfSession or path-like
        The session (or its folder).
    path : path-like
        The ``.nwb`` file to write. It is written beside, under a temporary name, and renamed when
        complete: a failed conversion leaves nothing behind.
    raw : bool
        Also write the raw SpikeGLX streams (needs :mod:`neo_alf.spikeglx`), chunk by chunk.
    overwrite : bool
        Replace ``path`` if it exists (otherwise :class:`FileExistsError`).
    eid : str, optional
        The NWB identifier. Default: the session's stable eid, as :mod:`neo_alf.one` gives a folder
        found by scanning (a UUID5 of ``lab/subject/date/number``).
    session_start_time : datetime, optional
        ALF folders give the date only: default midnight UTC of the session date.
    subject : mapping, optional
        Fields of ``pynwb.file.Subject`` over the defaults (``subject_id`` from the folder,
        ``species="Mus musculus"``: IBL's subjects are mice; pass yours otherwise).
    nwbfile_fields : mapping, optional
        Fields of ``pynwb.NWBFile`` over the defaults (``experimenter``, ``institution``,
        ``experiment_description``... which ALF folders do not hold).
    spike_resolution : float, optional
        ``units.resolution`` in seconds; default :data:`DEFAULT_SPIKE_RESOLUTION`.
    compression : str or None
        HDF5 filter of every large dataset (``"gzip"``, ``"lzf"``, None).
    md5 : bool
        Compute the md5 of every ALF file written (provenance table); raw streams are not hashed.
    strict : bool
        Raise on an object that breaks an ALF rule instead of warning (:class:`AlfWarning`) and
        leaving it out.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    AlfDependencyError
        pynwb is not installed (extra ``neo-alf[nwb]``).
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    try:
        from pynwb import NWBHDF5IO
    except ImportError:
        raise AlfDependencyError("writing NWB needs pynwb: pip install 'neo-alf[nwb]'") from None
    if not isinstance(session, AlfSession):
        session = AlfSession(session)
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists (pass overwrite=True to replace it)")
    builder = _Builder(
        session,
        eid=eid,
        start=session_start_time,
        subject=dict(subject or {}),
        fields=dict(nwbfile_fields or {}),
        resolution=spike_resolution or DEFAULT_SPIKE_RESOLUTION,
        compression=compression,
        md5=md5,
        strict=strict,
    )
    nwbfile = builder.build(raw=raw)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.nwb")
    try:
        with NWBHDF5IO(str(partial), mode="w") as io:
            io.write(nwbfile)
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()
    return path


# ========================================================================================= iterators


def _data_chunk_iterator_base():
    from hdmf.data_utils import AbstractDataChunkIterator

    return AbstractDataChunkIterator


class _Piece:
    """Rows of one collection's per-spike column, in unit order (``load`` None: NaN filler)."""

    def __init__(self, load: Callable[[], np.ndarray] | None, order: np.ndarray):
        self.load = load
        self.order = order


def _gather_iterator(pieces: list[_Piece], dtype: np.dtype):
    """An hdmf chunk iterator over per-spike values gathered into unit order, piece by piece.

    Each piece's source column is loaded whole once (a fresh array: gathering through a memory map
    would touch every page), gathered ``_ROWS`` at a time, and released before the next piece.
    """
    from hdmf.data_utils import DataChunk

    base = _data_chunk_iterator_base()
    total = int(sum(p.order.size for p in pieces))

    class GatherIterator(base):
        def __init__(self):
            self._gen = self._chunks()

        def _chunks(self) -> Iterator:
            offset = 0
            for piece in pieces:
                n = piece.order.size
                values = piece.load() if piece.load is not None and n else None
                for a in range(0, n, _ROWS):
                    b = min(n, a + _ROWS)
                    if values is None:
                        data = np.full(b - a, np.nan, dtype=dtype)
                    else:
                        data = values[piece.order[a:b]].astype(dtype, copy=False)
                    yield DataChunk(data=data, selection=np.s_[offset + a : offset + b])
                del values
                offset += n

        def __iter__(self):
            return self

        def __len__(self):
            return total

        def __next__(self):
            return next(self._gen)

        def recommended_chunk_shape(self):
            return None

        def recommended_data_shape(self):
            return (total,)

        @property
        def dtype(self):
            return dtype

        @property
        def maxshape(self):
            return (total,)

    return GatherIterator()


def _block_iterator(
    n_rows: int, row_shape: tuple[int, ...], dtype: np.dtype, read: Callable[[int, int], Any]
):
    """An hdmf chunk iterator writing rows ``read(a, b)`` block by block (signals, timestamps)."""
    from hdmf.data_utils import DataChunk

    base = _data_chunk_iterator_base()
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize)
    block = max(1, _SIGNAL_BLOCK_BYTES // row_bytes)

    class BlockIterator(base):
        def __init__(self):
            self._next = 0

        def __iter__(self):
            return self

        def __len__(self):
            return n_rows

        def __next__(self):
            a = self._next
            if a >= n_rows:
                raise StopIteration
            b = min(n_rows, a + block)
            self._next = b
            data = np.asarray(read(a, b), dtype=dtype).reshape((b - a, *row_shape))
            return DataChunk(data=data, selection=(slice(a, b), *[slice(0, s) for s in row_shape]))

        def recommended_chunk_shape(self):
            return None

        def recommended_data_shape(self):
            return (n_rows, *row_shape)

        @property
        def dtype(self):
            return dtype

        @property
        def maxshape(self):
            return (n_rows, *row_shape)

    return BlockIterator()


# =========================================================================================== building


@dataclass
class _SpikeSource:
    collection: str
    probe: str
    times: Dataset
    clusters: Dataset | None
    per_spike: dict[str, Dataset]
    cluster_table: dict[str, np.ndarray]
    channel_table: dict[str, np.ndarray]
    link: np.ndarray | None  # clusters.channels
    order: UnitOrder | None = None
    electrode_offset: int = 0


@dataclass
class _Builder:
    session: AlfSession
    eid: str | None
    start: datetime.datetime | None
    subject: dict[str, Any]
    fields: dict[str, Any]
    resolution: float
    compression: str | None
    md5: bool
    strict: bool
    targets: dict[str, str] = field(default_factory=dict)  # rel_path -> where it went in the file
    unhashed: set[str] = field(default_factory=set)
    raw_rows: dict[tuple[str, int], int] = field(default_factory=dict)  # (probe, raw channel) -> electrode
    names: set[str] = field(default_factory=set)

    # ----------------------------------------------------------------------------------- helpers

    def _io(self, data, chunk_rows: int | None = None, shape: tuple[int, ...] = ()):
        from hdmf.backends.hdf5.h5_utils import H5DataIO

        if self.compression is None:
            return data
        # byte shuffling first: float times and amplitudes compress a quarter smaller with it
        kwargs: dict[str, Any] = {"compression": self.compression, "shuffle": True}
        if self.compression == "gzip":
            kwargs["compression_opts"] = 4
        if chunk_rows is not None:
            kwargs["chunks"] = (max(1, chunk_rows), *shape)
        return H5DataIO(data=data, **kwargs)

    def _record(self, datasets, target: str) -> None:
        for d in datasets:
            for rel in d.rel_paths:
                self.targets[rel] = target

    def _tolerate(self, err: AlfError, what: str) -> None:
        if self.strict:
            raise err
        warnings.warn(AlfWarning(f"{what} left out of the NWB file: {err}", err), stacklevel=4)

    def _unique(self, obj: AlfObject, suffix: str = "") -> str:
        """An NWB name for an object: its ALF name, the collection added when two collections share it."""
        base = obj.name + suffix
        same = [o for o in self.session.objects if o.name == obj.name]
        name = base
        if len(same) > 1 or name in self.names:
            name = f"{obj.collection.replace('/', '_')}_{base}".lstrip("_")
        while name in self.names:
            name += "_"
        self.names.add(name)
        return name

    # ------------------------------------------------------------------------------------- build

    def build(self, raw: bool):
        from pynwb import NWBFile

        parts = self.session.parts
        rel = parts.rel_path if parts else self.session.path.name
        start = self.start
        if start is None:
            day = parts.date if parts else datetime.date(1970, 1, 1)
            start = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
        eid = self.eid
        if eid is None:
            if parts:
                key = f"{parts.lab or ''}/{parts.subject}/{parts.date.isoformat()}/{int(parts.number):03d}"
            else:
                key = str(self.session.path)
            eid = str(uuid.uuid5(_EID_NAMESPACE, key))
        fields = {
            "session_description": f"ALF session {rel}, converted by neo-alf {__version__}",
            "identifier": eid,
            "session_start_time": start,
            "session_id": eid,
            "lab": parts.lab if parts and parts.lab else None,
            "source_script": f"neo-alf {__version__}: neo_alf.nwb.write_nwb",
            "source_script_file_name": "neo_alf/nwb.py",
            "keywords": ["ALF", "ONE", "neo-alf"],
            "notes": (
                "Times are ALF session seconds. Columns keep their ALF names (object.attribute); "
                "processing/alf/alf_datasets lists every ALF file read, its revision and md5."
            ),
        }
        fields.update(self.fields)
        nwb = NWBFile(**fields)
        nwb.subject = self._subject(parts)
        self.nwb = nwb
        objects = self.session.objects
        sources = self._spike_sources(objects)
        self._electrodes(sources)
        self._units(sources)
        used = {(s.collection, n) for s in sources for n in ("spikes", "clusters", "channels")}
        trials_done = False
        for obj in objects:
            if (obj.collection, obj.name) in used:
                continue
            try:
                if _is_raw_recording(obj):
                    continue  # raw=True writes SpikeGLX recordings from their own reader
                if obj.kind == "continuous":
                    self._continuous(obj)
                    continue
                if obj.kind == "table" and not any(
                    k == "table" or k.endswith("_times") for k in obj.row_datasets
                ):
                    continue  # nothing with a time: not written (listed in the provenance table)
                columns = object_columns(obj)
                if "intervals" in columns:
                    as_trials = obj.name == "trials" and not trials_done
                    self._intervals(obj, columns, as_trials)
                    trials_done = trials_done or as_trials
                elif "times" in columns:
                    self._events_table(obj, columns, "times", self._unique(obj))
                else:
                    for key in columns:
                        if key.endswith("_times") and columns[key].ndim == 1:
                            self._events_table(obj, columns, key, self._unique(obj, f".{key}"))
            except AlfError as err:
                self._tolerate(err, f"object {obj.collection}/{obj.name}")
        if raw:
            self._raw()
        self._provenance()
        return nwb

    def _subject(self, parts):
        from pynwb.file import Subject

        fields = {
            "subject_id": parts.subject if parts else "unknown",
            "species": "Mus musculus",
            "sex": "U",  # ALF folders do not say: unknown
            "age": "P0D/",  # unknown: an open range, as the NWB best practices allow
            "description": "subject named by the ALF session folder",
        }
        fields.update(self.subject)
        return Subject(**fields)

    # ---------------------------------------------------------------------------- ephys: sources

    def _spike_sources(self, objects: list[AlfObject]) -> list[_SpikeSource]:
        sources = []
        for obj in objects:
            if obj.name != "spikes" or "times" not in obj:
                continue
            try:
                n_spikes = obj["times"].rows or 0
                clusters_ds = obj.datasets.get("clusters")
                if clusters_ds is not None and clusters_ds.rows != n_spikes:
                    obj.check_rows()  # raises, naming every attribute's rows
                table = self.session.find_objects("clusters", obj.collection)
                channels = self.session.find_objects("channels", obj.collection)
                cl = table_columns(table[0]) if table and clusters_ds is not None else {}
                ch = table_columns(channels[0]) if channels and cl else {}
                link = cl.get("channels") if ch else None
                if link is not None:
                    n_ch = channels[0].check_rows() or 0
                    if link.dtype.kind not in "iu" or (link.size and (link.min() < 0 or link.max() >= n_ch)):
                        raise AlfRelationError(
                            f"clusters.channels are not row indices of the {n_ch} channels",
                            table[0]["channels"].paths,
                            rule="clusters.channels holds 0-based row indices of channels.*",
                        )
                n_units = table[0].check_rows() if table and clusters_ds is not None else None
                order = unit_order(clusters_ds, n_spikes, n_units)
            except AlfError as err:
                self._tolerate(err, f"spikes of {obj.collection}")
                continue
            per_spike = {}
            for k, d in sorted(obj.row_datasets.items()):
                if k in ("times", "clusters"):
                    continue
                try:  # one bad per-spike attribute leaves out that attribute, not the units
                    if d.rows != n_spikes:
                        obj.check_rows()
                    if len(d.shape) == 1 and np.dtype(getattr(d.open(), "dtype", object)).kind in "biuf":
                        per_spike[k] = d
                except AlfError as err:
                    self._tolerate(err, f"spikes.{k} of {obj.collection}")
            probe = re.search(r"probe\d+", obj.collection)
            sources.append(
                _SpikeSource(
                    obj.collection,
                    probe.group(0) if probe else (obj.collection or "probe"),
                    obj["times"],
                    clusters_ds,
                    per_spike,
                    cl,
                    ch,
                    link,
                    order,
                )
            )
        return sources

    # -------------------------------------------------------------------------------- electrodes

    def _electrodes(self, sources: list[_SpikeSource]) -> None:
        from hdmf.common import ElementIdentifiers, VectorData
        from pynwb.ecephys import ElectrodesTable

        with_channels = [s for s in sources if s.channel_table]
        if not with_channels:
            return
        nwb = self.nwb
        regions = _RegionNames()
        keys: dict[str, np.ndarray] = {}
        for s in with_channels:
            for k, v in s.channel_table.items():
                keys.setdefault(k, v)
        extra = {
            "collection": "ALF collection of the channels.* table this row comes from",
            "channel_index": "row of channels.* in that collection",
            "brain_region": "Allen CCF 2017 acronym of channels.brainLocationIds_ccf_2017 (iblatlas)",
            "brain_region_name": "Allen CCF 2017 name of channels.brainLocationIds_ccf_2017 (iblatlas)",
        }
        for k in keys:
            extra[f"channels.{k}"] = f"ALF dataset channels.{k}"
        groups = {}
        for s in with_channels:
            if s.probe not in groups:
                device = nwb.create_device(name=s.probe, description=f"probe {s.probe} (ALF collections)")
                groups[s.probe] = nwb.create_electrode_group(
                    name=s.probe,
                    description=f"channels of {s.probe}",
                    location="see the electrodes table (brain_region)",
                    device=device,
                )
        # the table is built column by column: add_electrode row by row costs ~5 ms a row
        values: dict[str, list] = {name: [] for name in ("location", "group", "group_name", "rel_x", "rel_y")}
        values.update({name: [] for name in extra})
        row = 0
        for s in sources:
            s.electrode_offset = row
            if not s.channel_table:
                continue
            n = len(next(iter(s.channel_table.values())))
            acronyms, names = regions.lookup(s.channel_table.get("brainLocationIds_ccf_2017"), n)
            local = s.channel_table.get("localCoordinates")
            has_local = local is not None and local.ndim == 2 and local.shape[1] >= 2
            values["location"] += [a if a in _ALLEN_TERMS else "root" for a in acronyms]
            values["group"] += [groups[s.probe]] * n
            values["group_name"] += [s.probe] * n
            values["rel_x"] += local[:, 0].astype(float).tolist() if has_local else [np.nan] * n
            values["rel_y"] += local[:, 1].astype(float).tolist() if has_local else [np.nan] * n
            values["collection"] += [s.collection] * n
            values["channel_index"] += list(range(n))
            values["brain_region"] += acronyms
            values["brain_region_name"] += names
            for k, template in keys.items():
                v = s.channel_table.get(k)
                values[f"channels.{k}"] += list(v) if v is not None else [_filler(template)] * n
            row += n
            channels = self.session.find_objects("channels", s.collection)[0]
            self._record(channels.datasets.values(), "general/extracellular_ephys/electrodes")
        descriptions = {
            "location": "Allen CCF 2017 acronym of the channel's region ('root': unknown or outside)",
            "group": "the probe's ElectrodeGroup",
            "group_name": "the probe (probeNN)",
            "rel_x": "channels.localCoordinates[:, 0] (um)",
            "rel_y": "channels.localCoordinates[:, 1] (um)",
            **extra,
        }
        columns = [
            VectorData(name=name, description=descriptions[name], data=_column_data(data))
            for name, data in values.items()
        ]
        nwb.electrodes = ElectrodesTable(
            id=ElementIdentifiers(name="id", data=np.arange(row)), columns=columns
        )

    # ------------------------------------------------------------------------------------- units

    def _units(self, sources: list[_SpikeSource]) -> None:
        from hdmf.common import DynamicTableRegion, ElementIdentifiers, VectorData, VectorIndex
        from pynwb.misc import Units

        if not sources:
            return
        offsets = [s.order.offsets for s in sources]
        counts = np.concatenate([s.order.counts for s in sources])
        n_units = counts.size
        spike_index = np.cumsum(counts).astype(np.int64)
        total = int(spike_index[-1]) if n_units else 0
        columns = []

        def ragged(name: str, description: str, pieces: list[_Piece], dtype) -> None:
            data = _gather_iterator(pieces, np.dtype(dtype)) if total else np.zeros(0, dtype)
            vd = VectorData(name=name, description=description, data=self._io(data, min(total, 1 << 18)))
            # index before data: hdmf drops iterator columns from its length check as it meets them,
            # and an index met after its (dropped) target is refused
            columns.extend([VectorIndex(name=f"{name}_index", data=spike_index, target=vd), vd])

        times_pieces = [_Piece(_loader(s.times), s.order.order) for s in sources]
        ragged("spike_times", "ALF spikes.times of each unit, in session seconds", times_pieces, np.float64)
        per_spike_keys: dict[str, np.dtype] = {}
        for s in sources:
            for k, d in s.per_spike.items():
                dt = np.dtype(d.open().dtype)
                per_spike_keys[k] = np.result_type(per_spike_keys.get(k, dt), dt)
        for k, dt in per_spike_keys.items():
            missing = any(k not in s.per_spike for s in sources)
            dt = np.result_type(dt, np.float32) if missing else dt
            pieces = [
                _Piece(_loader(s.per_spike[k]) if k in s.per_spike else None, s.order.order) for s in sources
            ]
            ragged(f"spikes.{k}", f"ALF spikes.{k} of each spike of the unit", pieces, dt)

        def flat(name: str, description: str, per_source: list[np.ndarray | None]) -> None:
            template = next(v for v in per_source if v is not None)
            filled = [
                v if v is not None else np.array([_filler(template)] * s.order.counts.size)
                for v, s in zip(per_source, sources, strict=True)
            ]
            data = np.concatenate([np.asarray(v) for v in filled], axis=0)
            columns.append(VectorData(name=name, description=description, data=data))

        flat(
            "cluster_id",
            "cluster id (row of clusters.*, or value of spikes.clusters)",
            [s.order.unit_ids for s in sources],
        )
        flat(
            "collection",
            "ALF collection of the spike sorting",
            [np.array([s.collection] * s.order.counts.size) for s in sources],
        )
        flat(
            "probe",
            "probe name (probeNN in the collection)",
            [np.array([s.probe] * s.order.counts.size) for s in sources],
        )
        cluster_keys = sorted({k for s in sources for k in s.cluster_table})
        for k in cluster_keys:
            flat(
                f"clusters.{k}",
                f"ALF clusters.{k}",
                [s.cluster_table[k][s.order.unit_ids] if k in s.cluster_table else None for s in sources],
            )
        channel_keys = sorted({k for s in sources if s.link is not None for k in s.channel_table})
        for k in channel_keys:
            flat(
                f"channels.{k}",
                f"ALF channels.{k} of the unit's channel (clusters.channels)",
                [
                    s.channel_table[k][s.link[s.order.unit_ids]]
                    if s.link is not None and k in s.channel_table
                    else None
                    for s in sources
                ],
            )
        if self.nwb.electrodes is not None and any(s.link is not None for s in sources):
            rows, index = [], []
            for s in sources:
                for u in s.order.unit_ids:
                    if s.link is not None:
                        rows.append(s.electrode_offset + int(s.link[u]))
                    index.append(len(rows))
            region = DynamicTableRegion(
                name="electrodes",
                description="the electrode of the unit's channel (clusters.channels)",
                data=np.array(rows, dtype=np.int64),
                table=self.nwb.electrodes,
            )
            columns.extend(
                [region, VectorIndex(name="electrodes_index", data=np.array(index), target=region)]
            )
        units = Units(
            name="units",
            description="ALF spike sorting: one row per clusters.* row (empty clusters included)",
            id=ElementIdentifiers(name="id", data=np.arange(n_units)),
            columns=columns,
            resolution=self.resolution,
            electrode_table=self.nwb.electrodes,
        )
        self.nwb.units = units
        del offsets
        for s in sources:
            written = [s.times, *([s.clusters] if s.clusters is not None else []), *s.per_spike.values()]
            self._record(written, "units")
            if s.cluster_table:
                for o in self.session.find_objects("clusters", s.collection):
                    self._record(o.datasets.values(), "units")

    # --------------------------------------------------------------------------------- intervals

    def _intervals(self, obj: AlfObject, columns: dict[str, np.ndarray], as_trials: bool) -> None:
        from hdmf.common import ElementIdentifiers, VectorData
        from pynwb.epoch import TimeIntervals

        intervals = np.asarray(columns["intervals"], dtype=np.float64)
        if intervals.ndim != 2 or intervals.shape[1] != 2:
            raise AlfFormatError(
                f"intervals have shape {intervals.shape}, not (n, 2)",
                [p for d in obj.datasets.values() for p in d.paths],
                rule="intervals have two columns: start, end",
            )
        vectors = [
            VectorData(
                name="start_time", description="ALF intervals[:, 0] (session seconds)", data=intervals[:, 0]
            ),
            VectorData(
                name="stop_time", description="ALF intervals[:, 1] (session seconds)", data=intervals[:, 1]
            ),
        ]
        for key, data in columns.items():
            if key != "intervals":
                vectors.append(VectorData(name=key, description=f"ALF {obj.name}.{key}", data=data))
        name = "trials" if as_trials else self._unique(obj)
        table = TimeIntervals(
            name=name,
            description=f"ALF interval series {obj.collection}/{obj.name}".replace("//", "/"),
            id=ElementIdentifiers(name="id", data=np.arange(intervals.shape[0])),
            columns=vectors,
        )
        if as_trials:
            self.nwb.trials = table
            self.names.add("trials")
            self._record(obj.datasets.values(), "intervals/trials")
        else:
            self.nwb.add_time_intervals(table)
            self._record(obj.datasets.values(), f"intervals/{name}")

    # ------------------------------------------------------------------------------------ events

    def _events_table(self, obj: AlfObject, columns: dict[str, np.ndarray], key: str, name: str) -> None:
        """One ``EventsTable``: ``timestamp`` from ``key``, every other column of the object beside it."""
        from hdmf.common import ElementIdentifiers, VectorData
        from pynwb.event import EventsTable, TimestampVectorData

        times = np.asarray(columns[key], dtype=np.float64).reshape(-1)
        vectors = [
            TimestampVectorData(
                name="timestamp",
                description=f"ALF {obj.name}.{key} (session seconds)",
                data=self._io(times, min(times.size, 1 << 16)) if times.size > 1 << 16 else times,
            )
        ]
        for k, data in columns.items():
            if k != key:
                vectors.append(VectorData(name=k, description=f"ALF {obj.name}.{k}", data=data))
        table = EventsTable(
            name=name,
            description=f"ALF event series {obj.collection}/{obj.name}.{key}".replace("//", "/"),
            source_description="ALF dataset",
            id=ElementIdentifiers(name="id", data=np.arange(times.size)),
            columns=vectors,
        )
        self.nwb.add_events_table(table)
        self._record(obj.datasets.values(), f"events/{name}")

    # -------------------------------------------------------------------------------- continuous

    def _continuous(self, obj: AlfObject) -> None:
        from pynwb import TimeSeries
        from pynwb.behavior import Position, SpatialSeries

        n = obj.check_rows()
        if n is None:
            return
        ts_ds = obj["timestamps"]
        timebase = timebase_from_timestamps(ts_ds.open(), n, ts_ds.paths)
        datasets = [
            d
            for k, d in sorted(obj.row_datasets.items())
            if d.timescale is None
            and d.shape is not None
            and 1 <= len(d.shape) <= 2
            and np.dtype(getattr(d.open(), "dtype", object)).kind in "biuf"
        ]
        is_wheel = obj.name == "wheel"
        module = None
        if is_wheel or not obj.collection.startswith("raw"):
            module = self._module("behavior", "ALF behaviour and other continuous data")
        first = None
        for d in datasets:
            data = d.open()
            shape = tuple(data.shape)
            n_cols = 1 if len(shape) == 1 else shape[1]
            units = [u for u in column_units(d.metadata, n_cols) if u]
            names = column_names(d.metadata, n_cols)
            unit = units[0] if units and len(set(units)) == 1 else (", ".join(units) if units else "")
            if not unit:
                unit = "radians" if is_wheel and d.attribute == "position" else "n.a."
            dtype = native(np.empty(0, data.dtype)).dtype
            series_data = self._io(
                _block_iterator(n, shape[1:], dtype, rows_reader(data)),
                max(1, min(n, (1 << 20) // max(1, dtype.itemsize * n_cols))),
                shape[1:],
            )
            name = self._unique(obj, f".{d.key}")
            description = f"ALF {obj.collection}/{obj.name}.{d.key}".replace("//", "/")
            if any(names):
                description += "; columns: " + ", ".join(str(c) for c in names)
            timing: dict[str, Any]
            if first is not None:
                timing = {"timestamps": first} if not timebase.is_regular else _regular(timebase)
            elif timebase.is_regular:
                timing = _regular(timebase)
            else:
                # per-sample times are read from the file by positioned reads; sync points interpolated
                read = rows_reader(ts_ds.open()) if timebase.per_sample is not None else timebase.times
                stamps = _block_iterator(n, (), np.dtype(np.float64), read)
                timing = {"timestamps": self._io(stamps, min(n, 1 << 17))}
            if is_wheel:
                series = SpatialSeries(
                    name=name,
                    description=description,
                    data=series_data,
                    unit=unit,
                    reference_frame="wheel angle from its position at the session start",
                    **timing,
                )
                position = module.data_interfaces.get("Position") or Position(name="Position")
                if "Position" not in module.data_interfaces:
                    module.add(position)
                position.add_spatial_series(series)
                where = f"processing/behavior/Position/{name}"
            else:
                series = TimeSeries(name=name, description=description, data=series_data, unit=unit, **timing)
                if module is None:
                    self.nwb.add_acquisition(series)
                    where = f"acquisition/{name}"
                else:
                    module.add(series)
                    where = f"processing/{module.name}/{name}"
            if first is None and not timebase.is_regular:
                first = series
            self._record([d, ts_ds], where)

    def _module(self, name: str, description: str):
        if name in self.nwb.processing:
            return self.nwb.processing[name]
        return self.nwb.create_processing_module(name=name, description=description)

    # --------------------------------------------------------------------------------------- raw

    def _raw(self) -> None:
        try:
            from .spikeglx import find_raw_streams
        except ImportError:
            raise AlfDependencyError(
                "raw=True needs neo_alf.spikeglx (SpikeGLX recordings), not in this installation"
            ) from None
        from pynwb import TimeSeries
        from pynwb.ecephys import ElectricalSeries

        for stream in find_raw_streams(self.session.path):
            n_ch = len(stream.channel_names)
            read = stream.read
            data = self._io(
                _block_iterator(stream.n_samples, (n_ch,), np.dtype(np.int16), lambda a, b, r=read: r(a, b)),
                max(1, min(stream.n_samples, (1 << 20) // (2 * n_ch))),
                (n_ch,),
            )
            name = stream.name.replace("/", "_")
            description = f"SpikeGLX stream {stream.name} of {stream.collection}, raw int16"
            gains = np.asarray(stream.gains, dtype=np.float64)
            neural = all(u == "uV" for u in stream.units)
            offsets = np.asarray(stream.offsets, dtype=np.float64)
            if neural:
                region = self._raw_electrodes(stream)
                same = bool(np.all(gains == gains[0]))
                # data stay int16 as recorded; volts = data * conversion (* channel_conversion) + offset
                conversion = float(gains[0]) * 1e-6 if same else 1e-6
                kwargs: dict[str, Any] = {} if same else {"channel_conversion": gains}
                if offsets.size and np.all(offsets == offsets[0]) and offsets[0] != 0:
                    kwargs["offset"] = float(offsets[0]) * 1e-6
                series = ElectricalSeries(
                    name=name,
                    description=description,
                    data=data,
                    electrodes=region,
                    starting_time=float(stream.t_start),
                    rate=float(stream.rate_in_session),
                    conversion=conversion,
                    **kwargs,
                )
            else:
                series = TimeSeries(
                    name=name,
                    description=description,
                    data=data,
                    unit="n.a.",
                    starting_time=float(stream.t_start),
                    rate=float(stream.rate_in_session),
                )
            self.nwb.add_acquisition(series)
            for f in stream.files:
                rel = Path(f).relative_to(self.session.path).as_posix()
                self.targets[rel] = f"acquisition/{name}"
                self.unhashed.add(rel)  # raw recordings are tens of GB: not hashed here

    def _raw_electrodes(self, stream):
        """Electrode rows of a raw stream's channels: the probe's rows by ``channels.rawInd``, else new."""
        nwb = self.nwb
        probe = re.search(r"probe\d+", stream.collection)
        probe = probe.group(0) if probe else stream.collection.replace("/", "_")
        by_raw: dict[int, int] = {}
        if nwb.electrodes is not None and "channels.rawInd" in nwb.electrodes.colnames:
            groups = nwb.electrodes["group_name"][:]
            raw_ind = nwb.electrodes["channels.rawInd"][:]
            for row, (g, r) in enumerate(zip(groups, raw_ind, strict=True)):
                if g == probe:
                    by_raw.setdefault(int(r), row)
        if probe not in nwb.electrode_groups:
            if probe not in nwb.devices:
                nwb.create_device(name=probe, description=f"probe {probe}")
            nwb.create_electrode_group(
                name=probe,
                description=f"channels of {probe}",
                location="see the electrodes table",
                device=nwb.devices[probe],
            )
        rows = []
        for i in range(len(stream.channel_names)):
            key = (probe, i)
            if key not in self.raw_rows and i in by_raw:
                self.raw_rows[key] = by_raw[i]
            if key not in self.raw_rows:
                extra = {}
                if nwb.electrodes is not None:
                    extra = {c: _filler_for_column(nwb.electrodes, c) for c in _extra_columns(nwb.electrodes)}
                # no channels.* row for this channel: its region is unknown ("root" is the Allen term)
                nwb.add_electrode(group=nwb.electrode_groups[probe], location="root", **extra)
                self.raw_rows[key] = len(nwb.electrodes) - 1
            rows.append(self.raw_rows[key])
        return nwb.create_electrode_table_region(rows, f"channels of {stream.name}")

    # -------------------------------------------------------------------------------- provenance

    def _provenance(self) -> None:
        from hdmf.common import DynamicTable, ElementIdentifiers, VectorData

        rows = []
        for d in self.session.datasets:
            for f in d.files:
                hashed = self.md5 and f.rel_path in self.targets and f.rel_path not in self.unhashed
                digest = _md5(f.path) if hashed else ""
                rows.append(
                    (
                        f.rel_path,
                        d.collection,
                        d.object,
                        d.key,
                        d.revision or "",
                        f.path.stat().st_size,
                        digest,
                        self.targets.get(f.rel_path, ""),
                    )
                )
        for rel, target in self.targets.items():  # raw files: not ALF datasets of the session model
            if not any(r[0] == rel for r in rows):
                rows.append(
                    (
                        rel,
                        str(Path(rel).parent),
                        "",
                        "",
                        "",
                        (self.session.path / rel).stat().st_size,
                        "",
                        target,
                    )
                )
        spec = [
            ("rel_path", "path of the file relative to the session folder"),
            ("collection", "ALF collection"),
            ("object", "ALF object"),
            ("attribute", "ALF attribute (with its timescale)"),
            ("revision", "ALF revision folder the file comes from (empty: none)"),
            ("size_bytes", "file size in bytes"),
            ("md5", "md5 of the file (hex; empty: not computed)"),
            ("nwb_target", "where its content is in this NWB file (empty: not written)"),
        ]
        columns = [
            VectorData(name=name, description=desc, data=[r[i] for r in rows])
            for i, (name, desc) in enumerate(spec)
        ]
        table = DynamicTable(
            name="alf_datasets",
            description="Provenance: every ALF dataset file of the session, and where it went",
            id=ElementIdentifiers(name="id", data=np.arange(len(rows))),
            columns=columns,
        )
        self._module("alf", "ALF data without a standard NWB place, and the provenance of this file").add(
            table
        )


# ============================================================================================ helpers


_SPIKEGLX = re.compile(r"(^|/)_spikeglx_|\.(ap|lf|nidq)\.(cbin|bin|ch|meta)$")


def _is_raw_recording(obj: AlfObject) -> bool:
    """Whether every file of an object belongs to a SpikeGLX recording (not an ALF object to write)."""
    try:
        from .spikeglx import is_spikeglx_file
    except ImportError:

        def is_spikeglx_file(rel: str) -> bool:
            return bool(_SPIKEGLX.search(rel))

    return all(is_spikeglx_file(rel) for d in obj.datasets.values() for rel in d.rel_paths)


def _regular(timebase: Timebase) -> dict[str, float]:
    return {"starting_time": float(timebase.t_start), "rate": float(timebase.rate)}


def _loader(d: Dataset) -> Callable[[], np.ndarray]:
    return lambda: read_whole(d)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _filler(template: np.ndarray) -> Any:
    """A missing value shaped and typed like one row of ``template`` (NaN, -1, or empty text)."""
    template = np.asarray(template)
    row_shape = template.shape[1:]
    if template.dtype.kind in "US":
        return "" if not row_shape else np.full(row_shape, "")
    if template.dtype.kind == "f":
        return np.nan if not row_shape else np.full(row_shape, np.nan)
    if template.dtype.kind == "b":
        return False if not row_shape else np.zeros(row_shape, bool)
    return -1 if not row_shape else np.full(row_shape, -1)


def _column_data(values: list) -> Any:
    """A list of row values as column data: an array for numbers and text, the list for objects."""
    if values and not isinstance(values[0], (str, int, float, np.generic, np.ndarray)):
        return values
    return np.asarray(values)


def _extra_columns(table) -> list[str]:
    """Columns of the electrodes table that ``add_electrode`` needs a value for."""
    return [c for c in table.colnames if c not in ("location", "group", "group_name")]


def _filler_for_column(table, name: str) -> Any:
    return _filler(np.asarray(table[name][:1]))


_ALLEN_TERMS_SKIP = {"void"}  # IBL's id 0, outside the brain: not an Allen CCF term


class _AllenTerms:
    """Acronyms that are Allen CCF terms (``location`` must be one; others become ``root``)."""

    def __contains__(self, acronym: str) -> bool:
        return bool(acronym) and acronym not in _ALLEN_TERMS_SKIP


_ALLEN_TERMS = _AllenTerms()


class _RegionNames:
    """Allen CCF 2017 acronyms and names of region ids, from iblatlas when it is installed."""

    def __init__(self):
        try:
            from iblatlas.regions import BrainRegions
        except ImportError:
            self.table = None
            return
        regions = BrainRegions()
        self.table = {
            int(i): (str(a), str(n))
            for i, a, n in zip(regions.id, regions.acronym, regions.name, strict=True)
        }

    def lookup(self, ids: np.ndarray | None, n: int) -> tuple[list[str], list[str]]:
        if ids is None:
            return [""] * n, [""] * n
        if self.table is None:
            return [""] * n, [""] * n
        pairs = [self.table.get(int(i), ("", "")) for i in np.asarray(ids).reshape(-1)]
        return [a for a, _ in pairs], [b for _, b in pairs]
