"""CelebAMask-HQ: 30,000 1024x1024 faces with per-part 512x512 masks merged into 19-class label maps.

Layout (as published):
    root/CelebA-HQ-img/{i}.jpg                                   i = 0 .. 29999
    root/CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png  part = skin, nose, ..., cloth
A face has a file only for the parts it shows. The parts are merged in the order of
portrait_edge.labels.CELEBAMASK_HQ_CLASSES (class id = position): iterating that order, every pixel
where a part's mask is non-zero gets the part's id, so later classes overwrite earlier ones (as the
dataset's own merge script does). Pixels in no part are background (0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from portrait_edge.data.readers.base import (DatasetReader, Sample, read_mask, require_folder, resize_image,
                                             resize_nearest)
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.io import read_image
from portrait_edge.labels import CELEBAMASK_HQ_CLASSES

IMAGE_DIR = "CelebA-HQ-img"
MASK_DIR = "CelebAMask-HQ-mask-anno"
FACES_PER_MASK_FOLDER = 2000
LAYOUT = f"{IMAGE_DIR}/{{i}}.jpg and {MASK_DIR}/{{i // 2000}}/{{i:05d}}_{{part}}.png"


class CelebAMaskHQ(DatasetReader):
    """Samples {"image": size x size x 3 uint8, "labels": size x size int64 (19 classes)}.

    size: both are resized to size x size (image with Lanczos, labels nearest-neighbour); the default
    512 is the masks' own resolution. indices: restrict to these face numbers (e.g. a split).
    """

    name = "celebamask_hq"

    def __init__(self, root: str | Path, size: int = 512, indices: list[int] | None = None) -> None:
        super().__init__(root)
        require_folder(self.root, "a CelebAMask-HQ folder", LAYOUT)
        self.image_dir, self.mask_dir = self.root / IMAGE_DIR, self.root / MASK_DIR
        if not self.image_dir.is_dir() or not self.mask_dir.is_dir():
            raise PortraitEdgeError(f"{self.root}: does not look like CelebAMask-HQ "
                                    f"(expected {IMAGE_DIR}/ and {MASK_DIR}/ inside it: {LAYOUT})")
        if size < 1:
            raise PortraitEdgeError(f"CelebAMask-HQ size must be positive, got {size}")
        self.size = int(size)
        available = sorted(int(p.stem) for p in self.image_dir.glob("*.jpg") if p.stem.isdigit())
        if indices is not None:
            wanted = [int(i) for i in indices]
            missing = sorted(set(wanted) - set(available))
            if missing:
                raise PortraitEdgeError(f"{self.image_dir}: no image for face(s) {missing[:5]}")
            available = wanted
        if not available:
            raise PortraitEdgeError(f"{self.image_dir}: no images named like 0.jpg, 1.jpg, ... ({LAYOUT})")
        self.faces = available
        self.ids = [str(i) for i in available]
        if not self.part_paths(self.faces[0]):
            raise PortraitEdgeError(f"{self.root}: no part masks for face {self.faces[0]} "
                                    f"(expected e.g. {self._mask_path(self.faces[0], 'skin')})")

    def _mask_path(self, face: int, part: str) -> Path:
        return self.mask_dir / str(face // FACES_PER_MASK_FOLDER) / f"{face:05d}_{part}.png"

    def part_paths(self, face: int) -> dict[int, Path]:
        """Class id -> mask file, for the parts this face has (in merge order)."""
        found = {}
        for class_id, part in enumerate(CELEBAMASK_HQ_CLASSES[1:], start=1):
            path = self._mask_path(face, part)
            if path.is_file():
                found[class_id] = path
        return found

    def labels(self, face: int) -> np.ndarray:
        """The merged label map at the masks' own resolution (HxW int64)."""
        parts = self.part_paths(face)
        if not parts:
            raise PortraitEdgeError(f"{self.mask_dir}: no part masks for face {face} "
                                    f"(expected e.g. {self._mask_path(face, 'skin').name})")
        labels = None
        for class_id, path in parts.items():
            mask = read_mask(path)
            if labels is None:
                labels = np.zeros(mask.shape, dtype=np.int64)
            elif mask.shape != labels.shape:
                raise PortraitEdgeError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]}, but this face's "
                                        f"other masks are {labels.shape[1]}x{labels.shape[0]}")
            labels[mask] = class_id
        return labels

    def load(self, index: int) -> Sample:
        face = self.faces[index]
        image = read_image(self.image_dir / f"{face}.jpg")
        return {"image": resize_image(image, self.size), "labels": resize_nearest(self.labels(face), self.size)}
