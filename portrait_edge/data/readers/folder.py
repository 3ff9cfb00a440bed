"""A plain folder of portraits: every readable image in it (optionally in its subfolders)."""

from __future__ import annotations

import warnings
from pathlib import Path

from portrait_edge.data.readers.base import IMAGE_SUFFIXES, DatasetReader, Sample, natural_key, require_folder, resize_image
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.io import DEFAULT_MAX_PIXELS, probe_image, read_image


class PortraitFolder(DatasetReader):
    """Samples {"image": HxWx3 uint8} for every image file (.jpg .jpeg .png .webp .tif .tiff) in root.

    Files are sorted by relative path (numbers compared as numbers). Unreadable ones (not an image,
    empty, too small, too large, unsupported) are skipped with one warning and listed in `skipped`
    as (path, reason). The check reads headers only; pass full_check=True to decode every file up
    front and also skip corrupt or truncated ones. Hidden files and other suffixes are ignored.
    size: resize to size x size.
    """

    name = "folder"

    def __init__(self, root: str | Path, recursive: bool = False, size: int | None = None, min_side: int = 16,
                 max_pixels: int = DEFAULT_MAX_PIXELS, full_check: bool = False) -> None:
        super().__init__(root)
        require_folder(self.root, "a folder of portraits", "image files (.jpg, .png, .webp, .tif)")
        self.size, self.min_side, self.max_pixels = size, min_side, max_pixels
        pattern = self.root.rglob("*") if recursive else self.root.iterdir()
        candidates = sorted((p for p in pattern
                             if p.suffix.lower() in IMAGE_SUFFIXES and not _hidden(p.relative_to(self.root))),
                            key=lambda p: natural_key(p.relative_to(self.root).as_posix()))
        self.paths: list[Path] = []
        self.skipped: list[tuple[Path, str]] = []
        for path in candidates:
            try:
                if full_check:
                    read_image(path, max_pixels=max_pixels, min_side=min_side)
                else:
                    probe_image(path, max_pixels=max_pixels, min_side=min_side)
            except PortraitEdgeError as error:
                self.skipped.append((path, str(error)))
                continue
            self.paths.append(path)
        if self.skipped:
            warnings.warn(f"{self.root}: skipped {len(self.skipped)} unreadable image file(s), "
                          f"first: {self.skipped[0][1]}", stacklevel=2)
        if not self.paths:
            raise PortraitEdgeError(f"{self.root}: no readable images (looked for "
                                    f"{', '.join(sorted(IMAGE_SUFFIXES))}{' in subfolders too' if recursive else ''}; "
                                    f"{len(self.skipped)} unreadable)")
        self.ids = [p.relative_to(self.root).with_suffix("").as_posix() for p in self.paths]

    def load(self, index: int) -> Sample:
        image = read_image(self.paths[index], max_pixels=self.max_pixels, min_side=self.min_side)
        return {"image": resize_image(image, self.size) if self.size is not None else image}


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
