"""SpikeInterface sortings from ALF spike-sorting collections (optional extra ``[spikeinterface]``).

:func:`read_alf_sorting` gives a ``BaseSorting`` built on SpikeInterface's
``NeoBaseSortingExtractor`` with :class:`~neo_alf.rawio.AlfRawIO` as its Neo reader:

- one collection (one probe's sorting): cluster ids would collide across probes;
- unit ids are the cluster ids (rows of ``clusters.*``, empty clusters included);
- spike frames are ``floor(session seconds x sampling_frequency)``, with no segment offset, so
  ``frame / sampling_frequency`` is session time (SpikeInterface counts in frames; ALF stores
  seconds: pass the recording's rate, 30 kHz for Neuropixels AP by default);
- ``cluster_*`` and ``channel_*`` annotations become unit properties;
- ``to_dict()`` / ``spikeinterface.load`` round-trip.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import AlfAmbiguousError, AlfDependencyError, AlfNotFoundError
from .rawio import AlfRawIO
from .session import AlfSession

try:
    from spikeinterface.core import BaseSorting
    from spikeinterface.extractors.neoextractors.neobaseextractor import (
        NeoBaseSortingExtractor,
        NeoSortingSegment,
    )
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise AlfDependencyError(
        f"neo_alf.spikeinterface needs spikeinterface: pip install 'neo-alf[spikeinterface]' ({err})",
        rule="optional extra `spikeinterface`",
    ) from None

__all__ = ["AlfSortingExtractor", "read_alf_sorting"]


class AlfSortingExtractor(NeoBaseSortingExtractor):
    """A SpikeInterface sorting of one ALF spike-sorting collection.

    Parameters
    ----------
    folder_path : str or path-like
        The session folder.
    collection : str, optional
        The spike-sorting collection (``alf/probe00/pykilosort``); needed when there are several.
    sampling_frequency : float
        Frames per second for SpikeInterface (spike times are seconds in ALF).
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.
    """

    NeoRawIOClass = "AlfRawIO"
    neo_returns_frames = False
    name = "alf"

    def __init__(
        self,
        folder_path: str | os.PathLike,
        collection: str | None = None,
        sampling_frequency: float = 30000.0,
        revision: str | None = None,
    ):
        collection = _spike_collection(folder_path, collection, revision)
        neo_kwargs = self.map_to_neo_kwargs(folder_path, collection, revision)
        self.neo_reader = self.get_neo_io_reader(self.NeoRawIOClass, **neo_kwargs)
        annotations = self.neo_reader.raw_annotations["blocks"][0]["segments"][0]["spikes"]
        cluster_ids = np.array([a["cluster_id"] for a in annotations], dtype=np.int64)
        self.block_index = 0
        BaseSorting.__init__(self, float(sampling_frequency), cluster_ids)
        segment = NeoSortingSegment(self.neo_reader, 0, 0, None, float(sampling_frequency), False)
        self.add_sorting_segment(segment)
        for key, values in _unit_properties(annotations).items():
            self.set_property(key, values)
        self._kwargs = dict(
            folder_path=str(folder_path),
            collection=collection,
            sampling_frequency=float(sampling_frequency),
            revision=revision,
        )

    @classmethod
    def map_to_neo_kwargs(cls, folder_path, collection=None, revision=None) -> dict:
        """The AlfRawIO arguments for a folder, collection and revision."""
        return {
            "dirname": str(folder_path),
            "collections": [collection] if collection else None,
            "revision": revision,
        }

    @classmethod
    def get_neo_io_reader(cls, raw_class: str, **neo_kwargs) -> AlfRawIO:
        """An :class:`AlfRawIO` with its header parsed (SpikeInterface looks readers up in ``neo.rawio``)."""
        reader = AlfRawIO(**neo_kwargs)
        reader.parse_header()
        return reader


def read_alf_sorting(
    folder_path: str | os.PathLike,
    collection: str | None = None,
    sampling_frequency: float = 30000.0,
    revision: str | None = None,
) -> AlfSortingExtractor:
    """Read one ALF spike-sorting collection as a SpikeInterface sorting.

    Parameters
    ----------
    folder_path : str or path-like
        The session folder.
    collection : str, optional
        The collection holding ``spikes.*`` and ``clusters.*``; required when there are several.
    sampling_frequency : float
        Frames per second (default 30 kHz, Neuropixels AP).
    revision : str, optional
        Per dataset, this revision or the last one before it.

    Returns
    -------
    AlfSortingExtractor
        A ``spikeinterface.core.BaseSorting``; unit ids are cluster ids.

    Examples
    --------
    >>> sorting = read_alf_sorting(session_path, collection="alf/probe00/pykilosort")
    >>> sorting.get_unit_spike_train(unit_id=12, return_times=True)
    """
    return AlfSortingExtractor(folder_path, collection, sampling_frequency, revision)


def _spike_collection(folder_path, collection: str | None, revision: str | None) -> str:
    session = AlfSession(folder_path, revision=revision)
    found = [o.collection for o in session.find_objects("spikes") if "times" in o]
    if collection is not None:
        if collection not in found:
            raise AlfNotFoundError(
                f"no spikes.times in collection {collection!r} (found: {found})", folder_path
            )
        return collection
    if len(found) != 1:
        raise AlfAmbiguousError(
            f"{len(found)} spike-sorting collections ({', '.join(found) or 'none'}): pass collection=",
            folder_path,
        )
    return found[0]


def _unit_properties(annotations: list[dict]) -> dict[str, np.ndarray]:
    """``cluster_*``, ``channel_*``, ``collection`` and ``probe`` annotations, one value per unit."""
    keys = [
        k for k in annotations[0] if k.startswith(("cluster_", "channel_")) or k in ("collection", "probe")
    ]
    out = {}
    for key in keys:
        if key == "cluster_id" or not all(key in a for a in annotations):
            continue
        values = [a[key] for a in annotations]
        try:
            out[key] = np.asarray(values)
        except ValueError:  # ragged rows
            continue
    return out
