"""The data a conversion sees: calibration inputs, quantization-aware fine-tuning batches, the test split.

All of it comes from the synthetic portrait engine, one sample per seed (as training and `eval` draw
it), from disjoint seed ranges:

    test split      portrait_edge.data.pairs.TEST_SEED_BASE + i   (the same split `eval` reports on)
    calibration     recipe.calibration.seed + i
    QAT fine-tuning recipe.qat.seed + step * batch + i

Training uses data_seed * 10_000_000 + i and validation 900_000_000 + i (portrait_edge.train.data);
the recipes put calibration and QAT seeds at 950_000_000 and above, away from both.
"""

from __future__ import annotations

from typing import Iterator

import torch

from portrait_edge.tasks.base import Batch, TaskSpec


class TaskData:
    """Batches of one task at one resolution."""

    def __init__(self, task: TaskSpec, size: int) -> None:
        self.task = task
        self.size = size

    def _render(self, seeds: list[int]) -> Batch:
        from portrait_edge.train.data import render_samples

        return render_samples(self.task, seeds, self.size)

    def test_batches(self, samples: int, batch: int) -> list[Batch]:
        from portrait_edge.train.evaluate import test_seed_base

        base = test_seed_base()
        return [self._render(list(range(base + start, base + min(samples, start + batch))))
                for start in range(0, samples, batch)]

    def calibration_inputs(self, samples: int, batch: int, seed: int) -> list[torch.Tensor]:
        return [self._render(list(range(seed + start, seed + min(samples, start + batch)))).inputs
                for start in range(0, samples, batch)]

    def training_stream(self, batch: int, seed: int, crop: int | None = None) -> Iterator[Batch]:
        """Endless batches at this size; with `crop`, random crop x crop windows of them (the deployment
        scale for a fraction of the compute, where a smaller render would shrink the faces)."""
        from portrait_edge.train.data import crop_batch

        step = 0
        while True:
            positions = range(step * batch, (step + 1) * batch)
            rendered = self._render([seed + p for p in positions])
            yield crop_batch(rendered, positions, crop, seed) if crop and crop < self.size else rendered
            step += 1

