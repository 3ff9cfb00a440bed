"""`portrait-edge relight`: a new light on a portrait, from its normal map (portrait_edge.relight).

    portrait-edge relight photo.jpg --azimuth 60 --elevation 20 [--color 1,0.9,0.8 --intensity 1.2] --out relit.png

The normals come from the `normals` network through portrait_edge.pipelines (the shipped student, or
--role / --backend / --checkpoint); the photo is relit inside the face (the hull of its Face Mesh
landmarks) where the network finds a surface, and left as it was elsewhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from portrait_edge.errors import PortraitEdgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from portrait_edge.pipelines.models import BACKENDS, ROLES

    parser.epilog = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("image", help="the photo")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--azimuth", type=float, default=45.0, help="degrees: 0 = from the camera, +90 = from the right")
    parser.add_argument("--elevation", type=float, default=15.0, help="degrees: +90 = from above")
    parser.add_argument("--color", default="1,1,1", help="light colour R,G,B (linear, 0..1+; default white)")
    parser.add_argument("--intensity", type=float, default=1.0, help="1 keeps the face's mean brightness")
    parser.add_argument("--ambient", type=float, default=0.6, help="share of the photo's ambient light kept")
    parser.add_argument("--keep", type=float, default=0.0, help="blend of the photo's own shading, 0..1")
    parser.add_argument("--role", choices=ROLES, default="student")
    parser.add_argument("--backend", choices=BACKENDS, default="torch")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--checkpoint", help="a normals checkpoint instead of the shipped weights")


def parse_color(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0:
        raise PortraitEdgeError(f"--color must be three non-negative numbers R,G,B, not {text!r}")
    return values  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from portrait_edge.atomic import atomic_path
    from portrait_edge.io import read_image
    from portrait_edge.pipelines import load_pipeline
    from portrait_edge.relight import relight, result_region

    color = parse_color(args.color)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise PortraitEdgeError(f"--out must be a .png file, not {out}")
    image = read_image(args.image)
    pipe = load_pipeline("normals", role=args.role, backend=args.backend, precision=args.precision,
                         checkpoint=args.checkpoint)
    try:
        result = pipe(image)
    except PortraitEdgeError as error:
        raise PortraitEdgeError(f"{args.image}: {error}") from None
    mask = result_region(result, *image.shape[:2])
    relit = relight(image, result.normals, mask, args.azimuth, args.elevation, color, args.intensity,
                    args.ambient, args.keep)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        Image.fromarray(relit).save(temp, format="PNG")
    print(f"wrote {out} (light from azimuth {args.azimuth:g}, elevation {args.elevation:g} deg; "
          f"normals: {pipe.role} {pipe.backend} {pipe.precision})")
    return 0
