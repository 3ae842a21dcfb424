"""Deterministic numbers for generated test data: splitmix64 on a counter, exact arithmetic only.

NumPy does not promise its random streams across versions; these hashes and the arithmetic that turns
them into numbers (no ``log``, ``exp`` or ``sin``, whose last bits may differ between NumPy builds)
give the same values with any NumPy version.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class Stream:
    """A named stream of 64-bit hashes: the same (seed, name) always gives the same numbers."""

    def __init__(self, seed: int, name: str):
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        self.key = np.uint64(int.from_bytes(digest[:8], "little"))
        self.count = 0

    def bits(self, n: int) -> np.ndarray:
        counter = np.arange(self.count, self.count + n, dtype=np.uint64)
        self.count += n
        with np.errstate(over="ignore"):
            return _mix(counter * _GOLDEN + self.key)

    def uniform(self, n: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
        u = (self.bits(n) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
        return low + (high - low) * u

    def integers(self, n: int, low: int, high: int) -> np.ndarray:
        """Integers in [low, high) (the modulo bias is below 1e-9 for the ranges used here)."""
        return (self.bits(n) % np.uint64(high - low)).astype(np.int64) + low

    def normal(self, n: int) -> np.ndarray:
        """Approximately standard normal: centred sum of 12 uniforms (exact arithmetic)."""
        u = self.uniform(12 * n).reshape(n, 12)
        # summed column by column: a fixed order (NumPy's pairwise reductions may change)
        total = u[:, 0].copy()
        for k in range(1, 12):
            total += u[:, k]
        return total - 6.0

    def choice(self, n: int, values, p=None) -> np.ndarray:
        values = np.asarray(values)
        if p is None:
            return values[self.integers(n, 0, len(values))]
        edges = np.cumsum(np.asarray(p, dtype=np.float64))
        index = np.searchsorted(edges / edges[-1], self.uniform(n), side="right")
        return values[np.minimum(index, len(values) - 1)]

    def uuids(self, n: int) -> list[str]:
        hi, lo = self.bits(n), self.bits(n)
        out = []
        for a, b in zip(hi.tolist(), lo.tolist(), strict=True):
            value = (a << 64) | b
            value &= ~(0xF000 << 64)
            value |= 0x4000 << 64  # version 4
            value &= ~(0xC000 << 48)
            value |= 0x8000 << 48  # RFC 4122 variant
            h = f"{value:032x}"
            out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        return out


def piecewise(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Linear interpolation written out (np.interp's formula has changed between versions)."""
    i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    return fp[i] + (x - xp[i]) * ((fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i]))
