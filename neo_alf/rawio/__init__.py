"""Neo raw IO layer: :class:`AlfRawIO`."""

from .alfrawio import AlfRawIO

__all__ = ["AlfRawIO"]
