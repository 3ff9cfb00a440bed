"""`portrait-edge bench`: params, MACs, size, peak memory and latency of teacher, student and every file."""

from __future__ import annotations

import argparse

from portrait_edge.edge.cli_common import add_task_arguments, job_from_args, quiet_libraries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Times the fp32 teacher and student in PyTorch eager and every .pte and .tflite in one run, "
                     "interleaved so the ratios hold on a busy machine (batch 1, warm-up, median of repeated runs, "
                     "per thread count), measures peak memory in a fresh process per variant and achieved GFLOP/s "
                     "against this CPU's estimated peak. Writes <build-dir>/<task>/bench.json.\n"
                     "Example: portrait-edge bench --task parsing --threads 1 2")
    add_task_arguments(parser, teacher=True)
    parser.add_argument("--threads", type=int, nargs="+", metavar="N", help="thread counts (default: the recipe's, 1 2)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-variant peak-memory processes")


def run(args: argparse.Namespace) -> int:
    quiet_libraries()
    from portrait_edge.errors import PortraitEdgeError

    if args.threads and any(t < 1 for t in args.threads):
        raise PortraitEdgeError("--threads must be positive")
    job = job_from_args(args)
    result = job.bench(threads=tuple(args.threads) if args.threads else None, memory=not args.no_memory)
    print(f"{job.task.id}: load average {result['load_average_before']} -> {result['load_average_after']}; "
          f"{job.dir / 'bench.json'}")
    for row in result["rows"]:
        latency = ", ".join(f"{t} thr {v['median_ms']:.2f} ms" for t, v in row["latency"].items()) or "no latency here"
        print(f"  {row['variant']:<22} {latency}")
    return 0
