"""ExecuTorch vs LiteRT on the same student, interleaved in one process (one noisy machine: ratios in one run).

    python benchmarks/runtime_ratio.py --task parsing --threads 1 2

Runs the fp32 and int8 files that `make run` left in build/edge/<task>/ round-robin (warm-up, then 40
rounds, one invoke of each file per round, input already set; portrait_edge.edge.bench.time_variants) and prints the medians and the ExecuTorch /
LiteRT int8 ratio per thread count. `portrait-edge bench` measures each variant in turn instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--build-dir", default="build/edge")
    args = parser.parse_args()

    from portrait_edge.edge.bench import time_variants
    from portrait_edge.edge.runtimes import ExecuTorchRunner, LiteRTRunner, set_executorch_threads

    folder = Path(args.build_dir) / args.task
    for threads in args.threads:
        set_executorch_threads(threads)
        runners = {f"executorch {p}": ExecuTorchRunner(folder / f"{args.task}_student_{p}.pte") for p in ("fp32", "int8")}
        runners.update({f"litert {p}": LiteRTRunner(folder / f"{args.task}_student_{p}.tflite", threads=threads)
                        for p in ("fp32", "int8")})
        sample = torch.rand(*runners["executorch fp32"].input_shape)
        # one invoke of each file per round: max_seconds never caps the `rounds` runs
        timings = time_variants(runners, sample, warmup=5, repeats=args.rounds, max_seconds=1e9, rounds=args.rounds)
        median = {name: timing["median_ms"] for name, timing in timings.items()}
        cells = ", ".join(f"{name} {ms:.2f} ms" for name, ms in median.items())
        print(f"{args.task}, {threads} thread(s): {cells}; ExecuTorch / LiteRT int8 = "
              f"{median['executorch int8'] / median['litert int8']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
