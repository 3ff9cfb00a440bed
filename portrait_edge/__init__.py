"""portrait-edge: distil, quantize, convert and verify portrait-editing networks for phones."""

__version__ = "0.1.0"
