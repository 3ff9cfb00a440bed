"""Contact sheet of the normals network and relighting on real photos: per row the photo, its normal
map, and the photo relit from the left, from the right and from above in warm light.

    python benchmarks/relight_examples.py --checkpoint CKPT [--role teacher] [--pool POOL --n 3] --out sheet.png

Rows: the portraits that ship with scikit-image and matplotlib, then the first N validation photos of a
real-portrait pool (sources that may train normals only). Each tile is 256 px high.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from portrait_edge.pipelines import load_pipeline
from portrait_edge.pipelines.outputs import normal_map_image
from portrait_edge.relight import relight, result_region
from portrait_edge.train.visualize import real_portraits

LIGHTS = ((-70.0, 10.0, (1.0, 1.0, 1.0)), (70.0, 10.0, (1.0, 1.0, 1.0)), (0.0, 60.0, (1.0, 0.85, 0.65)))


def tile(image: np.ndarray, height: int = 256) -> np.ndarray:
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--role", default="teacher")
    parser.add_argument("--pool")
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    pipe = load_pipeline("normals", role=args.role, checkpoint=args.checkpoint)
    photos = list(real_portraits().values())
    if args.pool:
        from portrait_edge.data.pool import Pool

        pool = Pool(args.pool, task="normals", split="val")
        photos += [pool.image(i, 512 if 512 in pool.summary["sizes"] else 256) for i in range(min(args.n, len(pool)))]
    rows = []
    for photo in photos:
        result = pipe(photo)
        normal_map = normal_map_image(result.normals, result.mask)
        mask = result_region(result, *photo.shape[:2])
        relit = [relight(photo, result.normals, mask, az, el, colour) for az, el, colour in LIGHTS]
        rows.append(np.concatenate([tile(x) for x in (photo, normal_map, *relit)], axis=1))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    Image.fromarray(sheet).save(args.out, optimize=True)
    print(f"wrote {args.out}: {len(rows)} photos | normals | relit from the left, the right, above (warm)")


if __name__ == "__main__":
    main()
