"""`retouch`: removes blemishes (acne, pimples, dark spots, redness, scars); pix2pixHD teacher (seed 003).

Pairs: blemishes drawn by the engine (portrait_edge.data.synth.blemishes) on rendered skin
(portrait_edge.data.pairs) and composited on the skin of real pool photos (portrait_edge.data.real_pairs,
reader option pairs=retouch); the target is the clean photo, which equals the input wherever the
blemish mask is 0. Users with FFHQR-style before/after folders train on them with the paired reader
(training/retouch/teacher.ffhqr.gpu-full.yaml).

Loss: L1 over the image (the rest of the face must stay as it is) plus L1 inside the blemish mask,
averaged over the blemish pixels only (blemishes cover ~1% of a framing: averaged over every pixel they
would weigh nothing and the identity would win); the teacher adds pix2pixHD's GAN terms (recipe
`adversarial`: LSGAN + discriminator feature matching), the students train against its discriminator.
Metrics: PSNR/SSIM over the image, PSNR inside the blemishes, outside them, and on the face.

Inference pastes back only the face (the Face Mesh surface, feathered): a retouch must not touch the
hair, clothes or background, whatever the network does there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from portrait_edge.tasks import register
from portrait_edge.tasks.base import (Batch, ChannelGroup, ImageToImageTask, MetricAccumulator, ModelConfig, PipelineOption,
                                      masked_l1)

BLEMISH_WEIGHT = 1.0
CHANGED = 2 / 255  # before/after datasets without masks: a pixel is retouched where the two differ by more
PASTE_GROW = 0.025  # the face region grows by this share of the crop, then fades over as much (mesh edge -> jaw, hairline)


def with_masks(batch: Batch) -> Batch:
    """The batch with a blemish_mask and a face_mask. Before/after datasets (FFHQR) have neither: the
    blemish mask is then where input and target differ, the face the whole image."""
    if "blemish_mask" in batch.extras and "face_mask" in batch.extras:
        return batch
    extras = dict(batch.extras)
    if "blemish_mask" not in extras:
        changed = (batch.inputs[:, :3].float() - batch.target.float()).abs().amax(1, keepdim=True) > CHANGED
        extras["blemish_mask"] = changed.float()
    extras.setdefault("face_mask", torch.ones_like(extras["blemish_mask"]))
    return Batch(batch.inputs, batch.target, extras)


class RetouchMetrics:
    """ImageMetrics over the image, inside and outside the blemishes and on the face."""

    def __init__(self) -> None:
        from portrait_edge.metrics import ImageMetrics

        self.metrics = ImageMetrics({"psnr_blemish": ("blemish_mask", True),
                                     "psnr_outside_blemish": ("blemish_mask", False),
                                     "psnr_face": ("face_mask", True)})

    def update(self, prediction: torch.Tensor, batch: Batch) -> None:
        self.metrics.update(prediction, with_masks(batch))

    def compute(self) -> dict[str, float]:
        return self.metrics.compute()


class RetouchTask(ImageToImageTask):
    id = "retouch"
    title = "Blemish retouching"
    inputs = (ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait with blemishes, RGB in [0, 1]"),)
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the retouched portrait, RGB in [0, 1]")
    metric_names = ("psnr", "ssim", "psnr_blemish", "psnr_outside_blemish", "psnr_face")
    teacher = ModelConfig("pix2pixhd_generator", {"width": 16, "global_downsample": 3, "global_blocks": 6,
                                                  "correction": "add"})
    student = ModelConfig("mobile_unet", {"width": 12, "upsample": "bilinear", "residual_input": True})
    synthesizes = "blemishes"
    before_after = True
    pipeline_options = {"strength": PipelineOption("how much of the retouch is applied (0: none, 1: all)", 1.0, 0.0, 1.0)}

    def loss(self, prediction: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        blemish = with_masks(batch).extras["blemish_mask"].float()
        return {"l1": (prediction.float() - batch.target.float()).abs().mean(),
                "l1_blemish": BLEMISH_WEIGHT * masked_l1(prediction, batch.target, blemish)}

    def metric_accumulator(self) -> MetricAccumulator:
        return RetouchMetrics()

    def synthesize(self, image: np.ndarray, landmarks: np.ndarray, seed: int) -> np.ndarray:
        from portrait_edge.data.real_pairs import blemish_composites

        from portrait_edge.io import from_tensor, to_tensor

        points = torch.as_tensor(np.asarray(landmarks, np.float32))[None]
        out, _ = blemish_composites(to_tensor(image), points, [seed])
        return from_tensor(out)

    def paste_region(self, landmarks: np.ndarray, size: int, options: dict[str, Any]) -> np.ndarray:
        """The face in the crop (S x S in [0, 1]): the Face Mesh surface, grown and feathered, times the
        retouch strength."""
        from portrait_edge.data.real_pairs import face_labels
        from portrait_edge.pipelines.paste import grown_feathered

        face = face_labels(torch.as_tensor(np.asarray(landmarks, np.float32))[None], size)[0] > 0
        return grown_feathered(face.numpy(), PASTE_GROW) * self.option_value("strength", options)


register(RetouchTask())
