"""The normals network against photometric-stereo captures (seed 001's evaluation).

Each capture (portrait_edge.data.readers.photometric_stereo layout) gives normals by least squares
from its directional photos; the network sees only the centre-lit photo, through the whole inference
pipeline (Face Mesh, framing, model, paste-back), exactly as an app would run it. Errors are measured
where both have a surface: the capture's valid mask and the pipeline's face mask.

    from portrait_edge.pipelines import load_pipeline
    evaluate_captures(load_pipeline("normals"), "captures/")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from portrait_edge.metrics import NormalMetrics
from portrait_edge.tasks.base import Batch


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
