"""Arrays for people who want arrays: ``load_object`` and ``load_dataset``, as ONE-api gives them.

Both scan the session folder (no data read), then read only the files asked for. By default the
result has ONE-api's keys and shapes (:func:`to_one`): an :class:`~neo_alf.bunch.AlfBunch` of
writable arrays that never touch the files, ``(n, 1)`` squeezed, 2-column sync ``timestamps``
expanded to one time per sample, metadata ``columns`` split into keys, ``table`` attributes merged
into the object, all-numeric csv/tsv/ssv tables with their header names. ``as_stored=True`` keeps
every attribute as stored. Dataset names are accepted in every spelling ONE-api accepts
(:func:`find_datasets`).
"""

from __future__ import annotations

import difflib
import fnmatch
import mmap
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from . import tables
from .bunch import AlfBunch
from .errors import AlfAmbiguousError, AlfNameError, AlfNotFoundError
from .session import AlfSession, Dataset
from .spec import AlfName, parse_name

__all__ = [
    "DatasetQuery",
    "find_datasets",
    "load_dataset",
    "load_object",
    "name_spellings",
    "parse_dataset_query",
    "to_one",
]

_TEXT_DELIMITERS = {"csv": ",", "tsv": "\t", "ssv": None}


# --------------------------------------------------------------------------------------------- names


class DatasetQuery:
    """A dataset name as a user spells it, split into where (collection, revision) and what (pattern).

    Attributes
    ----------
    collection : str or None
        From a ``collection/`` prefix (``alf/probe00/spikes.times.npy``), else None (any).
    revision : str or None
        From a ``#revision#/`` folder in the name, else None.
    pattern : str
        The file-name part, possibly with shell wildcards (``*``, ``?``, ``[...]``).
    """

    __slots__ = ("collection", "pattern", "revision", "text")

    def __init__(self, text: str, collection: str | None, revision: str | None, pattern: str):
        self.text, self.collection, self.revision, self.pattern = text, collection, revision, pattern

    def __repr__(self) -> str:
        return f"DatasetQuery({self.text!r})"

    def matches(self, collection: str, revision: str | None, name: AlfName) -> bool:
        """True when a dataset (its collection, revision and parsed file name) answers to this name."""
        if self.collection is not None and not fnmatch.fnmatchcase(collection, self.collection):
            return False
        if self.revision is not None and revision != self.revision:
            return False
        return any(fnmatch.fnmatchcase(s, self.pattern) for s in name_spellings(name))


def parse_dataset_query(text: str) -> DatasetQuery:
    """Split a dataset name into collection, revision and file-name pattern.

    Every spelling ONE-api accepts: ``spikes.times``, ``spikes.times.npy``, ``_ibl_wheel.position``,
    ``_ibl_wheel.position.npy``, ``alf/_ibl_wheel.position.npy``,
    ``alf/probe00/#2024-05-06#/spikes.times.npy``,
    wildcards (``_ibl_trials*``, ``*Camera.times*``).

    Raises
    ------
    AlfNameError
        Not a str, empty, or with a backslash, NUL, absolute path or ``..``.
    """
    if not isinstance(text, str) or not text.strip():
        raise AlfNameError(f"a dataset name must be a non-empty str, not {text!r}", rule="dataset names")
    if "\\" in text or "\x00" in text or text.startswith("/") or ".." in text.split("/"):
        raise AlfNameError(
            "a dataset name has no backslash, NUL, absolute path or `..`",
            text,
            rule="dataset names are [collection/][#revision#/]filename",
        )
    *folders, pattern = text.strip().split("/")
    revision = None
    if folders and re.fullmatch(r"#[^#/]+#", folders[-1]):
        revision = folders.pop()[1:-1]
    collection = "/".join(folders) if folders else None
    return DatasetQuery(text, collection, revision, pattern)


def name_spellings(name: AlfName) -> set[str]:
    """Every way a user may name one file: with or without namespace, extension, extra parts.

    ``_ibl_wheel.position.npy`` answers to ``_ibl_wheel.position.npy``, ``_ibl_wheel.position``,
    ``wheel.position.npy`` and ``wheel.position``.
    """
    ns = f"_{name.namespace}_" if name.namespace else ""
    extra = "".join(f".{p}" for p in name.extra)
    out = set()
    for head in {ns, ""}:
        stem = f"{head}{name.object}.{name.key}"
        out.update({stem, f"{stem}.{name.extension}", f"{stem}{extra}.{name.extension}"})
    return out


def find_datasets(session: AlfSession, dataset: str, collection: str | None = None) -> list[Dataset]:
    """The datasets of a session that answer to a name (see :func:`parse_dataset_query`).

    Raises
    ------
    AlfNotFoundError
        Nothing answers; the message names the closest existing names (``difflib``).
    """
    query = parse_dataset_query(dataset)
    if collection is not None:
        if query.collection is not None and query.collection != collection:
            raise AlfNameError(
                f"collection {collection!r} and the name's collection {query.collection!r} disagree",
                dataset,
                rule="give the collection once",
            )
        query.collection = collection
    found = [
        d for d in session.datasets if any(query.matches(d.collection, d.revision, f.name) for f in d.files)
    ]
    if not found:
        names = sorted({s for d in session.datasets for s in _display_names(d)})
        raise AlfNotFoundError(
            f"no dataset {dataset!r}{_where(collection)}{_closest(query.pattern, names)}", session.path
        )
    return found


def _display_names(d: Dataset) -> list[str]:
    where = f"{d.collection}/" if d.collection else ""
    return [f"{d.object}.{d.key}", f"{where}{d.files[0].name.to_filename()}"]


def _closest(word: str, names: Iterable[str]) -> str:
    names = list(names)
    close = difflib.get_close_matches(word, names, n=3, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(word.split(".")[0], [n.split(".")[0] for n in names], n=3)
        close = list(dict.fromkeys(close))
    return f" (closest: {', '.join(close)})" if close else ""


def _where(collection: str | None) -> str:
    return f" in collection {collection!r}" if collection is not None else ""


def _resolve_object(session: AlfSession, obj: str, collection: str | None) -> tuple[str, str | None]:
    """The object name a spelling means: ``_ibl_trials`` and ``trials`` and ``*Camera`` alike."""
    names = sorted({o.name for o in session.objects if collection is None or o.collection == collection})
    namespace = None
    m = re.fullmatch(r"_(?P<ns>[^_]+)_(?P<obj>.+)", obj)
    if m and obj not in names:
        namespace, obj = m["ns"], m["obj"]
    if any(c in obj for c in "*?["):
        hits = [n for n in names if fnmatch.fnmatchcase(n, obj)]
        if len(hits) > 1:
            raise AlfAmbiguousError(
                f"{obj!r} matches several objects ({', '.join(hits)}); name one", session.path
            )
        if hits:
            obj = hits[0]
    if obj not in names:
        raise AlfNotFoundError(f"no object {obj!r}{_where(collection)}{_closest(obj, names)}", session.path)
    return obj, namespace


# -------------------------------------------------------------------------------------------- shapes


def _writable(value: Any) -> Any:
    """An array the caller may change without ever touching the file: a copy-on-write map or a copy."""
    if not isinstance(value, np.ndarray) or value.flags.writeable:
        return value
    # only a map of a whole file is mapped again: a view of one keeps its parent's offset, not its own
    if isinstance(value, np.memmap) and value.filename is not None and isinstance(value.base, mmap.mmap):
        order = "F" if value.flags.f_contiguous and not value.flags.c_contiguous else "C"
        try:
            return np.array(
                np.memmap(
                    value.filename,
                    dtype=value.dtype,
                    mode="c",
                    offset=value.offset,
                    shape=value.shape,
                    order=order,
                ),
                copy=False,
            )
        except (OSError, ValueError):
            pass
    return np.array(value)


def _named_columns(value: np.ndarray, names: list[str]) -> np.ndarray:
    out = np.empty(value.shape[0], dtype=[(n, value.dtype) for n in names])
    for i, n in enumerate(names):
        out[n] = value[:, i]
    return out


def ts2vec(ts: np.ndarray, n_samples: int) -> np.ndarray:
    """Sync points ``(sample, time)`` to one time per sample, linear (ONE-api's ``ts2vec``)."""
    return np.interp(np.arange(n_samples), ts[:, 0], ts[:, 1])


def to_one(
    data: dict, *, as_stored: bool = False, metadata: dict | None = None, files: dict | None = None
) -> AlfBunch:
    """Give an object as :func:`one.alf.io.load_object` shapes it.

    Parameters
    ----------
    data : dict
        ``attribute -> value`` as the session loads it (an :class:`~neo_alf.session.ObjectData`).
    as_stored : bool
        Keep keys and shapes as stored (arrays still made writable).
    metadata, files : dict, optional
        Provenance; default: ``data.metadata`` and ``data.files`` when present.

    Returns
    -------
    AlfBunch
    """
    metadata = dict(metadata if metadata is not None else getattr(data, "metadata", {}) or {})
    files = dict(files if files is not None else getattr(data, "files", {}) or {})
    out = AlfBunch()
    out.metadata, out.files = metadata, files
    for key, value in data.items():
        out[key] = _writable(value)
    if as_stored:
        return out
    for key in list(out):
        value = out[key]
        if not isinstance(value, np.ndarray):
            continue
        paths = files.get(key, ())
        meta = metadata.get(key) or {}
        columns = meta.get("columns")
        if not (isinstance(columns, list) and value.ndim == 2 and len(columns) == value.shape[1] > 1):
            out[key] = value = _shape_one(value, paths)
        if isinstance(columns, list) and value.ndim == 2 and len(columns) == value.shape[1]:
            names = [
                c if isinstance(c, str) else (c.get("name") if isinstance(c, dict) else None) for c in columns
            ]
            if all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names):
                del out[key]
                for i, n in enumerate(names):
                    out[n] = value[:, i]
                    out.files[n] = paths
                rest = {k: v for k, v in meta.items() if k != "columns"}
                if rest:
                    out[f"{key}metadata"] = rest
    _expand_timestamps(out)  # (``table`` attributes are merged by the session model: neo_alf.tables)
    return out


def _expand_timestamps(out: AlfBunch) -> None:
    stamps = [k for k in out if k.startswith("timestamps") and isinstance(out[k], np.ndarray)]
    others = [
        v.shape[0]
        for k, v in out.items()
        if isinstance(v, np.ndarray) and v.ndim and "timestamps" not in k and not k.endswith("metadata")
    ]
    if not stamps or not others or len(set(others)) != 1:
        return
    n = others[0]
    for key in stamps:
        ts = out[key]
        if (
            ts.ndim == 2
            and ts.shape[1] == 2
            and (ts.shape == (2, 2) or ts.shape[0] != n)
            and ts.dtype.kind in "iuf"
        ):
            out[key] = ts2vec(ts, n)


# -------------------------------------------------------------------------------------------- public


def load_object(
    session_path: str | os.PathLike,
    obj: str,
    collection: str | None = None,
    revision: str | None = None,
    *,
    as_stored: bool = False,
) -> AlfBunch:
    """Load every attribute of one ALF object, shaped as ONE-api's ``load_object`` shapes it.

    Parameters
    ----------
    session_path : str or path-like
        The session folder.
    obj : str
        The object name: ``trials``, ``_ibl_trials`` (with its namespace) or a wildcard matching one
        object (``*Camera``).
    collection : str, optional
        The collection (``alf/probe00/pykilosort``); needed when the object is in several.
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.
    as_stored : bool
        Keep keys and shapes as stored: no squeeze, no timestamp expansion, no column split, no table
        merge.

    Returns
    -------
    AlfBunch
        A dict ``attribute -> array`` with attribute access and ``to_df()``. Arrays are writable:
        ``.npy``/``.bin`` are copy-on-write maps (a change stays in memory, never reaches the file);
        multi-part datasets are joined in order. ``.metadata`` maps attributes to their parsed
        ``*.metadata.json``; ``.files`` to the paths read.

    Raises
    ------
    AlfNotFoundError, AlfAmbiguousError
        No such object (the message names the closest), or it is in several collections and
        ``collection`` is None.
    AlfFormatError
        A file that cannot be read as its extension says.

    Examples
    --------
    >>> trials = load_object(session, "trials", collection="alf")
    >>> trials.intervals.shape
    (400, 2)
    """
    session = AlfSession(session_path, revision=revision)
    name, namespace = _resolve_object(session, obj, collection)
    data = session.load_object(name, collection, merge_tables=not as_stored)
    if namespace is not None:
        spaces = {AlfName(*parse_name(Path(p).name)).namespace for ps in data.files.values() for p in ps}
        if spaces != {namespace}:
            raise AlfNotFoundError(
                f"no object {obj!r}: {name!r} is in namespace(s) {sorted(map(str, spaces))}", session.path
            )
    return to_one(data, as_stored=as_stored)


def load_dataset(
    session_path: str | os.PathLike,
    dataset: str,
    collection: str | None = None,
    revision: str | None = None,
    return_metadata: bool = False,
    *,
    as_stored: bool = False,
) -> Any:
    """Load one dataset, named in any spelling ONE-api accepts.

    Parameters
    ----------
    session_path : str or path-like
        The session folder.
    dataset : str
        ``spikes.times``, ``spikes.times.npy``, ``_ibl_wheel.position[.npy]``,
        ``alf/_ibl_wheel.position.npy``, ``alf/#2024-05-06#/spikes.times.npy``, or a wildcard
        matching one dataset.
    collection, revision : str, optional
        As in :func:`load_object`.
    return_metadata : bool
        Also return the parsed ``*.metadata.json`` (None when absent).
    as_stored : bool
        Keep the stored shape (no ``(n, 1)`` squeeze, no header names for text tables).

    Returns
    -------
    numpy.ndarray or object, or (data, metadata)
        A writable array (copy-on-write map for ``.npy``/``.bin``).

    Raises
    ------
    AlfNotFoundError
        No such dataset; the message names the closest.
    AlfAmbiguousError
        The name matches datasets in several collections or several datasets.
    """
    query = parse_dataset_query(dataset)
    session = AlfSession(session_path, revision=revision or query.revision)
    found = find_datasets(session, dataset, collection)
    if len(found) > 1:
        where = sorted({f"{d.collection or '(root)'}: {d.object}.{d.key}" for d in found})
        raise AlfAmbiguousError(
            f"{dataset!r} matches {len(found)} datasets ({'; '.join(where)}); pass collection= "
            "or a more precise name",
            session.path,
        )
    ds = found[0]
    data = _writable(ds.load())
    meta = ds.metadata
    if not as_stored:
        data = _shape_one(data, ds.paths)
    return (data, meta) if return_metadata else data


def _shape_one(value: Any, paths: tuple) -> Any:
    """ONE-api's per-file shaping: ``(n, 1)`` flattened, text tables keep their header names."""
    if not isinstance(value, np.ndarray) or value.dtype.names or value.ndim != 2:
        return value
    if value.shape[1] == 1:
        return value[:, 0]
    if paths and Path(paths[0]).suffix[1:] in _TEXT_DELIMITERS:
        names = tables.column_names(Path(paths[0]))
        if names and len(names) == value.shape[1] and len(set(names)) == len(names):
            return _named_columns(value, names)
    return value
