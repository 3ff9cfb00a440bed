"""`normals`: camera-space unit normals of a portrait, for relighting (seed 001).

Loss (on the foreground, where the engine's normals are valid; face pixels count FACE_WEIGHT times):
1 - cosine between the normalised prediction and the target, plus L1 between them. Metrics: angular
error (mean, median), share of pixels within 11.25 / 22.5 / 30 degrees, cosine similarity, on the face
(primary: the relighting target) and on the whole foreground. A horizontal flip negates x; the
landmark channels' encoding is mirror-symmetric, so they flip as they are.

Real photos (the pool, `batch_from_samples`) have no normals: their batches carry zero foreground and
face masks, so the ground-truth loss ignores them and only distillation (the teacher's normals on the
photo) trains on them. Photometric-stereo captures (their own normals and validity mask) are real targets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from portrait_edge.tasks import register
from portrait_edge.tasks.base import Batch, ChannelGroup, MetricAccumulator, ModelConfig, TaskSpec

FACE_WEIGHT = 2.0


class NormalsTask(TaskSpec):
    id = "normals"
    title = "Normal map for relighting"
    inputs = (
        ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait, RGB in [0, 1]"),
        ChannelGroup("landmarks", 2, "landmarks", (0.0, 1.0),
                     "Face Mesh landmark channels: region identity and landmark depth (see data.landmarks)"),
    )
    output = ChannelGroup("normals", 3, "normals", (-1.0, 1.0), "camera-space unit normals (x right, y up, z to camera)")
    metric_names = ("angular_error_deg", "median_angular_error_deg", "within_11_25", "within_22_5", "within_30",
                    "cosine_similarity")
    primary_metric = "angular_error_deg"
    higher_is_better = False
    teacher = ModelConfig("unet", {"width": 64})
    student = ModelConfig("mobile_unet", {"width": 16})

    def loss(self, prediction: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        weights = batch.extras["foreground_mask"].float()
        if "face_mask" in batch.extras:
            weights = weights * (1 + (FACE_WEIGHT - 1) * batch.extras["face_mask"].float())
        total = weights.sum().clamp(min=1)
        unit = F.normalize(prediction.float(), dim=1)
        cosine = (unit * batch.target).sum(1, keepdim=True)
        return {"angular": ((1 - cosine) * weights).sum() / total,
                "l1": ((unit - batch.target).abs().sum(1, keepdim=True) * weights).sum() / total}

    def metric_accumulator(self) -> MetricAccumulator:
        return _FaceAndForeground()

    def hflip(self, batch: Batch) -> Batch:
        flipped = super().hflip(batch)
        target = flipped.target.clone()
        target[:, 0] = -target[:, 0]
        return Batch(flipped.inputs, target, flipped.extras)

    def postprocess(self, output: torch.Tensor) -> torch.Tensor:
        return F.normalize(output.float(), dim=1)

    def batch_from_samples(self, samples: list[dict[str, Any]], size: int) -> Batch:
        """Reader samples (image + 478 landmarks in pixels of `size`; optional normals + mask) -> a batch."""
        from portrait_edge.data.landmarks import landmark_channels
        from portrait_edge.data.readers.base import resize_float, resize_image
        from portrait_edge.errors import PortraitEdgeError

        if any("landmarks" not in s for s in samples):
            raise PortraitEdgeError("the normals task needs Face Mesh landmarks with each photo (the pool reader "
                                    "stores them)")
        images = np.stack([resize_image(s["image"], size) for s in samples]).astype(np.float32) / 255
        rgb = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        landmarks = torch.from_numpy(np.stack([np.asarray(s["landmarks"], np.float32)[:468] for s in samples]))
        inputs = torch.cat([rgb, landmark_channels(landmarks, size)], 1)
        target = torch.zeros(len(samples), 3, size, size)
        valid = torch.zeros(len(samples), 1, size, size)
        for i, s in enumerate(samples):
            if "normals" in s:
                target[i] = torch.from_numpy(resize_float(np.asarray(s["normals"], np.float32), size)).permute(2, 0, 1)
                inside = torch.from_numpy(resize_float(np.asarray(s["mask"], np.float32), size) > 0.5)
                valid[i, 0] = inside & (target[i].norm(dim=0) > 0.5)  # masked-out pixels may hold zero normals
        # With measured normals the whole valid area counts as face (the relighting target).
        return Batch(inputs, target, {"foreground_mask": valid, "face_mask": valid.clone(), "landmarks": landmarks})

    def pipeline_inputs(self, image: torch.Tensor, landmarks: np.ndarray, options: dict[str, Any]) -> torch.Tensor:
        from portrait_edge.data.landmarks import landmark_channels

        channels = landmark_channels(torch.as_tensor(np.asarray(landmarks, np.float32))[None, :468], image.shape[-1])
        return torch.cat([image, channels.to(image.dtype)], 1)


class _FaceAndForeground:
    """NormalMetrics on the face (the primary numbers) and on the whole foreground (prefixed fg_)."""

    def __init__(self) -> None:
        from portrait_edge.metrics import NormalMetrics

        self.face, self.foreground = NormalMetrics("face_mask"), NormalMetrics("foreground_mask")

    def update(self, prediction: torch.Tensor, batch: Batch) -> None:
        if "face_mask" in batch.extras:
            self.face.update(prediction, batch)
        self.foreground.update(prediction, batch)

    def compute(self) -> dict[str, float]:
        face = self.face.compute() if self.face.errors else self.foreground.compute()
        return {**face, **{f"fg_{k}": v for k, v in self.foreground.compute().items()}}


register(NormalsTask())
