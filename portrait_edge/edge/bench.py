"""`bench`: params, MACs, bytes, peak memory and latency of every variant of a task, in one run.

Latency: batch 1 at the recipe's resolution, for each thread count; each variant is warmed up, then
all variants are timed in interleaved rounds (so a burst of load from another process hits them all
alike and the ratios hold), `repeats` runs each (fewer, at least 3, for variants slower than
bench.max_seconds_per_variant allows). Reported: median, p10, p90, min (ms). Only the runtime's own
invoke is timed (input already in place), as a phone app's steady state would be.
Peak memory: a fresh process per variant (portrait_edge.edge.memprobe), peak RSS added by loading and
running the model. GFLOP/s achieved = 2 x MACs / median latency, against this CPU's estimated peak.
The load average before and after is recorded: other work on the machine disturbs the numbers.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from portrait_edge.edge.artifacts import BENCH_JSON, EXPORT_JSON, read_json, write_json_atomic
from portrait_edge.edge.cpu import cpu_peak, load_average
from portrait_edge.edge.models import LoadedModel
from portrait_edge.edge.parity import check_file
from portrait_edge.edge.recipe import EdgeRecipe
from portrait_edge.edge.versions import tool_versions
from portrait_edge.tasks.base import TaskSpec


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(math.ceil(q * len(ordered))) - 1))
    return ordered[index]


def measure_memory(kind: str, path: str, shape: tuple[int, ...], threads: int) -> float | None:
    """Peak MB added by loading + running the model, from a fresh process; None when it fails."""
    command = [sys.executable, "-m", "portrait_edge.edge.memprobe", kind, path,
               "--shape", ",".join(str(v) for v in shape), "--threads", str(threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        return float(json.loads(lines[-1])["peak_mb"]) if done.returncode == 0 and lines else None
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return None


def time_variants(runners: dict[str, Any], sample: torch.Tensor, warmup: int, repeats: int,
                   max_seconds: float, rounds: int = 5) -> dict[str, dict[str, float]]:
    """Each runner warmed up, then timed in `rounds` interleaved rounds (ms: median, p10, p90, min, runs)."""
    plan: dict[str, int] = {}
    for name, runner in runners.items():
        runner.prepare(sample)
        started = time.perf_counter()
        for _ in range(max(1, warmup)):
            runner.invoke_once()
        single = (time.perf_counter() - started) / max(1, warmup)
        plan[name] = max(3, min(repeats, int(max_seconds / max(single, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in runners}
    for round_index in range(rounds):
        for name, runner in runners.items():
            share = math.ceil(plan[name] / rounds)
            for _ in range(share):
                if len(times[name]) >= plan[name]:
                    break
                started = time.perf_counter()
                runner.invoke_once()
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: {"median_ms": round(statistics.median(v), 3), "p10_ms": round(_percentile(v, 0.1), 3),
                   "p90_ms": round(_percentile(v, 0.9), 3), "min_ms": round(min(v), 3), "runs": len(v)}
            for name, v in times.items()}


def bench_task(task: TaskSpec, recipe: EdgeRecipe, task_dir: Path, student: LoadedModel,
               teacher: LoadedModel | None = None, threads: tuple[int, ...] | None = None,
               memory: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Benchmarks teacher + student (PyTorch eager) and every .pte / .tflite; writes bench.json."""
    from portrait_edge.edge.runtimes import ExecuTorchRunner, LiteRTRunner, TorchRunner, set_executorch_threads
    from portrait_edge.nn.stats import count_macs, count_params

    manifest = read_json(task_dir / EXPORT_JSON, "export manifest")
    size = int(manifest["resolution"])
    shape = (1, task.in_channels, size, size)
    threads = tuple(threads or recipe.bench.threads)
    sample = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    load_before = load_average()
    cores = os.cpu_count() or 1
    if load_before and load_before[0] > 0.5 * cores:
        log(f"  note: load average {load_before[0]} on {cores} cores; other work inflates these latencies "
            "(ratios within this run hold better); rerun when the machine is quieter")
    student_params, student_macs = count_params(student.model), count_macs(student.model, shape)
    rows: dict[str, dict[str, Any]] = {}

    def add(name: str, role: str, fmt: str, precision: str, runtime: str, params: int, macs: int,
            bytes_: int | None, file: str | None, source: str | None, kind: str | None) -> None:
        rows[name] = {"variant": name, "role": role, "format": fmt, "precision": precision, "runtime": runtime,
                      "params": params, "macs": macs, "bytes": bytes_, "file": file, "latency": {},
                      "_source": source, "_kind": kind}

    if teacher is not None:
        teacher_bytes = Path(teacher.source).stat().st_size if Path(teacher.source).is_file() else None
        add("teacher_pytorch_fp32", "teacher", "pytorch", "fp32", "pytorch eager", count_params(teacher.model),
            count_macs(teacher.model, shape), teacher_bytes, Path(teacher.source).name, teacher.source, "torch")
    student_bytes = Path(student.source).stat().st_size if Path(student.source).is_file() else None
    add("pytorch_fp32", "student", "pytorch", "fp32", "pytorch eager", student_params, student_macs,
        student_bytes, Path(student.source).name, student.source, "torch")
    for entry in manifest["variants"]:
        path = check_file(task_dir, {**entry, "task": task.id})
        kind = {"executorch": "pte", "litert": "tflite"}.get(entry["format"])
        add(entry["id"], "student", entry["format"], entry["precision"], entry["runtime"], student_params,
            student_macs, entry["bytes"], entry["file"], str(path), kind)

    for count in threads:
        torch.set_num_threads(count)
        set_executorch_threads(count)
        runners: dict[str, Any] = {}
        for name, row in rows.items():
            if row["_kind"] == "torch":
                model = teacher.model if row["role"] == "teacher" else student.model
                runners[name] = TorchRunner(model.eval())
            elif row["_kind"] == "pte":
                runners[name] = ExecuTorchRunner(row["_source"])
            elif row["_kind"] == "tflite":
                runners[name] = LiteRTRunner(row["_source"], count)
        with torch.no_grad():
            timings = time_variants(runners, sample, recipe.bench.warmup, recipe.bench.repeats,
                                     recipe.bench.max_seconds_per_variant)
        for name, timing in timings.items():
            rows[name]["latency"][str(count)] = timing
            timing["gflops"] = round(2 * rows[name]["macs"] / (timing["median_ms"] / 1000) / 1e9, 2)
        log(f"  {count} thread(s): " + ", ".join(f"{n} {t['median_ms']:.2f} ms" for n, t in timings.items()))
        del runners

    peak = cpu_peak()
    for row in rows.values():
        row["peak_memory_mb"] = None
        if memory and row["_kind"] and row["_source"] and Path(row["_source"]).is_file():
            row["peak_memory_mb"] = measure_memory(row["_kind"], row["_source"], shape, max(threads))
        for timing in row["latency"].values():
            timing["fraction_of_peak"] = round(timing["gflops"] / peak["peak_gflops_fp32"], 4) if peak["peak_gflops_fp32"] else None
        if row["format"] == "coreml":
            row["latency_note"] = "Core ML runs only on Apple devices; no latency on this machine"
        row.pop("_source")
        row.pop("_kind")
    result = {
        "task": task.id, "resolution": size, "input_shape": list(shape), "threads": list(threads),
        "load_average_before": load_before, "load_average_after": load_average(),
        "cpu": peak, "versions": tool_versions(),
        "settings": {"warmup": recipe.bench.warmup, "repeats": recipe.bench.repeats,
                     "max_seconds_per_variant": recipe.bench.max_seconds_per_variant,
                     "memory": "peak RSS added by load + 3 runs, fresh process (memprobe)" if memory else "not measured"},
        "rows": list(rows.values()),
    }
    write_json_atomic(task_dir / BENCH_JSON, result)
    return result
