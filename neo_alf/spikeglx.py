"""SpikeGLX recordings in ALF sessions: recognise them, describe them as streams, map their clocks.

IBL sessions keep raw electrophysiology as SpikeGLX files, which ALF's name parser cannot read
(``_spikeglx_ephysData_g0_t0.imec0.ap.cbin`` parses as object ``ephysData_g0_t0``, attribute
``imec0``). This module owns them:

- :func:`is_spikeglx_file`: every file of a recording group (``.ap``/``.lf``/``.nidq``
  ``.cbin``/``.bin``/``.ch``/``.meta``, the probe's ``.sync.npy``, ``.timestamps.npy`` and
  ``.wiring.json``);
- :func:`find_raw_streams`: one :class:`RawStream` per Neo signal stream, reading only the
  ``.meta`` and ``.ch`` headers and the small sync files (nothing is decompressed):
  ``probe00.ap``, ``probe00.ap-SYNC``, ``probe00.lf``, ``probe00.lf-SYNC`` (named after the probe
  folder; the sync channel in its own stream as Neo's ``SpikeGLXRawIO`` names it) and ``nidq``;
- :func:`read_meta`, :func:`channel_gains`, :func:`channel_positions`: the ``.meta`` facts;
- :class:`ClockMap`: probe seconds to session seconds, piecewise linear through the sync points of
  ``*.sync.npy`` (probe s, session s) or ``*.timestamps.npy`` (probe AP sample, session s).

Gains (raw int16 to microvolts): NP1.0-style imro tables (6 fields per channel) carry a gain per
channel, ``uV = raw x imAiRangeMax / imMaxInt / gain x 1e6`` (``imMaxInt`` 512 when absent);
NP2.0-style tables use ``imChan0apGain`` (or 80) and ``imMaxInt`` (or 8192). nidq analog channels:
``niAiRangeMax / 32768 / niMNGain|niMAGain`` (MN, MA) or ``/ 1`` (XA), in microvolts; digital
words and sync channels have gain 1 and no unit.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from .cbin import DEFAULT_CACHE_BYTES, BinReader, CbinReader, read_ch
from .errors import AlfError, AlfFormatError, AlfWarning

__all__ = [
    "ClockMap",
    "RawStream",
    "channel_gains",
    "channel_positions",
    "find_raw_streams",
    "is_spikeglx_file",
    "parse_spikeglx_name",
    "read_meta",
]

_RUN = r"(?P<run>.+?_g\d+_t(?:\d+|cat))"
_DEVICE = r"(?P<device>imec\d*|nidq|obx\d*)"
_NAME = re.compile(
    rf"^{_RUN}\.{_DEVICE}(?:\.(?P<band>ap|lf))?"
    r"(?:\.(?P<ext>cbin|bin|ch|meta)|\.(?P<part>sync|timestamps)\.npy|\.(?P<wiring>wiring)\.json)$"
)
_META_RULE = "SpikeGLX .meta: key=value lines with nSavedChans, a sampling rate and ~snsChanMap"
_SYNC_RULE = "IBL *.sync.npy / *.timestamps.npy: (n, 2) float rows, probe clock increasing"


def parse_spikeglx_name(rel_path: str) -> dict | None:
    """The parts of a SpikeGLX file name: run, device, band, kind; ``None`` if it is not one.

    ``kind`` is the extension (``cbin``, ``bin``, ``ch``, ``meta``) or ``sync``, ``timestamps``,
    ``wiring``. The ``.sync.npy`` / ``.timestamps.npy`` / ``.wiring.json`` files belong to a
    device (``imec0``), not a band.
    """
    m = _NAME.match(PurePosixPath(str(rel_path).replace("\\", "/")).name)
    if m is None:
        return None
    parts = m.groupdict()
    if parts["ext"]:
        if parts["band"] is None and parts["device"].startswith("imec"):
            return None  # an imec data file always has its band
        kind = parts["ext"]
    else:
        if parts["band"] is not None:
            return None
        kind = parts["part"] or parts["wiring"]
    return {"run": parts["run"], "device": parts["device"], "band": parts["band"], "kind": kind}


def is_spikeglx_file(rel_path: str) -> bool:
    """True for every file of a SpikeGLX recording group.

    ``.ap``/``.lf`` (imec) or nidq ``.cbin``, ``.bin``, ``.ch``, ``.meta``, and the device's
    ``.sync.npy``, ``.timestamps.npy`` and ``.wiring.json`` (``_spikeglx_ephysData_g0_t0.imec0.sync.npy``).
    ALF datasets such as ``_spikeglx_sync.times.probe00.npy`` are not.
    """
    return parse_spikeglx_name(rel_path) is not None


def read_meta(path: str | os.PathLike) -> dict[str, str]:
    """A SpikeGLX ``.meta`` as ``key -> value`` strings (the ``~`` of table keys dropped).

    Raises
    ------
    AlfFormatError
        Not text, or without ``nSavedChans`` or a sampling rate.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as err:
        raise AlfFormatError(f"unreadable SpikeGLX meta ({err})", path, rule=_META_RULE) from None
    meta = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            meta[key.strip().lstrip("~")] = value.strip()
    if "nSavedChans" not in meta or not any(k in meta for k in ("imSampRate", "niSampRate", "obSampRate")):
        raise AlfFormatError("no nSavedChans or no sampling rate", path, rule=_META_RULE)
    return meta


def _table(value: str | None) -> list[str]:
    """``(a)(b)(c)`` -> ``["a", "b", "c"]``."""
    return re.findall(r"\(([^()]*)\)", value or "")


def sampling_rate(meta: dict) -> float:
    """The sampling rate of a ``.meta`` (``imSampRate``, ``niSampRate`` or ``obSampRate``)."""
    for key in ("imSampRate", "niSampRate", "obSampRate"):
        if key in meta:
            return float(meta[key])
    raise KeyError("no sampling rate")


def _ap_lf_sy(meta: dict) -> tuple[int, int, int]:
    if "snsApLfSy" in meta:
        ap, lf, sy = (int(v) for v in meta["snsApLfSy"].split(","))
        return ap, lf, sy
    n = int(meta["nSavedChans"])
    return n, 0, 0


def channel_names(meta: dict) -> list[str]:
    """Saved channel names from ``~snsChanMap`` (``AP0``, ``LF3``, ``SY0``, ``XA2``...)."""
    entries = _table(meta.get("snsChanMap"))[1:]
    n = int(meta["nSavedChans"])
    names = [e.split(";")[0] for e in entries]
    if len(names) != n:
        names = [f"ch{i}" for i in range(n)]
    return names


def _imro(meta: dict) -> tuple[list[str], list[list[str]]]:
    entries = _table(meta.get("imroTbl"))
    if not entries:
        return [], []
    return entries[0].split(","), [e.split() for e in entries[1:]]


def channel_gains(meta: dict, band: str | None) -> tuple[np.ndarray, list[str]]:
    """Per saved channel, the factor from raw int16 to microvolts, and the unit (``"uV"`` or ``""``).

    Parameters
    ----------
    meta : dict
        From :func:`read_meta`.
    band : {"ap", "lf", None}
        The imec band (None for nidq).
    """
    n = int(meta["nSavedChans"])
    gains = np.ones(n)
    units = ["uV"] * n
    if "imSampRate" in meta:
        ap, lf, _ = _ap_lf_sy(meta)
        n_neural = ap + lf
        head, rows = _imro(meta)
        saved = _saved_channels(meta)
        range_max = float(meta.get("imAiRangeMax", 0.6))
        kind = head[0] if head else ""
        np2_style = kind in ("21", "24") or re.fullmatch(r"(NP)?2\d{3}", kind) is not None
        column = 3 if band != "lf" else 4
        if kind == "1110" and len(head) > column:  # NP1110: one AP and one LF gain in the header
            max_int = float(meta.get("imMaxInt", 512))
            gains[:n_neural] = range_max / max_int / float(head[column]) * 1e6
        elif rows and not np2_style and len(rows[0]) > column:
            # NP1.0-style (and Phase3A, 5 fields): per-channel AP and LF gains.
            max_int = float(meta.get("imMaxInt", 512))
            per_channel = np.array([float(r[column]) for r in rows])
            acquired = saved[:n_neural] % len(per_channel)
            gains[:n_neural] = range_max / max_int / per_channel[acquired] * 1e6
        else:
            max_int = float(meta.get("imMaxInt", 8192))
            gain = float(meta.get("imChan0apGain" if band != "lf" else "imChan0lfGain", 80))
            gains[:n_neural] = range_max / max_int / gain * 1e6
        gains[n_neural:] = 1.0
        units[n_neural:] = [""] * (n - n_neural)
    elif "niSampRate" in meta:
        mn, ma, xa, _ = (int(v) for v in meta.get("snsMnMaXaDw", f"0,0,{n},0").split(","))
        volts = float(meta.get("niAiRangeMax", 5.0)) / 32768
        gains[:mn] = volts / float(meta.get("niMNGain", 1)) * 1e6
        gains[mn : mn + ma] = volts / float(meta.get("niMAGain", 1)) * 1e6
        gains[mn + ma : mn + ma + xa] = volts * 1e6
        gains[mn + ma + xa :] = 1.0
        units[mn + ma + xa :] = [""] * (n - mn - ma - xa)
    return gains, units


def _saved_channels(meta: dict) -> np.ndarray:
    """Acquisition indexes of the saved channels (``snsSaveChanSubset``: ``all`` or ``0:31,768``)."""
    n = int(meta["nSavedChans"])
    text = meta.get("snsSaveChanSubset", "all")
    if text == "all":
        return np.arange(n)
    out = []
    for part in text.split(","):
        a, _, b = part.partition(":")
        out.extend(range(int(a), int(b or a) + 1))
    out = np.asarray(out, dtype=np.int64)
    return out if out.size == n else np.arange(n)


def channel_positions(meta: dict) -> dict[str, np.ndarray]:
    """x, y (um) and shank of the saved neural channels (NaN / -1 where the meta has none).

    From ``~snsGeomMap`` (``shank:x:z:used``, x within the shank, shanks ``shank_pitch`` apart)
    when present, else ``~snsShankMap`` (``shank:col:row:used``, on a 32 um x 20 um grid for
    NP1.0-style imro tables and 32 um x 15 um otherwise: a layout, not a measured geometry).
    Sync and nidq channels get NaN.
    """
    n = int(meta["nSavedChans"])
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    shank = np.full(n, -1, dtype=np.int64)
    geom = _table(meta.get("snsGeomMap"))
    if geom:
        head = geom[0].split(",")
        pitch = float(head[2]) if len(head) > 2 else 0.0
        rows = [e.split(":") for e in geom[1:]]
        for i, r in enumerate(rows[:n]):
            shank[i] = int(r[0])
            x[i] = float(r[1]) + shank[i] * pitch
            y[i] = float(r[2])
        return {"x": x, "y": y, "shank": shank}
    shank_map = _table(meta.get("snsShankMap"))
    if shank_map:
        _, imro_rows = _imro(meta)
        dy = 20.0 if imro_rows and len(imro_rows[0]) >= 6 else 15.0
        for i, r in enumerate(e.split(":") for e in shank_map[1 : n + 1]):
            shank[i] = int(r[0])
            x[i] = float(r[1]) * 32.0
            y[i] = float(r[2]) * dy
    return {"x": x, "y": y, "shank": shank}


class ClockMap:
    """Probe seconds <-> session seconds, piecewise linear through sync points.

    Outside the sync points the first and last segments are extended (as ibllib does). One
    point: a pure offset. No points: the identity.

    Parameters
    ----------
    probe : array of float
        Probe-clock seconds of the sync points, increasing.
    session : array of float
        Session-clock seconds of the same points.
    """

    def __init__(self, probe: np.ndarray, session: np.ndarray):
        self.probe = np.asarray(probe, dtype=np.float64)
        self.session = np.asarray(session, dtype=np.float64)

    @staticmethod
    def _interp(x, xp, fp):
        x = np.asarray(x, dtype=np.float64)
        if xp.size == 0:
            return x.copy()
        if xp.size == 1:
            return x + (fp[0] - xp[0])
        if x.ndim == 0:
            return ClockMap._interp(x.reshape(1), xp, fp).reshape(())
        y = np.interp(x, xp, fp)
        lo, hi = x < xp[0], x > xp[-1]
        if np.any(lo):
            y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
        if np.any(hi):
            y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
        return y

    def to_session(self, probe_seconds) -> np.ndarray:
        """Session seconds of probe-clock seconds."""
        return self._interp(probe_seconds, self.probe, self.session)

    def to_probe(self, session_seconds) -> np.ndarray:
        """Probe-clock seconds of session seconds (the inverse map)."""
        return self._interp(session_seconds, self.session, self.probe)

    def fit(self, duration: float) -> tuple[float, float, float]:
        """Least-squares line over ``[0, duration]`` probe seconds: (offset, slope, largest residual).

        The line is fitted to the map on a regular grid of 2049 points over the recording (the
        samples, thinned); the residual is the largest at the grid and the map's own points inside
        the span, where a piecewise-linear map's distance to a line peaks.
        """
        duration = max(float(duration), 0.0)
        grid = np.linspace(0.0, duration, 2049)
        s = self.to_session(grid)
        if duration <= 0:
            return float(s[0]), 1.0, 0.0
        tc = grid - grid.mean()
        slope = float(np.dot(tc, s - s.mean()) / np.dot(tc, tc))
        offset = float(s.mean() - slope * grid.mean())
        inside = self.probe[(self.probe > 0) & (self.probe < duration)]
        residual = float(np.max(np.abs(s - (offset + slope * grid))))
        if inside.size:
            residual = max(
                residual, float(np.max(np.abs(self.to_session(inside) - (offset + slope * inside))))
            )
        return offset, slope, residual


def _read_sync(path: Path, kind: str, ap_rate: float) -> ClockMap:
    try:
        with open(path, "rb") as f:
            points = np.load(f, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise AlfFormatError(f"unreadable sync file ({err})", path, rule=_SYNC_RULE) from None
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 1 or not np.all(np.isfinite(points)):
        raise AlfFormatError(f"shape {points.shape}, not (n, 2) finite values", path, rule=_SYNC_RULE)
    probe = points[:, 0] / ap_rate if kind == "timestamps" else points[:, 0]
    if np.any(np.diff(probe) <= 0):
        raise AlfFormatError("probe-clock column not increasing", path, rule=_SYNC_RULE)
    return ClockMap(probe, points[:, 1])


_READERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_READERS_LOCK = threading.Lock()


def _shared_reader(kind: str, data: str, ch: str | None, n_channels: int, cache_bytes: int):
    """One reader per data file in a process, so a stream and its -SYNC stream share a cache."""
    key = (kind, data, ch, n_channels, cache_bytes)
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            if kind == "cbin":
                reader = CbinReader(data, ch, cache_bytes=cache_bytes)
            else:
                reader = BinReader(data, n_channels, allow_partial=True)  # warned about at find time
            _READERS[key] = reader
        return reader


@dataclass(frozen=True, eq=False)
class RawStream:
    """One Neo signal stream of a SpikeGLX recording: what it is, and its samples on demand.

    Cheap to pickle (paths and headers; the file reader is reopened lazily in the receiving
    process). :meth:`read` is thread-safe and nothing is decompressed before it is called.

    Attributes
    ----------
    name : str
        ``probe00.ap``, ``probe00.ap-SYNC``, ``probe00.lf``, ``probe00.lf-SYNC``, ``nidq``.
    collection : str
        ``raw_ephys_data/probe00`` (``raw_ephys_data`` for nidq).
    files : tuple of str
        Absolute paths of the files involved (data, ``.ch``, ``.meta``, sync file).
    sampling_rate : float
        Probe-clock rate from the ``.meta``.
    n_samples : int
    channel_names, channel_ids : tuple of str
        ``AP0``... from ``~snsChanMap``; ids are ``<stream name>#<channel name>`` (as Neo's).
    gains, offsets : ndarray
        ``uV = raw * gain + offset`` (sync and digital channels: gain 1, unit "").
    units : tuple of str
    t_start, rate_in_session : float
        The least-squares line of the probe-to-session map: session time of sample 0 and samples
        per session second (``t_start = 0``, ``rate_in_session = sampling_rate`` without sync).
    max_residual : float or None
        Largest distance (s) between that line and the exact map; None without a sync file.
    on_session_clock : bool
    annotations : dict
    array_annotations : dict of ndarray
        Per channel: ``x``, ``y`` (um), ``shank``, ``acquisition_index``.
    """

    name: str
    collection: str
    files: tuple[str, ...]
    sampling_rate: float
    n_samples: int
    channel_names: tuple[str, ...]
    channel_ids: tuple[str, ...]
    gains: np.ndarray
    offsets: np.ndarray
    units: tuple[str, ...]
    t_start: float
    rate_in_session: float
    max_residual: float | None
    on_session_clock: bool
    annotations: dict
    array_annotations: dict
    data_path: str = field(repr=False, default="")
    ch_path: str | None = field(repr=False, default=None)
    file_channels: np.ndarray = field(repr=False, default=None)
    n_file_channels: int = field(repr=False, default=0)
    clock: ClockMap | None = field(repr=False, default=None)
    cache_bytes: int = field(repr=False, default=DEFAULT_CACHE_BYTES)

    @property
    def dtype(self) -> np.dtype:
        """int16: what :meth:`read` returns."""
        return np.dtype("int16")

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    @property
    def reader(self) -> CbinReader | BinReader:
        """The file reader (opened on first use, shared with the other streams of the same file)."""
        reader = self.__dict__.get("_reader")
        if reader is None:
            kind = "cbin" if self.ch_path else "bin"
            reader = _shared_reader(
                kind, self.data_path, self.ch_path, self.n_file_channels, self.cache_bytes
            )
            object.__setattr__(self, "_reader", reader)
        return reader

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_reader", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def read(self, i_start: int | None = None, i_stop: int | None = None, channel_indexes=None) -> np.ndarray:
        """Raw int16 samples ``i_start:i_stop`` of the stream's channels (or a subset): ``(n, ch)``.

        Thread-safe. ``.cbin``: only the chunks the window touches are decompressed.

        Raises
        ------
        AlfFormatError
            The data file is shorter than its header says (truncated, or shrinking).
        """
        columns = self.file_channels
        if channel_indexes is not None:
            columns = (
                columns[np.arange(columns.size)[channel_indexes]]
                if isinstance(channel_indexes, slice)
                else columns[np.asarray(channel_indexes, dtype=np.intp)]
            )
        i_start = 0 if i_start is None else int(i_start)
        i_stop = self.n_samples if i_stop is None else int(i_stop)
        return self.reader.read(i_start, i_stop, columns)

    def _probe_seconds(self, values, unit: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if unit == "samples":
            return values / self.sampling_rate
        if unit == "seconds":
            return values
        raise ValueError(f"unit must be 'samples' or 'seconds', not {unit!r}")

    def probe_to_session(self, values, unit: str = "samples") -> np.ndarray:
        """Session seconds of probe-clock positions (the exact piecewise-linear map).

        Parameters
        ----------
        values : array-like
            Sample positions of this stream (``unit="samples"``, fractions allowed) or probe-clock
            seconds (``unit="seconds"``).
        """
        seconds = self._probe_seconds(values, unit)
        return seconds if self.clock is None else self.clock.to_session(seconds)

    def session_to_probe(self, seconds, unit: str = "samples") -> np.ndarray:
        """Probe-clock positions of session seconds: fractional samples of this stream, or seconds.

        ``np.ceil`` of the samples is the first sample at or after each time.
        """
        seconds = np.asarray(seconds, dtype=np.float64)
        probe = seconds if self.clock is None else self.clock.to_probe(seconds)
        if unit == "seconds":
            return probe
        if unit == "samples":
            return probe * self.sampling_rate
        raise ValueError(f"unit must be 'samples' or 'seconds', not {unit!r}")

    def sample_range(self, t_start: float | None = None, t_stop: float | None = None) -> tuple[int, int]:
        """Samples ``[i_start, i_stop)`` whose session times lie in ``[t_start, t_stop)``, by the exact map.

        For a lazy ``time_slice`` right to the sample: the first sample at or after ``t_start``
        and the first at or after ``t_stop`` (clipped to the recording). None: that end of it.
        """
        return (
            0 if t_start is None else self._first_sample_at(float(t_start)),
            self.n_samples if t_stop is None else self._first_sample_at(float(t_stop)),
        )

    def _first_sample_at(self, seconds: float) -> int:
        i = int(np.ceil(float(self.session_to_probe(seconds))))
        # The inverse map is exact up to rounding: settle the last sample either way.
        while i > 0 and self.probe_to_session(i - 1) >= seconds:
            i -= 1
        while i < self.n_samples and self.probe_to_session(i) < seconds:
            i += 1
        return int(min(max(i, 0), self.n_samples))

    def neo_signal_channels(
        self, stream_id: str | None = None, buffer_id: str = "", sampling_rate: float | None = None
    ) -> list[tuple]:
        """Rows for Neo's ``signal_channels`` header (``name, id, sampling_rate, dtype, units, gain,
        offset, stream_id, buffer_id``); ``sampling_rate`` defaults to :attr:`rate_in_session`."""
        rate = self.rate_in_session if sampling_rate is None else float(sampling_rate)
        sid = self.name if stream_id is None else stream_id
        return [
            (name, cid, rate, "int16", unit, float(gain), float(offset), sid, buffer_id)
            for name, cid, unit, gain, offset in zip(
                self.channel_names, self.channel_ids, self.units, self.gains, self.offsets, strict=True
            )
        ]


def _probe_label(collection: str, device: str) -> str:
    last = PurePosixPath(collection).name
    return last if re.fullmatch(r"probe\w*", last) else device


def _group_files(session_path: Path, rel_paths) -> dict:
    groups: dict[tuple, dict] = {}
    for rel in rel_paths:
        rel = str(rel).replace("\\", "/")
        parts = parse_spikeglx_name(rel)
        if parts is None:
            continue
        collection = str(PurePosixPath(rel).parent)
        collection = "" if collection == "." else collection
        key = (collection, parts["run"], parts["device"])
        group = groups.setdefault(key, {"bands": {}, "sync": {}})
        if parts["kind"] in ("sync", "timestamps"):
            group["sync"][parts["kind"]] = session_path / rel
        elif parts["kind"] == "wiring":
            group["wiring"] = session_path / rel
        else:
            band = parts["band"] or ""
            group["bands"].setdefault(band, {})[parts["kind"]] = session_path / rel
    return groups


def _scan(session_path: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(session_path):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for name in filenames:
            if _NAME.match(name):
                full = os.path.join(dirpath, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    out.append(os.path.relpath(full, session_path).replace(os.sep, "/"))
    return sorted(out)


def find_raw_streams(
    session_path: str | os.PathLike,
    rel_paths: list[str] | None = None,
    strict: bool = False,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
) -> list[RawStream]:
    """The SpikeGLX signal streams of a session, described from their headers only.

    Parameters
    ----------
    session_path : str or path-like
        The session folder.
    rel_paths : list of str, optional
        The session's files relative to it (posix); default: a scan of the folder.
    strict : bool
        Raise on a broken recording (unreadable meta, truncated ``.cbin``, bad sync file)
        instead of warning (:class:`~neo_alf.errors.AlfWarning`) and leaving it out.
    cache_bytes : int
        Decoded-chunk cache of each ``.cbin`` reader.

    Returns
    -------
    list of RawStream
        Probes by collection, each AP, AP-SYNC, LF, LF-SYNC; then nidq.
    """
    session_path = Path(session_path)
    if rel_paths is None:
        rel_paths = _scan(session_path)
    streams: list[RawStream] = []
    groups = _group_files(session_path, rel_paths)
    for (collection, run, device), group in sorted(
        groups.items(), key=lambda kv: (kv[0][2] == "nidq", kv[0])
    ):
        clock_cache: dict = {}
        for band in sorted(group["bands"], key=lambda b: {"ap": 0, "lf": 1}.get(b, 2)):
            files = group["bands"][band]
            try:
                streams.extend(
                    _band_streams(
                        collection, run, device, band or None, files, group, clock_cache, cache_bytes
                    )
                )
            except AlfError as err:
                if strict:
                    raise
                warnings.warn(AlfWarning(f"raw recording left out: {err}", err), stacklevel=2)
    return streams


def _band_streams(collection, run, device, band, files, group, clock_cache, cache_bytes) -> list[RawStream]:
    if "meta" not in files or not ({"cbin", "ch"} <= set(files) or "bin" in files):
        return []  # a lone .meta or .ch: no samples to serve
    meta_path = files["meta"]
    meta = read_meta(meta_path)
    n_file = int(meta["nSavedChans"])
    rate = sampling_rate(meta)
    if {"cbin", "ch"} <= set(files):
        data_path, ch_path = files["cbin"], files["ch"]
        cmeta = read_ch(ch_path)
        if int(cmeta["n_channels"]) != n_file:
            raise AlfFormatError(
                f"{cmeta['n_channels']} channels in the mtscomp index, {n_file} in the meta",
                [ch_path, meta_path],
                rule="a .ch and its .meta describe the same channels",
            )
        n_samples = int(cmeta["chunk_bounds"][-1])
        size = data_path.stat().st_size
        if size < int(cmeta["chunk_offsets"][-1]):
            raise AlfFormatError(
                f"file is {size} bytes but its index places chunks up to byte {cmeta['chunk_offsets'][-1]} "
                f"(truncated .cbin)",
                data_path,
                rule="mtscomp .cbin: chunk_offsets lie inside the file",
            )
    else:
        data_path, ch_path = files["bin"], None
        size = data_path.stat().st_size
        n_samples = size // (2 * n_file)
        if size % (2 * n_file):
            warnings.warn(
                AlfWarning(
                    f"{data_path}: {size} bytes is not a whole number of {n_file}-channel int16 samples; "
                    f"the last partial sample is ignored"
                ),
                stacklevel=4,
            )
    names = channel_names(meta)
    gains, units = channel_gains(meta, band)
    positions = channel_positions(meta)
    acquisition = _saved_channels(meta)
    label = _probe_label(collection, device) if device.startswith("imec") else device
    base = f"{label}.{band}" if band else label

    clock, sync_file = _clock(group, device, band, meta, rate, clock_cache)
    duration = n_samples / rate
    if clock is not None:
        # AP and LF of a probe span the same seconds: one fit per device and duration.
        key = ("fit", round(duration, 3))
        if key not in clock_cache:
            clock_cache[key] = clock.fit(duration)
        offset, slope, residual = clock_cache[key]
        t_start, rate_in_session, max_residual = offset, rate / slope, residual
    else:
        t_start, rate_in_session, max_residual = 0.0, rate, None

    if band is not None:
        ap, lf, sy = _ap_lf_sy(meta)
        neural = np.arange(ap + lf)
        sync_columns = np.arange(ap + lf, ap + lf + sy)
    else:
        neural, sync_columns = np.arange(n_file), np.arange(0)
    common = dict(
        collection=collection,
        sampling_rate=rate,
        n_samples=n_samples,
        t_start=t_start,
        rate_in_session=rate_in_session,
        max_residual=max_residual,
        on_session_clock=clock is not None,
        data_path=str(data_path),
        ch_path=str(ch_path) if ch_path else None,
        n_file_channels=n_file,
        clock=clock,
        cache_bytes=cache_bytes,
    )
    involved = [str(p) for p in (data_path, ch_path, meta_path, sync_file) if p is not None]
    annotations = {
        "device": device,
        "band": band or "",
        "run": run,
        "format": "mtscomp" if ch_path else "bin",
        "probe_type": meta.get("imDatPrb_type", ""),
        "probe_part_number": meta.get("imDatPrb_pn", ""),
        "probe_serial_number": meta.get("imDatPrb_sn", ""),
        "clock": ("session (from " + Path(sync_file).name + ")")
        if clock is not None
        else "probe (no sync file: times are probe-clock seconds)",
        "max_sync_residual": max_residual,
        "meta_file": str(meta_path),
    }
    out = []
    for suffix, columns in (("", neural), ("-SYNC", sync_columns)):
        cols = columns.tolist()
        if columns.size == 0:
            continue
        name = base + suffix
        out.append(
            RawStream(
                name=name,
                files=tuple(involved),
                channel_names=tuple(names[i] for i in cols),
                channel_ids=tuple(f"{name}#{names[i]}" for i in cols),
                gains=gains[columns].copy(),
                offsets=np.zeros(columns.size),
                units=tuple(units[i] for i in cols),
                annotations=dict(annotations, stream_kind="sync" if suffix else "neural"),
                array_annotations={
                    "x": positions["x"][columns],
                    "y": positions["y"][columns],
                    "shank": positions["shank"][columns],
                    "acquisition_index": acquisition[columns],
                },
                file_channels=columns,
                **common,
            )
        )
    return out


def _clock(group, device, band, meta, rate, cache) -> tuple[ClockMap | None, Path | None]:
    """The device's probe-to-session map (sync.npy preferred, else timestamps.npy)."""
    sync = group["sync"]
    for kind in ("sync", "timestamps"):
        if kind in sync:
            if kind not in cache:
                ap_rate = rate * 12.0 if band == "lf" else rate
                ap_meta = group["bands"].get("ap", {}).get("meta")
                if band == "lf" and ap_meta is not None:
                    ap_rate = sampling_rate(read_meta(ap_meta))
                cache[kind] = _read_sync(sync[kind], kind, ap_rate)
            return cache[kind], sync[kind]
    return None, None
