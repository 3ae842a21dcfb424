"""AlfIO: an ALF session as a Neo Block, eager or lazy.

``class AlfIO(AlfRawIO, BaseFromRaw)``, plus what a rawio cannot carry:

- ``IrregularlySampledSignal`` for continuous objects with irregular times (IBL wheel;
  multi-segment sync), eager or as :class:`~neo_alf.io.proxies.IrregularlySampledSignalProxy`;
- per-spike attributes (``spikes.amps``, ``spikes.depths``) as SpikeTrain array annotations,
  eager and lazy, sliced with the spikes;
- Event/Epoch array annotations that follow a time slice;
- a ``neo.Group`` per spike-sorting collection (probe) holding its SpikeTrains.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
from neo.core import (
    AnalogSignal,
    Block,
    Epoch,
    Event,
    Group,
    IrregularlySampledSignal,
    Segment,
    SpikeTrain,
)
from neo.io.basefromrawio import BaseFromRaw
from neo.io.proxyobjects import AnalogSignalProxy, check_annotations

from ..errors import AlfError, AlfNotFoundError, AlfWarning
from ..rawio.alfrawio import AlfRawIO
from ..session import AlfSession
from .proxies import (
    AlfEpochProxy,
    AlfEventProxy,
    AlfSpikeTrainProxy,
    IrregularlySampledSignalProxy,
    RawSignalProxy,
)

__all__ = ["AlfIO"]


class AlfIO(AlfRawIO, BaseFromRaw):
    """Read an ALF session folder into Neo objects.

    Parameters
    ----------
    dirname : str or path-like
        The session folder.
    collections : iterable of str, optional
        Exactly these collections (``"alf/probe00/**"`` adds those below one); default: all.
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.
    spike_array_annotations : bool
        Give each SpikeTrain its spikes' attributes (``amps``, ``depths``...) as array annotations.
    eid : str, optional
        The session's experiment id, put in the Block annotations (the ONE adapter sets it).
    strict : bool
        Raise the first rule broken. By default what breaks a rule is left out with an
        :class:`~neo_alf.errors.AlfWarning`, listed in ``reader.problems`` and in the Block's
        ``alf_problems`` annotation; the rest of the session is read.
    session : AlfSession, optional
        An already scanned session, instead of ``dirname``.
    load_raw : bool
        Raw SpikeGLX streams (``probe00.ap`` ...) in an *eager* ``read_block``. Off by default: one
        hour of AP data is 20 GB of samples; the Block then lists them in its ``raw_streams``
        annotation, and ``read_block(lazy=True)`` gives them as proxies whose ``time_slice`` is
        exact to the sample.

    Examples
    --------
    >>> block = AlfIO(session_path).read_block()
    >>> seg = block.segments[0]
    >>> seg.spiketrains[0].annotations["cluster_id"], seg.spiketrains[0].array_annotations["amps"][:3]
    >>> lazy = AlfIO(session_path).read_block(lazy=True)
    >>> st = lazy.segments[0].spiketrains[5].load(time_slice=(100 * pq.s, 200 * pq.s))
    """

    name = "AlfIO"
    description = "ALF sessions (ONE / International Brain Laboratory)"
    extensions: ClassVar[list[str]] = []
    mode = "dir"
    is_readable = True
    is_writable = False
    support_lazy = True
    supported_objects: ClassVar[list] = [
        Block,
        Segment,
        AnalogSignal,
        IrregularlySampledSignal,
        SpikeTrain,
        Group,
        Event,
        Epoch,
    ]
    readable_objects: ClassVar[list] = [Block, Segment]
    writeable_objects: ClassVar[list] = []

    def __init__(
        self,
        dirname: str | os.PathLike | None = None,
        collections: Iterable[str] | None = None,
        revision: str | None = None,
        spike_array_annotations: bool = True,
        eid: str | None = None,
        strict: bool = False,
        session: AlfSession | None = None,
        load_raw: bool = False,
    ):
        self.load_raw = load_raw
        AlfRawIO.__init__(
            self, dirname=dirname, collections=collections, revision=revision, strict=strict, session=session
        )
        self._with_spike_arrays = spike_array_annotations
        self.eid = eid
        BaseFromRaw.__init__(self, self.dirname)
        if not self.session.datasets and not self.session.raw_files:
            raise AlfNotFoundError("no ALF dataset in this folder", self.dirname, rule="ALF file names")
        if eid is not None:
            self.raw_annotations["blocks"][0]["eid"] = str(eid)

    # ------------------------------------------------------------------------------------- block

    def read_block(
        self,
        block_index: int = 0,
        lazy: bool = False,
        create_group_across_segment=None,
        signal_group_mode=None,
        load_waveforms: bool = False,
    ) -> Block:
        """Read the session's Block: one Segment, plus a Group per spike-sorting collection.

        Parameters
        ----------
        block_index : int
            Always 0: a session is one Block.
        lazy : bool
            Give proxies; ``proxy.load(time_slice=(t0, t1))`` reads only that window.
        create_group_across_segment, signal_group_mode, load_waveforms
            As in ``neo.io.basefromrawio.BaseFromRaw.read_block``.

        Returns
        -------
        neo.Block
        """
        block = BaseFromRaw.read_block(
            self, block_index, lazy, create_group_across_segment, signal_group_mode, load_waveforms
        )
        segment = block.segments[0]
        for src in self.layout.spikes:
            group = Group(name=src.collection or "spikes", collection=src.collection)
            if src.probe:
                group.annotate(probe=src.probe)
            group.add(
                *[st for st in segment.spiketrains if st.annotations.get("collection") == src.collection]
            )
            block.groups.append(group)
        block.annotations["alf_problems"] = [str(p) for p in self.problems]  # with those met while loading
        if self.layout.raw:
            block.annotations["raw_streams"] = [
                f"{r.name}: {r.n_samples} samples x {len(r.channel_names)} channels, "
                f"{r.n_samples / r.sampling_rate:.1f} s"
                + ("" if lazy or self.load_raw else " (not loaded: AlfIO(load_raw=True), or lazy=True)")
                for r in self.layout.raw
            ]
        block.check_relationships()
        return block

    def read_segment(
        self,
        block_index: int = 0,
        seg_index: int = 0,
        lazy: bool = False,
        signal_group_mode=None,
        load_waveforms: bool = False,
        time_slice=None,
        strict_slicing: bool = True,
    ) -> Segment:
        """Read the session's Segment (eager, lazy, or a time slice of it).

        Parameters
        ----------
        lazy : bool
            Proxies instead of data (``time_slice`` then goes to each ``proxy.load``).
        time_slice : tuple, optional
            ``(t_start, t_stop)`` quantities (or None for an open end): only that window is read.

        Returns
        -------
        neo.Segment
        """
        if lazy and (time_slice is not None or load_waveforms):
            raise ValueError("with lazy=True, give time_slice and load_waveforms to proxy.load()")
        signal_group_mode = signal_group_mode or self._prefered_signal_group_mode
        annotations = self.raw_annotations["blocks"][block_index]["segments"][seg_index].copy()
        for key in ("signals", "spikes", "events"):
            annotations.pop(key)
        seg = Segment(index=seg_index, **check_annotations(annotations))

        def load(proxy, **kwargs):
            if lazy:
                return proxy
            try:
                return proxy.load(time_slice=time_slice, strict_slicing=strict_slicing, **kwargs)
            except AlfError as err:  # found only when the data are read (a NaN spike time ...)
                if self.strict:
                    raise
                self.problems.append(err)
                warnings.warn(AlfWarning(f"{proxy.name} left out: {err}", err), stacklevel=4)
                return None

        for stream_index, channels, name in self.get_sub_signal_streams(signal_group_mode):
            raw = self.raw_stream(stream_index)
            if raw is not None and not lazy and not self.load_raw:
                continue  # listed in the Block's `raw_streams`: a lazy read gives them as proxies
            proxy = (RawSignalProxy if raw is not None else AnalogSignalProxy)(
                rawio=self,
                stream_index=stream_index,
                inner_stream_channels=channels,
                block_index=block_index,
                seg_index=seg_index,
            )
            proxy.name = str(name)
            _append(seg.analogsignals, load(proxy))
        for proxy in self._irregular_proxies():
            _append(seg.irregularlysampledsignals, load(proxy))
        for index in range(self.spike_channels_count()):
            proxy = AlfSpikeTrainProxy(
                rawio=self,
                spike_channel_index=index,
                block_index=block_index,
                seg_index=seg_index,
                spike_array_annotations=self._with_spike_arrays,
                take_times=not lazy,
            )
            proxy.name = str(proxy.name)
            _append(seg.spiketrains, load(proxy, load_waveforms=load_waveforms))
        for index, kind in enumerate(self.header["event_channels"]["type"]):
            cls = AlfEventProxy if kind == b"event" else AlfEpochProxy
            proxy = cls(rawio=self, event_channel_index=index, block_index=block_index, seg_index=seg_index)
            proxy.name = str(proxy.name)
            _append(seg.events if kind == b"event" else seg.epochs, load(proxy))
        if not lazy:  # the SpikeTrains hold the index's sorted times now: the reader forgets them
            for src in self.layout.spikes:
                src.index.release()
        seg.check_relationships()
        return seg

    # ---------------------------------------------------------------------------- irregular signals

    def _irregular_proxies(self) -> list[IrregularlySampledSignalProxy]:
        proxies = []
        for index, signal in enumerate(self.layout.irregular):
            info = signal.channels
            units = list(dict.fromkeys(c.units for c in info))  # group channels by units, keeping order
            base = signal.name
            for u in units:
                channels = [i for i, c in enumerate(info) if c.units == u]
                name = base if len(units) == 1 else f"{base} ({u})"
                annotations = {
                    "collection": signal.collection,
                    "alf_object": signal.object,
                    "timestamps": signal.timestamps,
                }
                arrays: dict[str, Any] = {
                    "channel_names": np.array([info[i].name for i in channels]),
                    "channel_ids": np.array([info[i].id for i in channels]),
                    "alf_units": np.array([info[i].original_units for i in channels]),
                }
                proxies.append(
                    IrregularlySampledSignalProxy(self, index, channels, u, name, annotations, arrays)
                )
        return proxies


def _append(container: list, obj: Any) -> None:
    if obj is not None:
        container.append(obj)
