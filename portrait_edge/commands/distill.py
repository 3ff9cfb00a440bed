"""`portrait-edge distill --recipe RECIPE`: distil a student from a trained teacher checkpoint.

The recipe's distill.teacher names the teacher; the loss mixes ground truth, output distillation (KL
with temperature for label maps, L1 for images and normals) and 1x1-adapted feature distillation.
Same options as `train`.
"""

from __future__ import annotations

import argparse

from portrait_edge.commands import train as train_command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    train_command.add_arguments(parser)
    parser.add_argument("--teacher", metavar="PATH", default=None,
                        help="teacher checkpoint (.safetensors with its .json card); overrides distill.teacher")


def run(args: argparse.Namespace) -> int:
    if args.teacher:
        args.overrides = [*args.overrides, ("distill.teacher", args.teacher)]
    return train_command.run_recipe(args, require_teacher=True)
