"""Neo raw IO layer: :class:`AlfRawIO`."""

from .alfrawio import AlfRawIO, IrregularSignal

__all__ = ["AlfRawIO", "IrregularSignal"]
