"""`portrait-edge demo`: start the Gradio Space locally (portrait_edge.space)."""

from __future__ import annotations

import argparse

from portrait_edge.errors import NotAvailableError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free one)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")


def run(args: argparse.Namespace) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise NotAvailableError("the demo needs Gradio: `make setup-demo` (pip install -e '.[demo]')") from None
    from portrait_edge.space import launch

    launch(args.host, args.port, args.share)
    return 0
