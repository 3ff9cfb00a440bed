"""`facial_shadow`: softens facial self-shadows with a fill light of chosen strength (seed 000).

Pairs (portrait_edge.data.pairs): the engine renders one scene under a harsh key light (hard self-
shadows: nose, eye sockets, the far cheek) and again with a fill light from the other side at strength
s; input = the harsh photo + s as a constant fourth channel, target = the filled photo (s = 0: the
target is the input). The fill strength stays a model input in every exported file, so an app sets
it per photo (`load_pipeline("facial_shadow", fill=0.5)`).

Loss: L1, with face pixels counting FACE_WEIGHT times (the fill light is for the face), plus the
optional perceptual term (ImageToImageTask). Metrics: PSNR and SSIM over the image, PSNR on the face.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from portrait_edge.tasks import register
from portrait_edge.tasks.base import (Batch, ChannelGroup, ImageToImageTask, MetricAccumulator, ModelConfig,
                                      PipelineOption, masked_l1)

FACE_WEIGHT = 2.0
DEFAULT_FILL = 0.5


class FacialShadowTask(ImageToImageTask):
    id = "facial_shadow"
    title = "Facial shadow softening with fill light"
    inputs = (
        ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait under a harsh key light, RGB in [0, 1]"),
        ChannelGroup("fill_strength", 1, "scalar_map", (0.0, 1.0),
                     "fill-light strength, the same value at every pixel (0 = none, 1 = full)"),
    )
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the portrait with the fill light added")
    metric_names = ("psnr", "ssim", "psnr_face")
    teacher = ModelConfig("gridnet", {"width": 32, "correction": "gain"})
    student = ModelConfig("mobile_unet", {"width": 16, "upsample": "bilinear", "residual_input": True,
                                                 "correction": "gain"})
    pipeline_options = {"fill": PipelineOption("fill-light strength (0: no fill light, 1: full)", DEFAULT_FILL, 0.0, 1.0)}

    def loss(self, prediction: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        weights = 1 + (FACE_WEIGHT - 1) * batch.extras["face_mask"].float()
        return {"l1": masked_l1(prediction, batch.target, weights)}

    def metric_accumulator(self) -> MetricAccumulator:
        from portrait_edge.metrics import ImageMetrics

        return ImageMetrics({"psnr_face": ("face_mask", True)})

    def pipeline_inputs(self, image: torch.Tensor, landmarks: np.ndarray, options: dict[str, Any]) -> torch.Tensor:
        strength = self.option_value("fill", options)
        return torch.cat([image, torch.full_like(image[:, :1], strength)], 1)


register(FacialShadowTask())
