"""Make Neo's IO discovery aware of AlfIO.

``neo.io.get_io`` only knows the IOs Neo ships. :func:`register` adds :class:`AlfIO` to
``neo.io.iolist`` and, for each ALF data extension, to the *end* of ``neo.io.io_by_extension``:
Neo's own IOs are still tried first (a Phy folder stays a Phy folder), and AlfIO refuses a
folder without ALF datasets, so ``get_io`` moves on.
"""

from __future__ import annotations

__all__ = ["ALF_EXTENSIONS", "register"]

ALF_EXTENSIONS = ("npy", "bin", "tsv", "csv", "ssv", "json", "pqt")


def register() -> bool:
    """Register :class:`~neo_alf.io.AlfIO` with ``neo.io``; True when it was not registered yet.

    Examples
    --------
    >>> import neo, neo_alf.io
    >>> neo_alf.io.register()
    >>> reader = neo.io.get_io("/data/cortexlab/Subjects/KS023/2024-03-15/001")
    """
    import neo.io

    from .alfio import AlfIO

    added = AlfIO not in neo.io.iolist
    if added:
        neo.io.iolist.append(AlfIO)
    for ext in ALF_EXTENSIONS:
        candidates = neo.io.io_by_extension.setdefault(ext, [])
        if AlfIO not in candidates:
            candidates.append(AlfIO)
    return added
