"""ALF names and paths: parse, validate and describe them (pure functions, no I/O).

The convention is data here, as in ONE-api's ``one.alf.spec``: each part of a name
has a pattern (:data:`PART_PATTERNS`) and a meaning (:data:`PART_DESCRIPTIONS`), and
the file-name pattern is assembled from them. The patterns are those of the
reference implementation, so :func:`parse_name` agrees with
``one.alf.path.filename_parts`` on valid names, quirks included (the tests cross-check
it). Where we are stricter, it is on purpose and listed in :data:`STRICTER_THAN_ONE`.

A full path reads::

    <root>/[<lab>/Subjects/]<subject>/<yyyy-mm-dd>/<number>/
        [<collection>/][#<revision>#/][_<namespace>_]<object>.<attribute>[_<timescale>][.<extra>...].<ext>
"""

from __future__ import annotations

import datetime
import re
from pathlib import PurePath, PurePosixPath
from typing import NamedTuple

from .errors import AlfNameError

__all__ = [
    "PART_DESCRIPTIONS",
    "PART_PATTERNS",
    "RESERVED_TIME_ATTRIBUTES",
    "STRICTER_THAN_ONE",
    "AlfName",
    "RelPath",
    "SessionParts",
    "is_time_attribute",
    "is_uuid_part",
    "parse_name",
    "parse_rel_path",
    "parse_session_path",
]

PART_PATTERNS: dict[str, str] = {
    "lab": r"\w+",
    "subject": r"[\w.-]+",
    "date": r"\d{4}-\d{2}-\d{2}",
    "number": r"\d{1,3}",
    "collection": r"[\w.-]+",  # one folder; a collection is one or more of them
    "revision": r"[\w.-]+",
    "namespace": r"(?<=_)[a-zA-Z0-9]+",
    "object": r"\w+",
    # `stimOn_times` and `cue_intervals` keep their suffix in the attribute: they are universal times.
    # `(?:_[a-z]+_)?` admits deprecated attribute-level namespaces (`channels._phy_ids`), as ONE-api does.
    "attribute": r"(?:_[a-z]+_)?[a-zA-Z0-9]+(?:_times(?=[_.])|_intervals(?=[_.]))?",
    "timescale": r"\w+",
    "extra": r"[.\w-]+",
    "extension": r"\w+",
}
"""dict: the regular expression of each part of an ALF name (those of ONE-api)."""

PART_DESCRIPTIONS: dict[str, str] = {
    "lab": "The lab that collected the data; when present the session sits under <lab>/Subjects/.",
    "subject": "The subject (animal) name.",
    "date": "The session date, ISO yyyy-mm-dd.",
    "number": "The session number of that day, 1 to 3 digits, often zero-padded (001).",
    "collection": "Folders grouping data by device or modality (alf, alf/probe00/pykilosort).",
    "revision": "A #folder# directly above the files; revisions sort lexicographically, the last wins.",
    "namespace": "An _underscored_ prefix: data that are not (yet) a community standard (_ibl_).",
    "object": "What the rows describe; every attribute of an object has the same number of rows.",
    "attribute": (
        "What the file holds about the object; `times`, `intervals` and `timestamps` are reserved, and "
        "`*_times`, `*_intervals` are universal seconds too."
    ),
    "timescale": "A clock other than the session's universal seconds (times_ephysClock).",
    "extra": (
        "Optional dot-separated parts: files differing only in them are one dataset, concatenated in "
        "lexicographic order; a UUID part is an archive id added by file servers."
    ),
    "extension": "The file type: npy, tsv, csv, ssv, json, bin (with metadata), pqt ...",
}
"""dict: what each part of an ALF name means."""

RESERVED_TIME_ATTRIBUTES = ("times", "intervals", "timestamps")
"""tuple: attribute names that define an object's kind (event, interval, continuous)."""

STRICTER_THAN_ONE = {
    "empty extra part": "`spikes.times.a..b.npy`: ONE-api keeps an empty part; it cannot be ordered, so "
    "neo-alf refuses the name.",
}
"""dict: the valid-for-ONE-api names that neo-alf refuses, and why."""

_FILE_RE = re.compile(
    r"_?(?P<namespace>{namespace})?_?(?P<object>{object})\.(?P<attribute>{attribute})"
    r"(?:_(?P<timescale>{timescale}))?(?:\.(?P<extra>{extra}))*\.(?P<extension>{extension})$".format(
        **PART_PATTERNS
    )
)
_SESSION_RE = re.compile(
    r"(?:^|/)(?:(?P<lab>{lab})/Subjects/)?(?P<subject>{subject})/(?P<date>{date})/(?P<number>{number})$".format(
        **PART_PATTERNS
    )
)
_FOLDER_RE = re.compile(r"{collection}$".format(**PART_PATTERNS))
_REVISION_RE = re.compile(r"#(?P<revision>{revision})#$".format(**PART_PATTERNS))
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


class AlfName(NamedTuple):
    """The parts of an ALF file name.

    Attributes
    ----------
    namespace : str or None
        ``ibl`` for ``_ibl_trials.intervals.npy``.
    object : str
        ``trials``.
    attribute : str
        ``intervals``; ``stimOn_times`` keeps its ``_times`` suffix.
    timescale : str or None
        ``ephysClock`` for ``spikes.times_ephysClock.npy``.
    extra : tuple of str
        The extra parts, ``()`` when none: ``("part001",)``, or a dataset UUID.
    extension : str
        ``npy``.
    """

    namespace: str | None
    object: str
    attribute: str
    timescale: str | None
    extra: tuple[str, ...]
    extension: str

    @property
    def key(self) -> str:
        """The attribute with its timescale, as ONE-api names it in a loaded object (``times_ephysClock``)."""
        return f"{self.attribute}_{self.timescale}" if self.timescale else self.attribute

    @property
    def dataset_type(self) -> str:
        """``object.attribute`` without namespace or timescale (``trials.intervals``)."""
        return f"{self.object}.{self.attribute}"

    @property
    def is_metadata(self) -> bool:
        """True for ``obj.attr[.extra].metadata.json``: the column/row description of a data file."""
        return self.extension == "json" and bool(self.extra) and self.extra[-1] == "metadata"

    @property
    def part_key(self) -> tuple[str, ...]:
        """The extra parts that order a multi-part dataset: archive ids (UUIDs) are left out."""
        return tuple(p for p in self.extra if not is_uuid_part(p))

    def to_filename(self) -> str:
        """Write the name back; ``parse_name(n.to_filename()) == n`` for every parsed name."""
        ns = f"_{self.namespace}_" if self.namespace else ""
        ts = f"_{self.timescale}" if self.timescale else ""
        extra = "".join(f".{p}" for p in self.extra)
        return f"{ns}{self.object}.{self.attribute}{ts}{extra}.{self.extension}"


class SessionParts(NamedTuple):
    """The parts of a session folder ``[lab/Subjects/]subject/date/number``."""

    lab: str | None
    subject: str
    date: datetime.date
    number: int

    @property
    def rel_path(self) -> str:
        """The canonical relative path, number zero-padded to 3 digits."""
        head = f"{self.lab}/Subjects/" if self.lab else ""
        return f"{head}{self.subject}/{self.date.isoformat()}/{self.number:03d}"


class RelPath(NamedTuple):
    """A dataset path relative to its session: collection, revision and file name."""

    collection: str
    revision: str | None
    name: AlfName


def parse_name(filename: str) -> AlfName:
    """Parse an ALF file name into its parts.

    Parameters
    ----------
    filename : str
        A file name (no folders), e.g. ``_ibl_trials.stimOn_times.npy``.

    Returns
    -------
    AlfName
        The parts; ``extra`` is a tuple, ``()`` when there are none.

    Raises
    ------
    AlfNameError
        The name is not an ALF file name.

    Examples
    --------
    >>> parse_name("spikes.times_ephysClock.part001.npy")
    AlfName(namespace=None, object='spikes', attribute='times', timescale='ephysClock', \
extra=('part001',), extension='npy')
    """
    if not isinstance(filename, str):
        raise AlfNameError(f"an ALF file name must be a str, not {type(filename).__name__}", repr(filename))
    if "/" in filename or "\\" in filename:
        raise AlfNameError("a file name has no folders; use parse_rel_path", filename, rule="ALF file name")
    m = _FILE_RE.match(filename)
    if m is None:
        raise AlfNameError(
            "not an ALF file name", filename, rule="[_namespace_]object.attribute[_timescale][.extra...].ext"
        )
    extra = tuple(m["extra"].split(".")) if m["extra"] else ()
    if "" in extra:
        raise AlfNameError("an extra part is empty (`..`)", filename, rule="extra parts are non-empty")
    return AlfName(m["namespace"], m["object"], m["attribute"], m["timescale"], extra, m["extension"])


def parse_session_path(path: str | PurePath) -> SessionParts:
    """Parse the session part at the end of a folder path.

    Parameters
    ----------
    path : str or path-like
        A path ending in ``[lab/Subjects/]subject/yyyy-mm-dd/number``; anything before that is the root.

    Returns
    -------
    SessionParts
        ``number`` is an int: ``001`` and ``1`` are the same session.

    Raises
    ------
    AlfNameError
        The path does not end in a session, or its date is not a calendar date.
    """
    text = PurePath(path).as_posix().rstrip("/")
    m = _SESSION_RE.search(text)
    if m is None:
        raise AlfNameError(
            "not an ALF session folder", str(path), rule="[lab/Subjects/]subject/yyyy-mm-dd/number"
        )
    try:
        date = datetime.date.fromisoformat(m["date"])
    except ValueError:
        raise AlfNameError(
            f"{m['date']!r} is not a calendar date", str(path), rule="date is yyyy-mm-dd"
        ) from None
    return SessionParts(m["lab"], m["subject"], date, int(m["number"]))


def parse_rel_path(rel_path: str | PurePath) -> RelPath:
    """Parse a dataset path relative to its session folder.

    Parameters
    ----------
    rel_path : str or path-like
        ``[collection/][#revision#/]filename``, e.g. ``alf/probe00/#2024-05-06#/spikes.times.npy``.

    Returns
    -------
    RelPath
        ``collection`` is ``""`` for files at the session root; ``revision`` is None outside any
        revision folder.

    Raises
    ------
    AlfNameError
        A folder or the file name breaks the convention.
    AlfPathError
        The path is absolute or has ``.``/``..`` parts: it could leave the session folder.

    Notes
    -----
    A backslash is refused, not read as a separator: on POSIX it is part of one file name, and
    ``alf\\probe01\\spikes.times.npy`` at the session root is not ``alf/probe01/spikes.times.npy``.
    Pass a ``PureWindowsPath`` to parse a Windows path.
    """
    from .errors import AlfPathError

    if isinstance(rel_path, str):
        text = rel_path
    else:
        try:  # a PureWindowsPath's separators become slashes here, on purpose
            text = PurePath(rel_path).as_posix()
        except TypeError:
            raise AlfNameError(
                f"a dataset path must be a str or path, not {type(rel_path).__name__}", repr(rel_path)
            ) from None
    if "\\" in text:
        # On POSIX a backslash is an ordinary character of one file name: read as a separator it
        # would let a root file named `alf\probe01\spikes.times.npy` stand in for another collection.
        raise AlfNameError(
            "a backslash in a dataset path", text, rule="ALF paths use `/`; names have no backslash"
        )
    if "\x00" in text:
        raise AlfNameError("a NUL character in a dataset path", repr(text), rule="ALF dataset path")
    posix = PurePosixPath(text)
    if posix.is_absolute() or re.match(r"^[A-Za-z]:", text):
        raise AlfPathError("a dataset path must be relative", text, rule="datasets stay in their session")
    parts = text.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise AlfPathError(
            "a dataset path has an empty, `.` or `..` part", text, rule="datasets stay in their session"
        )
    *folders, filename = parts
    revision = None
    if folders and folders[-1].startswith("#"):
        m = _REVISION_RE.match(folders[-1])
        if m is None:
            raise AlfNameError(f"bad revision folder {folders[-1]!r}", text, rule="#revision# folder")
        revision = m["revision"]
        folders = folders[:-1]
    for folder in folders:
        if _FOLDER_RE.match(folder) is None:
            raise AlfNameError(
                f"bad collection folder {folder!r}",
                text,
                rule="collection folders are [A-Za-z0-9_.-]+;"
                " a #revision# folder sits directly above the files",
            )
    try:
        name = parse_name(filename)
    except AlfNameError as err:
        raise AlfNameError(err.detail, text, rule=err.rule) from None
    return RelPath("/".join(folders), revision, name)


def is_uuid_part(part: str) -> bool:
    """True when an extra name part is a UUID (an archive id added by file servers, not a part to join).

    Parameters
    ----------
    part : str
        One extra part of a file name.

    Returns
    -------
    bool
    """
    return isinstance(part, str) and _UUID_RE.match(part) is not None


def is_time_attribute(attribute: str, timescale: str | None = None) -> bool:
    """True when an attribute holds universal session seconds (``times``, ``*_times``, ``intervals``...).

    A timescale (``times_ephysClock``) means another clock: then it is False.
    """
    if timescale:
        return False
    return attribute in ("times", "intervals") or attribute.endswith(("_times", "_intervals"))
