"""Arrays for people who want arrays: ``load_object`` and ``load_dataset``, as in ONE-api.

Both scan the session folder (no data read), then read only the files asked for.
"""

from __future__ import annotations

import os
from typing import Any

from .session import AlfSession, ObjectData

__all__ = ["load_dataset", "load_object"]


def load_object(
    session_path: str | os.PathLike,
    obj: str,
    collection: str | None = None,
    revision: str | None = None,
) -> ObjectData:
    """Load every attribute of one ALF object.

    Parameters
    ----------
    session_path : str or path-like
        The session folder.
    obj : str
        The object name, without namespace (``trials`` loads ``_ibl_trials.*``).
    collection : str, optional
        The collection (``alf/probe00/pykilosort``); needed when the object is in several.
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.

    Returns
    -------
    ObjectData
        A dict ``attribute -> array`` (keys carry timescales: ``times``, ``times_ephysClock``);
        ``.npy``/``.bin`` values are read-only memmaps; multi-part datasets are joined in order.
        ``.metadata`` maps attributes to their parsed ``*.metadata.json`` (column names, units).

    Raises
    ------
    AlfNotFoundError, AlfAmbiguousError
        No such object, or it is in several collections and ``collection`` is None.
    AlfDimensionError
        Attributes with different row counts.
    AlfFormatError
        A file that cannot be read as its extension says.

    Examples
    --------
    >>> trials = load_object(session, "trials", collection="alf")
    >>> trials["intervals"].shape
    (400, 2)
    """
    return AlfSession(session_path, revision=revision).load_object(obj, collection)


def load_dataset(
    session_path: str | os.PathLike,
    dataset: str,
    collection: str | None = None,
    revision: str | None = None,
    return_metadata: bool = False,
) -> Any:
    """Load one dataset, ``"object.attribute"`` (``"spikes.times_ephysClock"`` with a timescale).

    Parameters
    ----------
    session_path : str or path-like
        The session folder.
    dataset : str
        ``object.attribute[_timescale]``, namespace left out.
    collection, revision : str, optional
        As in :func:`load_object`.
    return_metadata : bool
        Also return the parsed ``*.metadata.json`` (None when absent).

    Returns
    -------
    numpy.ndarray or object, or (data, metadata)
        The data (a read-only memmap for ``.npy``/``.bin``).
    """
    ds = AlfSession(session_path, revision=revision).dataset(dataset, collection)
    data = ds.load()
    return (data, ds.metadata) if return_metadata else data
