"""`portrait-edge prepare INPUT OUTPUT`: read a photo the way every network reads it, write it as RGB.

OUTPUT must not be INPUT itself (by any spelling: relative, through a symlink or a hard link): the
original is never overwritten.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from portrait_edge.commands import positive_int
from portrait_edge.errors import PortraitEdgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="photo to read (JPEG, PNG, WebP or TIFF)")
    parser.add_argument("output", metavar="OUTPUT",
                        help="where to write the 8-bit RGB result; the format follows the suffix "
                             "(.png, .jpg, .jpeg, .webp, .tif, .tiff). Never INPUT itself")
    parser.add_argument("--max-side", type=positive_int, default=None, metavar="N",
                        help="shrink (never enlarge) so the longer side is at most N pixels, keeping the aspect ratio")
    parser.add_argument("--max-pixels", type=positive_int, default=None, metavar="N",
                        help="refuse inputs with more than N pixels (default 64,000,000); the only size limit")


def resize_to_max_side(image, max_side: int):
    """Downsize HxWx3 uint8 so its longer side is at most max_side (Lanczos); smaller images are returned as is."""
    import numpy as np
    from PIL import Image

    height, width = image.shape[:2]
    longer = max(height, width)
    if longer <= max_side:
        return image
    scale = max_side / longer
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def check_not_the_input(source: Path, output: Path) -> None:
    """Refuse an OUTPUT that is the INPUT file: same resolved path, or the same file on disk."""
    same = source.resolve() == output.resolve()
    if not same and output.exists() and source.exists():
        same = os.path.samefile(source, output)  # hard links, case-insensitive file systems
    if same:
        raise PortraitEdgeError(f"{output}: is the input file {source} itself; refusing to overwrite the "
                                "original (choose another OUTPUT)")


def run(args: argparse.Namespace) -> int:
    from portrait_edge.io import DEFAULT_MAX_PIXELS, WRITE_FORMATS, read_image, write_image

    source, output = Path(args.input), Path(args.output)
    if output.is_dir():
        raise PortraitEdgeError(f"{output}: is a folder; OUTPUT must be a file name, e.g. "
                                f"{output / (source.stem + '_prepared.png')}")
    check_not_the_input(source, output)
    if output.suffix.lower() not in WRITE_FORMATS:  # fail before the (possibly slow) decode
        raise PortraitEdgeError(f"{output}: unknown image suffix {output.suffix or '(none)'!r} "
                                f"(use one of {', '.join(sorted(WRITE_FORMATS))})")
    image = read_image(source, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS)
    if args.max_side is not None:
        image = resize_to_max_side(image, args.max_side)
    write_image(output, image)
    height, width = image.shape[:2]
    print(f"{output} {width}x{height}")
    return 0
