"""Benchmark of the synthetic portrait engine: speed and realism (MediaPipe Face Mesh as the judge).

    .venv/bin/python benchmarks/bench_synth.py                      # speed + 200 renders for realism
    .venv/bin/python benchmarks/bench_synth.py --realism 400 --threads 2 --device cpu
    .venv/bin/python benchmarks/bench_synth.py --realism 0 --workers 2 --threads 1

Speed: samples/s at --size for the base scene (one render with all ground truth) and for each task's
pair builder, batches of --batch, wall clock with --threads torch threads, plus CPU seconds per sample
(less sensitive to other processes on a shared machine; the load average is printed too).
With --workers W, each batch is split into W contiguous index ranges (first_index) rendered by W
processes with --threads torch threads each and concatenated; before timing, the concatenation is
checked against the same batch rendered in this process (max float difference, differing labels).
Realism: renders with yaw uniform in [-30, 30] deg (other scene parameters as sampled); Face Mesh
(portrait_edge.data.landmarks.detect_landmarks) must find a face, and landmark_error (mean 2D distance
over the 468 landmarks / distance between the eye centres) measures how far its landmarks are from the
engine's own.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time

import numpy as np
import torch


def _timed(fn, repeats: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) per call, after one warm-up call."""
    fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats


def bench_speed(size: int, batch: int, repeats: int, device: str) -> None:
    from portrait_edge.data.pairs import TASK_IDS, make_pairs
    from portrait_edge.data.synth import render_batch

    counter = iter(range(10**6))
    wall, cpu = _timed(lambda: render_batch(batch, next(counter), size, device), repeats)
    print(f"speed  base scene (render_batch)   {batch / wall:6.1f} samples/s   {cpu / batch * 1000:6.0f} ms CPU/sample")
    for task in TASK_IDS:
        wall, cpu = _timed(lambda: make_pairs(task, batch, next(counter), size, device), repeats)
        print(f"speed  make_pairs({task!r:16}) {batch / wall:6.1f} samples/s   {cpu / batch * 1000:6.0f} ms CPU/sample")


# --- several worker processes, each rendering a contiguous index range of the batch ---------------

def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _render_part(job: tuple) -> tuple:
    """(task or None, n, seed, size, device, first_index) -> (render or pairs, CPU seconds it took)."""
    from portrait_edge.data.pairs import make_pairs
    from portrait_edge.data.synth import render_batch

    task, n, seed, size, device, first = job
    cpu = time.process_time()
    if task is None:
        out = render_batch(n, seed, size, device, first_index=first)
    else:
        out = make_pairs(task, n, seed, size, device, first_index=first)
    return out, time.process_time() - cpu


def _concat(parts: list):
    """Concatenate dataclasses of batched tensors (Render or Batch; dict fields key by key) along dim 0."""
    def cat(values):
        if isinstance(values[0], dict):
            return {k: cat([v[k] for v in values]) for k in values[0]}
        return torch.cat(values, 0)
    return dataclasses.replace(parts[0], **{f.name: cat([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(parts[0])})


def _render_parallel(pool, workers: int, task: str | None, n: int, seed: int, size: int, device: str) -> tuple:
    """The batch (task, n, seed) rendered by `workers` processes -> (result, worker CPU seconds)."""
    bounds = [round(n * k / workers) for k in range(workers + 1)]
    jobs = [(task, bounds[k + 1] - bounds[k], seed, size, device, bounds[k]) for k in range(workers) if bounds[k + 1] > bounds[k]]
    results = pool.map(_render_part, jobs)
    return _concat([r for r, _ in results]), sum(c for _, c in results)


def _differences(a, b) -> tuple[float, int]:
    """(max abs difference over float tensors, count of differing elements over integer tensors)."""
    worst, differing = 0.0, 0
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        pairs = [(x[k], y[k]) for k in x] if isinstance(x, dict) else [(x, y)]
        for u, v in pairs:
            if u.dtype.is_floating_point:
                worst = max(worst, float((u - v).abs().max()))
            else:
                differing += int((u != v).sum())
    return worst, differing


def bench_speed_workers(size: int, batch: int, repeats: int, device: str, workers: int, threads: int) -> None:
    import torch.multiprocessing as mp

    from portrait_edge.data.pairs import TASK_IDS, make_pairs
    from portrait_edge.data.synth import render_batch

    with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(threads,)) as pool:
        for task in (None, *TASK_IDS):
            name = "base scene (render_batch)  " if task is None else f"make_pairs({task!r:16})"
            reference = render_batch(batch, 7, size, device) if task is None else make_pairs(task, batch, 7, size, device)
            combined, _ = _render_parallel(pool, workers, task, batch, 7, size, device)
            worst, differing = _differences(reference, combined)
            seeds = iter(range(10**6))
            _render_parallel(pool, workers, task, batch, next(seeds), size, device)  # warm-up
            wall, cpu = time.perf_counter(), 0.0
            for _ in range(repeats):
                cpu += _render_parallel(pool, workers, task, batch, next(seeds), size, device)[1]
            wall = (time.perf_counter() - wall) / repeats
            print(f"speed  {name} {batch / wall:6.1f} samples/s   {cpu / repeats / batch * 1000:6.0f} ms CPU/sample in workers"
                  f"   (vs one process: max float diff {worst:.2g}, differing integer elements {differing})")


def bench_realism(count: int, size: int, seed: int, device: str) -> None:
    from portrait_edge.data.landmarks import NoFaceError, detect_landmarks, landmark_error
    from portrait_edge.data.synth import render_batch

    rng = np.random.default_rng(seed)
    yaws = rng.uniform(-math.radians(30), math.radians(30), count)
    errors, found_yaws, missed = [], [], 0
    for start in range(0, count, 16):
        k = min(16, count - start)
        render = render_batch(k, seed + start, size, device, overrides={"yaw": yaws[start:start + k]})
        images = (render.image.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
        for i in range(k):
            try:
                found = detect_landmarks(images[i])
            except NoFaceError:
                missed += 1
                continue
            errors.append(landmark_error(found, render.landmarks[i].cpu().numpy()))
            found_yaws.append(math.degrees(yaws[start + i]))
    errors, found_yaws = np.array(errors), np.array(found_yaws)
    print(f"realism  renders {count} at {size}px, yaw uniform [-30, 30] deg, seed {seed}")
    print(f"realism  Face Mesh found a face on {len(errors)}/{count} = {len(errors) / count:.1%}")
    print(f"realism  landmark error / eye-centre distance: mean {errors.mean():.4f}  median {np.median(errors):.4f}  "
          f"p90 {np.quantile(errors, 0.9):.4f}  share below 0.05: {np.mean(errors < 0.05):.1%}")
    for low, high in ((-30, -15), (-15, 0), (0, 15), (15, 30)):
        m = (found_yaws >= low) & (found_yaws < high)
        if m.any():
            print(f"realism    yaw {low:+d}..{high:+d} deg: mean {errors[m].mean():.4f} (n={int(m.sum())})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (per worker with --workers)")
    parser.add_argument("--workers", type=int, default=0, help="render each batch in this many processes (0 = in this one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--realism", type=int, default=200, help="renders judged by Face Mesh (0 = skip)")
    parser.add_argument("--seed", type=int, default=20_000_000)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workers = f", {args.workers} worker processes" if args.workers else ""
    print(f"torch {torch.__version__}, {args.threads} threads{workers}, device {args.device}, load average "
          f"{os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    if not args.skip_speed and args.workers:
        bench_speed_workers(args.size, args.batch, args.repeats, args.device, args.workers, args.threads)
    elif not args.skip_speed:
        bench_speed(args.size, args.batch, args.repeats, args.device)
    if args.realism:
        bench_realism(args.realism, args.size, args.seed, args.device)


if __name__ == "__main__":
    main()
