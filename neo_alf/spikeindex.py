"""Per-unit access to a collection's spikes, without ever masking the full spike array per unit.

ALF stores spikes as parallel columns sorted by time (``spikes.times``, ``spikes.clusters``,
``spikes.amps``...). Reading unit *k* naively (``times[clusters == k]``) costs a pass over
every spike for every unit. :class:`SpikeIndex` instead

1. at construction, reads ``spikes.clusters`` once, in chunks, for the relational rule (indices are
   rows of ``clusters.*``: the minimum and maximum of each chunk) or, without ``clusters.*``, for the
   distinct ids present (memory follows their number, not their values); it probes ``spikes.times``
   cheaply (ends and a strided sample) for its span and order. Nothing else: per-unit counts are
   one more pass over ``spikes.clusters`` when first asked for (``count``, or the first unit);
2. serves the first request with one streaming pass over the two columns that picks out that unit:
   a reader that looks at one unit never holds more than that unit and a chunk;
3. from the second request on (a reader walking the units), builds once, in one streaming pass,
   a stable counting sort by unit: of the times (``times()``), and of the row numbers (int32) when
   rows are asked for (``window()``, ``rows()``); both kept in memory, never written to disk. Each
   unit is then a slice, ``offsets[k]:offsets[k + 1]``: O(spikes of that unit), ``searchsorted`` for
   time windows (inclusive bounds).

The passes read the files in chunks (:mod:`neo_alf.columns`): nothing stays mapped. Large collections
are passed over in parts, one thread each, the count pass recording each part's per-unit counts so
that every part knows where its spikes go. The inner loops are :mod:`neo_alf.kernels` (NumPy;
compiled on request).

Times are checked as they are sorted (finite, non-decreasing, inside the span): data that the
strided probe called sorted but are not raise :class:`AlfFormatError` for the units they touch,
rather than give a silently wrong span. A collection without ``spikes.clusters`` (one unit) is
checked whole, in chunks, at its first read. Spike times found unsorted at construction are
recovered: the span is computed exactly and each unit's spikes are sorted by time once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import kernels
from .columns import Column, zip_chunks
from .errors import AlfFormatError, AlfRelationError

__all__ = ["SpikeIndex"]

_PROBE_POINTS = 129  # a positioned read each: enough to see a file not sorted by time
# Cluster ids (without clusters.*) below this are counted in a table (8 MiB at most); any larger id
# makes the ids sorted and looked up by bisection, so that memory follows the number of distinct ids
_DENSE_IDS = 1 << 20
# Passes over the columns run in parts, one thread each (the kernels and file reads release the GIL)
_THREADS = min(4, os.cpu_count() or 1)
_MIN_PART_ROWS = 1 << 22
_NATIVE_KEYS = (np.dtype(np.uint32), np.dtype(np.int32), np.dtype(np.int64))
_EMPTY_ROWS = np.zeros(0, dtype=np.int64)
_INT64_MAX = np.iinfo(np.int64).max
_RULE = "spikes.clusters holds 0-based row indices of clusters.*"


class SpikeIndex:
    """Per-unit spike rows and times for one collection.

    Parameters
    ----------
    times : numpy.ndarray or callable
        ``spikes.times`` (1-D, seconds), or a function that opens it (a memmap): a whole file is
        then read in chunks and at positions, never kept mapped.
    clusters : numpy.ndarray, callable or None
        ``spikes.clusters``, likewise. None makes one unit of all spikes.
    n_units : int, optional
        Rows of ``clusters.*``: units are then ``0 .. n_units - 1`` (empty ones included) and an
        index outside is an error. Without it, units are the distinct ids present.
    times_paths, clusters_paths : sequence, optional
        Files named in errors.

    Attributes
    ----------
    unit_ids : numpy.ndarray
        Cluster id of each unit (int64).
    counts : numpy.ndarray
        Spike count of each unit (int64), counted on first use.
    offsets : numpy.ndarray
        ``counts`` accumulated: unit *k* is ``offsets[k]:offsets[k + 1]`` of the sorted spikes.
    t_first, t_last : float or None
        Earliest and latest spike time (None without spikes).
    sorted : bool
        Whether ``spikes.times`` is non-decreasing (as probed; checked in full when sorted by unit).
    """

    def __init__(
        self,
        times: np.ndarray | Callable[[], np.ndarray],
        clusters: np.ndarray | Callable[[], np.ndarray] | None,
        n_units: int | None = None,
        times_paths: Sequence = (),
        clusters_paths: Sequence = (),
    ):
        self._times_paths = tuple(times_paths)
        self._clusters_paths = tuple(clusters_paths)
        self._times = Column(times)
        if self._times.ndim != 1 or self._times.dtype.kind not in "iuf":
            raise AlfFormatError(
                f"spike times have shape {self._times.shape} and dtype {self._times.dtype}",
                self._times_paths,
                rule="spikes.times is a 1-D numeric vector of seconds",
            )
        self._n = self._times.size
        self._chosen_kernels: kernels.Kernels | None = None  # chosen at the first pass that needs them
        n_parts = max(1, min(_THREADS, self._n // _MIN_PART_ROWS))
        self._bounds = [self._n * p // n_parts for p in range(n_parts + 1)]  # rows of each part
        self._part_counts: np.ndarray | None = None  # spikes of each unit in each part (parts x units)
        self._counts: np.ndarray | None = None
        self._offsets: np.ndarray | None = None
        self._lock = threading.RLock()  # the one-time builds, and the count of requests
        self._requests = 0
        self._order: np.ndarray | None = None  # rows sorted by unit (then time)
        self._sorted_times: np.ndarray | None = None  # times sorted by unit (then time)
        self._bad_units: np.ndarray | None = None  # units whose times broke the order rule
        self._lookup: np.ndarray | None = None  # cluster id -> unit position, when ids are sparse
        self._sparse_ids: np.ndarray | None = None  # sorted cluster ids, when too large for a table
        self._whole_checked = False  # one unit: every time checked finite and in order
        self._clusters = None if clusters is None else Column(clusters)
        if self._clusters is None:
            self.unit_ids = np.zeros(1, dtype=np.int64)
            self._set_counts(np.array([[self._n]], dtype=np.int64))
        elif n_units is not None:
            self._check_clusters()
            self._validate(n_units)
            self.unit_ids = np.arange(n_units, dtype=np.int64)
        else:
            self._check_clusters()
            self.unit_ids = self._tally()
        self.t_first, self.t_last, self.sorted = self._probe_span()

    # ------------------------------------------------------------------------------ construction

    def _check_clusters(self) -> None:
        clusters = self._clusters
        if clusters.ndim != 1 or clusters.size != self._n:
            raise AlfRelationError(
                f"spikes.clusters has shape {clusters.shape}, spikes.times ({self._n},)",
                self._clusters_paths,
                rule="all attributes of an object have the same number of rows",
            )
        if clusters.dtype.kind not in "iu":
            raise AlfRelationError(
                f"cluster indices are {clusters.dtype}, not integers", self._clusters_paths, rule=_RULE
            )

    def _bad_index(self, failures: list, n_units: int | None) -> None:
        """Raise for the first ``(row, value)`` of the parts' failures (parts are in row order)."""
        failures = [f for f in failures if f is not None]
        if not failures:
            return
        row, value = failures[0]
        if value < 0:
            problem = f"negative cluster index {value}"
        elif n_units is not None:
            problem = f"cluster index {value} but clusters.* has {n_units} rows"
        else:
            problem = f"cluster index {value} is beyond 64-bit signed integers"
        raise AlfRelationError(f"row {row}: {problem}", self._clusters_paths, rule=_RULE)

    def _validate(self, n_units: int) -> None:
        """Every index a row of ``clusters.*``: each chunk's minimum and maximum, nothing counted."""

        def part(_: int, start: int, stop: int):
            for first, (chunk,) in zip_chunks(self._clusters, start=start, stop=stop):
                if chunk.size and (int(chunk.min()) < 0 or int(chunk.max()) >= n_units):
                    bad = int(np.flatnonzero((chunk < 0) | (chunk >= n_units))[0])
                    return first + bad, int(chunk[bad])
            return None

        self._bad_index(self._in_parts(part), n_units)

    def _tally(self) -> np.ndarray:
        """The distinct ids present and each part's count of each (no clusters.*): ids below
        :data:`_DENSE_IDS` counted in a table, larger ones sorted, so memory follows their number."""

        def part(_: int, start: int, stop: int):
            table = np.zeros(0, dtype=np.int64)
            ids, counts = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
            # long chunks: counting in a table costs O(rows + largest id) per chunk
            for first, (chunk,) in zip_chunks(self._clusters, start=start, stop=stop, scale=4):
                if chunk.size == 0:
                    continue
                lo, hi = int(chunk.min()), int(chunk.max())
                if lo < 0 or hi > _INT64_MAX:
                    bad = int(np.flatnonzero((chunk < 0) | (chunk > _INT64_MAX))[0])
                    return None, (first + bad, int(chunk[bad]))
                if hi < _DENSE_IDS:
                    found = np.bincount(_as_keys(chunk))
                    if found.size > table.size:
                        table = np.concatenate([table, np.zeros(found.size - table.size, np.int64)])
                    table[: found.size] += found
                else:
                    ids, counts = _merge(ids, counts, *np.unique(chunk.astype(np.int64), return_counts=True))
            dense = np.flatnonzero(table)
            return _merge(ids, counts, dense.astype(np.int64), table[dense]), None

        results = self._in_parts(part)
        self._bad_index([failure for _, failure in results], None)
        ids = np.unique(np.concatenate([np.zeros(0, np.int64)] + [r[0][0] for r in results]))
        part_counts = np.zeros((len(results), ids.size), dtype=np.int64)
        for p, ((part_ids, counts), _) in enumerate(results):
            part_counts[p, np.searchsorted(ids, part_ids)] = counts
        self._set_counts(part_counts)
        if ids.size and ids[-1] >= ids.size:  # sparse ids: sort on unit positions, not on raw ids
            if ids[-1] < _DENSE_IDS:
                self._lookup = np.full(int(ids[-1]) + 1, -1, dtype=np.int64)
                self._lookup[ids] = np.arange(ids.size)
            else:
                self._sparse_ids = ids
        return ids

    def _set_counts(self, part_counts: np.ndarray) -> None:
        self._part_counts = np.ascontiguousarray(part_counts)
        self._counts = self._part_counts.sum(axis=0)
        offsets = np.zeros(self._counts.size + 1, dtype=np.int64)
        np.cumsum(self._counts, out=offsets[1:])
        self._offsets = offsets

    def _ensure_counts(self) -> None:
        """Per-unit counts of every part (one pass over spikes.clusters, the first time asked)."""
        if self._part_counts is not None:
            return
        with self._lock:
            if self._part_counts is not None:
                return
            n_units = self.unit_ids.size

            def part(_: int, start: int, stop: int) -> np.ndarray:
                counts = np.zeros(n_units, dtype=np.int64)
                for _, (chunk,) in zip_chunks(self._clusters, start=start, stop=stop):
                    self._kernels.count_into(self._keys(chunk), counts)  # checked at construction
                return counts

            self._set_counts(np.stack(self._in_parts(part)))

    @property
    def _kernels(self) -> kernels.Kernels:
        if self._chosen_kernels is None:
            self._chosen_kernels = kernels.for_rows(self._n)
        return self._chosen_kernels

    def _in_parts(self, work: Callable[[int, int, int], object]) -> list:
        """``work(part, start, stop)`` for each part of the rows, in threads when there are several."""
        spans = list(enumerate(zip(self._bounds[:-1], self._bounds[1:], strict=True)))
        if len(spans) == 1:
            return [work(0, *spans[0][1])]
        with ThreadPoolExecutor(len(spans), thread_name_prefix="neo-alf-spikes") as pool:
            return list(pool.map(lambda span: work(span[0], *span[1]), spans))

    def _part_fills(self) -> np.ndarray:
        """Where each part's first spike of each unit goes in the unit-sorted order (parts x units)."""
        self._ensure_counts()
        before = np.cumsum(self._part_counts, axis=0) - self._part_counts
        return before + self.offsets[:-1]

    def _probe_span(self) -> tuple[float | None, float | None, bool]:
        n = self._n
        if n == 0:
            return None, None, True
        strided = np.linspace(0, n - 1, _PROBE_POINTS).astype(np.int64)
        strided = strided[np.concatenate([[True], strided[1:] > strided[:-1]])]
        probe = self._times.take(strided).astype(np.float64, copy=False)
        head, tail = np.arange(min(n, 1024)), np.arange(max(0, n - 1024), n)
        ends = [self._times.take(head).astype(np.float64), self._times.take(tail).astype(np.float64)]
        if all(np.all(np.isfinite(p)) and np.all(p[1:] >= p[:-1]) for p in (probe, *ends)):
            return float(probe[0]), float(probe[-1]), True
        return self._scan_span()

    def _scan_span(self) -> tuple[float, float, bool]:
        lo, hi, ordered, previous = np.inf, -np.inf, True, -np.inf
        for start, (chunk,) in zip_chunks(self._times):
            chunk = chunk.astype(np.float64, copy=False)
            if not np.all(np.isfinite(chunk)):
                bad = int(np.flatnonzero(~np.isfinite(chunk))[0])
                raise AlfFormatError(
                    f"spike {start + bad} has time {chunk[bad]}",
                    self._times_paths,
                    rule="spike times are finite",
                )
            lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
            ordered = ordered and chunk[0] >= previous and bool(np.all(chunk[1:] >= chunk[:-1]))
            previous = chunk[-1]
        return lo, hi, ordered

    # ------------------------------------------------------------------------------------ access

    @property
    def n_units(self) -> int:
        return int(self.unit_ids.size)

    @property
    def counts(self) -> np.ndarray:
        """Spike count of each unit (int64; counted on first use)."""
        self._ensure_counts()
        return self._counts

    @property
    def offsets(self) -> np.ndarray:
        """``counts`` accumulated: unit *k* is ``offsets[k]:offsets[k + 1]`` of the sorted spikes."""
        self._ensure_counts()
        return self._offsets

    def count(self, unit: int) -> int:
        """Spikes of unit ``unit`` (its position in :attr:`unit_ids`), O(1)."""
        return int(self.counts[unit])

    def times(self, unit: int, t_start: float | None = None, t_stop: float | None = None) -> np.ndarray:
        """A unit's spike times with ``t_start <= time <= t_stop``, sorted, in the stored dtype.

        Read-only: a view of the index (no copy); copy it to modify.
        """
        if self._clusters is None:
            return self.window(unit, t_start, t_stop)[1]
        times = self._unit(unit, rows=False)[1]
        i0, i1 = _bounds(times, t_start, t_stop)
        return times[i0:i1]

    def rows(self, unit: int) -> np.ndarray:
        """Row indices (into ``spikes.*``) of a unit's spikes, in time order (read-only)."""
        if self._clusters is None:
            if not self.sorted:
                return self.window(unit)[0]
            self._check_whole()
            return _frozen(np.arange(self._n, dtype=np.int64))
        return self._unit(unit, rows=True, times=False)[0]

    def release(self) -> None:
        """Forget the per-unit index (sorted times and rows): the arrays handed out stay valid and
        become their holders' alone; a later request builds the index again from the files."""
        with self._lock:
            self._order = None
            self._sorted_times = None

    def window(self, unit: int, t_start: float | None = None, t_stop: float | None = None):
        """A unit's ``(rows, times)`` with ``t_start <= time <= t_stop`` (either bound may be None).

        Returns
        -------
        rows : numpy.ndarray or slice
            Rows into ``spikes.*`` (a slice when the collection is one sorted unit).
        times : numpy.ndarray
            Spike times in the stored dtype, sorted; read-only.
        """
        if self._clusters is None:
            return self._only_unit(t_start, t_stop)
        rows, times = self._unit(unit, rows=True)
        i0, i1 = _bounds(times, t_start, t_stop)
        return rows[i0:i1], times[i0:i1]

    # ----------------------------------------------------------------------------- how it serves

    def _only_unit(self, t_start, t_stop):
        """Every spike is one unit: binary search straight on spikes.times (sorted by time), after
        one chunked check of the whole column (a NaN or a fall anywhere would mislead the search)."""
        if not self.sorted:  # recovery: every spike sorted by time, once
            rows, times = self._ensure(rows=True, times=True)
            i0, i1 = _bounds(times, t_start, t_stop)
            return rows[i0:i1], times[i0:i1]
        self._check_whole()
        i0 = 0 if t_start is None else self._times.search(t_start, "left")
        i1 = self._n if t_stop is None else self._times.search(t_stop, "right")
        return slice(i0, i1), _frozen(self._times.read(i0, max(i0, i1)))

    def _check_whole(self) -> None:
        if self._whole_checked:
            return
        with self._lock:
            if not self._whole_checked:
                if not self._scan_span()[2]:
                    self._refuse(0)
                self._whole_checked = True

    def _unit(self, unit: int, rows: bool, times: bool = True):
        """``(rows or None, times or None)`` of a whole unit, sorted by time; views of the index
        when it exists, else (first request) a streaming pass that picks the unit out."""
        with self._lock:
            self._requests += 1
            first = self._requests == 1
        built = (not rows or self._order is not None) and (not times or self._sorted_times is not None)
        if first and not built:
            out_rows, out_times = self._select(unit, rows, times)
        else:
            order, sorted_times = self._ensure(rows, times)
            a, b = int(self.offsets[unit]), int(self.offsets[unit + 1])
            out_rows = order[a:b] if rows else None
            out_times = sorted_times[a:b] if times else None
            if self._bad_units is not None and self._bad_units[unit]:
                self._refuse(unit)
        return out_rows, out_times

    def _select(self, unit: int, rows: bool, times: bool):
        """One unit, by one pass over the columns in chunks (no index built)."""
        n = self.count(unit)
        want_times = times or not self.sorted  # recovery sorts by time
        out_rows = np.empty(n, dtype=np.int64) if rows else _EMPTY_ROWS
        out_times = np.empty(n, dtype=self._times.dtype) if want_times else self._empty_times()
        read = (self._clusters, self._times) if want_times else (self._clusters,)
        before = np.cumsum(self._part_counts[:, unit]) - self._part_counts[:, unit]

        def part(p: int, start: int, stop: int) -> None:
            filled = int(before[p])
            for first, chunks in zip_chunks(*read, start=start, stop=stop):
                values = chunks[1] if want_times else out_times
                # keys are unit positions (raw ids when dense, looked up when sparse): pick ``unit``
                keys = self._keys(chunks[0])
                filled = self._kernels.select(keys, values, unit, first, out_rows, out_times, filled)

        self._in_parts(part)
        if not self.sorted:
            perm = np.argsort(out_times, kind="stable")
            out_rows, out_times = (out_rows[perm] if rows else None), out_times[perm]
        elif want_times:
            self._verify(unit, out_times)
        return (_frozen(out_rows) if rows else None), (_frozen(out_times) if times else None)

    def _ensure(self, rows: bool, times: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The index (built once, under the lock): rows and/or times sorted by unit."""
        need_rows = rows and self._order is None
        need_times = times and self._sorted_times is None
        if need_rows or need_times:
            with self._lock:
                if not self.sorted:  # recovery sorts rows and times together
                    if self._order is None:
                        self._build_both_recovering()
                else:
                    if times and self._sorted_times is None:
                        self._sorted_times = self._build_times()
                    if rows and self._order is None:
                        self._order = self._build_rows()
        return self._order, self._sorted_times

    def _build_times(self) -> np.ndarray:
        """Times sorted by unit, stably (so by time within a unit), checking order as they pass."""
        out = np.empty(self._n, dtype=self._times.dtype)
        fills = self._part_fills()

        def part(p: int, start: int, stop: int) -> bool:
            fill = fills[p].copy()
            previous, disordered = (-np.inf if start == 0 else self._times.take([start - 1])[0]), False
            for _, (clusters, times) in zip_chunks(self._clusters, self._times, start=start, stop=stop):
                if self._kernels.scatter_values(self._keys(clusters), times, fill, out, previous) >= 0:
                    disordered = True
                previous = times[-1]
            return disordered

        if any(self._in_parts(part)):
            self._bad_units = self._check_units(out)
        out.flags.writeable = False
        return out

    def _build_rows(self) -> np.ndarray:
        order = np.empty(self._n, dtype=np.int32 if self._n < 2**31 else np.int64)
        fills = self._part_fills()

        def part(p: int, start: int, stop: int) -> None:
            fill = fills[p].copy()
            for first, (clusters,) in zip_chunks(self._clusters, start=start, stop=stop):
                self._kernels.scatter_rows(self._keys(clusters), first, fill, order)

        self._in_parts(part)
        order.flags.writeable = False
        return order

    def _build_both_recovering(self) -> None:
        """Unsorted spike times: sort by unit, then each unit's spikes by time."""
        if self._clusters is None:
            order = np.argsort(self._times.open(), kind="stable")
        else:
            order = np.array(self._build_rows())
        times = self._times.take(order) if self._n else np.zeros(0, dtype=self._times.dtype)
        for u in range(self.n_units):
            a, b = int(self.offsets[u]), int(self.offsets[u + 1])
            perm = np.argsort(times[a:b], kind="stable")
            order[a:b], times[a:b] = order[a:b][perm], times[a:b][perm]
        order.flags.writeable = times.flags.writeable = False
        self._order, self._sorted_times = order, times

    def _check_units(self, sorted_times: np.ndarray) -> np.ndarray:
        """Units whose times decrease, are NaN, or leave the probed span (vectorised, once)."""
        bad = np.zeros(self.n_units, dtype=bool)
        falls = np.flatnonzero(~(sorted_times[1:] >= sorted_times[:-1])) + 1
        unit_of = np.searchsorted(self.offsets, falls, side="right") - 1
        inside = falls > self.offsets[unit_of]  # not a comparison across two units
        bad[unit_of[inside]] = True
        filled = self.counts > 0
        firsts = sorted_times[self.offsets[:-1][filled]]
        lasts = sorted_times[self.offsets[1:][filled] - 1]
        bad[filled] |= ~(firsts >= self.t_first) | ~(lasts <= self.t_last)
        return bad

    def _keys(self, clusters: np.ndarray) -> np.ndarray:
        """Unit positions of a chunk of cluster ids, in a dtype the kernels are built for."""
        if self._lookup is not None:
            return self._lookup[clusters]
        if self._sparse_ids is not None:
            return np.searchsorted(self._sparse_ids, clusters.astype(np.int64, copy=False))
        return clusters if clusters.dtype in _NATIVE_KEYS else clusters.astype(np.int64)

    def _empty_times(self) -> np.ndarray:
        return np.zeros(0, dtype=self._times.dtype)

    def _verify(self, unit: int, times: np.ndarray) -> None:
        if times.size == 0:
            return
        ordered = times.size < 2 or bool(np.all(times[1:] >= times[:-1]))
        if not ordered or not (self.t_first <= times[0] and times[-1] <= self.t_last):
            self._refuse(unit)

    def _refuse(self, unit: int):
        who = "spike times"
        if self._clusters is not None:
            who += f" of cluster {int(self.unit_ids[unit])}"
        raise AlfFormatError(
            f"{who} are not sorted or leave the span "
            f"[{self.t_first}, {self.t_last}] taken from a sample of spikes.times; the file is not "
            "sorted by time",
            self._times_paths,
            rule="spikes.times is non-decreasing",
        )


def _merge(ids: np.ndarray, counts: np.ndarray, more_ids: np.ndarray, more_counts: np.ndarray):
    """Two sorted ``(ids, counts)`` tallies as one."""
    if ids.size == 0:
        return more_ids, more_counts
    merged, where = np.unique(np.concatenate([ids, more_ids]), return_inverse=True)
    total = np.zeros(merged.size, dtype=np.int64)
    np.add.at(total, where, np.concatenate([counts, more_counts]))
    return merged, total


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _as_keys(chunk: np.ndarray) -> np.ndarray:
    return chunk if chunk.dtype in _NATIVE_KEYS else chunk.astype(np.int64)


def _bounds(times: np.ndarray, t_start: float | None, t_stop: float | None) -> tuple[int, int]:
    i0 = 0 if t_start is None else int(np.searchsorted(times, t_start, side="left"))
    i1 = times.shape[0] if t_stop is None else int(np.searchsorted(times, t_stop, side="right"))
    return i0, i1
