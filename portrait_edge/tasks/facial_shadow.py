"""`facial_shadow`: softens facial self-shadows with a fill light of chosen strength (seed 000)."""

from portrait_edge.tasks import register
from portrait_edge.tasks.base import ChannelGroup, ModelConfig, TaskSpec


class FacialShadowTask(TaskSpec):
    id = "facial_shadow"
    title = "Facial shadow softening with fill light"
    inputs = (
        ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait under a harsh key light, RGB in [0, 1]"),
        ChannelGroup("fill_strength", 1, "scalar_map", (0.0, 1.0),
                     "fill-light strength, the same value at every pixel (0 = none, 1 = full)"),
    )
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the portrait with the fill light added")
    metric_names = ("psnr", "ssim")
    primary_metric = "psnr"
    teacher = ModelConfig("gridnet", {"width": 32})
    student = ModelConfig("mobile_unet", {"width": 16})


register(FacialShadowTask())
