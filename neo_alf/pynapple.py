"""An ALF session as pynapple objects, read from the files (no NWB file in between).

:func:`to_pynapple` returns a dict of pynapple objects keyed by ALF names:

=========================================  ===========================================================
ALF                                        pynapple
=========================================  ===========================================================
``spikes`` + ``clusters`` + ``channels``   ``"units"``: a ``TsGroup``, one ``Ts`` per ``clusters.*`` row
                                           (empty ones included); metadata ``cluster_id``,
                                           ``collection``, ``probe``, every ``cluster_<attr>`` and
                                           the unit's ``channel_<attr>`` (the names of
                                           :class:`neo_alf.AlfIO`'s SpikeTrain annotations)
interval series (``trials``...)            ``IntervalSet`` with every attribute as metadata (2-D
                                           ones as ``<attr>_0``, ``<attr>_1``...)
event series, ``*_times`` attributes       ``Ts`` (``"licks"``, ``"trials.stimOn_times"``); NaN
                                           times, which IBL trials have, are left out
``wheel`` and other irregular signals      ``Tsd`` / ``TsdFrame`` per numeric attribute
regular signals (``lfp.raw.bin``)          ``TsdFrame`` over the memory map (``load_array=False``)
=========================================  ===========================================================

Keys carry the collection (``alf/probe00/...``) only when two collections hold the same object.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np

from .errors import AlfDependencyError, AlfError, AlfRelationError, AlfWarning
from .export import object_columns, read_whole, table_columns, unit_order
from .readers import column_names
from .session import AlfObject, AlfSession
from .timebase import timebase_from_timestamps

__all__ = ["to_pynapple"]


def to_pynapple(session: AlfSession | str | os.PathLike, *, strict: bool = False) -> dict[str, Any]:
    """Every object of an ALF session as pynapple objects.

    Parameters
    ----------
    session : AlfSession or path-like
        The session (or its folder).
    strict : bool
        Raise on an object that breaks an ALF rule instead of warning (:class:`AlfWarning`) and
        leaving it out.

    Returns
    -------
    dict
        ``name -> pynapple object`` (see the module docstring): ``"units"`` (``TsGroup``), one
        ``IntervalSet`` per interval series, one ``Ts`` per event series and ``*_times`` attribute,
        one ``Tsd``/``TsdFrame`` per numeric attribute of a continuous object.

    Raises
    ------
    AlfDependencyError
        pynapple is not installed (extra ``neo-alf[pynapple]``).

    Examples
    --------
    >>> data = to_pynapple(session_path)
    >>> in_trials = data["units"].restrict(data["trials"])
    >>> peth = nap.compute_perievent(data["units"], data["trials.stimOn_times"], (-0.2, 0.5))
    """
    try:
        import pynapple as nap
    except ImportError:
        raise AlfDependencyError("to_pynapple needs pynapple: pip install 'neo-alf[pynapple]'") from None
    if not isinstance(session, AlfSession):
        session = AlfSession(session)
    out: dict[str, Any] = {}
    objects = session.objects
    names = _Names(objects)
    units = _units(nap, session, objects, strict)
    if units is not None:
        out["units"] = units
    used = {(o.collection, o.name) for o in objects if o.name in ("spikes", "clusters", "channels")}
    used = {(c, n) for c, n in used if session.find_objects("spikes", c)}
    for obj in objects:
        if (obj.collection, obj.name) in used:
            continue
        try:
            if obj.kind == "continuous":
                for key, value in _signals(nap, obj).items():
                    out[names(obj, key)] = value
                continue
            columns = object_columns(obj)
            if "intervals" in columns:
                intervals, table = _interval_set(nap, columns)
                out[names(obj)] = intervals
                if table is not None:
                    out[names(obj, "table")] = table
                    warnings.warn(
                        AlfWarning(
                            f"{obj.collection}/{obj.name}: intervals overlap or are out of order; a pynapple "
                            f"IntervalSet holds their union, the rows are in {names(obj, 'table')!r} "
                            "(a pandas DataFrame)"
                        ),
                        stacklevel=2,
                    )
            for key, values in columns.items():
                if (
                    (key == "times" or key.endswith("_times"))
                    and values.ndim == 1
                    and values.dtype.kind in "iuf"
                ):
                    times = np.asarray(values, dtype=np.float64)
                    name = names(obj) if key == "times" else names(obj, key)
                    out[name] = nap.Ts(t=np.sort(times[np.isfinite(times)]))
        except AlfError as err:
            if strict:
                raise
            warnings.warn(AlfWarning(f"{obj.collection}/{obj.name} left out: {err}", err), stacklevel=2)
    return out


class _Names:
    """``object[.attribute]``, prefixed by the collection when several collections hold the object."""

    def __init__(self, objects: list[AlfObject]):
        self.count: dict[str, int] = {}
        for o in objects:
            self.count[o.name] = self.count.get(o.name, 0) + 1

    def __call__(self, obj: AlfObject, key: str | None = None) -> str:
        name = obj.name if key is None else f"{obj.name}.{key}"
        return f"{obj.collection}/{name}" if self.count[obj.name] > 1 else name


def _units(nap, session: AlfSession, objects: list[AlfObject], strict: bool):
    groups: dict[int, Any] = {}
    parts: list[tuple[int, dict[str, np.ndarray]]] = []  # per collection: units, metadata columns
    n = 0
    for obj in objects:
        if obj.name != "spikes" or "times" not in obj:
            continue
        try:
            n_spikes = obj["times"].rows or 0  # other per-spike attributes are not read here
            clusters_ds = obj.datasets.get("clusters")
            table = session.find_objects("clusters", obj.collection) if clusters_ds is not None else []
            channels = session.find_objects("channels", obj.collection) if table else []
            cl = table_columns(table[0]) if table else {}
            ch = table_columns(channels[0]) if channels else {}
            link = cl.get("channels") if ch else None
            if link is not None:
                n_channels = len(next(iter(ch.values())))
                if link.dtype.kind not in "iu" or (
                    link.size and (link.min() < 0 or link.max() >= n_channels)
                ):
                    raise AlfRelationError(
                        f"clusters.channels are not row indices of the {n_channels} channels",
                        table[0]["channels"].paths,
                        rule="clusters.channels holds 0-based row indices of channels.*",
                    )
            order = unit_order(clusters_ds, n_spikes, table[0].check_rows() if table else None)
            times = read_whole(obj["times"])
        except AlfError as err:
            if strict:
                raise
            warnings.warn(AlfWarning(f"spikes of {obj.collection} left out: {err}", err), stacklevel=3)
            continue
        offsets = order.offsets
        probe = re.search(r"probe\d+", obj.collection)
        columns: dict[str, np.ndarray] = {
            "cluster_id": order.unit_ids,
            "collection": np.array([obj.collection] * order.unit_ids.size),
            "probe": np.array([probe.group(0) if probe else obj.collection] * order.unit_ids.size),
        }
        columns.update(_flat("cluster_", {k: v[order.unit_ids] for k, v in cl.items()}))
        if link is not None:
            columns.update(_flat("channel_", {k: v[link[order.unit_ids]] for k, v in ch.items()}))
        for u in range(order.unit_ids.size):
            rows = order.order[offsets[u] : offsets[u + 1]]
            groups[n + u] = nap.Ts(t=times[rows])
        parts.append((order.unit_ids.size, columns))
        n += order.unit_ids.size
    if not groups:
        return None
    keys = list(dict.fromkeys(k for _, columns in parts for k in columns))
    metadata = {}
    for key in keys:
        present = next(c[key] for _, c in parts if key in c)
        values: list = []
        for size, columns in parts:
            values.extend(columns[key].tolist() if key in columns else [_missing(present)] * size)
        metadata[key] = np.asarray(values)
    return nap.TsGroup(groups, metadata=metadata)


def _flat(prefix: str, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """1-D metadata columns: 2-D attributes split by column, names without dots."""
    out = {}
    for key, values in columns.items():
        name = prefix + key.replace(".", "_")
        values = np.asarray(values)
        if values.ndim == 1:
            out[name] = values
        else:
            for j in range(values.reshape(values.shape[0], -1).shape[1]):
                out[f"{name}_{j}"] = values.reshape(values.shape[0], -1)[:, j]
    return out


def _missing(values: np.ndarray) -> Any:
    return "" if np.asarray(values).dtype.kind in "US" else np.nan


def _interval_set(nap, columns: dict[str, np.ndarray]):
    """The intervals as an IntervalSet with their columns; when pynapple cannot keep the rows (they
    overlap or are out of order), the union, and the rows as a DataFrame."""
    intervals = np.asarray(columns["intervals"], dtype=np.float64)
    metadata = _flat("", {k: v for k, v in columns.items() if k != "intervals"})
    start, end = intervals[:, 0], intervals[:, 1]
    if np.all(start[1:] >= end[:-1]) and np.all(end >= start):
        return nap.IntervalSet(start=start, end=end, metadata=metadata), None
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pynapple's own note that it joins them
        union = nap.IntervalSet(start=np.sort(start), end=end[np.argsort(start, kind="stable")])
    return union, pd.DataFrame({"start": start, "end": end, **metadata})


def _signals(nap, obj: AlfObject) -> dict[str, Any]:
    n = obj.check_rows()
    if not n:
        return {}
    ts = obj["timestamps"]
    timebase = timebase_from_timestamps(ts.open(), n, ts.paths)
    times = timebase.times(0, n)
    out = {}
    for key, d in sorted(obj.row_datasets.items()):
        if d.timescale is not None or d.shape is None or not 1 <= len(d.shape) <= 2:
            continue
        data = d.open()
        if np.dtype(getattr(data, "dtype", object)).kind not in "biuf":
            continue
        kwargs: dict[str, Any] = {}
        if data.ndim == 2:
            labels = column_names(d.metadata, data.shape[1])
            if all(labels) and len(set(labels)) == len(labels):
                kwargs["columns"] = labels  # the metadata's column names (x, y...)
        kind = nap.TsdFrame if data.ndim == 2 else nap.Tsd
        if isinstance(data, np.memmap) and timebase.is_regular:
            # pynapple reads a memory map where it is sliced (load_array=False)
            value = kind(t=times, d=data, load_array=False, **kwargs)
        else:
            value = kind(t=times, d=np.asarray(data), **kwargs)
        out[key] = value
    return out
