"""The ONE adapter: experiment ids to session folders, search, download, and resampled timeseries.

See :class:`OneAdapter`. Reading ONE cache tables needs pyarrow (extra ``neo-alf[one]``).
"""

from .adapter import OneAdapter
from .download import Downloader
from .index import CacheIndex, session_eid

__all__ = ["CacheIndex", "Downloader", "OneAdapter", "session_eid"]
