"""`maskedit`: re-renders a face to follow an edited parsing mask (mask-guided GAN, seed 002)."""

from portrait_edge.labels import NUM_CLASSES
from portrait_edge.tasks import register
from portrait_edge.tasks.base import ChannelGroup, ModelConfig, TaskSpec


class MaskEditTask(TaskSpec):
    id = "maskedit"
    title = "Mask-guided portrait editing"
    inputs = (
        ChannelGroup("source_image", 3, "rgb", (0.0, 1.0), "the face to edit, RGB in [0, 1]"),
        ChannelGroup("source_mask", NUM_CLASSES, "label_map", (0.0, 1.0), "its parsing mask, one-hot"),
        ChannelGroup("target_mask", NUM_CLASSES, "label_map", (0.0, 1.0), "the edited mask to follow, one-hot"),
    )
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the face re-rendered to follow the target mask")
    metric_names = ("psnr", "mask_fidelity_miou")
    primary_metric = "psnr"
    teacher = ModelConfig("maskgan_generator", {"width": 32})
    student = ModelConfig("mobile_unet", {"width": 16})


register(MaskEditTask())
