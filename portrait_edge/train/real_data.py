"""Real datasets (portrait_edge.data.readers) as task batches, for training and evaluation.

A reader yields dicts of numpy arrays ("image" HxWx3 uint8 always; "labels", "target", "mask",
"normals" depending on the dataset). A TaskSpec may define `batch_from_samples(samples, size) -> Batch`
to say how its inputs and target are made from them; without it, tasks whose only input is the RGB
image are handled here: label-map tasks take "labels" as target, image tasks take "target".
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from portrait_edge.errors import NotAvailableError, PortraitEdgeError
from portrait_edge.tasks.base import Batch, TaskSpec


def reader_kind(name: str) -> str:
    """'celebamask-hq' and 'celebamask_hq' both name the CelebAMask-HQ reader."""
    return name.replace("-", "_").lower()


def open_dataset(reader: str, root: str, size: int, options: dict | None = None):
    from portrait_edge.data.readers import open_reader

    options = dict(options or {})
    try:
        return open_reader(reader_kind(reader), root, size=size, **options)
    except TypeError:  # readers without a size option (resized per sample below)
        return open_reader(reader_kind(reader), root, **options)


def _resize_image(array: np.ndarray, size: int) -> np.ndarray:
    from portrait_edge.data.readers.base import resize_image

    return resize_image(array, size)


def batch_from_samples(task: TaskSpec, samples: list[dict[str, np.ndarray]], size: int) -> Batch:
    custom = getattr(task, "batch_from_samples", None)
    if callable(custom):
        return custom(samples, size)
    if task.in_channels != 3 or task.inputs[0].kind != "rgb":
        raise NotAvailableError(f"task {task.id!r} has no real-dataset adapter (its inputs are "
                                f"{', '.join(g.name for g in task.inputs)}; it needs TaskSpec.batch_from_samples)")
    from portrait_edge.data.readers.base import resize_nearest

    images = np.stack([_resize_image(s["image"], size) for s in samples]).astype(np.float32) / 255
    inputs = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    if task.output.kind == "logits":
        if "labels" not in samples[0]:
            raise PortraitEdgeError(f"this dataset has no label maps, which task {task.id!r} needs")
        target = torch.from_numpy(np.stack([resize_nearest(s["labels"], size) for s in samples])).long()
    else:
        if "target" not in samples[0]:
            raise PortraitEdgeError(f"this dataset has no target images, which task {task.id!r} needs")
        targets = np.stack([_resize_image(s["target"], size) for s in samples]).astype(np.float32) / 255
        target = torch.from_numpy(targets).permute(0, 3, 1, 2).contiguous()
    extras = {}
    if "mask" in samples[0]:
        extras["mask"] = torch.from_numpy(np.stack([resize_nearest(s["mask"], size) for s in samples])).float()
    for name in sorted(k for k in samples[0] if k.endswith("_mask")):  # soft masks: face_mask, shadow_mask, ...
        masks = torch.from_numpy(np.stack([np.asarray(s[name], np.float32) for s in samples]))[:, None]
        if masks.shape[-2:] != (size, size):
            masks = torch.nn.functional.interpolate(masks, size=(size, size), mode="bilinear", align_corners=False)
        extras[name] = masks
    return Batch(inputs, target, extras)


def reader_batches(task: TaskSpec, reader: str, root: str, size: int, batch_size: int,
                   limit: int | None = None, options: dict | None = None) -> Iterable[Batch]:
    dataset = open_dataset(reader, root, size, options)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for start in range(0, count, batch_size):
        yield batch_from_samples(task, [dataset[i] for i in range(start, min(count, start + batch_size))], size)

