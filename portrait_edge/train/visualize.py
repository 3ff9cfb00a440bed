"""Pictures of what a parsing model predicts: colour overlays of label maps on real portraits.

    python -m portrait_edge.train.visualize --checkpoint portrait_edge/weights/parsing_teacher.safetensors \
        --checkpoint portrait_edge/weights/parsing_student.safetensors --out docs/images

writes <out>/parsing_real_<portrait>.png: per portrait, the input and one overlay per checkpoint. The
portraits are the real photos that ship inside installed packages (skimage's astronaut, matplotlib's
grace_hopper.jpg), framed by portrait_edge.framing and resized to the model's resolution.

    python -m portrait_edge.train.visualize --pool POOL --n 8 --checkpoint A --checkpoint B --out docs/images

writes <out>/parsing_pool_val.png instead: rows = the first N validation photos of a real-portrait pool
(people never trained on), columns = photo, then one overlay per checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from portrait_edge.labels import PALETTE, colourise, overlay  # noqa: F401  (re-exported)


def real_portraits() -> dict[str, np.ndarray]:
    """name -> HxWx3 uint8 RGB, from packages that are installed (missing ones are left out)."""
    portraits = {}
    try:
        from skimage import data

        portraits["astronaut"] = data.astronaut()
    except ImportError:
        pass
    try:
        from matplotlib import cbook

        from portrait_edge.io import read_image

        portraits["grace_hopper"] = read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except (ImportError, OSError, ValueError):
        pass
    return portraits


def prepare(image: np.ndarray, size: int) -> np.ndarray:
    """The face framed as every model sees it (portrait_edge.framing, Face Mesh landmarks)."""
    from portrait_edge import framing
    from portrait_edge.data.pool import find_landmarks

    crop, _ = framing.crop(image, framing.face_square(find_landmarks(image)), size)
    return crop


@torch.no_grad()
def predict_labels(model: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    return model(x).argmax(1)[0].numpy()


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from portrait_edge.train.checkpoint import load_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", required=True, help="parsing checkpoint (repeatable)")
    parser.add_argument("--out", default="docs/images")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pool", default=None, help="draw validation photos of this real-portrait pool instead")
    parser.add_argument("--n", type=int, default=8, help="photos from --pool (default 8)")
    args = parser.parse_args(argv)
    models = [load_model(path) for path in args.checkpoint]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.pool:
        from portrait_edge.data.readers.pool import PoolReader

        reader = PoolReader(args.pool, size=args.size, split="val", task="parsing")
        rows = []
        for i in range(min(args.n, len(reader))):
            image = reader[i]["image"]
            rows.append(np.concatenate([image] + [overlay(image, predict_labels(m, image)) for m, _ in models], axis=1))
        target = out / "parsing_pool_val.png"
        Image.fromarray(np.concatenate(rows, axis=0)).save(target)
        print(f"{target}: {len(rows)} val photos: input | " + " | ".join(str(p) for p in args.checkpoint))
        return 0
    for name, photo in real_portraits().items():
        image = prepare(photo, args.size)
        panels = [image] + [overlay(image, predict_labels(model, image)) for model, _ in models]
        sheet = np.concatenate(panels, axis=1)
        target = out / f"parsing_real_{name}.png"
        Image.fromarray(sheet).save(target)
        print(f"{target}: input | " + " | ".join(f"{card['role']} ({card['arch']})" for _, card in models))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
