"""`normals`: camera-space unit normals of a portrait, for relighting (seed 001)."""

from portrait_edge.tasks import register
from portrait_edge.tasks.base import ChannelGroup, ModelConfig, TaskSpec


class NormalsTask(TaskSpec):
    id = "normals"
    title = "Normal map for relighting"
    inputs = (
        ChannelGroup("image", 3, "rgb", (0.0, 1.0), "portrait, RGB in [0, 1]"),
        ChannelGroup("landmarks", 2, "landmarks", (0.0, 1.0),
                     "Face Mesh landmark channels: region identity and landmark depth (see data.landmarks)"),
    )
    output = ChannelGroup("normals", 3, "normals", (-1.0, 1.0), "camera-space unit normals (x right, y up, z to camera)")
    metric_names = ("angular_error_deg", "within_11_25", "within_22_5", "within_30", "cosine_similarity")
    primary_metric = "angular_error_deg"
    higher_is_better = False
    teacher = ModelConfig("unet", {"width": 64})
    student = ModelConfig("mobile_unet", {"width": 16})


register(NormalsTask())
