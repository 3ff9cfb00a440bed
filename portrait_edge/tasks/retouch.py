"""`retouch`: removes blemishes (acne, spots, pimples); pix2pixHD teacher (seed 003)."""

from portrait_edge.tasks import register
from portrait_edge.tasks.base import ChannelGroup, ModelConfig, TaskSpec


class RetouchTask(TaskSpec):
    id = "retouch"
    title = "Blemish retouching"
    inputs = (ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait with blemishes, RGB in [0, 1]"),)
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the retouched portrait")
    metric_names = ("psnr", "ssim", "psnr_outside_blemish")
    primary_metric = "psnr"
    teacher = ModelConfig("pix2pixhd_generator", {"width": 32})
    student = ModelConfig("mobile_unet", {"width": 16})


register(RetouchTask())
