"""SpikeInterface sortings and raw recordings from ALF sessions (optional extra ``[spikeinterface]``).

:func:`read_alf_sorting` gives a ``BaseSorting`` built on SpikeInterface's
``NeoBaseSortingExtractor`` with :class:`~neo_alf.rawio.AlfRawIO` as its Neo reader:

- one collection (one probe's sorting): cluster ids would collide across probes;
- unit ids are the cluster ids (rows of ``clusters.*``, empty clusters included);
- spike frames are ``spikes.samples`` when the collection has them (probe-clock samples: the
  frames of the probe's raw recording), else ``round(session seconds x sampling_frequency)``
  (rounded, never truncated: a truncation puts a few percent of the spikes one frame early and
  negative times a frame late); pass the recording's rate, 30 kHz for Neuropixels AP by default;
- ``cluster_*`` and ``channel_*`` annotations become unit properties;
- ``to_dict()`` / ``spikeinterface.load`` round-trip.

:func:`read_alf_recording` gives the probe's raw SpikeGLX recording (``.cbin`` or ``.bin``) as a
``BaseRecording``: int16 traces read through :mod:`neo_alf.spikeglx` (only the chunks asked
for are decompressed), gains and offsets to microvolts, a probeinterface probe with the
contact positions of the ``.meta``, and session times (the exact probe-to-session map, served
lazily) when the probe has a sync file. With ``spikes.samples``, the sorting's frames are the
recording's frames, so the two go together in a sorting analyzer.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .errors import AlfAmbiguousError, AlfDependencyError, AlfNotFoundError
from .loaders import load_dataset
from .rawio import AlfRawIO
from .session import AlfSession
from .spikeglx import RawStream, find_raw_streams

try:
    import probeinterface
    from spikeinterface.core import BaseRecording, BaseRecordingSegment, BaseSorting, BaseSortingSegment
    from spikeinterface.extractors.neoextractors.neobaseextractor import (
        NeoBaseSortingExtractor,
    )
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise AlfDependencyError(
        f"neo_alf.spikeinterface needs spikeinterface: pip install 'neo-alf[spikeinterface]' ({err})",
        rule="optional extra `spikeinterface`",
    ) from None

__all__ = ["AlfRecordingExtractor", "AlfSortingExtractor", "read_alf_recording", "read_alf_sorting"]


class AlfSortingExtractor(NeoBaseSortingExtractor):
    """A SpikeInterface sorting of one ALF spike-sorting collection.

    Parameters
    ----------
    folder_path : str or path-like
        The session folder.
    collection : str, optional
        The spike-sorting collection (``alf/probe00/pykilosort``); needed when there are several.
    sampling_frequency : float
        Frames per second for SpikeInterface: the probe's rate (frames are ``spikes.samples`` when
        the collection has them, else ``round(spikes.times x sampling_frequency)``).
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.
    strict : bool
        Raise the first ALF rule broken in the collection, instead of leaving that part out with an
        :class:`~neo_alf.errors.AlfWarning` (unit annotations from a broken ``clusters.*`` file ...).
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
        strict: bool = False,
    ):
        collection = _spike_collection(folder_path, collection, revision)
        neo_kwargs = self.map_to_neo_kwargs(folder_path, collection, revision, strict)
        self.neo_reader = self.get_neo_io_reader(self.NeoRawIOClass, **neo_kwargs)
        annotations = self.neo_reader.raw_annotations["blocks"][0]["segments"][0]["spikes"]
        cluster_ids = np.array([a["cluster_id"] for a in annotations], dtype=np.int64)
        self.block_index = 0
        BaseSorting.__init__(self, float(sampling_frequency), cluster_ids)
        spike_frames = _spike_frames(folder_path, collection, revision, float(sampling_frequency))
        self.add_sorting_segment(_FramesSortingSegment(cluster_ids, *spike_frames))
        self.annotate(alf_frames_from=spike_frames[2])
        for key, values in _unit_properties(annotations).items():
            self.set_property(key, values)
        self._kwargs = dict(
            folder_path=str(folder_path),
            collection=collection,
            sampling_frequency=float(sampling_frequency),
            revision=revision,
            strict=strict,
        )

    @classmethod
    def map_to_neo_kwargs(cls, folder_path, collection=None, revision=None, strict=False) -> dict:
        """The AlfRawIO arguments: exactly one collection (never the sortings below it)."""
        return {
            "dirname": str(folder_path),
            "collections": [collection] if collection is not None else None,
            "revision": revision,
            "strict": strict,
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
    strict: bool = False,
) -> AlfSortingExtractor:
    """Read exactly one ALF spike-sorting collection as a SpikeInterface sorting.

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
    strict : bool
        Raise the first ALF rule broken instead of warning (see :class:`AlfSortingExtractor`).

    Returns
    -------
    AlfSortingExtractor
        A ``spikeinterface.core.BaseSorting``; unit ids are cluster ids.

    Examples
    --------
    >>> sorting = read_alf_sorting(session_path, collection="alf/probe00/pykilosort")
    >>> sorting.get_unit_spike_train(unit_id=12, return_times=True)
    """
    return AlfSortingExtractor(folder_path, collection, sampling_frequency, revision, strict)


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


def _spike_frames(folder_path, collection: str, revision: str | None, fs: float):
    """Per-spike frames and cluster ids: ``spikes.samples`` if present, else rounded ``times x fs``.

    Returns ``(frames, clusters, source)`` with both arrays sorted by cluster then frame.
    """
    try:
        frames = np.asarray(load_dataset(folder_path, "spikes.samples", collection, revision)).astype(
            np.int64
        )
        source = "spikes.samples"
    except AlfNotFoundError:
        times = np.asarray(load_dataset(folder_path, "spikes.times", collection, revision), dtype=np.float64)
        # rint, not astype: truncation puts a spike whose time is 0.9999 frame one frame early.
        frames = np.rint(times * fs).astype(np.int64)
        source = "spikes.times"
    try:
        clusters = np.asarray(load_dataset(folder_path, "spikes.clusters", collection, revision)).astype(
            np.int64
        )
    except AlfNotFoundError:
        clusters = None
    if clusters is not None:
        order = np.lexsort((frames, clusters))
        frames, clusters = frames[order], clusters[order]
    else:
        frames = np.sort(frames)
    return frames, clusters, source


class _FramesSortingSegment(BaseSortingSegment):
    """Spike frames per unit, sorted once by (cluster, frame); a unit is a slice of that order."""

    def __init__(self, unit_ids: np.ndarray, frames: np.ndarray, clusters: np.ndarray | None, source: str):
        BaseSortingSegment.__init__(self)
        self.frames = frames
        self.source = source
        if clusters is None:  # unsorted spikes: one unit holds them all
            self.bounds = {unit_ids[0]: (0, frames.size)} if len(unit_ids) else {}
        else:
            starts = np.searchsorted(clusters, unit_ids, side="left")
            stops = np.searchsorted(clusters, unit_ids, side="right")
            self.bounds = {u: (int(a), int(b)) for u, a, b in zip(unit_ids, starts, stops, strict=True)}

    def get_unit_spike_train(self, unit_id, start_frame=None, end_frame=None) -> np.ndarray:
        a, b = self.bounds.get(unit_id, (0, 0))
        frames = self.frames[a:b]
        lo = 0 if start_frame is None else np.searchsorted(frames, start_frame, side="left")
        hi = frames.size if end_frame is None else np.searchsorted(frames, end_frame, side="left")
        return frames[lo:hi].copy()


class SessionTimes:
    """The session time of every sample of a raw stream, computed on demand (a lazy time vector).

    SpikeInterface accepts it as a segment ``time_vector``: slices and single samples are
    computed through the exact probe-to-session map, the whole vector only if asked for.
    """

    ndim = 1
    dtype = np.dtype("float64")

    def __init__(self, stream: RawStream):
        self.stream = stream
        self.shape = (stream.n_samples,)

    def __len__(self) -> int:
        return self.stream.n_samples

    def __getitem__(self, item):
        if isinstance(item, slice):
            return self.stream.probe_to_session(np.arange(self.stream.n_samples)[item])
        index = np.arange(self.stream.n_samples)[item]
        out = self.stream.probe_to_session(index)
        return float(out) if np.ndim(out) == 0 else out

    def __array__(self, dtype=None, copy=None):
        out = self.stream.probe_to_session(np.arange(self.stream.n_samples))
        return out if dtype is None else out.astype(dtype)


class _RawRecordingSegment(BaseRecordingSegment):
    def __init__(self, stream: RawStream):
        times = SessionTimes(stream) if stream.on_session_clock else None
        BaseRecordingSegment.__init__(
            self, sampling_frequency=stream.sampling_rate, t_start=None, time_vector=times
        )
        self.stream = stream

    def get_num_samples(self) -> int:
        return self.stream.n_samples

    def get_traces(self, start_frame=None, end_frame=None, channel_indices=None) -> np.ndarray:
        return self.stream.read(start_frame, end_frame, channel_indices)


class AlfRecordingExtractor(BaseRecording):
    """The raw SpikeGLX recording of one probe band of an ALF session, as a SpikeInterface recording.

    Parameters
    ----------
    folder_path : str or path-like
        The session folder.
    probe : str
        The probe folder name under ``raw_ephys_data`` (``probe00``), or ``nidq``.
    band : {"ap", "lf", "ap-SYNC", "lf-SYNC"}
        The stream of that probe (ignored for ``nidq``).
    """

    name = "alf_raw"
    installation_mesg = "pip install 'neo-alf[spikeinterface]'"

    def __init__(self, folder_path: str | os.PathLike, probe: str = "probe00", band: str = "ap"):
        name = probe if probe == "nidq" else f"{probe}.{band}"
        streams = {s.name: s for s in find_raw_streams(folder_path)}
        if name not in streams:
            raise AlfNotFoundError(
                f"no raw stream {name!r} (found: {', '.join(streams) or 'none'})",
                folder_path,
                rule="raw_ephys_data/probeNN/*.imecN.{ap,lf}.{cbin+ch,bin}+meta",
            )
        stream = streams[name]
        BaseRecording.__init__(self, stream.sampling_rate, list(stream.channel_names), stream.dtype)
        self.add_recording_segment(_RawRecordingSegment(stream))
        self.set_channel_gains(stream.gains)
        self.set_channel_offsets(stream.offsets)
        x, y = stream.array_annotations["x"], stream.array_annotations["y"]
        if np.all(np.isfinite(x)) and np.all(np.isfinite(y)):
            contacts = probeinterface.Probe(ndim=2, si_units="um")
            contacts.set_contacts(
                np.c_[x, y],
                shapes="square",
                shape_params={"width": 12},
                shank_ids=stream.array_annotations["shank"].astype(str),
            )
            contacts.set_device_channel_indices(np.arange(len(x)))
            contacts.annotate(part_number=stream.annotations.get("probe_part_number", ""))
            with warnings.catch_warnings():  # in_place: needed before 0.105, deprecated since
                warnings.simplefilter("ignore", FutureWarning)
                self.set_probe(contacts, in_place=True)
        for key, value in stream.annotations.items():
            if isinstance(value, (str, int, float)) or value is None:
                self.annotate(**{f"alf_{key}": value})
        self.stream = stream
        self._kwargs = dict(folder_path=str(folder_path), probe=probe, band=band)


def read_alf_recording(
    folder_path: str | os.PathLike, probe: str = "probe00", band: str = "ap"
) -> AlfRecordingExtractor:
    """Read one probe band of an ALF session's raw SpikeGLX data as a SpikeInterface recording.

    Parameters
    ----------
    folder_path : str or path-like
        The session folder.
    probe : str
        ``probe00`` (the folder under ``raw_ephys_data``) or ``nidq``.
    band : str
        ``ap``, ``lf``, ``ap-SYNC`` or ``lf-SYNC``.

    Returns
    -------
    AlfRecordingExtractor
        int16 traces (``return_in_uV=True`` scales with the meta gains); the probe geometry from
        the ``.meta``; ``get_times()`` in session seconds when the probe has a sync file, else
        probe-clock seconds from 0. Frames are probe samples, as ``spikes.samples``.

    Examples
    --------
    >>> recording = read_alf_recording(session_path, "probe00", "ap")
    >>> sorting = read_alf_sorting(session_path, "alf/probe00/pykilosort", recording.sampling_frequency)
    >>> analyzer = spikeinterface.core.create_sorting_analyzer(sorting, recording)
    """
    return AlfRecordingExtractor(folder_path, probe, band)
