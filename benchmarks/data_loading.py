"""Training-loop throughput with and without the background batch prefetch, in one run.

    python benchmarks/data_loading.py RECIPE [--steps 40]

Trains RECIPE for `steps` steps twice into temporary folders (same seed, same batches): once with
batches loaded in the loop (the default) and once with `prefetch: true` (the next step's batch loads in
a thread while the step trains). Prints the seconds per step of each (after the first 5 steps).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import portrait_edge.train.trainer as trainer_module
from portrait_edge.train.recipe import load_recipe


def seconds_per_step(recipe_path: str, steps: int, prefetch: bool) -> float:
    recipe = load_recipe(recipe_path, {"steps": steps, "eval.every": 0, "eval.n": 0, "checkpoint_every": 10_000,
                                       "prefetch": prefetch})
    trainer = trainer_module.Trainer(recipe, tempfile.mkdtemp(prefix="prefetch-bench-"), show_progress=False)
    stamps = []
    original = trainer._train_step

    def timed(batch):
        out = original(batch)
        stamps.append(time.perf_counter())
        return out

    trainer._train_step = timed
    trainer.run()
    return (stamps[-1] - stamps[4]) / (len(stamps) - 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    in_loop = seconds_per_step(args.recipe, args.steps, False)
    with_thread = seconds_per_step(args.recipe, args.steps, True)
    print(f"{args.recipe}, {args.steps} steps: prefetching {with_thread:.3f} s/step, in the loop {in_loop:.3f} s/step "
          f"({in_loop / with_thread:.2f}x)")


if __name__ == "__main__":
    main()
