"""`portrait-edge edit`: mask-guided editing of a photo (the maskedit network, portrait_edge.pipelines.maskedit).

    portrait-edge edit photo.jpg --reference other.jpg --change mouth,hair --out results/
    portrait-edge edit photo.jpg --glasses off --out results/
    portrait-edge edit photo.jpg --reference other.jpg --style hair --out results/
    portrait-edge edit photo.jpg --target-mask edited_mask.png --out results/

Writes <stem>.maskedit.png (the photo with the edit pasted back) and <stem>.masks.png (the source mask,
the target mask and the edited crop, side by side) and <stem>.source_mask.png (8-bit class ids: paint on
it and give it back with --target-mask).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from portrait_edge.commands import add_model_arguments
from portrait_edge.errors import PortraitEdgeError


def _parts(text: str | None) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from portrait_edge.pipelines.maskedit import GLASSES, PARTS

    parser.epilog = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("photo", help="the photo to edit (its largest face)")
    parser.add_argument("--reference", help="another photo: the parts to change or restyle come from its face")
    parser.add_argument("--change", help=f"parts whose shape comes from the reference: {', '.join(p for p in PARTS if p != 'skin')}")
    parser.add_argument("--style", help=f"parts whose colour and texture come from the reference: {', '.join(PARTS)}")
    parser.add_argument("--glasses", choices=GLASSES, help="draw glasses from the eye landmarks, or remove them")
    parser.add_argument("--target-mask", help="a PNG of class ids (the face crop's mask, e.g. an edited <stem>.source_mask.png)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")
    add_model_arguments(parser, 'a maskedit')


def _read_mask(path: str):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise PortraitEdgeError(f"{path}: a target mask is a one-channel PNG of class ids, not a {image.mode} image")
            return np.asarray(image).astype(np.int64)
    except (OSError, UnidentifiedImageError) as error:
        if isinstance(error, FileNotFoundError):
            raise PortraitEdgeError(f"{path} does not exist") from None
        raise PortraitEdgeError(f"{path}: not a readable PNG ({error})") from None


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from portrait_edge.io import read_image
    from portrait_edge.labels import colourise
    from portrait_edge.pipelines import load_pipeline
    from portrait_edge.pipelines.outputs import save_png

    photo = read_image(args.photo)
    reference = read_image(args.reference) if args.reference else None
    target_mask = _read_mask(args.target_mask) if args.target_mask else None
    pipe = load_pipeline("maskedit", role=args.role, backend=args.backend, precision=args.precision,
                         checkpoint=args.checkpoint, model_file=args.model_file)
    result = pipe(photo, reference=reference, change=_parts(args.change), style=_parts(args.style),
                  glasses=args.glasses, target_mask=target_mask)
    out, stem = Path(args.out), Path(args.photo).stem
    out.mkdir(parents=True, exist_ok=True)
    extra = result.extra
    strip = np.concatenate([colourise(extra["source_mask"]), colourise(extra["target_mask"]), extra["edited_crop"]], 1)
    written = [save_png(result.image, out / f"{stem}.maskedit.png"), save_png(strip, out / f"{stem}.masks.png"),
               save_png(extra["source_mask"], out / f"{stem}.source_mask.png")]
    print(f"maskedit ({pipe.role}, {pipe.backend} {pipe.precision}): {', '.join(str(p) for p in written)}")
    return 0
