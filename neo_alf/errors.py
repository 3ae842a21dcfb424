"""Every error neo-alf raises about ALF data: one hierarchy, one message shape.

Each error names the file (or files) involved and the ALF rule that was broken, so
that a user who meets it on a session of thousands of files knows where to look.
All of them derive from :class:`AlfError`, itself a :class:`ValueError`, so code
that already catches ``ValueError`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike

__all__ = [
    "AlfAmbiguousError",
    "AlfDependencyError",
    "AlfDimensionError",
    "AlfDownloadError",
    "AlfDuplicateError",
    "AlfError",
    "AlfFormatError",
    "AlfHashError",
    "AlfMetadataError",
    "AlfNameError",
    "AlfNotFoundError",
    "AlfPathError",
    "AlfRelationError",
    "AlfWarning",
]


def _as_paths(paths: str | PathLike | Iterable[str | PathLike] | None) -> tuple[str, ...]:
    if paths is None:
        return ()
    if isinstance(paths, (str, PathLike)):
        return (str(paths),)
    return tuple(str(p) for p in paths)


class AlfError(ValueError):
    """Base class: some ALF data or name breaks a rule.

    Parameters
    ----------
    message : str
        What is wrong, in one sentence.
    paths : str, path-like or iterable of them, optional
        The file(s) or folder(s) concerned; they lead the message.
    rule : str, optional
        The ALF rule that was broken, quoted at the end of the message.

    Attributes
    ----------
    paths : tuple of str
        The files named by the error.
    rule : str or None
        The rule broken.
    """

    def __init__(self, message: str, paths=None, rule: str | None = None):
        self.paths = _as_paths(paths)
        self.rule = rule
        self.detail = message
        text = message
        if self.paths:
            text = f"{', '.join(self.paths)}: {text}"
        if rule:
            text = f"{text} (rule: {rule})"
        super().__init__(text)


class AlfNameError(AlfError):
    """A file or folder name does not follow the ALF naming convention."""


class AlfPathError(AlfNameError):
    """A path leaves the folder it must stay in (``..``, absolute paths, symlinks out)."""


class AlfFormatError(AlfError):
    """A file's content cannot be read as its extension says (truncated, empty, pickled ...)."""


class AlfMetadataError(AlfFormatError):
    """A ``*.metadata.json`` file is missing, invalid, or disagrees with its data file."""


class AlfDuplicateError(AlfError):
    """One dataset is stored twice (two data file types, or a part with and without an archive id)."""


class AlfDimensionError(AlfError):
    """Array shapes break a rule: rows that differ within an object, ``intervals`` without 2 columns."""


class AlfRelationError(AlfError):
    """A relation attribute (``spikes.clusters``) holds indices that are not rows of its target object."""


class AlfNotFoundError(AlfError, LookupError):
    """The object, dataset, collection or session asked for does not exist."""


class AlfAmbiguousError(AlfError, LookupError):
    """A request matches several things (an object in several collections) and must be narrowed."""


class AlfDependencyError(AlfError, ImportError):
    """An optional dependency is needed for this file type or feature; the message names the extra."""


class AlfDownloadError(AlfError):
    """A file could not be fetched from an ALF file server (404, repeated 5xx, connection lost)."""


class AlfHashError(AlfDownloadError):
    """A fetched file's size or md5 is not the one the datasets table gives."""


class AlfWarning(UserWarning):
    """A dataset or object breaks a rule and was left out (tolerant mode); the rest stands.

    Raised as :class:`AlfError` instead when a reader is opened with ``strict=True``. The
    warning's message is the error's: it names the file(s) and the rule.

    Attributes
    ----------
    error : AlfError or None
        The problem that was tolerated.
    """

    def __init__(self, message: str, error: AlfError | None = None):
        super().__init__(message)
        self.error = error
