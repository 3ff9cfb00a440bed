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


def add_model_arguments(parser: argparse.ArgumentParser, task: str = "the task's") -> None:
    """--role, --backend, --precision, --checkpoint, --model-file: which model a pipeline runs
    (portrait_edge.pipelines.load_pipeline)."""
    from portrait_edge.pipelines.models import BACKENDS, ROLES

    parser.add_argument("--role", choices=ROLES, default="student", help="teacher or student (default student)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="torch (the checkpoint), or the bundled phone file in litert / executorch")
    parser.add_argument("--precision", default="fp32", help="fp32 (default), fp16 (litert), int8 (litert, executorch)")
    parser.add_argument("--checkpoint", help=f"{task} checkpoint instead of the shipped weights (backend torch)")
    parser.add_argument("--model-file", help="a .tflite / .pte instead of the bundled one")
