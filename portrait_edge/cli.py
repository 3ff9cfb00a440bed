"""The `portrait-edge` command line.

Each subcommand lives in its own module, portrait_edge/commands/<name>.py, exposing
`add_arguments(parser)` and `run(args) -> int`. This file only routes, and turns the package's
errors into one-line messages. A subcommand whose module is not in this version is still listed, and
says so when run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from typing import Sequence

from portrait_edge import __version__
from portrait_edge.errors import NotAvailableError, PortraitEdgeError, write_error

# (name, one-line summary, longer description). Order = the order of the pipeline.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("tasks", "list the six networks and their inputs/outputs",
     "Lists every task in the registry: what goes in, what comes out, teacher and student architectures."),
    ("prepare", "read a photo the way every network reads it and write it as RGB",
     "Reads JPEG/PNG/WebP/TIFF, applies EXIF orientation, converts grayscale/RGBA/16-bit/CMYK to 8-bit "
     "RGB, rejects non-images, truncated files and decompression bombs, and writes the result atomically."),
    ("synth", "render synthetic training pairs for a task, plus a contact sheet",
     "Renders N samples of a task's pairs with the built-in synthetic portrait engine."),
    ("pool", "build a pool of framed real portraits, pseudo-label it, preview its pairs",
     "pool build: folders of photos -> framed face crops (shards + manifest), faces found by MediaPipe, "
     "non-faces, grayscale, tiny faces and duplicates rejected. pool label: parsing pseudo-labels. "
     "pool preview: a contact sheet of a task's real-photo pairs."),
    ("train", "train a teacher (or a student from scratch) from a recipe",
     "Trains a model from a recipe in training/ (task, role, architecture, data, steps, optimiser)."),
    ("distill", "distil a student from a trained teacher",
     "Trains a compact student against a teacher checkpoint: output + feature distillation + ground truth."),
    ("eval", "evaluate a checkpoint on the synthetic test split or a real dataset",
     "Reports the task's metrics for a checkpoint on fixed-seed synthetic test data or a real dataset reader."),
    ("quantize", "quantize a student (int8 PT2E, fp16, palettized)",
     "Produces quantized variants of a student checkpoint, calibrated on the task's data."),
    ("export", "convert a student to .pte, .tflite and .mlpackage",
     "Converts a student checkpoint to ExecuTorch, LiteRT and Core ML files per the task's convert/ recipe."),
    ("verify", "prove converted files compute what the PyTorch model computes",
     "Runs every converted file in its real runtime and compares it with the PyTorch student."),
    ("bench", "measure params, MACs, size, memory and latency of every variant",
     "Benchmarks teacher, student and every converted variant in one run so the ratios hold."),
    ("report", "write the quantization accuracy report (markdown, json, plots)",
     "Writes report.md, report.json and PNG plots: float vs quantized metric per runtime, latency, size."),
    ("bundle", "regenerate android_assets/ and ios_assets/",
     "Bundles the converted files with metadata, checksums and usage snippets for phone apps."),
    ("apply", "run a network on your photos (face found, framed, result pasted back)",
     "Runs a task's teacher or student on photos or folders through portrait_edge.pipelines: MediaPipe finds "
     "the face, the shared framing crops it, the model runs in PyTorch or its phone runtime, and the result "
     "is mapped back onto the whole photo."),
    ("edit", "edit a face by its parsing mask: parts from another face, glasses on/off, style copy",
     "Runs the maskedit network: the photo's face and a reference face are parsed, the target mask is built from "
     "the edits asked for (or given), the network renders the photo's appearance in that layout, and the changed "
     "region is pasted back."),
    ("relight", "relight a portrait from its normal map (the normals network)",
     "Estimates the photo's lighting from the face's normals (second-order spherical harmonics), keeps the "
     "albedo, and lights the face again from a chosen direction, colour and intensity."),
    ("demo", "start the Gradio app: teacher vs student side by side",
     "Starts the Gradio Space locally."),
)


def _command_module(name: str):
    """The module implementing a subcommand, or None when this version does not have it."""
    module_name = f"portrait_edge.commands.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portrait-edge",
        description=(
            "Distil, quantize, convert and verify portrait-editing networks for phones.\n"
            "Typical flow: synth -> train -> distill -> eval -> export -> verify -> bench -> report -> bundle."
        ),
        epilog="Run `portrait-edge COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"portrait-edge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary, description in COMMANDS:
        module = _command_module(name)
        if module is None:
            description += "\n\nNot available in this version yet."
        sub = subparsers.add_parser(name, help=summary, description=description,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        if module is not None:
            module.add_arguments(sub)
    return parser


def _interrupted(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    # `kill` (SIGTERM) unwinds like Ctrl-C, so commands remove their staging folders and temp files.
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = _command_module(args.command)
    try:
        if module is None:
            raise NotAvailableError(f"'{args.command}' is not available in this version of portrait-edge yet")
        return int(module.run(args) or 0)
    except NotAvailableError as error:
        _end_progress_bars()
        print(f"portrait-edge {args.command}: not available: {error}", file=sys.stderr)
        return 3
    except PortraitEdgeError as error:
        _end_progress_bars()
        print(f"portrait-edge {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _end_progress_bars()
        print(f"portrait-edge {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # a full or read-only disk is the user's, not a bug
        failure = write_error(getattr(error, "filename", None), error)
        if failure is None:
            return _internal_error(args.command, error)
        _end_progress_bars()
        print(f"portrait-edge {args.command}: error: {failure}", file=sys.stderr)
        return 2
    except Exception as error:
        return _internal_error(args.command, error)


def _end_progress_bars() -> None:
    """Closes bars a failed command left open, so the error starts on a line of its own."""
    try:
        from tqdm import tqdm
    except ImportError:
        return
    for bar in list(getattr(tqdm, "_instances", [])):
        bar.close()


def _internal_error(command: str, error: Exception) -> int:
    """A bug, not bad input: one line unless asked for the traceback."""
    if os.environ.get("PORTRAIT_EDGE_DEBUG"):
        raise error
    _end_progress_bars()
    print(f"portrait-edge {command}: internal error: {type(error).__name__}: {error} "
          "(set PORTRAIT_EDGE_DEBUG=1 for the traceback)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
