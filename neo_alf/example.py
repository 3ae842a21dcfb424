"""The bundled example session: IBL-shaped, generated on first use into the user cache folder.

Nothing is shipped or downloaded: :mod:`neo_alf.testing` writes the session with a fixed seed
(75 trials of a visual task at five contrasts, wheel, camera, licks, two probes whose units respond
to the stimulus and to movement, a revision, an LFP ``.bin`` with a stimulus-evoked deflection),
about 3 MB, the same bytes on every machine. It is written to a temporary folder and
renamed into place, so a half-written example is never seen.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .testing import make_session

__all__ = ["EXAMPLE_PRESET", "cache_root", "example_root", "example_session"]

EXAMPLE_PRESET = "example"
"""str: the :data:`neo_alf.testing.PRESETS` recipe of the example session."""

_VERSION = "2"  # bump when the example changes: a new folder, old ones left alone


def cache_root() -> Path:
    """Where neo-alf keeps generated data: ``$NEO_ALF_CACHE``, else ``$XDG_CACHE_HOME/neo-alf``,
    else ``~/.cache/neo-alf``."""
    if os.environ.get("NEO_ALF_CACHE"):
        return Path(os.environ["NEO_ALF_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "neo-alf"


def example_session() -> Path:
    """The example session folder, written on first use.

    Returns
    -------
    Path
        ``<cache>/example-v2/cortexlab/Subjects/KS023/2024-03-15/001``.
    """
    root = cache_root() / f"example-v{_VERSION}"
    session = root / "cortexlab/Subjects/KS023/2024-03-15/001"
    if session.is_dir():
        return session
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".example-", dir=root.parent))
    try:
        make_session(tmp, EXAMPLE_PRESET)
        try:
            os.rename(tmp, root)
        except OSError:  # another process won the race: use its copy
            if not session.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return session


def example_root() -> Path:
    """The ONE cache folder that holds the example session (written on first use).

    Give it to :class:`neo_alf.one.OneAdapter` to search and load the example by eid.

    Returns
    -------
    Path
        ``<cache>/example-v2``.
    """
    session = example_session()
    return session.parents[4]  # <root>/<lab>/Subjects/<subject>/<date>/<number>
