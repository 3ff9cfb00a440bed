"""The one exception type the CLI turns into a one-line message (no traceback)."""


class PortraitEdgeError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class NotAvailableError(PortraitEdgeError):
    """A capability that this install (or this version of the package) does not provide yet."""
