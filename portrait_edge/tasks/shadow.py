"""`shadow`: removes foreign shadows cast on a face (GridNet teacher, seed 000).

Pairs: I = I_lit (1 - M) + I_shadow M, from the engine (portrait_edge.data.pairs) and on real pool
photos (portrait_edge.data.real_pairs.shadow_composites; reader option pairs=shadow). The target is
the shadow-free photo, which equals the input wherever the soft shadow mask M is 0.

Loss: L1 over the image, plus L1 inside the shadow (weighted by M, normalised by M's area, times
SHADOW_WEIGHT), so a network cannot score well by leaving shadows alone (most pixels are unshadowed);
plus, with loss.perceptual, a feature loss through a frozen backbone (portrait_edge.train.perceptual).
Metrics: PSNR and SSIM over the image, inside the shadow (M > 0.5), and PSNR on the face.
"""

from __future__ import annotations

import numpy as np
import torch

from portrait_edge.tasks import register
from portrait_edge.tasks.base import Batch, ChannelGroup, ImageToImageTask, MetricAccumulator, ModelConfig, masked_l1

RGB = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait with a foreign shadow, RGB in [0, 1]")
SHADOW_WEIGHT = 2.0


class ShadowTask(ImageToImageTask):
    id = "shadow"
    title = "Foreign shadow removal"
    inputs = (RGB,)
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the portrait without the shadow, RGB in [0, 1]")
    metric_names = ("psnr", "ssim", "psnr_shadow", "ssim_shadow", "psnr_face")
    teacher = ModelConfig("gridnet", {"width": 32})
    student = ModelConfig("mobile_unet", {"width": 16, "upsample": "bilinear", "residual_input": True})
    synthesizes = "a shadow"

    def loss(self, prediction: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        ones = torch.ones_like(batch.target[:, :1])
        return {"l1": masked_l1(prediction, batch.target, ones),
                "l1_shadow": SHADOW_WEIGHT * masked_l1(prediction, batch.target, batch.extras["shadow_mask"].float())}

    def metric_accumulator(self) -> MetricAccumulator:
        from portrait_edge.metrics import ImageMetrics

        return ImageMetrics({"psnr_shadow": ("shadow_mask", True), "ssim_shadow": ("shadow_mask", True),
                             "psnr_face": ("face_mask", True)})

    def synthesize(self, image: np.ndarray, landmarks: np.ndarray, seed: int) -> np.ndarray:
        from portrait_edge.data.real_pairs import draw_shadow

        return draw_shadow(image, landmarks, seed)[0]


register(ShadowTask())
