"""CLI subcommands: one module each, with add_arguments(parser) and run(args) -> int."""

import argparse


def positive_int(text: str) -> int:
    """argparse type for counts and sizes: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
