"""Peak memory of one model in a fresh process: `python -m portrait_edge.edge.memprobe KIND PATH ...`.

Measures VmHWM (peak resident set) after loading the model and running it `runs` times, minus VmRSS
just before loading (after the runtime libraries are imported), with the peak counter reset via
/proc/self/clear_refs. A fresh process keeps one variant's allocations from hiding another's. Prints
one JSON line: {"peak_mb": ..., "baseline_mb": ..., "hwm_mb": ...}. Linux only.
"""

from __future__ import annotations

import argparse
import json
import sys


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["torch", "pte", "tflite"])
    parser.add_argument("path")
    parser.add_argument("--shape", required=True, help="input shape NCHW, e.g. 1,3,256,256")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    from portrait_edge.edge import runtimes

    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    sample = torch.rand(shape)
    if args.kind == "torch":
        from portrait_edge.train.checkpoint import load_model
    elif args.kind == "pte":
        runtimes.set_executorch_threads(args.threads)
        import executorch.runtime  # noqa: F401  (import cost is not the model's)
    else:
        import ai_edge_litert.interpreter  # noqa: F401
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset VmHWM to the current RSS
    baseline = _status_mb("VmRSS")
    if args.kind == "torch":
        runner = runtimes.TorchRunner(load_model(args.path)[0])
    elif args.kind == "pte":
        runner = runtimes.ExecuTorchRunner(args.path)
    else:
        runner = runtimes.LiteRTRunner(args.path, args.threads)
    for _ in range(args.runs):
        runner(sample)
    hwm = _status_mb("VmHWM")
    print(json.dumps({"peak_mb": round(hwm - baseline, 2), "baseline_mb": round(baseline, 2), "hwm_mb": round(hwm, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
