"""AlfBunch: what ``load_object`` returns, a dict with attribute access and ``to_df()`` (as ONE-api's).

pandas is optional: :meth:`AlfBunch.to_df` needs it (extra ``neo-alf[one]``) and says so when it is
missing; everything else works without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import AlfDependencyError, AlfDimensionError

__all__ = ["AlfBunch"]

# Instance attributes (provenance); every other attribute name reads and writes a key.
_OWN = frozenset({"metadata", "files"})


class AlfBunch(dict):
    """``attribute -> array`` with ``bunch.intervals`` as well as ``bunch["intervals"]``.

    Attributes
    ----------
    metadata : dict
        ``attribute -> parsed *.metadata.json`` for attributes that have one.
    files : dict
        ``attribute -> tuple of paths`` read. A key named ``metadata`` or ``files`` stays
        reachable as ``bunch["metadata"]``.

    Examples
    --------
    >>> trials = load_object(session, "trials")
    >>> trials.intervals.shape
    (400, 2)
    >>> df = trials.to_df()  # needs pandas
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "metadata", {})
        object.__setattr__(self, "files", {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"no attribute {name!r} (keys: {', '.join(sorted(self)) or 'none'})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self if isinstance(k, str) and k.isidentifier()})

    def __reduce__(self):
        return (_rebuild, (dict(self), self.metadata, self.files))

    def copy(self) -> AlfBunch:
        out = AlfBunch(self)
        out.metadata, out.files = dict(self.metadata), dict(self.files)
        return out

    @property
    def rows(self) -> int | None:
        """The common row count of the array attributes (``timestamps*`` aside), None when empty.

        Raises
        ------
        AlfDimensionError
            Array attributes with different row counts.
        """
        counts = {
            k: v.shape[0]
            for k, v in self.items()
            if isinstance(v, np.ndarray) and v.ndim and not str(k).startswith("timestamps")
        }
        if len(set(counts.values())) > 1:
            detail = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
            paths = [p for k in sorted(counts) for p in self.files.get(k, ())]
            raise AlfDimensionError(
                f"attributes have different row counts ({detail})",
                paths,
                rule="all attributes of an object have the same number of rows",
            )
        return next(iter(counts.values()), None)

    @property
    def check_dimensions(self) -> int:
        """ONE-api's check: 0 when the array attributes agree on their rows (``timestamps`` may be a
        ``(2, 2)`` sync array, an attribute may have 1 row), 1 when they do not."""
        firsts = []
        for key, value in self.items():
            if not isinstance(value, np.ndarray) or value.ndim == 0:
                continue
            if str(key).startswith("timestamps"):
                if value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1):
                    firsts.append(value.shape[0])
                elif value.shape != (2, 2):
                    return 1
                continue
            firsts.append(value.shape[0])
        return int(bool(firsts) and not set(firsts) <= {max(firsts), 1})

    def append(self, other: dict, inplace: bool = False) -> AlfBunch | None:
        """Rows of ``other`` (same keys) after this bunch's, as ONE-api's ``AlfBunch.append``.

        Returns the new bunch, or None when ``inplace``.

        Raises
        ------
        AlfDimensionError
            The keys differ.
        """
        out = self if inplace else self.copy()
        if not other:
            return None if inplace else out
        if not self:
            out.update(other)
            return None if inplace else out
        if set(self) != set(other):
            raise AlfDimensionError(
                f"append needs the same keys ({sorted(self)} vs {sorted(other)})",
                rule="appended objects have the same attributes",
            )
        for key in list(out):
            a, b = out[key], other[key]
            if isinstance(a, np.ndarray):
                out[key] = np.concatenate([a, b], axis=0)
            elif isinstance(a, list):
                out[key] = a + list(b)
        return None if inplace else out

    def to_df(self):
        """A pandas DataFrame, one column per 1-D attribute, ``key_0 ... key_n`` per 2-D column.

        Structured arrays (tables) give one column per field; non-array values (metadata dicts,
        paths of files neo-alf does not read) and arrays of 3 or more dimensions are left out.

        Raises
        ------
        AlfDependencyError
            pandas is not installed (extra ``neo-alf[one]``).
        AlfDimensionError
            Attributes with different row counts.
        """
        try:
            import pandas as pd
        except ImportError:
            raise AlfDependencyError(
                "AlfBunch.to_df() needs pandas: pip install 'neo-alf[one]'",
                rule="optional dependencies come with their extra",
            ) from None
        n = self.rows
        columns: dict[str, np.ndarray] = {}
        for key, value in self.items():
            if not isinstance(value, np.ndarray) or value.ndim == 0 or value.shape[0] != n:
                continue
            if value.dtype.names:
                for field in value.dtype.names:
                    columns[field if field not in self else f"{key}.{field}"] = np.asarray(value[field])
            elif value.ndim == 1:
                columns[key] = np.asarray(value)
            elif value.ndim == 2 and value.shape[1] == 1:
                columns[key] = np.asarray(value[:, 0])
            elif value.ndim == 2:
                for i in range(value.shape[1]):
                    columns[f"{key}_{i}"] = np.asarray(value[:, i])
        return pd.DataFrame(columns)


def _rebuild(data: dict, metadata: dict, files: dict[str, tuple[Path, ...]]) -> AlfBunch:
    out = AlfBunch(data)
    out.metadata, out.files = metadata, files
    return out
