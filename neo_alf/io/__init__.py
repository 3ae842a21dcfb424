"""Neo IO layer: :class:`AlfIO`, and :func:`register` to make ``neo.io`` aware of it."""

from .alfio import AlfIO
from .registry import register

__all__ = ["AlfIO", "register"]
