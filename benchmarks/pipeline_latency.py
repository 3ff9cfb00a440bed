"""Per-photo time of the inference pipeline (detect, crop, model, paste) on a 1-megapixel portrait.

    python benchmarks/pipeline_latency.py [--task parsing] [--repeats 20] [--threads 2]

The photo is skimage's astronaut enlarged to 1024 x 1024. Each backend runs `repeats` times after two
warm-up calls; the table gives the median of each step and of the total, in milliseconds. Run it on a
quiet machine: ratios between rows hold within one run, absolute numbers depend on the load.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from PIL import Image

from portrait_edge.pipelines import load_pipeline
from portrait_edge.train.visualize import real_portraits

STEPS = ("detect", "crop", "model", "paste", "total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="parsing")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    photo = np.asarray(Image.fromarray(real_portraits()["astronaut"]).resize((1024, 1024), Image.Resampling.BICUBIC))
    print(f"{args.task}, {photo.shape[1]}x{photo.shape[0]} photo, {args.threads} threads, median of {args.repeats}")
    print("| backend | " + " | ".join(STEPS) + " |")
    print("|---|" + "---:|" * len(STEPS))
    for backend, precision in (("torch", "fp32"), ("litert", "fp32"), ("litert", "int8"), ("executorch", "int8")):
        pipe = load_pipeline(args.task, backend=backend, precision=precision, threads=args.threads)
        for _ in range(2):
            pipe(photo)
        runs = [pipe(photo).timings_ms for _ in range(args.repeats)]
        medians = [statistics.median(run[step] for run in runs) for step in STEPS]
        print(f"| {backend} {precision} | " + " | ".join(f"{m:.1f}" for m in medians) + " |")


if __name__ == "__main__":
    main()
