"""`portrait-edge export`: a student checkpoint -> .pte (ExecuTorch), .tflite (LiteRT), .mlpackage (Core ML)."""

from __future__ import annotations

import argparse

from portrait_edge.edge.cli_common import add_task_arguments, job_from_args, quiet_libraries

FORMATS = ("executorch", "litert", "coreml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Writes every variant of convert/<task>.yaml into <build-dir>/<task>/ with export.json "
                     "(sha256, I/O layout, shapes, int8 scale/zero point): ExecuTorch fp32/int8 (XNNPACK), LiteRT "
                     "fp32/fp16/int8 (NHWC I/O), Core ML fp16/int8w/pal6.\n"
                     "Example: portrait-edge export --task parsing --formats litert,executorch")
    add_task_arguments(parser)
    parser.add_argument("--formats", metavar="LIST", help=f"comma-separated subset of {','.join(FORMATS)} (default: the recipe's)")
    parser.add_argument("--qat", choices=["never", "over_tolerance", "always"],
                        help="quantization-aware fine-tuning policy for int8 (default: the recipe's)")


def parse_formats(text: str | None) -> tuple[str, ...] | None:
    from portrait_edge.errors import PortraitEdgeError

    if not text:
        return None
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise PortraitEdgeError(f"unknown format {unknown[0]!r} (known: {', '.join(FORMATS)})")
    return formats


def run(args: argparse.Namespace) -> int:
    quiet_libraries()
    formats = parse_formats(args.formats)
    job = job_from_args(args)
    manifest = job.export(formats=formats, qat=args.qat, rebuild=True)
    print(f"{len(manifest['variants'])} files in {job.dir}; details in {job.dir / 'export.json'}")
    return 0
