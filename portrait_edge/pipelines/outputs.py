"""Files `portrait-edge apply` writes for a result, by the kind of the task's output (atomic writes).

- label maps: <stem>.labels.png (8-bit class ids, the value is the class id), <stem>.overlay.png
  (class colours over the photo) and, once per output folder, legend.png;
- images: <stem>.<task>.png, the photo with the edit pasted back;
- normals: <stem>.normals.png (RGB = (n + 1) / 2 with n = (x right, y up, z to camera); 0 outside the
  mask) and <stem>.normals_mask.png.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from portrait_edge.atomic import atomic_path
from portrait_edge.pipelines.pipeline import PipelineResult


def save_png(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    with atomic_path(path) as temp:
        Image.fromarray(array).save(temp, format="PNG")
    return path


def normal_map_image(normals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit normals HxWx3 as the usual colour picture, (n + 1) / 2 as RGB uint8, black where `mask` is off."""
    return np.where(mask[..., None], (normals + 1) / 2 * 255, 0).round().astype(np.uint8)


def write_result(result: PipelineResult, photo: np.ndarray, out_dir: Path, stem: str) -> list[Path]:
    """Writes the files of one result; returns their paths."""
    from portrait_edge.labels import legend, overlay

    out_dir.mkdir(parents=True, exist_ok=True)
    if result.labels is not None:
        written = [save_png(result.labels, out_dir / f"{stem}.labels.png"),
                   save_png(overlay(photo, result.labels), out_dir / f"{stem}.overlay.png")]
        if not (out_dir / "legend.png").is_file():
            written.append(save_png(legend(), out_dir / "legend.png"))
        return written
    if result.image is not None:
        return [save_png(result.image, out_dir / f"{stem}.{result.task}.png")]
    if result.normals is not None:
        return [save_png(normal_map_image(result.normals, result.mask), out_dir / f"{stem}.normals.png"),
                save_png(result.mask.astype(np.uint8) * 255, out_dir / f"{stem}.normals_mask.png")]
    return []
