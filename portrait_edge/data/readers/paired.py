"""Paired before/after folders (FFHQR, AutoRetouch and similar retouching datasets).

Layout: root/<before>/NAME.ext and root/<after>/NAME.ext, matched by file stem (the extensions may
differ). Accepted folder-name pairs, tried in this order: source/target, before/after,
input/retouched, original/edited (also input/output and raw/retouched). Every image must have its
partner unless strict=False, which skips (and counts) the unpaired ones.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from portrait_edge.data.readers.base import (DatasetReader, Sample, describe_missing, images_by_stem, natural_key,
                                             require_folder, resize_image)
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.io import read_image

FOLDER_PAIRS: tuple[tuple[str, str], ...] = (
    ("source", "target"), ("before", "after"), ("input", "retouched"), ("original", "edited"),
    ("input", "output"), ("raw", "retouched"),
)


def find_folder_pair(root: Path) -> tuple[Path, Path]:
    for before, after in FOLDER_PAIRS:
        if (root / before).is_dir() and (root / after).is_dir():
            return root / before, root / after
    names = ", ".join(f"{b}/+{a}/" for b, a in FOLDER_PAIRS)
    raise PortraitEdgeError(f"{root}: does not look like a paired before/after dataset (expected one of: {names})")


def match_pairs(sources: dict[str, Path], targets: dict[str, Path], source_dir: Path, target_dir: Path,
                strict: bool) -> list[str]:
    """Stems present on both sides, naturally sorted; unmatched ones raise (strict) or warn."""
    only_source = sorted(set(sources) - set(targets), key=natural_key)
    only_target = sorted(set(targets) - set(sources), key=natural_key)
    if only_source or only_target:
        problems = []
        if only_source:
            problems.append(f"{len(only_source)} in {source_dir.name}/ without a partner in {target_dir.name}/ "
                            f"({describe_missing(only_source)})")
        if only_target:
            problems.append(f"{len(only_target)} in {target_dir.name}/ without a partner in {source_dir.name}/ "
                            f"({describe_missing(only_target)})")
        message = f"{source_dir.parent}: unpaired images: " + "; ".join(problems)
        if strict:
            raise PortraitEdgeError(message)
        warnings.warn(message + " (skipped)", stacklevel=3)
    stems = sorted(set(sources) & set(targets), key=natural_key)
    if not stems:
        raise PortraitEdgeError(f"{source_dir.parent}: no image pairs (matched by file name) in "
                                f"{source_dir.name}/ and {target_dir.name}/")
    return stems


class PairedFolders(DatasetReader):
    """Samples {"image": before, "target": after}, both HxWx3 uint8 of the same size.

    size: resize both to size x size (Lanczos); None keeps the files' size (they must then agree).
    """

    name = "paired"

    def __init__(self, root: str | Path, size: int | None = None, strict: bool = True) -> None:
        super().__init__(root)
        require_folder(self.root, "a paired dataset folder", "source/ and target/ (or before/after, ...)")
        self.source_dir, self.target_dir = find_folder_pair(self.root)
        self.size = size
        sources, targets = images_by_stem(self.source_dir), images_by_stem(self.target_dir)
        self.ids = match_pairs(sources, targets, self.source_dir, self.target_dir, strict)
        self.pairs = [(sources[s], targets[s]) for s in self.ids]

    def load(self, index: int) -> Sample:
        source_path, target_path = self.pairs[index]
        return load_pair(source_path, target_path, self.size)


def load_pair(source_path: Path, target_path: Path, size: int | None) -> Sample:
    image, target = read_image(source_path), read_image(target_path)
    if size is not None:
        image, target = resize_image(image, size), resize_image(target, size)
    elif image.shape != target.shape:
        raise PortraitEdgeError(f"{target_path}: is {target.shape[1]}x{target.shape[0]} but its source "
                                f"{source_path.name} is {image.shape[1]}x{image.shape[0]} (pass a size to resize both)")
    return {"image": np.ascontiguousarray(image), "target": np.ascontiguousarray(target)}
