"""Per-sample training augmentation (recipe `augment`; names in portrait_edge.train.recipe.AUGMENTATIONS).

Photometric changes touch only the RGB channels of the input (the first three; the target of an
image task gets the same change so the pair stays consistent); `flip` goes through the task's
`hflip`, which knows what a mirror means for its target (parsing swaps left and right classes).
- brighten_darken: one gain in [0.6, 1.4] (seed 001's brighten / darken).
- colour: per-channel gains in [0.85, 1.15] and a gamma in [0.7, 1.4] (renders' colour randomisation).
- degrade: with probability 0.5 a 3x3 box blur, then Gaussian noise of sigma in [0, 0.03]
  (camera softness and sensor noise the renders lack). Applied to the input only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from portrait_edge.tasks.base import Batch, TaskSpec


def _uniform(generator: torch.Generator, low: float, high: float, shape=()) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def _rgb_target(task: TaskSpec, batch: Batch) -> bool:
    return batch.target.is_floating_point() and batch.target.dim() == 4 and batch.target.shape[1] == 3 \
        and task.output.kind == "rgb"


def augment_sample(task: TaskSpec, batch: Batch, names: list[str], generator: torch.Generator) -> Batch:
    inputs, target = batch.inputs.clone(), batch.target.clone()
    paired = _rgb_target(task, batch)
    if "brighten_darken" in names:
        gain = _uniform(generator, 0.6, 1.4)
        inputs[:, :3] = (inputs[:, :3] * gain).clamp(0, 1)
        if paired:
            target = (target * gain).clamp(0, 1)
    if "colour" in names:
        gains = _uniform(generator, 0.85, 1.15, (3,)).view(1, 3, 1, 1)
        gamma = float(torch.exp(_uniform(generator, float(torch.log(torch.tensor(0.7))), float(torch.log(torch.tensor(1.4))))))
        inputs[:, :3] = (inputs[:, :3].clamp(0, 1) ** gamma * gains).clamp(0, 1)
        if paired:
            target = (target.clamp(0, 1) ** gamma * gains).clamp(0, 1)
    if "degrade" in names:
        if float(torch.rand((), generator=generator)) < 0.5:
            inputs[:, :3] = F.avg_pool2d(F.pad(inputs[:, :3], (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        sigma = float(_uniform(generator, 0.0, 0.03))
        noise = torch.randn(inputs[:, :3].shape, generator=generator) * sigma
        inputs[:, :3] = (inputs[:, :3] + noise).clamp(0, 1)
    out = Batch(inputs, target, dict(batch.extras))
    if "flip" in names and float(torch.rand((), generator=generator)) < 0.5:
        out = task.hflip(out)
    return out
