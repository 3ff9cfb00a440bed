"""What every real-dataset reader shares: the Sequence interface, folder checks, file matching, resizing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from portrait_edge.errors import PortraitEdgeError

IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"})
Sample = dict[str, np.ndarray]


class DatasetReader(Sequence):
    """A dataset on disk as a sequence of samples.

    `reader[i]` returns a dict of numpy arrays, always with "image" (HxWx3 uint8 RGB) and, depending
    on the dataset, "labels" (HxW int64 class ids), "target" (HxWx3 uint8), "mask" (HxW float32 in
    [0, 1]), "normals" (HxWx3 float32 unit vectors), "albedo" (HxWx3 float32). `reader.ids[i]` names
    sample i (a file stem or a folder name) and `reader.name` the dataset kind.
    """

    name: str = "dataset"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.ids: list[str] = []

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        return self.load(self._index(index))

    def load(self, index: int) -> Sample:
        raise NotImplementedError

    def _index(self, index: int) -> int:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} indices must be integers, not {type(index).__name__}")
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"{self.name} index {index} out of range (0..{size - 1})")
        return int(index) % size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, samples={len(self)})"


def require_folder(root: Path, what: str, expected: str) -> None:
    """Raise a one-line error unless root is a folder."""
    if not root.exists():
        raise PortraitEdgeError(f"{root}: no such folder (expected {what}: {expected})")
    if not root.is_dir():
        raise PortraitEdgeError(f"{root}: not a folder (expected {what}: {expected})")


def natural_key(text: str) -> tuple:
    """Sort key that orders '2' before '10' (numbers compared as numbers)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


def images_by_stem(folder: Path) -> dict[str, Path]:
    """Image files directly in folder, keyed by file stem; two images with one stem is an error."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        if path.stem in found:
            raise PortraitEdgeError(f"{folder}: two images share the name {path.stem!r} "
                                    f"({found[path.stem].name} and {path.name}); keep one")
        found[path.stem] = path
    return found


def describe_missing(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """HxWx3 uint8 -> size x size (Lanczos, antialiased when shrinking); unchanged if already that size."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))


def resize_nearest(array: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of the first two axes to size x size, or to (height, width) (labels,
    masks): no new values appear."""
    out_h, out_w = (size, size) if isinstance(size, int) else size
    height, width = array.shape[:2]
    if height == out_h and width == out_w:
        return array
    rows = np.minimum(((np.arange(out_h) + 0.5) * height / out_h).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * width / out_w).astype(np.int64), width - 1)
    return np.ascontiguousarray(array[rows][:, cols])


def resize_float(array: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an HxW or HxWxC float32 array to size x size (area-like when shrinking)."""
    height, width = array.shape[:2]
    if height == size and width == size:
        return array
    channels = array[..., None] if array.ndim == 2 else array
    out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(channels[..., c], dtype=np.float32), "F")
                               .resize((size, size), Image.Resampling.BILINEAR))
                    for c in range(channels.shape[2])], axis=-1)
    return out[..., 0] if array.ndim == 2 else out


def read_mask(path: Path, min_side: int = 1) -> np.ndarray:
    """A mask image -> HxW bool: True where any channel is non-zero (0/255 grayscale, RGB or palette PNGs)."""
    from portrait_edge.io import read_image

    return read_image(path, min_side=min_side).any(axis=2)
