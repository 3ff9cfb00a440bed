"""`parsing`: 19-class face parsing (CelebAMask-HQ labels). Teacher U-Net per seed 002."""

from portrait_edge.labels import CELEBAMASK_HQ_CLASSES, NUM_CLASSES
from portrait_edge.tasks import register
from portrait_edge.tasks.base import ChannelGroup, ModelConfig, TaskSpec

RGB = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait, RGB in [0, 1]")


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


register(ParsingTask())
