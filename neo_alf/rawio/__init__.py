"""Neo raw IO layer: :class:`AlfRawIO`."""
