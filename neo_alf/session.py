"""A session folder as ALF sees it: collections -> objects -> attributes -> datasets.

:class:`AlfSession` walks a folder once and reads no data. It applies the revision
rule (per dataset: the newest revision, or the revision asked for, or the last one
before it; files outside any ``#revision#`` folder are the oldest), joins multi-part
files in lexicographic order of their extra parts (archive ids aside), and classifies
each object (event series, interval series, continuous timeseries, table).

A dataset stored twice (``tones.frequencies.npy`` beside ``tones.frequencies.tsv``)
is kept, marked broken: reading it raises, :meth:`AlfSession.validate` lists it, and
the rest of the session stays readable.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import readers, rowread, rules, tables
from .errors import (
    AlfAmbiguousError,
    AlfDimensionError,
    AlfDuplicateError,
    AlfError,
    AlfFormatError,
    AlfNameError,
    AlfNotFoundError,
    AlfPathError,
    AlfWarning,
)
from .rowread import RowFile
from .spec import AlfName, SessionParts, is_time_attribute, parse_rel_path, parse_session_path
from .spikeglx import is_spikeglx_file

__all__ = [
    "AlfObject",
    "AlfSession",
    "ConcatenatedRows",
    "Dataset",
    "DatasetFile",
    "ObjectData",
    "ObjectKind",
    "TableColumn",
]

# A folder shaped like a session (``subject/yyyy-mm-dd/nnn``) inside the folder being read.
_NESTED_SESSION = re.compile(r"(^|/)[^/]+/\d{4}-\d{2}-\d{2}/\d{1,3}$")


# Text files are small by nature and have no header to read their shape from: parsed once, kept.
_READ_WHOLE = ("tsv", "csv", "ssv", "json", "jsonable")


def _shape_of(content: Any) -> tuple[int, ...] | None:
    if isinstance(content, np.ndarray):
        return content.shape
    if isinstance(content, list):
        return (len(content),)
    return None


ObjectKind = Literal["continuous", "intervals", "events", "table"]


@dataclass(frozen=True)
class DatasetFile:
    """One file on disk that holds (a part of) a dataset."""

    path: Path
    rel_path: str
    collection: str
    revision: str | None
    name: AlfName
    outside: bool = False  # a symlink whose target leaves the session folder


@dataclass(eq=False)
class Dataset:
    """One ``object.attribute[_timescale]`` of one collection at the selected revision.

    Attributes
    ----------
    collection : str
        ``""`` at the session root.
    revision : str or None
        The revision folder the files come from (None: outside any revision folder).
    files : tuple of DatasetFile
        The parts, in the order they are joined.
    metadata_files : dict
        ``part_key -> path`` of ``*.metadata.json`` files; key ``()`` describes the whole dataset.
    error : AlfError or None
        Set when the dataset breaks a rule found while scanning; every read raises it.
    """

    collection: str
    revision: str | None
    files: tuple[DatasetFile, ...]
    metadata_files: dict[tuple[str, ...], Path] = field(default_factory=dict)
    error: AlfError | None = None

    @property
    def name(self) -> AlfName:
        """The parsed name of the first part (namespace, object, attribute, timescale, extension)."""
        return self.files[0].name

    @property
    def object(self) -> str:
        return self.name.object

    @property
    def attribute(self) -> str:
        return self.name.attribute

    @property
    def timescale(self) -> str | None:
        return self.name.timescale

    @property
    def key(self) -> str:
        """Attribute plus timescale: the key of this dataset in its object (``times_ephysClock``)."""
        return self.name.key

    @property
    def extension(self) -> str:
        return self.name.extension

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(f.path for f in self.files)

    @property
    def rel_paths(self) -> tuple[str, ...]:
        return tuple(f.rel_path for f in self.files)

    @property
    def is_multipart(self) -> bool:
        return len(self.files) > 1

    @property
    def is_universal_time(self) -> bool:
        """True for ``times``, ``intervals``, ``*_times``, ``*_intervals`` without a timescale."""
        return is_time_attribute(self.attribute, self.timescale)

    def __repr__(self) -> str:
        return f"Dataset({', '.join(self.rel_paths)})"

    def _check(self) -> None:
        if self.error is not None:
            raise self.error
        for f in self.files:
            if f.outside:
                raise AlfPathError(
                    "is a symlink to a file outside the session folder",
                    f.path,
                    rule="datasets stay in their session folder",
                )

    def metadata_for(self, part: DatasetFile | None = None) -> dict[str, Any] | None:
        """The metadata of one part (its own ``*.metadata.json``, else the dataset's), or None."""
        if part is not None and part.name.part_key in self.metadata_files:
            return self._part_metadata(part.name.part_key)
        return self.metadata

    def _part_metadata(self, part_key: tuple[str, ...]) -> dict[str, Any]:
        cache = self.__dict__.setdefault("_metadata_cache", {})
        if part_key not in cache:  # each metadata file is read once
            cache[part_key] = readers.read_metadata(self.metadata_files[part_key])
        return cache[part_key]

    @cached_property
    def row_files(self) -> tuple[RowFile, ...] | None:
        """Where each part's array lies in its file (``.npy`` in C order, ``.bin``), from one read of
        its header; None for other file types. Reads of the data then need no header again."""
        self._check()
        if self.extension.lower() not in ("npy", "bin") or not self.readable:
            return None
        parts = []
        for f in self.files:
            part = rowread.row_file(f.path, self.metadata_for(f))
            if part is None:
                return None
            readers._check_metadata_shape(f.path, part.shape, self.metadata_for(f))
            parts.append(part)
        return tuple(parts)

    @cached_property
    def _contents(self) -> tuple[Any, ...]:
        """Small text files (tables, JSON) are parsed once: their shape is their content's."""
        self._check()
        return tuple(readers.read_file(f.path, self.metadata_for(f)) for f in self.files)

    @cached_property
    def dtype(self) -> np.dtype:
        """The data's dtype, from headers when the file type has them."""
        if self.row_files is not None:
            return _joined_dtype([p.dtype for p in self.row_files], self.paths)
        return np.dtype(getattr(self.open(), "dtype", object))

    @cached_property
    def metadata(self) -> dict[str, Any] | None:
        """The dataset's ``*.metadata.json`` (parsed, checked), or None when there is none."""
        self._check()
        if () in self.metadata_files:
            return self._part_metadata(())
        if len(self.files) == 1 and self.files[0].name.part_key in self.metadata_files:
            return self._part_metadata(self.files[0].name.part_key)
        return None

    @cached_property
    def shape(self) -> tuple[int, ...] | None:
        """The shape of the joined data, read from headers only (None for row-less JSON)."""
        self._check()
        if self.row_files is not None:
            shapes = [p.shape for p in self.row_files]
        elif self.extension.lower() in _READ_WHOLE:
            shapes = [_shape_of(c) for c in self._contents]
        else:
            shapes = [readers.file_shape(f.path, self.metadata_for(f)) for f in self.files]
        if len(shapes) == 1:
            return shapes[0]
        first = shapes[0]
        for f, s in zip(self.files, shapes, strict=True):
            if not s:  # a 0-d or row-less part has no rows to join
                raise AlfDimensionError(
                    f"a part of a multi-part dataset has no rows (shape {s})",
                    f.path,
                    rule="parts are concatenated along rows",
                )
            if first is None or s[1:] != first[1:]:
                raise AlfDimensionError(
                    f"parts of one dataset disagree beyond the first axis ({first} vs {s})",
                    [self.files[0].path, f.path],
                    rule="parts are concatenated along rows",
                )
        return (sum(s[0] for s in shapes), *first[1:])

    @property
    def rows(self) -> int | None:
        """Number of rows (first axis), None for row-less JSON."""
        shape = self.shape
        return None if shape is None or len(shape) == 0 else shape[0]

    def open(self) -> Any:
        """The data without reading them: a memmap, or a :class:`ConcatenatedRows` over the parts."""
        self._check()
        if self.row_files is not None:
            self.shape  # noqa: B018 - checks the parts agree
            maps = [p.memmap() for p in self.row_files]
            return maps[0] if len(maps) == 1 else ConcatenatedRows(maps, self.paths)
        if self.extension.lower() in _READ_WHOLE:
            arrays = list(self._contents)
        else:
            arrays = [readers.read_file(f.path, self.metadata_for(f)) for f in self.files]
        if len(self.files) == 1:
            return arrays[0]
        self.shape  # noqa: B018 - checks the parts agree
        if not all(isinstance(a, np.ndarray) for a in arrays):
            raise AlfFormatError(
                "multi-part dataset whose parts are not arrays", self.paths, rule="parts are concatenated"
            )
        return ConcatenatedRows(arrays, self.paths)

    def load(self) -> Any:
        """Read the data into memory (``.npy``/``.bin`` by positioned reads), parts concatenated.

        A file neo-alf does not read (see :attr:`readable`) gives its path, as ONE-api does.
        """
        if not self.readable:
            self._check()
            if self.is_empty:
                return None
            return self.paths[0] if len(self.files) == 1 else self.paths
        if self.row_files is not None:  # positioned reads into a new array: nothing stays mapped
            self.shape  # noqa: B018 - checks the parts agree
            parts = [p.rows(0, p.shape[0]) for p in self.row_files]
            if len(parts) == 1:
                return parts[0]
            _joined_dtype([p.dtype for p in parts], self.paths)
            return np.concatenate(parts, axis=0)
        data = self.open()
        return np.asarray(data) if isinstance(data, ConcatenatedRows) else data

    @cached_property
    def readable(self) -> bool:
        """False for files neo-alf does not read: no reader for the extension (mp4, flac, zip, yaml ...),
        or a ``.bin`` without its ``*.metadata.json``. Such files are listed, never opened."""
        fmt = readers.READERS.get(self.extension.lower())
        if fmt is None or self.is_empty:
            return False
        return not fmt.needs_metadata or bool(self.metadata_files)

    @cached_property
    def is_empty(self) -> bool:
        """True for a text file of zero bytes (IBL publishes empty ``.ssv`` encoder files): no
        rows, nothing to read; ``load`` gives None, as ONE-api does. An empty ``.npy`` is an error."""
        if self.extension.lower() not in _READ_WHOLE:
            return False
        try:  # a FIFO or a device also says size 0: only regular files can be empty files
            stats = [f.path.stat() for f in self.files]
        except OSError:
            return False
        return all(stat.S_ISREG(st.st_mode) and st.st_size == 0 for st in stats)

    @property
    def is_table(self) -> bool:
        """True for ``table`` attributes (``_ibl_trials.table.pqt``), whose columns are attributes."""
        return tables.is_table_key(self.key) and self.extension.lower() in ("pqt", "csv", "tsv", "ssv")

    @cached_property
    def table_attributes(self) -> dict[str, np.ndarray]:
        """A table's columns as its object's attributes (ONE-api's merge: pairs joined), read once."""
        self._check()
        parts = [tables.load_columns(f.path) for f in self.files]
        columns = parts[0]
        if len(parts) > 1:
            names = list(columns)
            for f, p in zip(self.files, parts, strict=True):
                if list(p) != names:
                    raise AlfDimensionError(
                        "parts of one table have different columns",
                        [self.files[0].path, f.path],
                        rule="parts are concatenated along rows",
                    )
            columns = {n: np.concatenate([p[n] for p in parts]) for n in names}
        return tables.expand_table(columns, self.key)

    @cached_property
    def table_attribute_names(self) -> list[str]:
        """The attribute names the table gives its object, from its schema or header row only."""
        self._check()
        return tables.expanded_names(tables.column_names(self.files[0].path), self.key)


class TableColumn:
    """One attribute of an object that comes from a column (or a column pair) of its ``table``.

    It answers as a :class:`Dataset` does (``key``, ``shape``, ``rows``, ``load``, ``paths`` ...), so
    the rest of neo-alf treats ``_ibl_trials.table.pqt`` columns and ``_ibl_trials.*.npy`` files alike.
    """

    def __init__(self, table: Dataset, key: str):
        self.table = table
        self.key = key
        self.collection = table.collection
        self.revision = table.revision
        self.files = table.files
        self.metadata_files: dict = {}
        self.metadata = None
        self.readable = True
        self.is_table = False
        self.is_multipart = False

    @property
    def error(self) -> AlfError | None:
        return self.table.error

    @property
    def name(self) -> AlfName:
        return self.table.name

    @property
    def attribute(self) -> str:
        suffix = f"_{self.table.timescale}" if self.table.timescale else ""
        return self.key[: len(self.key) - len(suffix)] if suffix and self.key.endswith(suffix) else self.key

    @property
    def timescale(self) -> str | None:
        return self.table.timescale

    @property
    def extension(self) -> str:
        return self.table.extension

    @property
    def paths(self) -> tuple[Path, ...]:
        return self.table.paths

    @property
    def rel_paths(self) -> tuple[str, ...]:
        return self.table.rel_paths

    @property
    def is_universal_time(self) -> bool:
        return is_time_attribute(self.attribute, self.timescale)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.load().shape

    @property
    def rows(self) -> int:
        return self.shape[0]

    def _check(self) -> None:
        self.table._check()

    def open(self) -> np.ndarray:
        return self.table.table_attributes[self.key]

    def load(self) -> np.ndarray:
        return self.table.table_attributes[self.key]

    def __repr__(self) -> str:
        return f"TableColumn({self.key!r} of {', '.join(self.rel_paths)})"


def _joined_dtype(dtypes: list[np.dtype], paths) -> np.dtype:
    """The dtype of parts joined along rows; parts whose dtypes cannot join are an error."""
    try:
        return np.result_type(*dtypes)
    except TypeError as err:  # datetime64 beside float64, text beside numbers ...
        raise AlfFormatError(
            f"parts have dtypes that do not join ({err})", paths, rule="parts are concatenated along rows"
        ) from None


class ConcatenatedRows:
    """Several arrays seen as one along rows, read only where sliced (multi-part signals).

    Supports ``len``, ``shape``, ``dtype``, ``ndim``, row slices (with an optional column
    selection: ``x[10:20]``, ``x[10:20, [0, 2]]``) and ``numpy.asarray`` (which concatenates).
    """

    def __init__(self, arrays: list[np.ndarray], paths=()):
        self.arrays = arrays
        self.offsets = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays])])
        self.dtype = _joined_dtype([a.dtype for a in arrays], paths)
        self.shape = (int(self.offsets[-1]), *arrays[0].shape[1:])
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = np.concatenate(self.arrays, axis=0)
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            return np.asarray(self)[key]
        start, stop, _ = rows.indices(self.shape[0])
        pieces = []
        for a, lo in zip(self.arrays, self.offsets[:-1], strict=True):
            s0, s1 = max(start - lo, 0), min(stop - lo, a.shape[0])
            if s1 > s0:
                pieces.append(np.asarray(a[(slice(s0, s1), *rest)]))
        if not pieces:
            return np.asarray(self.arrays[0][(slice(0, 0), *rest)]).astype(self.dtype)
        return np.concatenate(pieces, axis=0).astype(self.dtype, copy=False)


@dataclass(eq=False)
class AlfObject:
    """All attributes of one object in one collection."""

    collection: str
    name: str
    datasets: dict[str, Dataset]

    def __repr__(self) -> str:
        where = f"{self.collection}/" if self.collection else ""
        return f"AlfObject({where}{self.name}: {', '.join(sorted(self.datasets))})"

    @property
    def namespaces(self) -> set[str]:
        return {d.name.namespace for d in self.datasets.values() if d.name.namespace}

    @property
    def attributes(self) -> dict[str, Dataset | TableColumn]:
        """The object's attributes as ALF and ONE-api see them: every readable dataset, with the
        columns of a ``table`` attribute merged in (they replace same-named files, as in ONE-api).

        Reading a table's column names opens its schema or header row; nothing else is read.
        A table that cannot be read stays a dataset (reading it raises, naming the file).
        """
        out: dict[str, Dataset | TableColumn] = {}
        for key, d in sorted(self.datasets.items()):
            if d.readable and not d.is_table:
                out[key] = d
        for key, d in sorted(self.datasets.items()):
            if not (d.readable and d.is_table):
                continue
            try:
                names = d.table_attribute_names
            except AlfError:
                out[key] = d
                continue
            for name in names:
                out[name] = TableColumn(d, name)
        return out

    @property
    def unread(self) -> dict[str, Dataset]:
        """Datasets neo-alf does not read (mp4, flac, zip, a ``.bin`` without metadata ...)."""
        return {k: d for k, d in self.datasets.items() if not d.readable}

    @property
    def kind(self) -> ObjectKind:
        """``continuous`` (has ``timestamps``), ``intervals``, ``events`` (has ``times``) or ``table``."""
        keys = self.datasets.keys() | self._table_keys()
        if "timestamps" in keys:
            return "continuous"
        if "intervals" in keys:
            return "intervals"
        if "times" in keys:
            return "events"
        return "table"

    def _table_keys(self) -> set[str]:
        names: set[str] = set()
        for d in self.datasets.values():
            if d.readable and d.is_table:
                try:
                    names.update(d.table_attribute_names)
                except AlfError:
                    pass
        return names

    @property
    def row_datasets(self) -> dict[str, Dataset | TableColumn]:
        """The attributes that must share the object's row count (all but ``timestamps*``)."""
        return {k: d for k, d in self.attributes.items() if d.attribute != "timestamps"}

    @property
    def rows(self) -> int | None:
        """The object's row count; raises :class:`AlfDimensionError` when attributes disagree."""
        return self.check_rows()

    def check_rows(self) -> int | None:
        """Check that every attribute (but timestamps) has the same rows and return that number."""
        counts = {k: d.rows for k, d in self.row_datasets.items()}
        counts = {k: n for k, n in counts.items() if n is not None}
        if len(set(counts.values())) > 1:
            # name the attributes that differ from the most common row count (the odd ones out)
            values = list(counts.values())
            usual = max(set(values), key=lambda n: (values.count(n), n))
            odd = sorted(k for k, n in counts.items() if n != usual)
            if values.count(usual) == 1:  # no majority: every attribute is in question
                odd = sorted(counts)
                detail = ", ".join(f"{k}: {counts[k]}" for k in odd)
            else:
                detail = ", ".join(f"{k}: {counts[k]}" for k in odd) + f"; the others: {usual}"
            attributes = self.attributes
            paths = list(dict.fromkeys(p for k in odd for p in attributes[k].paths))
            raise AlfDimensionError(
                f"attributes of object {self.name!r} have different row counts ({detail})",
                paths,
                rule="all attributes of an object have the same number of rows",
            )
        return next(iter(counts.values()), None)

    def __getitem__(self, key: str) -> Dataset | TableColumn:
        found = self.datasets.get(key)
        if found is not None and (not found.readable or not found.is_table):
            return found
        attributes = self.attributes
        if key in attributes:
            return attributes[key]
        if found is not None:
            return found
        raise AlfNotFoundError(
            f"object {self.name!r} has no attribute {key!r} (it has {', '.join(sorted(attributes))})",
            self.collection or ".",
        )

    def __contains__(self, key: str) -> bool:
        return key in self.datasets or key in self._table_keys()

    def load(self, strict: bool = True, merge_tables: bool = True) -> ObjectData:
        """Every attribute as an :class:`ObjectData` dict; files neo-alf does not read as paths.

        Parameters
        ----------
        strict : bool
            Raise :class:`AlfDimensionError` when attributes have different row counts; with False,
            warn (:class:`AlfWarning`) and load them, as ONE-api does.
        merge_tables : bool
            Give a ``table`` attribute's columns as attributes (as ONE-api); with False, the table
            as stored, under its own key.
        """
        try:
            self.check_rows()
        except AlfDimensionError as err:
            if strict:
                raise
            warnings.warn(AlfWarning(str(err), err), stacklevel=3)
        if merge_tables:
            attributes = self.attributes
        else:
            attributes = {k: d for k, d in self.datasets.items() if d.readable}
        data = ObjectData({k: d.load() for k, d in sorted(attributes.items())})
        for k, d in sorted(self.unread.items()):
            data[k] = d.load()
        data.metadata = {k: d.metadata for k, d in attributes.items() if d.metadata is not None}
        data.files = {k: d.paths for k, d in {**self.unread, **attributes}.items()}
        return data


class ObjectData(dict):
    """What :func:`neo_alf.load_object` returns: ``attribute -> array``, plus where it came from.

    Attributes
    ----------
    metadata : dict
        ``attribute -> parsed *.metadata.json`` for attributes that have one (column names, units).
    files : dict
        ``attribute -> tuple of paths`` read.
    """

    metadata: dict[str, dict[str, Any]]
    files: dict[str, tuple[Path, ...]]


class AlfSession:
    """An ALF session folder, scanned once; no data are read until asked for.

    Parameters
    ----------
    path : str or path-like
        The session folder (``[lab/Subjects/]subject/yyyy-mm-dd/number``), or any folder of ALF files.
    revision : str, optional
        Per dataset, this revision or the last one before it; default: the newest.

    Attributes
    ----------
    path : Path
        The session folder, absolute.
    parts : SessionParts or None
        lab, subject, date and number, when the folder path has the session shape.
    ignored : list of str
        Relative paths of files that are not ALF datasets (no error: sessions hold other files too).
    raw_files : list of str
        Relative paths of the files of raw recordings (SpikeGLX ``.cbin``/``.bin``/``.ch``/``.meta``,
        their ``sync.npy``/``timestamps.npy``/``wiring.json``), read as recordings, not as ALF datasets.
    problems : list of AlfError
        Rules broken that the scan itself found (bad folder names, symlinked folders, duplicates).
    """

    def __init__(self, path: str | os.PathLike, revision: str | None = None):
        self.path = Path(path).absolute()
        if not self.path.is_dir():
            raise AlfNotFoundError("no such session folder", self.path)
        self.revision = revision
        try:
            self.parts: SessionParts | None = parse_session_path(self.path)
        except AlfNameError:
            self.parts = None
        self.ignored: list[str] = []
        self.raw_files: list[str] = []
        self.problems: list[AlfError] = []
        self._metadata: dict[tuple, Path] = {}
        files = list(self._scan())
        self.revisions: list[str] = sorted({f.revision for f in files if f.revision is not None})
        self._objects = self._build_objects(files)

    def __repr__(self) -> str:
        return f"AlfSession({str(self.path)!r}, {len(self._objects)} objects)"

    # ------------------------------------------------------------------------------------ scanning

    def _scan(self) -> Iterator[DatasetFile]:
        root = self.path
        real_root = os.path.realpath(root)

        def unreadable_folder(err: OSError) -> None:
            # a collection or revision folder that cannot be listed would silently hide data (or
            # serve an older revision): it is a problem of the session, reported with its path
            self.problems.append(
                AlfPathError(
                    f"cannot be listed ({err.strerror or err})",
                    err.filename or root,
                    rule=rules.RULES["readable_folder"],
                )
            )

        nested: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_folder, followlinks=False):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            if rel_dir != "." and _NESTED_SESSION.search(rel_dir):
                nested.append(rel_dir)
                dirnames[:] = []  # another session: not part of this one
                continue
            for d in dirnames:
                if os.path.islink(os.path.join(dirpath, d)):
                    self.problems.append(
                        AlfPathError(
                            "is a symlinked folder; it is not followed",
                            os.path.join(dirpath, d),
                            rule=rules.RULES["in_session"],
                        )
                    )
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                if is_spikeglx_file(rel):  # a raw recording: described by its .meta, not ALF
                    self.raw_files.append(rel)
                    continue
                try:
                    parsed = parse_rel_path(rel)
                except AlfNameError as err:
                    self.ignored.append(rel)
                    if "/" in rel and "folder" in err.detail:
                        self.problems.append(err)
                    continue
                outside = False
                if os.path.islink(full):
                    target = os.path.realpath(full)
                    outside = os.path.commonpath([real_root, target]) != real_root
                name = parsed.name
                if name.is_metadata:
                    core = name._replace(extra=name.extra[:-1], extension="")
                    key = (parsed.collection, parsed.revision, name.object, name.attribute, name.timescale)
                    self._metadata[(*key, core.part_key)] = Path(full)
                    continue
                yield DatasetFile(Path(full), rel, parsed.collection, parsed.revision, name, outside)
        if nested:
            shown = ", ".join(nested[:5]) + (f" and {len(nested) - 5} more" if len(nested) > 5 else "")
            raise AlfAmbiguousError(
                f"holds {len(nested)} session folder(s) ({shown}); open one of them",
                root,
                rule=rules.RULES["one_session"],
            )

    def _build_objects(self, files: list[DatasetFile]) -> dict[tuple[str, str], AlfObject]:
        # identity of a dataset: collection, object, attribute, timescale (namespace and extension
        # are properties of the files, and must agree)
        by_identity: dict[tuple, list[DatasetFile]] = defaultdict(list)
        for f in files:
            by_identity[(f.collection, f.name.object, f.name.attribute, f.name.timescale)].append(f)
        objects: dict[tuple[str, str], AlfObject] = {}
        for identity, candidates in sorted(by_identity.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
            chosen = self._select_revision(candidates)
            if chosen is None:
                continue
            dataset = self._make_dataset(identity, chosen)
            collection, obj = identity[0], identity[1]
            objects.setdefault((collection, obj), AlfObject(collection, obj, {})).datasets[dataset.key] = (
                dataset
            )
        return objects

    def _select_revision(self, candidates: list[DatasetFile]) -> list[DatasetFile] | None:
        revisions = {f.revision for f in candidates}
        # None (outside any revision folder) sorts first: it is the oldest revision.
        ordered = sorted(revisions, key=lambda r: (r is not None, r or ""))
        if self.revision is not None:
            ordered = [r for r in ordered if r is None or r <= self.revision]
        if not ordered:
            return None
        best = ordered[-1]
        return [f for f in candidates if f.revision == best]

    def _make_dataset(self, identity: tuple, files: list[DatasetFile]) -> Dataset:
        collection, obj, attribute, timescale = identity
        files = sorted(files, key=lambda f: (f.name.part_key, f.name.extra))
        revision = files[0].revision
        metadata = {
            k[-1]: p
            for k, p in self._metadata.items()
            if k[:-1] == (collection, revision, obj, attribute, timescale)
        }
        error: AlfError | None = None
        extensions = sorted({f.name.extension for f in files})
        namespaces = sorted({f.name.namespace or "" for f in files})
        part_keys = [f.name.part_key for f in files]
        paths = [f.path for f in files]
        if len(extensions) > 1:
            error = AlfDuplicateError(
                f"one dataset in {len(extensions)} file types ({', '.join(extensions)})",
                paths,
                rule="one object.attribute has one data file type",
            )
        elif len(namespaces) > 1:
            error = AlfDuplicateError(
                f"one dataset under {len(namespaces)} namespaces",
                paths,
                rule="one object.attribute, one namespace",
            )
        elif len(set(part_keys)) < len(part_keys):
            error = AlfDuplicateError(
                "the same part is stored twice (with and without an archive id, or under two ids)",
                paths,
                rule="files of one dataset differ in their extra parts",
            )
        if error is not None:
            self.problems.append(error)
        return Dataset(collection, revision, tuple(files), metadata, error)

    # ------------------------------------------------------------------------------------- queries

    @property
    def collections(self) -> list[str]:
        """Every collection holding at least one dataset (``""`` is the session root)."""
        return sorted({c for c, _ in self._objects})

    @property
    def raw_collections(self) -> list[str]:
        """Every collection holding raw recording files (``raw_ephys_data/probe00``)."""
        return sorted({r.rpartition("/")[0] for r in self.raw_files})

    @property
    def objects(self) -> list[AlfObject]:
        """Every object, ordered by collection then name."""
        return [self._objects[k] for k in sorted(self._objects)]

    @property
    def datasets(self) -> list[Dataset]:
        """Every dataset at the selected revision."""
        return [d for o in self.objects for _, d in sorted(o.datasets.items())]

    def find_objects(self, name: str, collection: str | None = None) -> list[AlfObject]:
        """Objects called ``name`` (namespace ignored), in one collection or in all."""
        return [
            o
            for (c, n), o in sorted(self._objects.items())
            if n == name and (collection is None or c == collection)
        ]

    def object(self, name: str, collection: str | None = None) -> AlfObject:
        """The object called ``name``.

        Parameters
        ----------
        name : str
            Object name without namespace (``trials`` finds ``_ibl_trials.*``).
        collection : str, optional
            Required when the object exists in several collections.

        Raises
        ------
        AlfNotFoundError
            No such object (in that collection).
        AlfAmbiguousError
            ``collection`` is None and the object is in several collections; the message lists them.
        """
        found = self.find_objects(name, collection)
        if not found:
            where = f" in collection {collection!r}" if collection is not None else ""
            raise AlfNotFoundError(
                f"no object {name!r}{where} (objects: {', '.join(sorted({n for _, n in self._objects}))})",
                self.path,
            )
        if len(found) > 1:
            raise AlfAmbiguousError(
                f"object {name!r} is in {len(found)} collections: "
                f"{', '.join(repr(o.collection) for o in found)}; pass collection=",
                self.path,
            )
        return found[0]

    def dataset(self, dataset: str, collection: str | None = None) -> Dataset:
        """The dataset ``"object.attribute"`` (``"spikes.times_ephysClock"`` for a timescale)."""
        obj, _, attr = dataset.partition(".")
        if not attr:
            raise AlfNameError(f"{dataset!r} is not object.attribute", self.path, rule="object.attribute")
        return self.object(obj, collection)[attr]

    def load_object(
        self, name: str, collection: str | None = None, strict: bool = False, merge_tables: bool = True
    ) -> ObjectData:
        """Every attribute of one object, multi-part datasets joined, as ONE-api loads it.

        Like ONE-api, attributes whose row counts differ are loaded with a warning
        (:class:`AlfWarning`), files neo-alf does not read are returned as paths, and a ``table``
        attribute's columns are merged into the object. Raised whatever ``strict`` says: a file that
        cannot be read (truncated, corrupt), times that are not numbers, intervals without two
        columns, a relation (``spikes.clusters``) pointing outside its target. NaN and unsorted
        times are returned as stored.

        Parameters
        ----------
        strict : bool
            Raise on rows that differ too, instead of warning.
        merge_tables : bool
            Merge ``table`` attributes into the object (ONE-api's shape); False keeps them as stored.
        """
        obj = self.object(name, collection)
        for attr in obj.attributes.values():
            if attr.is_universal_time:
                rules.event_times(attr)
            elif attr.attribute != "timestamps":
                target = rules.is_relation(self, obj, attr)
                if target is not None:
                    rules.check_relation(attr.load(), target.check_rows(), attr.paths, target)
        return obj.load(strict=strict, merge_tables=merge_tables)

    # ----------------------------------------------------------------------------------- validation

    @property
    def unread(self) -> list[str]:
        """Relative paths of ALF-named files neo-alf does not read (mp4, flac, zip, yaml, a ``.bin``
        without metadata, an empty text file ...): listed, never opened; ``load_object`` gives
        their paths (None for empty files, as ONE-api)."""
        return sorted(r for o in self.objects for d in o.unread.values() for r in d.rel_paths)

    def unread_notes(self) -> list[str]:
        """One line per file neo-alf does not read, saying why."""
        return [_unread_note(self, r) for r in self.unread]

    def validate(self, notes: list[str] | None = None) -> list[AlfError]:
        """Check every rule this session can break, reading what it must; never raises.

        Parameters
        ----------
        notes : list, optional
            When given, receives what is not an error: files neo-alf does not read, files that are
            not ALF names, and departures from the rules that IBL publishes and ONE-api tolerates
            (:data:`neo_alf.rules.KNOWN_QUIRKS`).

        Returns
        -------
        list of AlfError
            Empty when the session is valid. Checked: names and folders, duplicates, readable
            files and metadata, equal rows within each object, times and intervals (numeric,
            shape, order), ``timestamps`` (shape, finite, increasing), relation indices in range.
        """
        errors: list[AlfError] = list(self.problems)
        found_notes = self.unread_notes()
        found_notes += [f"{r}: not an ALF dataset name" for r in self.ignored]
        for obj in self.objects:
            try:
                obj_errors, obj_notes = rules.check_object(self, obj)
            except AlfError as err:  # pragma: no cover - check_object collects; a last guard
                obj_errors, obj_notes = [err], []
            errors += obj_errors
            found_notes += obj_notes
        if notes is not None:
            notes.extend(found_notes)
        return errors


def _unread_note(session: AlfSession, rel_path: str) -> str:
    try:
        st = (session.path / rel_path).stat()
    except OSError:
        return f"{rel_path}: cannot be listed"
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        return f"{rel_path}: an empty file (no rows; load_object gives None)"
    return f"{rel_path}: not read by neo-alf (no reader for this file type)"
