"""Small real SpikeGLX recordings for tests and benchmarks, with their ground truth.

:func:`make_raw_session` writes, into a session folder, what an IBL ephys session holds under
``raw_ephys_data`` and the spike sorting that goes with it::

    raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.{cbin,ch,meta} (or .ap.{bin,meta})
    raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.lf.{cbin,ch,meta} (NP1.0 only)
    raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.{sync,timestamps}.npy
    raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.{cbin,ch,meta}
    alf/probe00/pykilosort/spikes.{samples,times,clusters,amps,depths}.npy, clusters.{channels,depths}.npy,
    alf/probe00/pykilosort/channels.{localCoordinates,rawInd}.npy

The AP band is Gaussian noise with units planted at known samples on known channels (the trough
of each unit's waveform is exactly at ``spikes.samples``, on ``clusters.channels``); the last
channel is the SpikeGLX sync word (bit 6 toggling). ``.cbin`` files are made by mtscomp's own
compressor. The probe clock runs ``drift_ppm`` faster than the session clock, with an offset and
a few microseconds of jitter at each sync point (one per second), so a reader that ignores the
map is off by much more than a sample. Metas are NP1.0 (per-channel imro gains, ``~snsShankMap``)
or NP2.0 (fixed gain, ``~snsGeomMap``, no LF file), and may save a subset of channels
(``snsSaveChanSubset``) to keep test files small.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["GeneratedRaw", "RawProbeTruth", "make_raw_session", "write_meta", "write_recording"]

RUN = "_spikeglx_ephysData_g0_t0"
_TEMPLATE_LEN = (-12, 24)  # samples before / after the trough


@dataclass
class RawProbeTruth:
    """What was written for one probe (all arrays are the written values)."""

    label: str
    probe_type: str  # "NP1.0" or "NP2.0"
    n_channels: int  # neural channels saved
    ap_rate: float
    n_samples: int
    ap_gains_uv: np.ndarray  # per neural channel, raw -> uV
    lf_gains_uv: np.ndarray | None
    spike_samples: np.ndarray
    spike_clusters: np.ndarray
    cluster_channels: np.ndarray
    sync_probe: np.ndarray  # sync points, probe seconds
    sync_session: np.ndarray  # sync points, session seconds
    x: np.ndarray
    y: np.ndarray
    files: dict = field(default_factory=dict)

    def probe_to_session(self, samples) -> np.ndarray:
        """The exact map, as written (linear between points, extended outside)."""
        t = np.asarray(samples, dtype=np.float64) / self.ap_rate
        p, s = self.sync_probe, self.sync_session
        y = np.interp(t, p, s)
        lo, hi = t < p[0], t > p[-1]
        y[lo] = s[0] + (t[lo] - p[0]) * (s[1] - s[0]) / (p[1] - p[0])
        y[hi] = s[-1] + (t[hi] - p[-1]) * (s[-1] - s[-2]) / (p[-1] - p[-2])
        return y


@dataclass
class GeneratedRaw:
    """A session written by :func:`make_raw_session`."""

    path: Path
    probes: dict[str, RawProbeTruth]
    nidq_files: dict = field(default_factory=dict)


def _template(amplitude: float) -> np.ndarray:
    t = np.arange(*_TEMPLATE_LEN, dtype=np.float64)
    wave = -np.exp(-0.5 * (t / 1.0) ** 2) + 0.3 * np.exp(-0.5 * ((t - 6.0) / 4.0) ** 2)
    return amplitude * wave / -wave.min()


def _meta_lines(meta: dict) -> str:
    return "".join(f"{k}={v}\n" for k, v in meta.items())


def write_meta(
    path: Path,
    *,
    kind: str,
    probe_type: str = "NP1.0",
    n_channels: int = 384,
    rate: float = 30000.0,
    n_samples: int = 0,
    ap_gains: np.ndarray | None = None,
    file_name: str = "",
) -> dict:
    """Write a SpikeGLX ``.meta`` (``kind`` "ap", "lf" or "nidq"); returns its key -> value dict.

    ``n_channels`` neural channels of the probe's 384 are saved (the first ones), plus the sync
    channel; NP1.0 metas carry ``~snsShankMap`` and per-channel gains in ``~imroTbl``, NP2.0 metas
    ``~snsGeomMap`` and ``imChan0apGain``.
    """
    n_saved = n_channels + 1
    meta: dict[str, str] = {
        "appVersion": "20230815",
        "fileName": f"D:/Data/{file_name or path.with_suffix('.bin').name}",
        "fileSizeBytes": str(n_samples * n_saved * 2),
        "fileTimeSecs": f"{n_samples / rate:.6f}",
        "firstSample": "0",
        "gateMode": "Immediate",
        "nSavedChans": str(n_saved),
        "syncSourceIdx": "0",
        "syncSourcePeriod": "1",
        "trigMode": "Immediate",
        "typeImEnabled": "1",
        "typeNiEnabled": "1",
    }
    if kind == "nidq":
        n_saved = n_channels + 1
        meta.update(
            {
                "nSavedChans": str(n_saved),
                "fileSizeBytes": str(n_samples * n_saved * 2),
                "niAiRangeMax": "5",
                "niAiRangeMin": "-5",
                "niMAGain": "1",
                "niMNGain": "200",
                "niSampRate": f"{rate:g}",
                "snsMnMaXaDw": f"0,0,{n_channels},1",
                "snsSaveChanSubset": "all",
                "typeThis": "nidq",
            }
        )
        entries = [f"(XA{i};{i}:{i})" for i in range(n_channels)] + [f"(XD0;{n_channels}:{n_channels})"]
        meta["~snsChanMap"] = f"(0,0,{n_channels},1,1)" + "".join(entries)
        path.write_text(_meta_lines(meta))
        return meta
    np1 = probe_type == "NP1.0"
    lf = kind == "lf"
    first = 384 if lf else 0
    subset = f"{first}:{first + n_channels - 1},768" if n_channels < 384 else "all"
    meta.update(
        {
            "acqApLfSy": "384,384,1" if np1 else "384,0,1",
            "imAiRangeMax": "0.6" if np1 else "0.5",
            "imAiRangeMin": "-0.6" if np1 else "-0.5",
            "imMaxInt": "512" if np1 else "8192",
            "imDatPrb_pn": "NP1000" if np1 else "NP2000",
            "imDatPrb_port": "1",
            "imDatPrb_slot": "2",
            "imDatPrb_sn": "18194814141",
            "imDatPrb_type": "0" if np1 else "21",
            "imSampRate": f"{rate:g}",
            "snsApLfSy": f"0,{n_channels},1" if lf else f"{n_channels},0,1",
            "snsSaveChanSubset": subset,
            "typeThis": "imec",
        }
    )
    if not np1:
        meta["imChan0apGain"] = "80"
    gains = np.full(384, 500) if ap_gains is None else np.asarray(ap_gains)
    if np1:
        rows = "".join(f"({c} 0 0 {int(gains[c])} 250 1)" for c in range(384))
        meta["~imroTbl"] = "(0,384)" + rows
    else:
        meta["~imroTbl"] = "(21,384)" + "".join(f"({c} 1 0 {c})" for c in range(384))
    prefix = "LF" if lf else "AP"
    entries = [f"({prefix}{c};{first + c}:{c})" for c in range(n_channels)] + ["(SY0;768:768)"]
    meta["~snsChanMap"] = "(384,384,1)" + "".join(entries)
    if np1:
        meta["~snsShankMap"] = "(1,2,480)" + "".join(f"(0:{c % 2}:{c // 2}:1)" for c in range(n_channels))
    else:
        xs = np.where(np.arange(n_channels) % 2 == 0, 27, 59)
        meta["~snsGeomMap"] = "(NP2000,1,0,70)" + "".join(
            f"(0:{xs[c]}:{(c // 2) * 15}:1)" for c in range(n_channels)
        )
    path.write_text(_meta_lines(meta))
    return meta


def write_recording(
    data: np.ndarray | None,
    bin_path: Path,
    *,
    rate: float,
    compress: bool,
    chunk_duration: float = 1.0,
    keep_bin: bool = False,
) -> dict:
    """Write int16 ``data`` (n, ch) as ``bin_path`` and, if ``compress``, ``.cbin`` + ``.ch`` by mtscomp.

    ``data`` None: ``bin_path`` already holds the samples. Returns the written paths.
    """
    if data is not None:
        np.ascontiguousarray(data, dtype=np.int16).tofile(bin_path)
    if not compress:
        return {"bin": bin_path}
    import mtscomp

    meta = {}
    for line in bin_path.with_suffix(".meta").read_text().splitlines():
        k, _, v = line.partition("=")
        meta[k] = v
    cbin, ch = bin_path.with_suffix(".cbin"), bin_path.with_suffix(".ch")
    mtscomp.compress(
        bin_path,
        cbin,
        ch,
        sample_rate=rate,
        n_channels=int(meta["nSavedChans"]),
        dtype="int16",
        chunk_duration=chunk_duration,
        check_after_compress=False,
        quiet=True,
        n_threads=1,
    )
    if not keep_bin:
        os.remove(bin_path)
        return {"cbin": cbin, "ch": ch}
    return {"cbin": cbin, "ch": ch, "bin": bin_path}


def _sync_word(n: int, rate: float, rng) -> np.ndarray:
    """SpikeGLX sync channel: bit 6 toggling at irregular fronts, about every 0.1-0.6 s."""
    fronts = np.cumsum(rng.integers(int(0.1 * rate), int(0.6 * rate), size=int(n / (0.1 * rate)) + 2))
    level = np.zeros(n, dtype=np.int16)
    state = 0
    prev = 0
    for f in fronts[fronts < n]:
        level[prev:f] = state
        state = 64 - state
        prev = f
    level[prev:] = state
    return level


def make_raw_session(
    path: str | os.PathLike,
    *,
    probes: tuple[str, ...] = ("NP1.0",),
    n_channels: int = 32,
    duration: float = 2.0,
    ap_rate: float = 30000.0,
    compress: bool = True,
    chunk_duration: float = 0.25,
    n_units: int = 4,
    firing_rate: float = 15.0,
    amplitude: float = 500.0,
    noise: float = 12.0,
    offset: float = 12.345,
    drift_ppm: float = 6.0,
    jitter: float = 3e-6,
    nidq: bool = True,
    sync_files: tuple[str, ...] = ("sync", "timestamps"),
    seed: int = 0,
    keep_bin: bool = False,
) -> GeneratedRaw:
    """Write a session with SpikeGLX raw data and its spike sorting; return it with the truth.

    Parameters
    ----------
    path : str or path-like
        The session folder (created).
    probes : tuple of {"NP1.0", "NP2.0"}
        One probe folder per entry (``probe00``, ``probe01``...).
    n_channels : int
        Neural channels saved per probe (of 384), plus the sync channel.
    compress : bool
        ``.cbin`` + ``.ch`` (mtscomp) rather than ``.bin``.
    chunk_duration : float
        mtscomp chunk length (s); small values give several chunks in a short file.
    amplitude : float
        Trough of the planted waveform on its channel, in microvolts (halved per channel away).
    noise : float
        Standard deviation of the noise, in raw counts.
    offset, drift_ppm, jitter : float
        Session = offset + probe x (1 + drift_ppm 1e-6), plus uniform jitter (s) at each sync point.
    sync_files : tuple of {"sync", "timestamps"}
        Which map files to write (both by default; empty: the recording stays on the probe clock).
    keep_bin : bool
        Keep the ``.bin`` beside the ``.cbin`` (benchmarks compare readers of both).
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    raw = path / "raw_ephys_data"
    raw.mkdir(parents=True, exist_ok=True)
    out = GeneratedRaw(path, {})
    n_samples = round(duration * ap_rate)
    for p, probe_type in enumerate(probes):
        label = f"probe{p:02d}"
        folder = raw / label
        folder.mkdir(exist_ok=True)
        np1 = probe_type == "NP1.0"
        imro_gains = np.full(384, 500)
        if np1:
            imro_gains[1::7] = 1000  # per-channel gains must be read per channel
        ap_gain_uv = (
            (0.6 / 512 / imro_gains[:n_channels] * 1e6) if np1 else np.full(n_channels, 0.5 / 8192 / 80 * 1e6)
        )

        # Planted units: distinct channels at least 6 apart, refractory trains, trough at the sample.
        channels = rng.choice(
            np.arange(3, n_channels - 3, 6),
            size=min(n_units, len(range(3, n_channels - 3, 6))),
            replace=False,
        )
        samples, clusters = [], []
        lo, hi = -_TEMPLATE_LEN[0] + 1, n_samples - _TEMPLATE_LEN[1] - 1
        for u, _ in enumerate(channels):
            n_spk = rng.poisson(firing_rate * duration) + 2
            isi = rng.integers(int(0.004 * ap_rate), int(2 * ap_rate / firing_rate), size=n_spk)
            s = lo + np.cumsum(isi)
            s = s[s < hi]
            samples.append(s)
            clusters.append(np.full(s.size, u))
        spike_samples = np.concatenate(samples)
        spike_clusters = np.concatenate(clusters)
        order = np.argsort(spike_samples, kind="stable")
        spike_samples, spike_clusters = spike_samples[order], spike_clusters[order]

        data = np.empty((n_samples, n_channels + 1), dtype=np.int16)
        data[:, :n_channels] = np.round(rng.normal(0.0, noise, (n_samples, n_channels)))
        signal = data[:, :n_channels].astype(np.float64)
        template = _template(amplitude)
        offsets = np.arange(*_TEMPLATE_LEN)
        for s, u in zip(spike_samples, spike_clusters, strict=True):
            c = channels[u]
            for d in range(-2, 3):
                signal[s + offsets, c + d] += template * 0.5 ** abs(d) / ap_gain_uv[c + d]  # uV -> counts
        data[:, :n_channels] = np.clip(np.round(signal), -32768, 32767)
        data[:, n_channels] = _sync_word(n_samples, ap_rate, rng)

        files: dict = {}
        stem = folder / f"{RUN}.imec0.ap.bin"
        write_meta(
            stem.with_suffix(".meta"),
            kind="ap",
            probe_type=probe_type,
            n_channels=n_channels,
            rate=ap_rate,
            n_samples=n_samples,
            ap_gains=imro_gains,
        )
        files["ap"] = write_recording(
            data, stem, rate=ap_rate, compress=compress, chunk_duration=chunk_duration, keep_bin=keep_bin
        )
        files["ap"]["meta"] = stem.with_suffix(".meta")
        lf_gain_uv = None
        if np1:
            lf_rate = ap_rate / 12
            n_lf = n_samples // 12
            lf = np.empty((n_lf, n_channels + 1), dtype=np.int16)
            lf[:, :n_channels] = np.round(
                np.cumsum(rng.normal(0, 3, (n_lf, n_channels)), axis=0) % 2000 - 1000
            )
            lf[:, n_channels] = data[: n_lf * 12 : 12, n_channels]
            lf_stem = folder / f"{RUN}.imec0.lf.bin"
            write_meta(
                lf_stem.with_suffix(".meta"),
                kind="lf",
                probe_type=probe_type,
                n_channels=n_channels,
                rate=lf_rate,
                n_samples=n_lf,
                ap_gains=imro_gains,
            )
            files["lf"] = write_recording(
                lf, lf_stem, rate=lf_rate, compress=compress, chunk_duration=chunk_duration, keep_bin=keep_bin
            )
            files["lf"]["meta"] = lf_stem.with_suffix(".meta")
            lf_gain_uv = np.full(n_channels, 0.6 / 512 / 250 * 1e6)

        # Probe -> session clock: offset, drift, jitter at 1 s sync points beyond both ends.
        sync_probe = np.arange(-1.0, duration + 2.0, 1.0) + 0.123
        sync_session = (
            offset + sync_probe * (1 + drift_ppm * 1e-6) + rng.uniform(-jitter, jitter, sync_probe.size)
        )
        if "sync" in sync_files:
            files["sync"] = folder / f"{RUN}.imec0.sync.npy"
            np.save(files["sync"], np.c_[sync_probe, sync_session])
        if "timestamps" in sync_files:
            files["timestamps"] = folder / f"{RUN}.imec0.timestamps.npy"
            np.save(files["timestamps"], np.c_[sync_probe * ap_rate, sync_session])
        (folder / f"{RUN}.imec0.wiring.json").write_text('{"SYNC_WIRING_DIGITAL": {"P0.6": "imec_sync"}}')

        if np1:
            x = np.where(np.arange(n_channels) % 2 == 0, 0.0, 32.0)
            y = (np.arange(n_channels) // 2) * 20.0
        else:
            x = np.where(np.arange(n_channels) % 2 == 0, 27.0, 59.0)
            y = (np.arange(n_channels) // 2) * 15.0
        truth = RawProbeTruth(
            label=label,
            probe_type=probe_type,
            n_channels=n_channels,
            ap_rate=ap_rate,
            n_samples=n_samples,
            ap_gains_uv=ap_gain_uv,
            lf_gains_uv=lf_gain_uv,
            spike_samples=spike_samples,
            spike_clusters=spike_clusters,
            cluster_channels=np.asarray(channels),
            sync_probe=sync_probe,
            sync_session=sync_session,
            x=x,
            y=y,
            files=files,
        )
        out.probes[label] = truth

        alf = path / "alf" / label / "pykilosort"
        alf.mkdir(parents=True, exist_ok=True)
        np.save(alf / "spikes.samples.npy", spike_samples.astype(np.int64))
        np.save(alf / "spikes.times.npy", truth.probe_to_session(spike_samples))
        np.save(alf / "spikes.clusters.npy", spike_clusters.astype(np.int64))
        np.save(alf / "spikes.amps.npy", np.full(spike_samples.size, amplitude * 1e-6))  # volts
        np.save(alf / "spikes.depths.npy", y[channels[spike_clusters]])
        np.save(alf / "clusters.channels.npy", np.asarray(channels, dtype=np.int64))
        np.save(alf / "clusters.depths.npy", y[channels])
        np.save(alf / "channels.localCoordinates.npy", np.c_[x, y])
        np.save(alf / "channels.rawInd.npy", np.arange(n_channels, dtype=np.int64))

    if nidq:
        n_xa = 3
        stem = raw / f"{RUN}.nidq.bin"
        nd = np.empty((n_samples, n_xa + 1), dtype=np.int16)
        nd[:, :n_xa] = np.round(rng.normal(0, 800, (n_samples, n_xa)))
        nd[:, n_xa] = _sync_word(n_samples, ap_rate, rng)
        write_meta(stem.with_suffix(".meta"), kind="nidq", n_channels=n_xa, rate=ap_rate, n_samples=n_samples)
        out.nidq_files = write_recording(
            nd, stem, rate=ap_rate, compress=compress, chunk_duration=chunk_duration, keep_bin=keep_bin
        )
        out.nidq_files["meta"] = stem.with_suffix(".meta")
    return out
