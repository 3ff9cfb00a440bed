"""`portrait-edge verify`: run every converted file in its real runtime and compare with the PyTorch student."""

from __future__ import annotations

import argparse

from portrait_edge.edge.cli_common import add_task_arguments, job_from_args, quiet_libraries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Runs each .pte (executorch.runtime) and .tflite (ai_edge_litert Interpreter) on the task's "
                     "synthetic test split: fp32 files must match the student (label agreement >= 99.9% or PSNR >= "
                     "60 dB), quantized files report the metric and its drop against the recipe's tolerance. Core ML "
                     "files: the saved program is checked and the compression simulated in torch (macOS also runs "
                     "predict()). Writes <build-dir>/<task>/verify.json; exit status 1 when a check fails.\n"
                     "Example: portrait-edge verify --task parsing")
    add_task_arguments(parser, teacher=True)
    parser.add_argument("--samples", type=int, metavar="N", help="test samples (default: the recipe's test.samples)")


def run(args: argparse.Namespace) -> int:
    quiet_libraries()
    from portrait_edge.errors import PortraitEdgeError

    if args.samples is not None and args.samples < 1:
        raise PortraitEdgeError("--samples must be at least 1")
    job = job_from_args(args)
    result = job.verify(samples=args.samples)
    failed = [r["variant"] for r in result["rows"] if r.get("passed") is False]
    print(f"{job.task.id}: {'all checks passed' if not failed else 'FAILED: ' + ', '.join(failed)} "
          f"({result['test_samples']} samples; {job.dir / 'verify.json'})")
    return 1 if failed else 0
