"""`shadow`: removes foreign shadows cast on a face (GridNet teacher, seed 000)."""

from portrait_edge.tasks import register
from portrait_edge.tasks.base import ChannelGroup, ModelConfig, TaskSpec

RGB = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait with a foreign shadow, RGB in [0, 1]")


class ShadowTask(TaskSpec):
    id = "shadow"
    title = "Foreign shadow removal"
    inputs = (RGB,)
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the portrait without the shadow, RGB in [0, 1]")
    metric_names = ("psnr", "ssim", "psnr_face")
    primary_metric = "psnr"
    teacher = ModelConfig("gridnet", {"width": 32})
    student = ModelConfig("mobile_unet", {"width": 16})


register(ShadowTask())
