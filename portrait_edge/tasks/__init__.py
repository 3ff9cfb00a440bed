"""The task registry: the single place that lists the six networks.

The CLI, training, the report, the bundles and the demo iterate over `all_tasks()`.
"""

from __future__ import annotations

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.tasks.base import Batch, ChannelGroup, MetricAccumulator, ModelConfig, TaskSpec

_REGISTRY: dict[str, TaskSpec] = {}


def register(task: TaskSpec) -> TaskSpec:
    if task.id in _REGISTRY:
        raise ValueError(f"task {task.id!r} is registered twice")
    _REGISTRY[task.id] = task
    return task


def get_task(task_id: str) -> TaskSpec:
    try:
        return _REGISTRY[task_id]
    except KeyError:
        raise PortraitEdgeError(f"unknown task {task_id!r}; known tasks: {', '.join(_REGISTRY)}") from None


def all_tasks() -> list[TaskSpec]:
    return list(_REGISTRY.values())


def task_ids() -> list[str]:
    return list(_REGISTRY)


# Importing the task modules registers them, in the order the report and demo list them.
from portrait_edge.tasks import shadow, facial_shadow, normals, parsing, retouch, maskedit  # noqa: E402,F401

__all__ = [
    "Batch",
    "ChannelGroup",
    "MetricAccumulator",
    "ModelConfig",
    "TaskSpec",
    "all_tasks",
    "get_task",
    "register",
    "task_ids",
]
