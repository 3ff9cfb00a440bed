"""Contact sheets of the maskedit networks on real photos (people never trained on).

    python benchmarks/maskedit_examples.py --pool /work/pools/real-sub --labels parsed --n 4 \
        --out docs/images/maskedit_real.jpg CKPT [CKPT ...]

Sheet 1 (--out): pool validation photos whose mask is swapped with another validation photo's (the
reader's maskedit pairs): photo | its mask | the target mask | each checkpoint's output at 128 px | the
photo the target mask belongs to. Each output's mask fidelity (parsing teacher mIoU vs the target) is printed.
Sheet 2 (<out stem>_edits.jpg): edits through portrait_edge.pipelines on whole photos (the shipped
student, or --checkpoint-for-edits): glasses on, the mouth and the hair of another face, that face's hair
style copied; rows: the packaged portraits and --edit-photos pool validation indices.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def tile(image: np.ndarray, height: int = 192) -> np.ndarray:
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def swapped_sheet(args, models) -> np.ndarray:
    from portrait_edge.data.readers import open_reader
    from portrait_edge.labels import colourise
    from portrait_edge.tasks import get_task
    from portrait_edge.tasks.maskedit import mask_fidelity

    task = get_task("maskedit")
    reader = open_reader("pool", args.pool, split="val", task="maskedit", labels=args.labels, pairs="maskedit",
                         size=task.resolution)
    samples = [s for s in (reader[i] for i in range(len(reader))) if bool(s["swapped"])][args.skip:args.skip + args.n]
    batch = task.batch_from_samples(samples, task.resolution)
    rows = []
    for i, sample in enumerate(samples):
        shown = lambda labels: colourise(np.where(labels == 255, 0, labels))  # noqa: E731  (padding as background)
        row = [sample["image"], shown(sample["labels"]), shown(sample["target_labels"])]
        scores = []
        for name, model in models:
            with torch.no_grad():
                out = task.postprocess(model(batch.inputs[i:i + 1]))[0].permute(1, 2, 0).numpy()
            image = (out * 255).round().astype(np.uint8)
            row.append(image)
            scores.append(f"{name} {mask_fidelity(image, sample['target_labels']):.3f}")
        row.append(sample["mask_photo"])
        print(f"row {i}: mask fidelity " + ", ".join(scores))
        rows.append(np.concatenate([tile(t) for t in row], 1))
    return np.concatenate(rows, 0)


def edits_sheet(args) -> np.ndarray:
    from portrait_edge.data.pool import Pool
    from portrait_edge.pipelines import load_pipeline
    from portrait_edge.train.visualize import real_portraits

    role = "student"
    if args.checkpoint_for_edits:
        from portrait_edge.train.checkpoint import load_checkpoint

        role = load_checkpoint(args.checkpoint_for_edits)[1]["role"]
    pipe = load_pipeline("maskedit", role=role, checkpoint=args.checkpoint_for_edits)
    photos = list(real_portraits().values())
    if args.pool and args.edit_photos:
        pool = Pool(args.pool, task="maskedit", split="val")
        photos += [pool.image(int(i), 256) for i in args.edit_photos.split(",")]
    rows = []
    for i, photo in enumerate(photos):
        other = photos[(i + 1) % len(photos)]
        results = [pipe(photo, glasses="on"), pipe(photo, reference=other, change=["mouth", "hair"]),
                   pipe(photo, reference=other, style=["hair"])]
        row = [photo] + [r.image for r in results] + [other]
        rows.append(np.concatenate([tile(t, 256) for t in row], 1))
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows], 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*")
    parser.add_argument("--pool", required=True)
    parser.add_argument("--labels", default="parsed")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--skip", type=int, default=0, help="skip the first swapped validation pairs")
    parser.add_argument("--edit-photos", default="", help="comma-separated pool validation indices for sheet 2")
    parser.add_argument("--checkpoint-for-edits", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from portrait_edge.train.checkpoint import load_model

    torch.set_num_threads(2)
    models = []
    for path in args.checkpoints:
        model, card = load_model(path)
        models.append((f"{card['role']}:{Path(path).stem}", model))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if models:
        Image.fromarray(swapped_sheet(args, models)).save(out, quality=88)
        print(f"wrote {out}")
    edits = out.with_name(out.stem + "_edits" + out.suffix)
    Image.fromarray(edits_sheet(args)).save(edits, quality=88)
    print(f"wrote {edits}")


if __name__ == "__main__":
    main()
