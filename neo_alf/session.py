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
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import readers
from .errors import (
    AlfAmbiguousError,
    AlfDimensionError,
    AlfDuplicateError,
    AlfError,
    AlfFormatError,
    AlfNameError,
    AlfNotFoundError,
    AlfPathError,
    AlfRelationError,
)
from .spec import AlfName, SessionParts, is_time_attribute, parse_rel_path, parse_session_path

__all__ = [
    "AlfObject",
    "AlfSession",
    "ConcatenatedRows",
    "Dataset",
    "DatasetFile",
    "ObjectData",
    "ObjectKind",
]

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
            return readers.read_metadata(self.metadata_files[part.name.part_key])
        return self.metadata

    @cached_property
    def metadata(self) -> dict[str, Any] | None:
        """The dataset's ``*.metadata.json`` (parsed, checked), or None when there is none."""
        self._check()
        path = self.metadata_files.get(())
        if path is None and len(self.files) == 1:
            path = self.metadata_files.get(self.files[0].name.part_key)
        return readers.read_metadata(path) if path is not None else None

    @cached_property
    def shape(self) -> tuple[int, ...] | None:
        """The shape of the joined data, read from headers only (None for row-less JSON)."""
        self._check()
        shapes = [readers.file_shape(f.path, self.metadata_for(f)) for f in self.files]
        if len(shapes) == 1:
            return shapes[0]
        first = shapes[0]
        for f, s in zip(self.files, shapes, strict=True):
            if s is None or first is None or s[1:] != first[1:]:
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
        if len(self.files) == 1:
            return readers.read_file(self.files[0].path, self.metadata_for(self.files[0]))
        self.shape  # noqa: B018 - checks the parts agree
        arrays = [readers.read_file(f.path, self.metadata_for(f)) for f in self.files]
        if not all(isinstance(a, np.ndarray) for a in arrays):
            raise AlfFormatError(
                "multi-part dataset whose parts are not arrays", self.paths, rule="parts are concatenated"
            )
        return ConcatenatedRows(arrays)

    def load(self) -> Any:
        """Read the data: a read-only memmap for single ``.npy``/``.bin`` files, parts concatenated."""
        data = self.open()
        return np.asarray(data) if isinstance(data, ConcatenatedRows) else data


class ConcatenatedRows:
    """Several arrays seen as one along rows, read only where sliced (multi-part signals).

    Supports ``len``, ``shape``, ``dtype``, ``ndim``, row slices (with an optional column
    selection: ``x[10:20]``, ``x[10:20, [0, 2]]``) and ``numpy.asarray`` (which concatenates).
    """

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays
        self.offsets = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays])])
        self.dtype = np.result_type(*arrays)
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
    def kind(self) -> ObjectKind:
        """``continuous`` (has ``timestamps``), ``intervals``, ``events`` (has ``times``) or ``table``."""
        if "timestamps" in self.datasets:
            return "continuous"
        if "intervals" in self.datasets:
            return "intervals"
        if "times" in self.datasets:
            return "events"
        return "table"

    @property
    def row_datasets(self) -> dict[str, Dataset]:
        """The attributes that must share the object's row count (all but ``timestamps*``)."""
        return {k: d for k, d in self.datasets.items() if d.attribute != "timestamps"}

    @property
    def rows(self) -> int | None:
        """The object's row count; raises :class:`AlfDimensionError` when attributes disagree."""
        return self.check_rows()

    def check_rows(self) -> int | None:
        """Check that every attribute (but timestamps) has the same rows and return that number."""
        counts = {k: d.rows for k, d in self.row_datasets.items()}
        counts = {k: n for k, n in counts.items() if n is not None}
        if len(set(counts.values())) > 1:
            detail = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
            paths = [p for k in sorted(counts) for p in self.datasets[k].paths]
            raise AlfDimensionError(
                f"attributes of object {self.name!r} have different row counts ({detail})",
                paths,
                rule="all attributes of an object have the same number of rows",
            )
        return next(iter(counts.values()), None)

    def __getitem__(self, key: str) -> Dataset:
        try:
            return self.datasets[key]
        except KeyError:
            raise AlfNotFoundError(
                f"object {self.name!r} has no attribute {key!r} (it has {', '.join(sorted(self.datasets))})",
                self.collection or ".",
            ) from None

    def __contains__(self, key: str) -> bool:
        return key in self.datasets

    def load(self) -> ObjectData:
        """Every attribute, checked for equal rows, as an :class:`ObjectData` dict."""
        self.check_rows()
        data = ObjectData({k: d.load() for k, d in sorted(self.datasets.items())})
        data.metadata = {k: d.metadata for k, d in self.datasets.items() if d.metadata is not None}
        data.files = {k: d.paths for k, d in self.datasets.items()}
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
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for d in dirnames:
                if os.path.islink(os.path.join(dirpath, d)):
                    self.problems.append(
                        AlfPathError(
                            "is a symlinked folder; it is not followed",
                            os.path.join(dirpath, d),
                            rule="datasets stay in their session folder",
                        )
                    )
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
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

    def load_object(self, name: str, collection: str | None = None) -> ObjectData:
        """Every attribute of one object, multi-part datasets joined, after checking the object's rules.

        Checked: equal rows, ``intervals`` with two columns, numeric times, ``timestamps`` shape and
        order, relation attributes (``spikes.clusters``) holding row indices of their target.
        Values are returned as stored otherwise: NaN times (IBL trials have them) and unsorted
        times are the data's, not errors of the array layer.
        """
        obj = self.object(name, collection)
        obj.check_rows()
        for check in (_check_times, _check_relations):
            errors = check(self, obj)
            if errors:
                raise errors[0]
        return obj.load()

    # ----------------------------------------------------------------------------------- validation

    def validate(self) -> list[AlfError]:
        """Check every rule this session can break, reading what it must; never raises.

        Returns
        -------
        list of AlfError
            Empty when the session is valid. Checked: names and folders, duplicates, readable
            files and metadata, equal rows within each object, 2-column ``intervals``,
            ``timestamps`` shape and order, numeric times, relation indices in range.
        """
        errors: list[AlfError] = list(self.problems)
        for obj in self.objects:
            for dataset in obj.datasets.values():
                if dataset.error is not None:
                    continue
                try:
                    dataset.shape  # noqa: B018 - reads headers, metadata
                except AlfError as err:
                    errors.append(err)
            for check in (_check_rows, _check_times, _check_relations):
                errors.extend(check(self, obj))
        return errors


def _healthy(dataset: Dataset) -> bool:
    if dataset.error is not None:
        return False
    try:
        dataset.shape  # noqa: B018
    except AlfError:
        return False
    return True


def _check_rows(session: AlfSession, obj: AlfObject) -> list[AlfError]:
    if not all(_healthy(d) for d in obj.row_datasets.values()):
        return []
    try:
        obj.check_rows()
    except AlfError as err:
        return [err]
    return []


def _check_times(session: AlfSession, obj: AlfObject) -> list[AlfError]:
    errors: list[AlfError] = []
    for dataset in obj.datasets.values():
        if not _healthy(dataset):
            continue
        if dataset.attribute == "timestamps":
            errors.extend(_check_timestamps(dataset))
            continue
        if not dataset.is_universal_time:
            continue
        shape = dataset.shape
        if dataset.attribute.endswith("intervals") and (shape is None or len(shape) != 2 or shape[1] != 2):
            errors.append(
                AlfDimensionError(
                    f"intervals have shape {shape}, not (n, 2)",
                    dataset.paths,
                    rule="intervals have two columns: start, end",
                )
            )
        try:
            data = dataset.load()
        except AlfError as err:
            errors.append(err)
            continue
        if not isinstance(data, np.ndarray) or data.dtype.kind not in "iuf":
            errors.append(
                AlfFormatError("times are not numbers", dataset.paths, rule="times are numeric seconds")
            )
    return errors


def _check_timestamps(dataset: Dataset) -> list[AlfError]:
    shape = dataset.shape
    if shape is None or len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, 2)):
        return [
            AlfDimensionError(
                f"timestamps have shape {shape}",
                dataset.paths,
                rule="timestamps are one time per sample, or (n, 2) sync points [sample, seconds]",
            )
        ]
    data = np.asarray(dataset.load())
    if data.dtype.kind not in "iuf":
        return [AlfFormatError("timestamps are not numbers", dataset.paths, rule="timestamps are numeric")]
    if data.ndim == 2 and data.shape[1] == 2:
        if np.any(np.diff(data[:, 0]) <= 0) or np.any(np.diff(data[:, 1]) <= 0):
            return [
                AlfDimensionError(
                    "sync points do not increase in both sample and time",
                    dataset.paths,
                    rule="sync timestamps increase",
                )
            ]
    return []


def _check_relations(session: AlfSession, obj: AlfObject) -> list[AlfError]:
    errors: list[AlfError] = []
    for dataset in obj.datasets.values():
        if dataset.timescale or not _healthy(dataset):
            continue
        targets = session.find_objects(dataset.attribute, obj.collection)
        if not targets:
            continue
        target = targets[0]
        try:
            n_rows = target.check_rows()
            values = dataset.load()
            check_relation(values, n_rows, dataset.paths, target)
        except AlfError as err:
            errors.append(err)
    return errors


def check_relation(values: Any, n_rows: int | None, paths, target: AlfObject) -> None:
    """Raise :class:`AlfRelationError` unless ``values`` are integer row indices of ``target``."""
    rule = f"{target.name}: attribute named after an object holds 0-based row indices into it"
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        raise AlfRelationError(
            f"indices into {target.name!r} are {values.dtype}, not integers", paths, rule=rule
        )
    if values.size == 0 or n_rows is None:
        return
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= n_rows:
        raise AlfRelationError(
            f"indices into {target.name!r} span {lo}..{hi} but it has {n_rows} rows", paths, rule=rule
        )
