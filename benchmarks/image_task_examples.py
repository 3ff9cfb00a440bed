"""Contact sheet of an image task's networks (shadow, facial_shadow, retouch) on real photos, through
portrait_edge.pipelines.

    python benchmarks/image_task_examples.py --task shadow --pool POOL --photos 2,22 --composites 3 --out sheet.jpg
    python benchmarks/image_task_examples.py --task facial_shadow --pool POOL --photos 634,487 --out sheet.jpg
    python benchmarks/image_task_examples.py --task retouch --pool POOL --photos 62,15 --composites 3 --out sheet.jpg

Rows: pool validation photos by index (people never trained on; pick ones with real shadows or
blemishes), the portraits that ship with scikit-image and matplotlib, and the first N validation photos
with the task's own input drawn on them (TaskSpec.synthesize: a shadow, blemishes; seed = row + 1).
Columns: photo | teacher | student (fp32) | student LiteRT int8 (| the photo before the drawing); for
`facial_shadow`: photo | teacher at fill 0.5 and 1 | student at fill 0.5 and 1 | LiteRT int8 at 1.
Each tile is 256 px high (--zoom crops every tile to the face box first, for small edits such as
blemishes); a row's PSNR against the original (drawn rows) is printed.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from portrait_edge.train.visualize import real_portraits


def tile(image: np.ndarray, height: int = 256) -> np.ndarray:
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=("shadow", "facial_shadow", "retouch"), required=True)
    parser.add_argument("--pool", default=None)
    parser.add_argument("--photos", default="", help="comma-separated pool validation indices")
    parser.add_argument("--composites", type=int, default=0,
                        help="validation photos with the task's input drawn on them (shadow, retouch)")
    parser.add_argument("--zoom", action="store_true", help="crop every tile to the face box (+ 15%%)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from portrait_edge.data.landmarks import find_faces
    from portrait_edge.data.pool import Pool
    from portrait_edge.pipelines import load_pipeline
    from portrait_edge.space import _psnr
    from portrait_edge.tasks import get_task

    task = get_task(args.task)

    photos: list[tuple[np.ndarray, np.ndarray | None]] = []
    pool = Pool(args.pool, split="val", task=args.task) if args.pool else None
    for index in [int(i) for i in args.photos.split(",") if i]:
        photos.append((pool.image(index, 256), None))
    photos += [(image, None) for image in real_portraits().values()]
    for row in range(args.composites):
        clean = pool.image(row, 256)
        photos.append((task.synthesize(clean, find_faces(clean, max_faces=1)[0], row + 1), clean))

    if args.task != "facial_shadow":
        runs = [(load_pipeline(args.task, role="teacher"), {}), (load_pipeline(args.task), {}),
                (load_pipeline(args.task, backend="litert", precision="int8"), {})]
    else:
        teacher, student = load_pipeline("facial_shadow", role="teacher"), load_pipeline("facial_shadow")
        int8 = load_pipeline("facial_shadow", backend="litert", precision="int8")
        runs = [(teacher, {"fill": 0.5}), (teacher, {"fill": 1.0}), (student, {"fill": 0.5}), (student, {"fill": 1.0}),
                (int8, {"fill": 1.0})]
    rows = []
    for image, original in photos:
        outputs = [pipe(image, **options) for pipe, options in runs]
        results = [o.image for o in outputs]
        row = [image, *results] + ([original] if original is not None else [])
        if args.zoom:  # the face box of the first result, grown by 15% on each side
            x0, y0, x1, y1 = outputs[0].face_box
            grow = 0.15 * max(x1 - x0, y1 - y0)
            top, bottom = max(0, int(y0 - grow)), min(image.shape[0], int(y1 + grow))
            left, right = max(0, int(x0 - grow)), min(image.shape[1], int(x1 + grow))
            row = [t[top:bottom, left:right] for t in row]
        if original is not None:
            print("psnr vs the original: input {:.2f} | ".format(_psnr(image, original))
                  + " | ".join(f"{_psnr(r, original):.2f}" for r in results))
        rows.append(np.concatenate([tile(t) for t in row], axis=1))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    Image.fromarray(sheet).save(args.out, quality=88)
    print(f"wrote {args.out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
