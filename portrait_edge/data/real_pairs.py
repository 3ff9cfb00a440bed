"""Training pairs made from real photos of the pool, and `portrait-edge pool preview` sheets.

- parsing: the framed crop and its pseudo-label (portrait_edge.data.pseudo_labels), ignored pixels
  shown dark blue.
Other tasks' real-photo pairs (the seed-000 shadow composite, blemish composites) are not built yet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from portrait_edge.errors import NotAvailableError, PortraitEdgeError

IGNORE_COLOUR = np.array([40, 40, 160], np.uint8)


def label_overlay(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Class colours over the photo; IGNORE pixels dark blue."""
    from portrait_edge.data.pseudo_labels import IGNORE
    from portrait_edge.train.visualize import overlay

    out = overlay(image, np.where(labels == IGNORE, 0, labels))
    ignored = labels == IGNORE
    out[ignored] = (out[ignored] * 0.35 + IGNORE_COLOUR * 0.65).astype(np.uint8)
    return out


def preview_sheet(pool_dir: str | Path, task: str, out: str | Path, n: int = 8, split: str = "val",
                  labels: str = "pseudo") -> Path:
    from PIL import Image

    from portrait_edge.atomic import atomic_path
    from portrait_edge.data.readers.pool import PoolReader

    if task != "parsing":
        raise NotAvailableError(f"pool preview for {task!r}: real-photo pairs exist only for parsing so far")
    reader = PoolReader(pool_dir, split=split, labels=labels, task=task)
    rows = []
    for i in range(min(n, len(reader))):
        sample = reader[i]
        rows.append(np.concatenate([sample["image"], label_overlay(sample["image"], sample["labels"])], axis=1))
    if not rows:
        raise PortraitEdgeError(f"pool {pool_dir} has no {split} photos with labels {labels!r}")
    sheet = np.concatenate(rows, axis=0)
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise PortraitEdgeError(f"--out must be a .png file, not {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        Image.fromarray(sheet).save(temp, format="PNG")
    return out
