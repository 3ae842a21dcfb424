"""Neo IO layer: :class:`AlfIO`."""
