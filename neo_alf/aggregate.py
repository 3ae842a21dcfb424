"""Aggregate tables over many sessions, as IBL publishes them for the brain-wide map (extra ``[dask]``).

- :func:`units_table`: one row per unit (cluster) of every spike-sorting collection;
- :func:`trials_table`: one row per trial, with every trials column.

Each session is read by one task (:func:`neo_alf.parallel.map_sessions`: serial, or on a Dask
client), which returns a small pandas DataFrame; this process concatenates them in input order
and adds the region acronyms and names (:mod:`neo_alf.atlas`) in one look-up. A session that
fails is left out and recorded in ``table.attrs["errors"]`` (one dict per session: ``session``,
``path``, ``error``, ``message``), with one :class:`~neo_alf.errors.AlfWarning`.

The command line: ``neo-alf aggregate units|trials --cache-dir R [--workers N] --out units.pqt``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AlfDependencyError, AlfDimensionError, AlfRelationError, AlfWarning
from .parallel import is_error, local_cluster, map_eids, map_sessions
from .session import AlfObject, AlfSession

__all__ = [
    "TRIAL_COLUMNS",
    "UNIT_COLUMNS",
    "add_aggregate_parser",
    "aggregate_command",
    "session_trials",
    "session_units",
    "trials_columns",
    "trials_table",
    "units_columns",
    "units_table",
]

SESSION_COLUMNS = ["eid", "lab", "subject", "date", "number"]
UNIT_COLUMNS = [
    *SESSION_COLUMNS,
    "probe",
    "collection",
    "cluster_id",
    "spike_count",
    "firing_rate",
    "label",
    "channel",
    "depth",
    "x",
    "y",
    "z",
    "atlas_id",
]
"""list: the units table's fixed columns, in order; QC metrics columns follow ``label``, and
``acronym``, ``name`` follow ``atlas_id`` when iblatlas is installed."""

TRIAL_COLUMNS = [*SESSION_COLUMNS, "collection", "trial"]
"""list: the trials table's first columns; every trials attribute follows."""

_REGION_IDS = "brainLocationIds_ccf_2017"


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise AlfDependencyError(
            "aggregate tables are pandas DataFrames: pip install 'neo-alf[dask]'",
            rule="optional extra `dask`",
        ) from None
    return pd


# ============================================================================== one session


def _session_fields(session: AlfSession) -> dict[str, Any]:
    from .one.index import session_eid

    parts = session.parts
    if parts is None:
        return {"eid": "", "lab": "", "subject": "", "date": "", "number": -1}
    return {
        "eid": session_eid(parts.lab, parts.subject, parts.date, parts.number),
        "lab": parts.lab or "",
        "subject": parts.subject,
        "date": parts.date.isoformat(),
        "number": int(parts.number),
    }


def session_units(path: str | os.PathLike, revision: str | None = None):
    """The units table of one session (no region names: :func:`units_table` adds them).

    Units are as :class:`~neo_alf.rawio.AlfRawIO` gives them: per collection with ``spikes.times``,
    one per row of ``clusters.*`` (empty clusters included), else one per distinct
    ``spikes.clusters`` id, else one unit (id 0) of all spikes. ``firing_rate`` is ``spike_count``
    over the span of the collection's spikes (first to last spike, all units). ``label`` and the
    metrics columns come from ``clusters.metrics`` (IBL's ``clusters.metrics.pqt``, rows matched by
    its ``cluster_id``; ``label`` is the fraction of QC criteria passed, 1 = good); the counts and
    rates computed here replace the metrics' own. ``channel`` is ``clusters.channels``; ``depth``
    ``clusters.depths``; ``x, y, z`` and ``atlas_id`` the unit's channel's ``channels.mlapdv`` and
    ``channels.brainLocationIds_ccf_2017`` (or the clusters' own ids when present). Missing values
    are NaN, or ``<NA>`` in the integer columns ``channel`` and ``atlas_id``.

    The spikes are read once, in chunks (memory: one chunk, whatever the probe's size); of the
    other objects only the attributes above.

    Returns
    -------
    pandas.DataFrame
    """
    return _frame([units_columns(path, revision)], UNIT_COLUMNS)


def units_columns(path: str | os.PathLike, revision: str | None = None) -> dict[str, np.ndarray]:
    """:func:`session_units` as NumPy columns (what a Dask task returns: it pickles as raw bytes,
    where a DataFrame of text columns costs the client milliseconds to unpickle)."""
    session = AlfSession(path, revision=revision)
    parts = [
        _collection_units(session, obj) for obj in session.objects if obj.name == "spikes" and "times" in obj
    ]
    return _with_fields(_session_fields(session), _join(parts))


def _with_fields(fields: dict[str, Any], columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = next((v.shape[0] for v in columns.values()), 0)
    out = {k: np.full(n, v) for k, v in fields.items()}
    out.update(columns)
    return out


def _join(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Columns of several row groups, one after the other; a column a group lacks is NaN (``""``)."""
    if len(parts) == 1:
        return parts[0]
    return {k: v.unpack() if isinstance(v, _Text) else v for k, v in _join_packed(parts).items()}


def _length(columns: dict[str, Any]) -> int:
    return next((len(v) for v in columns.values()), 0)


_NULLABLE_INT = ("channel", "atlas_id")


def _frame(results: list[dict[str, Any]], empty_columns: list[str]):
    """One DataFrame from the columns of many sessions (NumPy arrays, or text as :class:`_Text`):
    text columns are built from their distinct values and codes, integer ids with gaps as ``Int64``."""
    pd = _pandas()
    present = [r for r in results if _length(r)]
    if not present:
        return pd.DataFrame({c: [] for c in empty_columns})
    columns = _join_packed(present)
    data = {}
    for key, column in columns.items():
        if isinstance(column, _Text):
            data[key] = column.to_pandas(pd)
        elif key in _NULLABLE_INT:
            data[key] = pd.array(np.asarray(column, dtype=float), dtype="Int64")
        else:
            data[key] = column
    return pd.DataFrame(data)


def _join_packed(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Columns of several row groups, one after the other, text as :class:`_Text` (joined as codes
    into the union of the parts' distinct values, never one string per row); a column a group
    lacks is NaN, or ``""`` for text."""
    out = {}
    for key in _column_order(parts):
        present = [p[key] for p in parts if key in p]
        if any(isinstance(a, _Text) or a.dtype.kind in "UO" for a in present):
            out[key] = _Text.join([_Text.of(p[key]) if key in p else _Text.blank(_length(p)) for p in parts])
        else:
            out[key] = np.concatenate([p[key] if key in p else np.full(_length(p), np.nan) for p in parts])
    return out


def _column_order(parts: list[dict[str, Any]]) -> list[str]:
    """Every column of the parts, each after the one it follows in its part."""
    order: list[str] = []
    for part in parts:
        previous = None
        for key in part:
            if key not in order:
                order.insert(order.index(previous) + 1 if previous is not None else len(order), key)
            previous = key
    return order


def _spike_counts(times_ds, clusters_ds, n_units: int | None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(unit ids, spike counts, span of the times)`` in one chunked pass over the spikes."""
    from .columns import Column, zip_chunks

    times = Column(lambda: _whole(times_ds))
    columns = [times] if clusters_ds is None else [times, Column(lambda: _whole(clusters_ds))]
    if len(columns) == 2 and columns[1].size != times.size:
        raise AlfDimensionError(
            f"spikes.clusters has {columns[1].size} rows, spikes.times {times.size}",
            (*times_ds.paths, *clusters_ds.paths),
            rule="all attributes of an object have the same number of rows",
        )
    if len(columns) == 2 and columns[1].dtype.kind not in "iu":
        raise AlfRelationError(
            f"cluster indices are {columns[1].dtype}, not integers",
            clusters_ds.paths,
            rule="spikes.clusters holds 0-based row indices of clusters.*",
        )
    counts = np.zeros(n_units or 0, dtype=np.int64)
    lo, hi = np.inf, -np.inf
    for first, chunk in zip_chunks(*columns):
        t = chunk[0]
        if t.size:
            lo, hi = min(lo, float(np.nanmin(t))), max(hi, float(np.nanmax(t)))
        if clusters_ds is None:
            continue
        c = chunk[1]
        if c.size and (c.min() < 0 or (n_units is not None and c.max() >= n_units)):
            bad = int(np.flatnonzero((c < 0) | (c >= (n_units if n_units is not None else np.inf)))[0])
            raise AlfRelationError(
                f"row {first + bad}: cluster index {int(c[bad])}, but clusters.* has {n_units} rows",
                clusters_ds.paths,
                rule="spikes.clusters holds 0-based row indices of clusters.*",
            )
        part = np.bincount(c.astype(np.int64, copy=False), minlength=counts.size)
        if part.size > counts.size:
            part[: counts.size] += counts
            counts = part
        else:
            counts += part
    span = hi - lo if np.isfinite(lo) and np.isfinite(hi) else 0.0
    if clusters_ds is None:
        return np.zeros(1, dtype=np.int64), np.array([times.size], dtype=np.int64), span
    if n_units is not None:
        return np.arange(n_units, dtype=np.int64), counts, span
    ids = np.flatnonzero(counts)
    return ids.astype(np.int64), counts[ids], span


def _collection_units(session: AlfSession, spikes: AlfObject) -> dict[str, np.ndarray]:
    collection = spikes.collection
    clusters_ds = spikes.datasets.get("clusters")
    clusters = _first(session, "clusters", collection) if clusters_ds is not None else None
    n_units = clusters.check_rows() if clusters is not None else None
    ids, counts, span = _spike_counts(spikes["times"], clusters_ds, n_units)
    n = ids.size
    probe = re.search(r"probe\d+", collection)
    columns: dict[str, Any] = {
        "probe": probe.group(0) if probe else "",
        "collection": collection,
        "cluster_id": ids,
        "spike_count": counts,
        "firing_rate": counts / span if span > 0 else np.full(n, np.nan),
        "label": np.full(n, np.nan),
    }
    table = _rows(clusters, ("channels", "depths", "metrics", _REGION_IDS)) if clusters is not None else {}
    metrics = _metrics(table, ids)
    if "label" in metrics:
        columns["label"] = metrics.pop("label")
    for key in ("cluster_id", "spike_count", "firing_rate"):
        metrics.pop(key, None)
    columns.update(metrics)
    unit_channel = _take(table.get("channels"), ids, np.nan).astype(float)
    has_channel = np.isfinite(unit_channel)
    channel_row = np.where(has_channel, unit_channel, 0).astype(np.int64)
    columns["channel"] = unit_channel  # float with NaN: Int64 in the table
    columns["depth"] = _take(table.get("depths"), ids, np.nan)
    channels = _first(session, "channels", collection)
    ch = _rows(channels, ("mlapdv", _REGION_IDS)) if channels is not None and has_channel.any() else {}
    if ch:
        n_channels = channels.check_rows() or 0
        rows = channel_row[has_channel]
        if rows.min() < 0 or rows.max() >= n_channels:
            raise AlfRelationError(
                f"clusters.channels are not row indices of the {n_channels} channels",
                clusters["channels"].paths,
                rule="clusters.channels holds 0-based row indices of channels.*",
            )
    xyz = np.full((n, 3), np.nan)
    mlapdv = ch.get("mlapdv")
    if mlapdv is not None and mlapdv.ndim == 2 and mlapdv.shape[1] >= 3:
        xyz[has_channel] = mlapdv[channel_row[has_channel], :3]
    columns.update(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2])
    region = np.full(n, np.nan)
    if table.get(_REGION_IDS) is not None:
        region = _take(table[_REGION_IDS], ids, np.nan).astype(float)
    elif ch.get(_REGION_IDS) is not None:
        region[has_channel] = ch[_REGION_IDS][channel_row[has_channel]]
    columns["atlas_id"] = region
    return {k: (np.full(n, v) if np.ndim(v) == 0 else np.asarray(v)) for k, v in columns.items()}


def _first(session: AlfSession, name: str, collection: str) -> AlfObject | None:
    found = session.find_objects(name, collection)
    return found[0] if found else None


def _whole(d):
    return d.load() if d.is_multipart else d.open()


def _rows(obj: AlfObject, keys: Iterable[str]) -> dict[str, np.ndarray]:
    """Some per-row attributes of a small table object (clusters, channels), loaded."""
    out = {}
    for key in keys:
        d = obj.datasets.get(key)
        if d is None:
            continue
        data = d.load()
        if isinstance(data, np.ndarray) and (data.dtype.names or data.dtype.kind in "biufUS"):
            out[key] = np.asarray(data)
    return out


def _metrics(table: dict[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray]:
    """``clusters.metrics`` columns, one value per unit (rows matched by its ``cluster_id`` column)."""
    data = table.get("metrics")
    if data is None or not data.dtype.names:
        return {}
    names = data.dtype.names
    if "cluster_id" in names:
        where = {int(c): i for i, c in enumerate(np.asarray(data["cluster_id"]))}
        rows = np.array([where.get(int(c), -1) for c in ids], dtype=np.int64)
    else:
        rows = np.where(ids < data.shape[0], ids, -1)
    out = {}
    for name in names:
        values = np.asarray(data[name])
        out[name] = _take(values, rows, "" if values.dtype.kind in "US" else np.nan)
    return out


def _take(values, rows: np.ndarray, missing):
    """``values[rows]`` (1-D), ``missing`` where a row is outside ``values``; ints stay ints when full."""
    n = rows.size
    if values is None:
        return np.full(n, missing)
    values = np.asarray(values)
    if values.ndim != 1:
        return np.full(n, missing)
    ok = (rows >= 0) & (rows < values.shape[0])
    if ok.all():
        return values[rows]
    kind = values.dtype.kind
    out = np.full(n, missing, dtype=object if kind in "US" else np.result_type(values.dtype, type(missing)))
    out[ok] = values[rows[ok]]
    return out


def _take_rows(values, rows: np.ndarray):
    if values is None:
        return None
    values = np.asarray(values)
    if values.ndim != 2 or (rows.size and (rows.min() < 0 or rows.max() >= values.shape[0])):
        return None
    return values[rows].astype(float)


def session_trials(path: str | os.PathLike, revision: str | None = None):
    """The trials table of one session: one row per trial, every trials column.

    Every ``trials`` object of the session (``alf``, ``alf/task_00``...) gives rows, with its
    ``collection``. Columns: 1-D attributes by key (timescale variants too: ``goCue_times_bpod``);
    2-D ones split as IBL's tables store them (``intervals_0``, ``intervals_1``); the fields of a
    ``trials.table`` (IBL's ``_ibl_trials.table.pqt``) under their own names (merged by the session
    model as ONE-api merges them). Attributes whose rows differ make the session an error record.

    Returns
    -------
    pandas.DataFrame
    """
    return _frame([trials_columns(path, revision)], TRIAL_COLUMNS)


def trials_columns(path: str | os.PathLike, revision: str | None = None) -> dict[str, np.ndarray]:
    """:func:`session_trials` as NumPy columns (what a Dask task returns)."""
    session = AlfSession(path, revision=revision)
    parts = []
    for obj in session.find_objects("trials"):
        # a table of trials needs one row count: rows that differ are an error here, not a warning
        data = session.load_object("trials", obj.collection, strict=True)
        columns: dict[str, np.ndarray] = {}
        for key, values in data.items():
            if not isinstance(values, np.ndarray):
                continue
            if values.dtype.names:
                columns.update({f"{key}_{f}": np.asarray(values[f]) for f in values.dtype.names})
            elif values.ndim == 1:
                columns[key] = np.asarray(values)
            elif values.ndim == 2:
                columns.update({f"{key}_{j}": np.asarray(values[:, j]) for j in range(values.shape[1])})
        n = next((v.shape[0] for v in columns.values()), 0)
        parts.append({"collection": np.full(n, obj.collection), "trial": np.arange(n), **columns})
    return _with_fields(_session_fields(session), _join(parts) if parts else {})


# ============================================================================== many sessions


class _SessionTask:
    """``func(path, revision=...)``: a module-level class pickles by reference, as Dask tasks must.

    A session's columns travel as one :class:`_Columns` block of bytes (one message part, where a
    dict of arrays costs the client's event loop tens of microseconds per array to take apart),
    text as its distinct values and int32 codes (:class:`_Text`): a session's eid, subject,
    collection... repeat on every row, and NumPy text is 4 bytes per character.
    """

    def __init__(self, func, revision, pack: bool = True):
        self.func, self.revision, self.pack = func, revision, pack

    def __call__(self, path):
        columns = self.func(path, revision=self.revision)
        return _Columns.pack(columns) if self.pack else columns


class _Columns:
    """Named columns (plain NumPy arrays and :class:`_Text`) in one block of bytes: a JSON list of
    ``[name, [dtype, shape, offset]...]`` then the arrays' bytes. Nothing is pickled."""

    __slots__ = ("_columns", "blob")

    def __init__(self, blob: bytes):
        self.blob = blob
        self._columns: dict[str, Any] | None = None

    @classmethod
    def _arrived(cls, blob: bytes) -> _Columns:
        """Unpickled on the client: taken apart at once, as each task's results arrive (on the
        client's event-loop thread, while other tasks still run) rather than all at the end."""
        columns = cls(blob)
        columns._columns = columns.unpack()
        return columns

    @classmethod
    def pack(cls, columns: dict[str, Any]) -> _Columns:
        layout, parts, offset = [], [], 0
        for key, column in columns.items():
            if isinstance(column, np.ndarray) and (column.dtype.kind in "UOS" or column.dtype.names):
                column = _Text.pack(column)
            arrays = (column.values, column.codes) if isinstance(column, _Text) else (column,)
            entry = []
            for array in arrays:
                array = np.ascontiguousarray(array)
                entry.append([array.dtype.str, list(array.shape), offset])
                padding = -array.nbytes % 16  # each array aligned, as NumPy's own allocations are
                parts.append(array.tobytes() + bytes(padding))
                offset += array.nbytes + padding
            layout.append([key, entry])
        head = json.dumps(layout).encode()
        head += b" " * (-len(head) % 16)
        return cls(len(head).to_bytes(16, "little") + head + b"".join(parts))

    def unpack(self) -> dict[str, Any]:
        if self._columns is not None:
            return self._columns
        size = int.from_bytes(self.blob[:16], "little")
        body = memoryview(self.blob)[16 + size :]
        out: dict[str, Any] = {}
        for key, entry in json.loads(self.blob[16 : 16 + size]):
            arrays = []
            for dtype, shape, offset in entry:
                dtype = np.dtype(dtype)
                if dtype.kind == "O" or dtype.names:
                    raise ValueError(f"column {key}: dtype {dtype} does not travel as bytes")
                count = math.prod(shape)
                arrays.append(np.frombuffer(body, dtype, count, offset).reshape(shape))
            out[key] = _Text(*arrays) if len(arrays) == 2 else arrays[0]
        return out

    def __reduce__(self):
        return (_Columns._arrived, (self.blob,))


class _Text:
    """A text column as its distinct values and one int32 code per row (``values[codes]``)."""

    __slots__ = ("codes", "values")

    def __init__(self, values: np.ndarray, codes: np.ndarray):
        self.values, self.codes = values, codes

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @classmethod
    def pack(cls, column: np.ndarray) -> _Text:
        values, codes = np.unique(np.asarray(column).astype(str), return_inverse=True)
        return cls(values, codes.astype(np.int32).reshape(-1))

    @classmethod
    def of(cls, column) -> _Text:
        return column if isinstance(column, _Text) else cls.pack(column)

    @classmethod
    def blank(cls, n: int) -> _Text:
        return cls(np.array([""]), np.zeros(n, dtype=np.int32))

    @classmethod
    def join(cls, parts: list[_Text]) -> _Text:
        """The parts one after the other: codes into the union of their values."""
        # every part's values in one array: a part's code c is entry first[part] + c of it
        values, where = np.unique(np.concatenate([p.values for p in parts]).astype(str), return_inverse=True)
        first = np.cumsum([0] + [p.values.shape[0] for p in parts[:-1]])
        local = np.concatenate([p.codes for p in parts]).astype(np.intp)
        local += np.repeat(first, [p.codes.shape[0] for p in parts])
        return cls(values, where.reshape(-1).astype(np.int32)[local])

    def unpack(self) -> np.ndarray:
        return self.values[self.codes]

    def to_pandas(self, pd):
        """A pandas column of the default text dtype (``str`` in pandas 3, ``object`` before)."""
        return pd.Series(self.values).array.take(self.codes)

    def __reduce__(self):
        return (_Text, (self.values, self.codes))


def _aggregate(func, sessions, eids, client, progress, revision, search, empty_columns):
    from .one import OneAdapter

    task = _SessionTask(func, revision, pack=client is not None)  # serial: nothing travels
    if isinstance(sessions, OneAdapter):
        eids = sessions.search(**search) if eids is None else list(eids)
        results = map_eids(sessions, task, eids, client=client, reader=False, progress=progress)
        labels = eids
    else:
        if eids is not None or search:
            raise TypeError("eids and search filters need a OneAdapter as sessions")
        paths = list(sessions)
        results = map_sessions(task, paths, client=client, reader=False, progress=progress)
        labels = None
    good, errors = [], []
    for i, result in enumerate(results):
        if is_error(result):
            errors.append(result.as_dict())
            continue
        if isinstance(result, _Columns):
            result = result.unpack()
        if labels is not None and "eid" in result:  # the adapter's eids (cache tables), not name-based
            result["eid"] = _Text(np.array([sessions.to_eid(labels[i])]), np.zeros(_length(result), np.int32))
        good.append(result)
    table = _frame(good, empty_columns)
    if errors:
        shown = "; ".join(f"{e['session']}: {e['error']}: {e['message']}" for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        warnings.warn(
            f"{len(errors)} of {len(results)} sessions failed and are left out: {shown}{more}",
            AlfWarning,
            stacklevel=3,
        )
    table.attrs["errors"] = errors
    return table


def _add_regions(table, regions: bool | str, id_column: str = "atlas_id"):
    if regions is False or id_column not in table:
        return table
    missing = table[id_column].isna().to_numpy()
    ids = table[id_column].fillna(0).to_numpy(dtype=np.int64)
    # a table's regions are few: each looked up once, then one code per row (the last for "none")
    distinct, codes = np.unique(ids[~missing], return_inverse=True)
    try:
        from .atlas import region_annotations

        ann = region_annotations(distinct)
    except AlfDependencyError:
        if regions == "auto":
            return table
        raise
    row_codes = np.full(len(table), distinct.size, dtype=np.int32)
    row_codes[~missing] = codes.reshape(-1)
    position = table.columns.get_loc(id_column) + 1
    for offset, key in enumerate(("acronym", "name")):
        column = _Text(np.append(np.asarray(ann[key]).astype(str), ""), row_codes)
        table.insert(position + offset, key, column.to_pandas(_pandas()))
    return table


def units_table(
    sessions: Any,
    *,
    eids: Iterable[Any] | None = None,
    client: Any = None,
    regions: bool | str = "auto",
    revision: str | None = None,
    progress: bool = False,
    **search: Any,
):
    """One row per unit over many sessions, as IBL's aggregate clusters table.

    Parameters
    ----------
    sessions : iterable of path-like, or OneAdapter
        Session folders; or a :class:`~neo_alf.one.OneAdapter`, whose sessions (``eids``, or
        ``adapter.search(**search)``) are read, with the adapter's eids in the table.
    eids : iterable, optional
        With an adapter: these sessions only.
    client : dask.distributed.Client, optional
        One task per session on the cluster; None: serial in this process.
    regions : bool or "auto"
        Add ``acronym`` and ``name`` beside ``atlas_id`` (iblatlas, extra ``[atlas]``). ``"auto"``:
        when iblatlas is installed; True: raise :class:`AlfDependencyError` without it.
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.
    progress : bool
        A progress bar over sessions.
    **search
        :meth:`OneAdapter.search` filters (``subject=``, ``lab=``...), with an adapter.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`UNIT_COLUMNS`, the QC metrics after ``label`` (when sessions have
        ``clusters.metrics``), ``acronym`` and ``name`` after ``atlas_id``; rows in session order,
        then collection, then cluster id. ``eid`` is the adapter's, else the stable folder-scan eid
        (:func:`neo_alf.one.session_eid`). ``attrs["errors"]``: the sessions that failed.
        See :func:`session_units` for each column's source.

    Examples
    --------
    >>> units = units_table(OneAdapter(cache_dir), client=Client(cluster))
    >>> units.groupby("acronym").firing_rate.median()
    """
    table = _aggregate(units_columns, sessions, eids, client, progress, revision, search, UNIT_COLUMNS)
    return _add_regions(table, regions)


def trials_table(
    sessions: Any,
    *,
    eids: Iterable[Any] | None = None,
    client: Any = None,
    revision: str | None = None,
    progress: bool = False,
    **search: Any,
):
    """One row per trial over many sessions: ``eid, lab, subject, date, number, collection, trial``
    then every trials column (see :func:`session_trials`); columns a session lacks are NaN.

    Parameters are those of :func:`units_table`. Sessions without trials give no rows.

    Returns
    -------
    pandas.DataFrame
        ``attrs["errors"]``: the sessions that failed (a trials object with unequal rows...).
    """
    return _aggregate(trials_columns, sessions, eids, client, progress, revision, search, TRIAL_COLUMNS)


# ===================================================================================== command


def add_aggregate_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``neo-alf aggregate units|trials`` to the ``neo-alf`` command's subparsers."""
    p = subparsers.add_parser(
        "aggregate",
        help="one table over every session of a ONE cache folder (units or trials)",
        description="One row per unit (units) or per trial (trials) over every session of a ONE "
        "cache folder, written as parquet (.pqt/.parquet) or CSV (.csv). Exit code 1 when some "
        "sessions failed (they are listed; the table holds the others).",
    )
    p.add_argument("table", choices=["units", "trials"])
    p.add_argument("--cache-dir", required=True, help="the ONE cache folder")
    p.add_argument("--out", required=True, help="output file: .pqt, .parquet or .csv")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes of a local Dask cluster (default 1: serial, no Dask)",
    )
    p.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    p.add_argument("--subject", help="only this subject")
    p.add_argument("--lab", help="only this lab")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=aggregate_command)
    return p


def aggregate_command(args: argparse.Namespace) -> int:
    """Run ``neo-alf aggregate``; returns the exit code (0, or 1 when some sessions failed)."""
    from .one import OneAdapter

    out = Path(args.out)
    if out.suffix.lower() not in (".pqt", ".parquet", ".csv"):
        raise ValueError(f"{out}: --out must end in .pqt, .parquet or .csv")
    adapter = OneAdapter(args.cache_dir, progress=False)
    search = {k: v for k, v in (("subject", args.subject), ("lab", args.lab)) if v is not None}
    func = units_table if args.table == "units" else trials_table
    with _client(args) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", AlfWarning)  # failures are listed below, one per line
        table = func(adapter, client=client, progress=not args.no_progress, **search)
    errors = table.attrs.get("errors", [])
    if out.suffix.lower() == ".csv":
        table.to_csv(out, index=False)
    else:
        table.attrs = {}  # keep the parquet metadata to the table itself
        table.to_parquet(out, index=False)
    n_sessions = table["eid"].nunique() if "eid" in table else 0
    print(f"{out}: {len(table)} {args.table} rows from {n_sessions} sessions")
    for e in errors:
        print(f"failed: {e['session']}: {e['error']}: {e['message']}", file=sys.stderr)
    return 1 if errors else 0


class _client:
    """A Dask client for the command: a scheduler's, a local cluster's, or None (serial)."""

    def __init__(self, args):
        self.args, self.client, self.cluster = args, None, None

    def __enter__(self):
        if self.args.scheduler or self.args.workers > 1:
            try:
                from distributed import Client
            except ImportError:
                raise AlfDependencyError(
                    "--workers and --scheduler need Dask: pip install 'neo-alf[dask]'",
                    rule="optional extra `dask`",
                ) from None
            if self.args.scheduler:
                self.client = Client(self.args.scheduler)
            else:
                self.cluster = local_cluster(self.args.workers)
                self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False
