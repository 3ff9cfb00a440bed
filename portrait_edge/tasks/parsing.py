"""`parsing`: 19-class face parsing (CelebAMask-HQ labels). Teacher U-Net per seed 002."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from portrait_edge.labels import CELEBAMASK_HQ_CLASSES, CLASS_ID, NUM_CLASSES
from portrait_edge.tasks import register
from portrait_edge.tasks.base import Batch, ChannelGroup, MetricAccumulator, ModelConfig, TaskSpec

IGNORE = 255  # target value of pixels without a label (pseudo-label disagreement, padding): no loss
# Class id -> its mirror image's class id (left and right eyes, brows, ears swap).
MIRROR = torch.arange(256)
for _left, _right in (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")):
    MIRROR[CLASS_ID[_left]], MIRROR[CLASS_ID[_right]] = CLASS_ID[_right], CLASS_ID[_left]

RGB = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait, RGB in [0, 1]")


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean soft Dice over the classes present in the batch's ground truth (helps small classes
    such as eyes, brows and earrings, which cross-entropy alone leaves behind). IGNORE pixels count
    for nothing."""
    labelled = (target != IGNORE)[:, None].float()
    probabilities = logits.float().softmax(1) * labelled
    one_hot = F.one_hot(torch.where(target == IGNORE, 0, target), logits.shape[1]).permute(0, 3, 1, 2).float() * labelled
    intersection = (probabilities * one_hot).sum((0, 2, 3))
    total = probabilities.sum((0, 2, 3)) + one_hot.sum((0, 2, 3))
    present = one_hot.sum((0, 2, 3)) > 0
    if not present.any():  # nothing labelled in the batch
        return logits.sum() * 0
    dice = (2 * intersection + 1) / (total + 1)
    return 1 - dice[present].mean()


class ParsingTask(TaskSpec):
    id = "parsing"
    title = "Face parsing (19 CelebAMask-HQ classes)"
    inputs = (RGB,)
    output = ChannelGroup("logits", NUM_CLASSES, "logits", (-float("inf"), float("inf")),
                          "per-class logits; argmax over channels gives the label map")
    class_names = CELEBAMASK_HQ_CLASSES
    metric_names = ("miou", "mean_f1")
    primary_metric = "miou"
    output_distillation = "kl"
    teacher = ModelConfig("unet", {"width": 64})
    student = ModelConfig("mobile_unet", {"width": 16})

    def loss(self, prediction: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        return {
            # sum / labelled count (not F.cross_entropy's mean), so a batch with no labels gives 0, not NaN
            "ce": F.cross_entropy(prediction.float(), batch.target, ignore_index=IGNORE, reduction="sum")
            / (batch.target != IGNORE).sum().clamp(min=1),
            "dice": soft_dice_loss(prediction, batch.target),
        }

    def metric_accumulator(self) -> MetricAccumulator:
        from portrait_edge.metrics import SegmentationMetrics

        return SegmentationMetrics(NUM_CLASSES, self.class_names)

    def hflip(self, batch: Batch) -> Batch:
        flipped = super().hflip(batch)
        return Batch(flipped.inputs, MIRROR.to(batch.target.device)[flipped.target], flipped.extras)

    def postprocess(self, output: torch.Tensor) -> torch.Tensor:
        """Logits [N, 19, H, W] -> class ids [N, H, W] (int64)."""
        return output.argmax(1)


register(ParsingTask())
