"""The ALF rules neo-alf checks, as one table, and the checks that apply them to an object.

Both the Neo layout (:mod:`neo_alf.layout`) and :meth:`neo_alf.session.AlfSession.validate` call
these functions, so a rule has one wording and one implementation. Each check returns the
errors it finds (never raises for bad data), naming the files and quoting :data:`RULES`.

Some departures from the rules are how IBL publishes data, and ONE-api tolerates them
(:data:`KNOWN_QUIRKS`): they are reported as notes, not errors.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AlfDimensionError, AlfError, AlfFormatError, AlfRelationError
from .timebase import Timebase, timebase_from_timestamps

if TYPE_CHECKING:  # pragma: no cover
    from .session import AlfObject, AlfSession

__all__ = [
    "KNOWN_QUIRKS",
    "KNOWN_RELATIONS",
    "RULES",
    "check_object",
    "check_relation",
    "event_times",
    "is_relation",
    "object_timebase",
    "rows_quirk",
]

RULES: dict[str, str] = {
    "rows": "all attributes of an object have the same number of rows",
    "times_numeric": "times are numeric seconds",
    "times_shape": "times are one column of seconds",
    "intervals_shape": "intervals have two columns: start, end",
    "intervals_order": "an interval does not end before it starts",
    "timestamps": "timestamps are one time per sample, or (n, 2) sync points [sample, seconds]",
    "relation": "an integer attribute named after an object holds 0-based row indices into it",
    "clusters_channels": "clusters.channels holds 0-based row indices of channels.*",
    "in_session": "datasets stay in their session folder",
    "one_file_type": "one object.attribute has one data file type",
    "readable_folder": "every folder of a session can be listed",
    "one_session": "a session folder holds one session",
}
"""dict: rule id -> the rule as error messages quote it."""

KNOWN_QUIRKS: dict[str, str] = {
    "waveforms": "iblsorter's waveforms.* attributes have different row counts by design",
    "*Camera": "camera times may be a few rows longer than the DLC / motion-energy rows (brainbox trims)",
}
"""dict: object name pattern -> why its rows may differ (reported as a note, not an error)."""


KNOWN_RELATIONS = {("spikes", "clusters"), ("spikes", "templates"), ("clusters", "channels")}
"""set: ``(object, attribute)`` pairs that are relations whatever their dtype (a float
``spikes.clusters`` is an error, not data)."""


def rows_quirk(obj: AlfObject) -> str | None:
    """Why ``obj``'s attributes may have different row counts, when IBL publishes it that way."""
    for pattern, why in KNOWN_QUIRKS.items():
        if fnmatch.fnmatchcase(obj.name, pattern):
            return why
    return None


def event_times(attribute: Any, data: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Start times (and durations, for intervals) of a ``times``/``intervals`` attribute, as float64.

    ``data``: the attribute's content when already loaded (it is not read again).

    Raises
    ------
    AlfFormatError, AlfDimensionError
        Times that are not numbers, of the wrong shape, or intervals that end before they start.
    """
    data = attribute.load() if data is None else data
    paths = attribute.paths
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "iuf":
        what = getattr(data, "dtype", type(data).__name__)
        raise AlfFormatError(f"times are {what}, not numbers", paths, rule=RULES["times_numeric"])
    if attribute.attribute.endswith("intervals"):
        if data.ndim != 2 or data.shape[1] != 2:
            raise AlfDimensionError(
                f"intervals have shape {data.shape}, not (n, 2)", paths, rule=RULES["intervals_shape"]
            )
        starts = np.asarray(data[:, 0], dtype=np.float64)
        durations = np.asarray(data[:, 1], dtype=np.float64) - starts
        with np.errstate(invalid="ignore"):
            backwards = np.flatnonzero(durations < 0)
        if backwards.size:
            raise AlfDimensionError(
                f"{backwards.size} interval(s) end before they start (first: row {int(backwards[0])})",
                paths,
                rule=RULES["intervals_order"],
            )
        return starts, durations
    if data.ndim != 1 and not (data.ndim == 2 and data.shape[1] == 1):
        raise AlfDimensionError(f"times have shape {data.shape}, not (n,)", paths, rule=RULES["times_shape"])
    return np.asarray(data, dtype=np.float64).reshape(-1), None


def object_timebase(obj: AlfObject, n_samples: int) -> Timebase:
    """The clock of a continuous object, from its ``timestamps`` (checked: shape, finite, increasing)."""
    ts = obj["timestamps"]
    data = ts.load()
    if not isinstance(data, np.ndarray):
        raise AlfFormatError("timestamps are not an array", ts.paths, rule=RULES["timestamps"])
    return timebase_from_timestamps(np.asarray(data), n_samples, ts.paths)


def is_relation(session: AlfSession, obj: AlfObject, attribute: Any) -> AlfObject | None:
    """The object an attribute points into (``spikes.clusters`` -> ``clusters``), or None.

    Only integer attributes named after an object of the same collection are relations; a float
    array that shares a name (iblsorter's ``clusters.waveforms``) is data.
    """
    if attribute.timescale or attribute.attribute == obj.name:
        return None
    targets = session.find_objects(attribute.attribute, obj.collection)
    if not targets:
        return None
    if (obj.name, attribute.attribute) in KNOWN_RELATIONS:
        return targets[0]
    data = attribute.open()
    if np.dtype(getattr(data, "dtype", object)).kind not in "iu":
        return None
    return targets[0]


def check_relation(values: Any, n_rows: int | None, paths: Iterable, target: AlfObject) -> None:
    """Raise :class:`AlfRelationError` unless ``values`` are row indices of ``target``'s rows."""
    rule = f"{target.name}: {RULES['relation']}"
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        raise AlfRelationError(
            f"indices into {target.name!r} are {values.dtype}, not integers", paths, rule=rule
        )
    if values.size == 0 or n_rows is None:
        return
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= n_rows:
        raise AlfRelationError(
            f"indices into {target.name!r} span {lo}..{hi} but it has {n_rows} rows", paths, rule=rule
        )


def _healthy(attribute: Any) -> bool:
    if attribute.error is not None:
        return False
    try:
        attribute.shape  # noqa: B018 - reads a header
    except AlfError:
        return False
    return True


def check_object(session: AlfSession, obj: AlfObject) -> tuple[list[AlfError], list[str]]:
    """Every rule one object can break: ``(errors, notes)``.

    Checked: readable headers and metadata, equal rows (known IBL quirks are notes), times and
    intervals (numeric, shape, order), timestamps (shape, finite, increasing), relations in range.
    """
    errors: list[AlfError] = []
    notes: list[str] = []
    attributes = {}
    for key, attr in obj.attributes.items():
        if attr.error is not None:
            continue  # reported once, by the session scan
        try:
            attr.shape  # noqa: B018
        except AlfError as err:
            errors.append(err)
            continue
        attributes[key] = attr
    if len(attributes) == len(obj.attributes):
        try:
            n_rows = obj.check_rows()
        except AlfDimensionError as err:
            why = rows_quirk(obj)
            if why is None:
                errors.append(err)
            else:
                notes.append(f"{err} [tolerated: {why}]")
            n_rows = None
    else:
        n_rows = None
    for attr in attributes.values():
        try:
            if attr.attribute == "timestamps":
                # timestamps time the samples of the object's other attributes; alone (raw video
                # timestamps beside an mp4 neo-alf does not read) they time nothing neo-alf reads
                if n_rows is not None:
                    object_timebase(obj, n_rows)
            elif attr.is_universal_time:
                event_times(attr)
            else:
                target = is_relation(session, obj, attr)
                if target is not None and all(_healthy(a) for a in target.row_datasets.values()):
                    check_relation(attr.load(), target.check_rows(), attr.paths, target)
        except AlfError as err:
            errors.append(err)
    return errors, notes
