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

__all__ = ["SessionError", "is_error", "map_eids", "map_sessions"]

Session = str | os.PathLike | AlfRawIO


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
        Sessions per Dask task. A task costs the scheduler a few milliseconds: sessions that take
        tens of milliseconds (a units table) run faster a few per task. Default: about eight tasks
        per worker, at most 16 sessions each (1 on a large cluster).

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
        batch_size = max(1, min(16, len(sessions) // (8 * n_workers)))
    batches = [
        list(zip(sessions[i : i + batch_size], labels[i : i + batch_size], strict=True))
        for i in range(0, len(sessions), batch_size)
    ]
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
    for done in as_completed(futures).batches():
        bar.update(sum(len(batches[position[f.key]]) for f in done))
    try:
        # waits, too, for results lost with a dead worker (recomputed elsewhere)
        results = client.gather(futures)
    except Exception:
        results = [_batch_result(client, f, b) for f, b in zip(futures, batches, strict=True)]
    client.cancel(futures)
    return [r for batch in results for r in batch]


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
