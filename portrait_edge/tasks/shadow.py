"""`shadow`: removes foreign shadows cast on a face (GridNet teacher, seed 000).

Pairs: I = I_lit (1 - M) + I_shadow M, from the engine (portrait_edge.data.pairs) and on real pool
photos (portrait_edge.data.real_pairs.shadow_composites; reader option pairs=shadow). The target is
the shadow-free photo, which equals the input wherever the soft shadow mask M is 0.

Loss: L1 over the image, plus SHADOW_WEIGHT x the squared error weighted by M (both averaged over every
pixel), so a network cannot score well by leaving shadows alone, nor by brightening the whole photo
(normalising the shadow term by M's area made a shadow pixel count ~10 times more than the rest, and
the first teacher learned to change everything); plus, with loss.perceptual, a feature loss through a
frozen backbone (portrait_edge.train.perceptual). Why squared inside the shadow: where a network is
unsure whether a dark patch is a shadow, L1's best answer is the median, "leave it", and teachers
trained with L1 there stayed the identity; the squared error's best answer is the mean, a partial
correction, which is also what PSNR rewards.
Metrics: PSNR and SSIM over the image, inside the shadow (M > 0.5), and PSNR on the face.
"""

from __future__ import annotations

import numpy as np
import torch

from portrait_edge.tasks import register
from portrait_edge.tasks.base import Batch, ChannelGroup, ImageToImageTask, MetricAccumulator, ModelConfig

RGB = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait with a foreign shadow, RGB in [0, 1]")
SHADOW_WEIGHT = 10.0


class ShadowTask(ImageToImageTask):
    id = "shadow"
    title = "Foreign shadow removal"
    inputs = (RGB,)
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the portrait without the shadow, RGB in [0, 1]")
    metric_names = ("psnr", "ssim", "psnr_shadow", "ssim_shadow", "psnr_face")
    teacher = ModelConfig("gridnet", {"width": 32, "correction": "gain"})
    student = ModelConfig("mobile_unet", {"width": 16, "upsample": "bilinear", "residual_input": True,
                                                 "correction": "gain"})
    synthesizes = "a shadow"

    def loss(self, prediction: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        difference = prediction.float() - batch.target.float()
        squared = difference.square().mean(1, keepdim=True)
        return {"l1": difference.abs().mean(),
                "mse_shadow": SHADOW_WEIGHT * (squared * batch.extras["shadow_mask"].float()).mean()}

    def metric_accumulator(self) -> MetricAccumulator:
        from portrait_edge.metrics import ImageMetrics

        return ImageMetrics({"psnr_shadow": ("shadow_mask", True), "ssim_shadow": ("shadow_mask", True),
                             "psnr_face": ("face_mask", True)})

    def synthesize(self, image: np.ndarray, landmarks: np.ndarray, seed: int) -> np.ndarray:
        from portrait_edge.data.real_pairs import draw_shadow

        return draw_shadow(image, landmarks, seed)[0]


register(ShadowTask())
