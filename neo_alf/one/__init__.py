"""The ONE adapter: experiment ids to session folders, search, download, and resampled timeseries.

See :class:`OneAdapter`. Modules: ``adapter`` (ids, search, loads), ``index`` (the cache tables or a
folder scan), ``checks`` (untrusted table fields), ``download`` (jobs, checks, atomic renames),
``transport`` (one bounded HTTP GET), ``cache`` (public cache tables), ``resample`` (``load_ts``).
"""

from .adapter import SEARCH_TERMS, OneAdapter
from .cache import update_cache
from .download import Downloader
from .index import CacheIndex, session_eid

__all__ = ["SEARCH_TERMS", "CacheIndex", "Downloader", "OneAdapter", "session_eid", "update_cache"]
