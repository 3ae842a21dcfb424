"""Lazy Neo objects for AlfIO: what ``proxy.load(time_slice=...)`` reads, and nothing more.

Neo's own proxies drop array annotations when a time slice is asked for. These keep them:
the per-spike attributes (``spikes.amps``, ``spikes.depths``) of exactly the spikes loaded,
and the other attributes of an event or interval object for exactly the rows loaded.
``IrregularlySampledSignalProxy`` stands in for continuous objects with irregular times
(Neo has no such proxy): ``load(time_slice=...)`` reads only the samples in the window.
"""

from __future__ import annotations

import numpy as np
import quantities as pq
from neo.core import IrregularlySampledSignal
from neo.core.baseneo import BaseNeo
from neo.io.proxyobjects import (
    AnalogSignalProxy,
    BaseProxy,
    EpochProxy,
    EventProxy,
    SpikeTrainProxy,
    consolidate_time_slice,
    prepare_time_slice,
)

__all__ = [
    "AlfEpochProxy",
    "AlfEventProxy",
    "AlfSpikeTrainProxy",
    "IrregularlySampledSignalProxy",
    "RawSignalProxy",
]


class AlfSpikeTrainProxy(SpikeTrainProxy):
    """A SpikeTrain proxy that loads each spike's attributes (amps, depths ...) as array annotations.

    Its SpikeTrains own their data: AlfRawIO hands out read-only views of its per-unit index.
    """

    def __init__(self, *args, spike_array_annotations: bool = True, take_times: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._with_arrays = spike_array_annotations
        # True for an eager read_block, which releases the reader's index afterwards: the
        # SpikeTrains then own the index's memory instead of copying it
        self._take_times = take_times

    def load(self, time_slice=None, strict_slicing=True, magnitude_mode="rescaled", load_waveforms=False):
        """Load the SpikeTrain (Neo's arguments). ALF stores no per-spike waveforms: with
        ``load_waveforms=True`` the SpikeTrain has none (``waveforms`` is None), as for any Neo IO
        whose format holds none, rather than an error."""
        sptr = super().load(time_slice, strict_slicing, magnitude_mode, load_waveforms=False)
        if not sptr.flags.writeable and not (self._take_times and _unfreeze(sptr)):
            sptr = sptr.copy()
        if self._with_arrays:
            t_start, t_stop = prepare_time_slice(time_slice)
            rows = self._rawio.spike_rows(self._spike_channel_index, t_start, t_stop)
            arrays = self._rawio.per_spike_arrays(self._spike_channel_index)
            sptr.array_annotate(**{key: np.asarray(values[rows]) for key, values in arrays.items()})
        return sptr


def _unfreeze(array: np.ndarray) -> bool:
    """Make a read-only view writable, from the array that owns the memory down; False if it cannot."""
    chain = [array]
    while isinstance(chain[-1].base, np.ndarray):
        chain.append(chain[-1].base)
    if not chain[-1].flags.owndata:
        return False
    try:
        for a in reversed(chain):
            a.flags.writeable = True
    except ValueError:
        return False
    return True


class _SlicedAnnotations:
    """Mixin: after Neo's load, give a time-sliced Event/Epoch the array annotations of its rows."""

    def load(self, time_slice=None, strict_slicing=True):
        obj = super().load(time_slice, strict_slicing)
        if time_slice is not None and self.array_annotations:
            t_start, t_stop = prepare_time_slice(time_slice)
            keep = self._rawio.event_row_mask(self._event_channel_index, t_start, t_stop)
            obj.array_annotate(**{k: np.asarray(v)[keep] for k, v in self.array_annotations.items()})
        return obj


class AlfEventProxy(_SlicedAnnotations, EventProxy):
    """An Event proxy whose time slices keep their array annotations."""


class AlfEpochProxy(_SlicedAnnotations, EpochProxy):
    """An Epoch proxy whose time slices keep their array annotations."""


class IrregularlySampledSignalProxy(BaseProxy):
    """Lazy ``IrregularlySampledSignal`` of some columns of an irregular continuous ALF object.

    Parameters
    ----------
    rawio : AlfRawIO
        The reader (parsed).
    signal_index : int
        Index into ``rawio.layout.irregular``.
    channels : list of int
        Which of the object's channels (columns of its numeric attributes) this signal holds.
    units : str
        Their common unit.
    """

    proxy_for = IrregularlySampledSignal
    _parent_objects = ("Segment",)
    _recommended_attrs = BaseNeo._recommended_attrs
    _necessary_attrs = (("t_start", pq.Quantity, 0), ("t_stop", pq.Quantity, 0))

    def __init__(
        self,
        rawio,
        signal_index: int,
        channels: list[int],
        units: str,
        name: str,
        annotations: dict,
        array_annotations: dict,
    ):
        self._rawio = rawio
        self._signal = rawio.layout.irregular[signal_index]
        self._channels = list(channels)
        self.units = pq.Quantity(1.0, units)
        tb = self._signal.timebase
        self.shape = (tb.n_samples, len(self._channels))
        self.t_start = tb.t_start * pq.s
        self.t_stop = (tb.times(tb.n_samples - 1, tb.n_samples)[0] if tb.n_samples else tb.t_start) * pq.s
        BaseProxy.__init__(self, array_annotations=array_annotations, name=name, **annotations)

    def _window(self, time_slice) -> tuple[int, int]:
        tb = self._signal.timebase
        t_start, t_stop = prepare_time_slice(time_slice)
        i0, i1 = 0, tb.n_samples
        if tb.per_sample is not None:
            if t_start is not None:
                i0 = int(np.searchsorted(tb.per_sample, t_start, side="left"))
            if t_stop is not None:
                i1 = int(np.searchsorted(tb.per_sample, t_stop, side="right"))
        else:  # interpolated clock: invert the (increasing) sync line, then trim exactly
            sync = tb.sync
            if t_start is not None:
                i0 = max(0, int(np.floor(np.interp(t_start, sync[:, 1], sync[:, 0]))) - 1)
            if t_stop is not None:
                i1 = min(tb.n_samples, int(np.ceil(np.interp(t_stop, sync[:, 1], sync[:, 0]))) + 2)
            times = tb.times(i0, i1)
            lo = 0 if t_start is None else int(np.searchsorted(times, t_start, side="left"))
            hi = times.size if t_stop is None else int(np.searchsorted(times, t_stop, side="right"))
            i0, i1 = i0 + lo, i0 + hi
        return i0, max(i0, i1)

    def load(self, time_slice=None, strict_slicing=True) -> IrregularlySampledSignal:
        """Read the samples within ``time_slice`` (a ``(t_start, t_stop)`` pair, either may be None).

        As Neo's proxies: with ``strict_slicing`` a bound outside the Segment raises ``ValueError``;
        without, it is clipped.
        """
        if time_slice is not None:
            seg_start = self._rawio.segment_t_start(0, 0) * pq.s
            seg_stop = self._rawio.segment_t_stop(0, 0) * pq.s
            time_slice = consolidate_time_slice(time_slice, seg_start, seg_stop, strict_slicing)
        i0, i1 = self._window(time_slice)
        times = self._signal.timebase.times(i0, i1)
        data = self._rawio.irregular_chunk(self._signal, i0, i1, self._channels)
        return IrregularlySampledSignal(
            times * pq.s,
            data,
            units=self.units.dimensionality.string,
            name=self.name,
            file_origin=self.file_origin,
            description=self.description,
            array_annotations=dict(self.array_annotations),
            **self.annotations,
        )


class RawSignalProxy(AnalogSignalProxy):
    """An ``AnalogSignalProxy`` of a raw SpikeGLX stream whose time slices are exact to the sample.

    A Neo signal is regular, so the stream's ``t_start`` and rate come from the least-squares line
    through the probe-to-session clock map (the largest residual is in the annotations). A
    ``time_slice`` is mapped through the exact, piecewise-linear map instead: the first sample at
    or after ``t_start`` to the first at or after ``t_stop``, whatever the drift.
    """

    def _time_slice_indices(self, time_slice, strict_slicing=True):
        if time_slice is None:
            return None, None, self.t_start
        raw = self._rawio.raw_stream(self._stream_index)
        t_start, t_stop = time_slice
        for bound, name in ((t_start, "t_start"), (t_stop, "t_stop")):
            if bound is not None and strict_slicing and not self.t_start <= bound <= self.t_stop:
                raise ValueError(f"`{name}` is outside of the time range")
        seconds = [None if t is None else float(pq.Quantity(t).rescale(pq.s).magnitude) for t in time_slice]
        i_start, i_stop = raw.sample_range(*seconds)
        i_stop = max(i_start, i_stop)
        sig_t_start = float(raw.probe_to_session(i_start, unit="samples")) * pq.s
        return i_start, i_stop, sig_t_start
