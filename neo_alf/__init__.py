"""neo-alf: ALF sessions (ONE, International Brain Laboratory) for the Neo ecosystem.

Layers, each usable alone:

- :mod:`neo_alf.spec`, :mod:`neo_alf.readers`, :mod:`neo_alf.session`: ALF names, files and
  sessions (tables merged, files neo-alf does not read listed), and :func:`load_object` /
  :func:`load_dataset` with ONE-api's shapes;
- :mod:`neo_alf.layout`: the ALF-to-Neo plan of a session, tolerant per object;
  :mod:`neo_alf.spikeglx`: raw SpikeGLX recordings in session time;
- :class:`neo_alf.rawio.AlfRawIO`: a Neo rawio (dicts and NumPy buffers);
- :class:`neo_alf.io.AlfIO`: a Neo IO (Blocks, SpikeTrains, signals, events, epochs);
- :mod:`neo_alf.one`: experiment ids to session folders, search and download, public data.

Around them: :mod:`neo_alf.spikeinterface`, :mod:`neo_alf.nwb`, :mod:`neo_alf.pynapple`,
:mod:`neo_alf.parallel` and :mod:`neo_alf.aggregate` (Dask), :mod:`neo_alf.atlas`.
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
