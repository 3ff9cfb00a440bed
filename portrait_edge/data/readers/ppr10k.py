"""PPR10K: portrait photo retouching, 1,681 groups of photos of one person, three experts' edits each.

Layout (as published, per split):
    root/source/{group}_{n}.tif      the raw-developed photo (often 16-bit TIFF)
    root/masks/{group}_{n}.png       human-region mask
    root/target_a/{group}_{n}.tif    expert a's retouched version (also target_b, target_c)
Files are matched by stem (extensions may differ); the group id is the part of the stem before the
first '_'. Photos of one group must stay in one split, hence `groups`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from portrait_edge.data.readers.base import (DatasetReader, Sample, describe_missing, images_by_stem, read_mask,
                                             require_folder, resize_nearest)
from portrait_edge.data.readers.paired import load_pair, match_pairs
from portrait_edge.errors import PortraitEdgeError

EXPERTS = ("a", "b", "c")
LAYOUT = "source/, masks/ and target_a/ (or target_b/, target_c/) holding files like 0_0.tif, 0_0.png"


class PPR10K(DatasetReader):
    """Samples {"image": source, "target": expert's edit (HxWx3 uint8), "mask": HxW float32 {0, 1}}.

    expert: 'a', 'b' or 'c'. size: resize everything to size x size (mask nearest-neighbour).
    with_masks: require and load masks/ (False: no "mask" key).
    """

    name = "ppr10k"

    def __init__(self, root: str | Path, expert: str = "a", size: int | None = None, with_masks: bool = True,
                 strict: bool = True) -> None:
        super().__init__(root)
        require_folder(self.root, "a PPR10K split folder", LAYOUT)
        expert = str(expert).lower()
        if expert not in EXPERTS:
            raise PortraitEdgeError(f"PPR10K expert must be one of a, b, c (got {expert!r})")
        self.expert, self.size, self.with_masks = expert, size, with_masks
        self.source_dir, self.target_dir = self.root / "source", self.root / f"target_{expert}"
        self.mask_dir = self.root / "masks"
        needed = [self.source_dir, self.target_dir] + ([self.mask_dir] if with_masks else [])
        absent = [p.name + "/" for p in needed if not p.is_dir()]
        if absent:
            raise PortraitEdgeError(f"{self.root}: does not look like PPR10K (missing {', '.join(absent)}; "
                                    f"expected {LAYOUT})")
        sources, targets = images_by_stem(self.source_dir), images_by_stem(self.target_dir)
        self.ids = match_pairs(sources, targets, self.source_dir, self.target_dir, strict)
        self.pairs = [(sources[s], targets[s]) for s in self.ids]
        self.masks: list[Path] = []
        if with_masks:
            masks = images_by_stem(self.mask_dir)
            unmasked = [s for s in self.ids if s not in masks]
            if unmasked:
                raise PortraitEdgeError(f"{self.mask_dir}: no mask for {len(unmasked)} photo(s) "
                                        f"({describe_missing(unmasked)})")
            self.masks = [masks[s] for s in self.ids]
        self.groups: dict[str, list[int]] = {}
        for index, stem in enumerate(self.ids):
            self.groups.setdefault(group_of(stem), []).append(index)

    def load(self, index: int) -> Sample:
        sample = load_pair(*self.pairs[index], self.size)
        if self.with_masks:
            mask = read_mask(self.masks[index])
            height, width = sample["image"].shape[:2]
            if self.size is not None:
                mask = resize_nearest(mask, self.size)
            else:
                mask = resize_nearest(mask, (height, width))
            sample["mask"] = mask.astype(np.float32)
        return sample


def group_of(stem: str) -> str:
    """The portrait group id of a PPR10K file stem: '12_3' -> '12'."""
    return stem.split("_", 1)[0]

