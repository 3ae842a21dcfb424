"""neo-alf: ALF sessions (ONE, International Brain Laboratory) for the Neo ecosystem.

Layers, each usable alone:

- :mod:`neo_alf.spec`, :mod:`neo_alf.readers`, :mod:`neo_alf.session`: ALF names, files and
  sessions, and :func:`load_object` / :func:`load_dataset` for plain arrays;
- :class:`neo_alf.rawio.AlfRawIO`: a Neo rawio (dicts and NumPy buffers);
- :class:`neo_alf.io.AlfIO`: a Neo IO (Blocks, SpikeTrains, signals, events, epochs);
- :mod:`neo_alf.one`: experiment ids to session folders, search and download.
"""

from .bunch import AlfBunch
from .errors import (
    AlfAmbiguousError,
    AlfDependencyError,
    AlfDimensionError,
    AlfDuplicateError,
    AlfError,
    AlfFormatError,
    AlfMetadataError,
    AlfNameError,
    AlfNotFoundError,
    AlfPathError,
    AlfRelationError,
    AlfWarning,
)
from .io import AlfIO
from .loaders import load_dataset, load_object
from .rawio import AlfRawIO
from .session import AlfObject, AlfSession, Dataset

__version__ = "0.1.0.dev0"

__all__ = [
    "AlfAmbiguousError",
    "AlfBunch",
    "AlfDependencyError",
    "AlfDimensionError",
    "AlfDuplicateError",
    "AlfError",
    "AlfFormatError",
    "AlfIO",
    "AlfMetadataError",
    "AlfNameError",
    "AlfNotFoundError",
    "AlfObject",
    "AlfPathError",
    "AlfRawIO",
    "AlfRelationError",
    "AlfSession",
    "AlfWarning",
    "Dataset",
    "__version__",
    "load_dataset",
    "load_object",
]
