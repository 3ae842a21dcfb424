"""Many sessions: apply one function to each, serially or on a Dask cluster (extra ``[dask]``).

:func:`map_sessions` runs ``func`` once per session folder and returns the results in input
order. Without a client it loops in this process; with a ``dask.distributed.Client`` each session
is one task, so the same code runs on a laptop, a ``LocalCluster`` or a SLURM cluster
(``dask-jobqueue``). What travels to a worker is the session's *path* (or a reader, which pickles
by path and reopens there): never arrays.

A session that fails does not stop the others: its place in the results holds a
:class:`SessionError` (the session, the error's class and message). :func:`map_eids` does the same
for experiment ids of a :class:`~neo_alf.one.OneAdapter` (the method ``OneAdapter.map``).
"""

from __future__ import annotations

import itertools
import operator
import os
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AlfNotFoundError
from .rawio import AlfRawIO

__all__ = ["SHORT_TASK_CONFIG", "SessionError", "is_error", "local_cluster", "map_eids", "map_sessions"]

SHORT_TASK_CONFIG: dict[str, Any] = {
    # Dask's statistical profiler samples every thread of a worker every 10 ms, under the GIL that
    # the task needs: with tasks of milliseconds on two cores it cost 30-40% of the workers' CPU
    "distributed.worker.profile.enabled": False,
    # the event loop's watchdog (default 20 ms) and monitors (100-500 ms) wake the worker likewise
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "1s",
    "distributed.worker.memory.monitor-interval": "500ms",
    # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers, which also fixes glibc's mmap threshold at
    # 128 KiB: every chunk of spikes is then a fresh mapping, page-faulted anew (8x the page faults
    # of one process, a quarter of a worker's CPU); the thread limits are kept
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
        "MALLOC_MMAP_THRESHOLD_": 1 << 24,
        "MALLOC_TRIM_THRESHOLD_": 1 << 26,
    },
}
"""Dask settings for workers that run many short tasks (sessions of a few milliseconds each):
:func:`local_cluster` starts its workers with them; on another cluster, put them in the Dask
configuration of the workers (``~/.config/dask/``, or ``dask.config.set`` before the cluster is
made). They turn off Dask's per-worker profiler (the dashboard's profile page stays empty)."""
_SPAWN_ENVIRON = SHORT_TASK_CONFIG["distributed.nanny.pre-spawn-environ"]

Session = str | os.PathLike | AlfRawIO

# Default batches ("guided" scheduling): each takes 1/(2 x workers) of the sessions left, so
# that the first are long (Dask's cost per task, about 1.5 ms, weighs little against sessions of
# milliseconds) and the last are short (the workers finish together); never above _MAX_BATCH,
# nor below 1/(_SMALLEST_SHARE x workers) of all the sessions
_MAX_BATCH = 64
_SMALLEST_SHARE = 16


@dataclass(frozen=True)
class SessionError:
    """The result of a session whose function raised: the others complete.

    Attributes
    ----------
    session : str
        The session as given (path) or its eid (:func:`map_eids`).
    path : str or None
        The session folder (None when an eid did not resolve to one).
    error : str
        The exception's class name (``"AlfDimensionError"``).
    message : str
        The exception's message (it names the file and the ALF rule for neo-alf errors).
    traceback : str
        Where it was raised (on the worker), for debugging.
    """

    session: str
    path: str | None
    error: str
    message: str
    traceback: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The record without the traceback: for tables, JSON and parquet metadata."""
        return {"session": self.session, "path": self.path, "error": self.error, "message": self.message}


def local_cluster(n_workers: int = 2, *, threads_per_worker: int = 1, **kwargs: Any):
    """A ``dask.distributed.LocalCluster`` of worker processes set up for many short tasks.

    The workers start with :data:`SHORT_TASK_CONFIG` (no statistical profiler, slower watchdog
    ticks): on a machine whose cores are all workers, Dask's defaults take a third of the CPU
    from tasks of a few milliseconds (``docs/scaling.rst``).

    Parameters
    ----------
    n_workers : int
        Worker processes (one per core is usual: reading sessions holds the GIL part of the time).
    threads_per_worker : int
        Threads per worker process.
    **kwargs
        Passed to ``LocalCluster`` (``memory_limit=``, ``dashboard_address=``...; the dashboard is
        off unless given).

    Returns
    -------
    distributed.LocalCluster
        Close it (or use it as a context manager) when done.

    Examples
    --------
    >>> with local_cluster(2) as cluster, Client(cluster) as client:
    ...     units = units_table(paths, client=client)
    """
    try:
        import dask
        from distributed import LocalCluster
    except ImportError:
        from .errors import AlfDependencyError

        raise AlfDependencyError(
            "a Dask cluster needs the extra: pip install 'neo-alf[dask]'", rule="optional extra `dask`"
        ) from None
    kwargs.setdefault("dashboard_address", None)
    kwargs.setdefault("processes", True)
    settings = {k: v for k, v in SHORT_TASK_CONFIG.items() if k != "distributed.nanny.pre-spawn-environ"}
    if kwargs["processes"]:
        # given to each nanny too, so that a worker it restarts, or a nanny made later
        # (cluster.scale), has them: the context below covers only the nannies made now
        kwargs.setdefault("env", {k: str(v) for k, v in _SPAWN_ENVIRON.items()})
        # (a nanny merges this over Dask's configuration one level deep: give it whole subtrees)
        kwargs.setdefault("config", dask.config.merge(dask.config.config, _nested(settings)))
    with dask.config.set(SHORT_TASK_CONFIG):
        return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, **kwargs)


def _nested(dotted: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` as ``{"a": {"b": 1}}`` (how a nanny takes Dask settings for its worker)."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def is_error(result: Any) -> bool:
    """True for the :class:`SessionError` records among :func:`map_sessions` results."""
    return isinstance(result, SessionError)


def map_sessions(
    func: Callable[[Any], Any],
    sessions: Iterable[Session],
    *,
    client: Any = None,
    reader: bool = True,
    reader_kwargs: dict[str, Any] | None = None,
    labels: Sequence[str] | None = None,
    progress: bool = True,
    batch_size: int | None = None,
) -> list[Any]:
    """Apply ``func`` to each session, serially or on a Dask cluster; results in input order.

    Parameters
    ----------
    func : callable
        Called once per session with an :class:`~neo_alf.rawio.AlfRawIO` whose header is parsed
        (``reader=True``), or with the session folder as a :class:`~pathlib.Path`
        (``reader=False``: ``func`` opens what it needs). On a cluster it must pickle
        (cloudpickle: lambdas and closures do) and so must what it returns.
    sessions : iterable of path-like or AlfRawIO
        Session folders, or readers (sent by path and constructor keywords, reopened there).
    client : dask.distributed.Client, optional
        One task per session on its cluster. None: a loop in this process, no Dask needed.
    reader : bool
        Pass readers (default) or paths to ``func``.
    reader_kwargs : dict, optional
        Keywords for :class:`~neo_alf.rawio.AlfRawIO` (``collections``, ``revision``...).
    labels : sequence of str, optional
        How error records name each session (default: its path); :func:`map_eids` passes eids.
    progress : bool
        A progress bar (tqdm, when installed) counting finished sessions.
    batch_size : int, optional
        Sessions per Dask task. A task costs about 1.5 ms of the client's and scheduler's time
        (measured on a 2-process LocalCluster), a units table of a 100,000-spike session 2-3 ms:
        such sessions run faster many per task. Default: decreasing batches, each of
        1/(2 x workers) of the sessions left (at most 64, at least 1/(16 x workers) of all), so
        that the first tasks are long and the workers finish together.

    Returns
    -------
    list
        ``func``'s result per session, in the order given; a :class:`SessionError` where ``func``
        (or opening the session, or moving its result back) raised. Test with :func:`is_error`.

    Examples
    --------
    >>> def n_units(reader):
    ...     return reader.spike_channels_count()
    >>> counts = map_sessions(n_units, paths)                     # serial
    >>> counts = map_sessions(n_units, paths, client=Client())    # the same, on Dask
    """
    sessions = list(sessions)
    labels = [_describe(s) for s in sessions] if labels is None else [str(x) for x in labels]
    if len(labels) != len(sessions):
        raise ValueError(f"{len(labels)} labels for {len(sessions)} sessions")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
    kwargs = dict(reader_kwargs or {})
    bar = _progress_bar(len(sessions), progress)
    try:
        if client is None:
            results = []
            for session, label in zip(sessions, labels, strict=True):
                results.append(_call(session, label, func, reader, kwargs))
                bar.update(1)
            return results
        return _on_cluster(client, func, sessions, labels, reader, kwargs, bar, batch_size)
    finally:
        bar.close()


def map_eids(
    adapter: Any,
    func: Callable[[Any], Any],
    eids: Iterable[Any] | None = None,
    *,
    client: Any = None,
    reader: bool = True,
    reader_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    batch_size: int | None = None,
    **search: Any,
) -> list[Any]:
    """:func:`map_sessions` over experiment ids of a :class:`~neo_alf.one.OneAdapter` (``OneAdapter.map``).

    Parameters
    ----------
    adapter : OneAdapter
        Resolves eids to session folders; with a ``base_url``, missing files are downloaded first
        (here, before the tasks start: workers then read local files).
    func : callable
        As in :func:`map_sessions`: receives a parsed reader, or the folder (``reader=False``).
    eids : iterable, optional
        Eids (or anything ``adapter.to_eid`` accepts). Default: ``adapter.search(**search)``.
    client, reader, reader_kwargs, progress, batch_size
        As in :func:`map_sessions`.
    **search
        Filters of :meth:`OneAdapter.search` (``subject=``, ``lab=``, ``datasets=``...), used when
        ``eids`` is None.

    Returns
    -------
    list
        One result per eid, in order; a :class:`SessionError` (``session`` = the eid) where the
        eid did not resolve, its download failed, or ``func`` raised.

    Raises
    ------
    TypeError
        Both ``eids`` and search filters given.
    """
    if eids is not None and search:
        raise TypeError(f"give eids or search filters ({', '.join(sorted(search))}), not both")
    eids = adapter.search(**search) if eids is None else list(eids)
    results: list[Any] = [None] * len(eids)
    todo: list[tuple[int, str, Path]] = []
    for i, given in enumerate(eids):
        try:
            eid = adapter.to_eid(given)
            if getattr(adapter, "base_url", None):
                adapter.download(eid)
            path = adapter.eid2path(eid)
            if path is None:
                raise AlfNotFoundError(f"session {eid} has no folder in the cache", adapter.cache_dir)
        except Exception as err:
            results[i] = _record(str(given), None, err)
            continue
        todo.append((i, eid, path))
    mapped = map_sessions(
        func,
        [p for _, _, p in todo],
        client=client,
        reader=reader,
        reader_kwargs=reader_kwargs,
        labels=[e for _, e, _ in todo],
        progress=progress,
        batch_size=batch_size,
    )
    for (i, _, _), result in zip(todo, mapped, strict=True):
        results[i] = result
    return results


# ============================================================================================ tasks


def _call(session: Session, label: str, function: Callable, reader: bool, kwargs: dict) -> Any:
    """One session's task (in this process or on a worker): never raises, returns a record."""
    path = _path_of(session)
    try:
        if reader:
            if isinstance(session, AlfRawIO):
                target = session
            else:
                target = AlfRawIO(path, **kwargs)
            if not target.is_header_parsed:
                target.parse_header()
        else:
            target = Path(path)
        return function(target)
    except Exception as err:
        return _record(label, path, err)


def _on_cluster(client, func, sessions, labels, reader, kwargs, bar, batch_size) -> list[Any]:
    from distributed import as_completed

    if batch_size is None:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        sizes = _guided_batches(len(sessions), n_workers)
    else:
        sizes = [batch_size] * -(-len(sessions) // batch_size)
    starts = list(itertools.accumulate(sizes, initial=0))
    batches = [list(zip(sessions[a:b], labels[a:b], strict=True)) for a, b in itertools.pairwise(starts)]
    # one func payload for every task: scattering it keeps large closures off the per-task messages
    run = client.scatter(func, broadcast=False, hash=False) if _is_big(func) else func
    tag = uuid.uuid4().hex[:8]
    # client.map sends every task in one message (a submit per task costs a round trip each)
    futures = client.map(
        _call_batch,
        batches,
        function=run,
        reader=reader,
        kwargs=kwargs,
        key=[f"neo-alf-sessions-{tag}-{i}" for i in range(len(batches))],
        pure=False,
    )
    position = {f.key: i for i, f in enumerate(futures)}
    results: list[list[Any] | None] = [None] * len(futures)
    # results travel back as their tasks finish, while the others run (not all at the end)
    for done in as_completed(futures).batches():
        try:
            gathered = client.gather(done)
        except Exception:  # a task that failed, or a result that cannot travel: one batch at a time
            gathered = [_batch_result(client, f, batches[position[f.key]]) for f in done]
        for future, result in zip(done, gathered, strict=True):
            results[position[future.key]] = result
            bar.update(len(batches[position[future.key]]))
    for future in futures:  # results are here: free them on the workers (a message, no round trip)
        future.release()
    return [r for batch in results for r in batch]


def _guided_batches(n_sessions: int, n_workers: int) -> list[int]:
    """Sessions per task, largest first: each batch a share of the sessions still left."""
    smallest = max(1, -(-n_sessions // (_SMALLEST_SHARE * n_workers)))
    sizes, left = [], n_sessions
    while left > 0:
        size = min(left, _MAX_BATCH, max(smallest, -(-left // (2 * n_workers))))
        sizes.append(size)
        left -= size
    return sizes


def _batch_result(client, future, batch: list) -> list[Any]:
    """One batch, after a failed gather: its results, or a record for each session that failed."""
    try:
        return future.result()
    except Exception as err:
        if future.status == "error":  # the task itself failed: KilledWorker, unpicklable arguments...
            return [_record(label, _path_of(s), err) for s, label in batch]
    return _gather_one(client, future, batch)


def _call_batch(items: list, function: Callable, reader: bool, kwargs: dict) -> list[Any]:
    return [_call(session, label, function, reader, kwargs) for session, label in items]


def _gather_one(client, future, batch: list) -> list[Any]:
    """A batch whose results did not all travel back: each result alone, a record for those that fail."""
    out = []
    for j, (session, label) in enumerate(batch):
        try:
            out.append(client.submit(operator.getitem, future, j, pure=False).result())
        except Exception as err:
            out.append(_record(label, _path_of(session), err))
    return out


def _is_big(func: Callable) -> bool:
    try:
        import cloudpickle

        return len(cloudpickle.dumps(func)) > 100_000
    except Exception:
        return False


def _record(label: str, path: str | None, err: BaseException) -> SessionError:
    text = str(err).splitlines()[0] if str(err) else ""
    return SessionError(label, path, type(err).__name__, text, "".join(traceback.format_exception(err)))


def _path_of(session: Session) -> str:
    return session.dirname if isinstance(session, AlfRawIO) else os.fspath(session)


def _describe(session: Session) -> str:
    return _path_of(session)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool):
    if not progress:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc="sessions", unit="session")
