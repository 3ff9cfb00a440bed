"""The normals network against photometric-stereo captures (seed 001's evaluation).

Each capture (portrait_edge.data.readers.photometric_stereo layout) gives normals by least squares
from its directional photos; the network sees only the centre-lit photo, through the whole inference
pipeline (Face Mesh, framing, model, paste-back), exactly as an app would run it. Errors are measured
where both have a surface: the capture's valid mask and the pipeline's face mask.

    from portrait_edge.pipelines import load_pipeline
    evaluate_captures(load_pipeline("normals"), "captures/")

`render_captures` writes captures in that layout from the synthetic engine (a render as the centre photo,
its albedo and normals lit from LIGHTS by a Lambertian model), to check the harness end to end:
    python -m portrait_edge.photometric_eval --render 8 --out /tmp/captures [--role teacher]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from portrait_edge.metrics import NormalMetrics
from portrait_edge.tasks.base import Batch

# Light directions of rendered captures (camera space: x right, y up, z toward the camera).
LIGHTS = {"left.png": [-0.6, 0.1, 0.8], "right.png": [0.6, 0.1, 0.8], "top.png": [0.0, 0.6, 0.8],
          "bottom.png": [0.0, -0.5, 0.85], "front.png": [0.1, 0.1, 1.0]}


def evaluate_captures(pipeline: Any, root: str | Path) -> dict[str, Any]:
    """Metrics of NormalMetrics over every capture's common pixels, plus per-capture mean errors."""
    from portrait_edge.data.readers import open_reader
    from portrait_edge.pipelines.pipeline import NoFaceInPhotoError

    reader = open_reader("photometric_stereo", root)
    overall, per_capture, skipped = NormalMetrics("mask"), {}, {}
    for index, capture_id in enumerate(reader.ids):
        sample = reader[index]
        try:
            result = pipeline(sample["image"])
        except NoFaceInPhotoError as error:
            skipped[capture_id] = str(error)
            continue
        common = (sample["mask"] > 0.5) & result.mask
        batch = Batch(torch.zeros(1), torch.from_numpy(sample["normals"]).permute(2, 0, 1)[None].float(),
                      {"mask": torch.from_numpy(common.astype(np.float32))[None]})
        prediction = torch.from_numpy(result.normals).permute(2, 0, 1)[None].float()
        overall.update(prediction, batch)
        one = NormalMetrics("mask")
        one.update(prediction, batch)
        per_capture[capture_id] = {"pixels": int(common.sum()), **one.compute()}
    return {"captures": len(per_capture), "pixels": sum(c["pixels"] for c in per_capture.values()),
            **overall.compute(), "per_capture": per_capture, "skipped": skipped}


def _srgb8(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0, 1)
    return (np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055) * 255).round().astype(np.uint8)


def render_captures(out: str | Path, n: int, seed: int = 11, size: int = 256) -> dict[str, np.ndarray]:
    """n captures subject_<i>/ under `out`; returns subject -> the render's exact normals (HxWx3)."""
    import json

    from PIL import Image

    from portrait_edge.data.synth.render import render_batch

    render = render_batch(n, seed=seed, size=size)
    truths = {}
    for i in range(n):
        subject = Path(out) / f"subject_{i}"
        subject.mkdir(parents=True, exist_ok=True)
        albedo, normals = (t[i].permute(1, 2, 0).numpy() for t in (render.albedo, render.normals))
        inside = render.foreground[i, 0].numpy() > 0.5
        Image.fromarray((render.image[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(subject / "center.png")
        for name, direction in LIGHTS.items():
            light = np.asarray(direction) / np.linalg.norm(direction)
            Image.fromarray(_srgb8(0.9 * (np.clip(normals @ light, 0, None) * inside)[..., None] * albedo)).save(subject / name)
        (subject / "lights.json").write_text(json.dumps(LIGHTS))
        truths[subject.name] = normals
    return truths


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from portrait_edge.pipelines import load_pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", help="a folder of captures (photometric_stereo layout)")
    parser.add_argument("--render", type=int, default=0, metavar="N", help="first write N rendered captures to --out")
    parser.add_argument("--out", default=None)
    parser.add_argument("--role", default="student", choices=("teacher", "student"))
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args(argv)
    root = args.captures
    if args.render:
        render_captures(args.out, args.render)
        root = args.out
    metrics = evaluate_captures(load_pipeline("normals", args.role, args.backend, args.precision), root)
    print(json.dumps({k: v for k, v in metrics.items() if k != "per_capture"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
