import pytest
import torch

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.labels import CELEBAMASK_HQ_CLASSES
from portrait_edge.tasks import all_tasks, get_task, task_ids
from portrait_edge.tasks.base import Batch, TaskSpec

EXPECTED = ["shadow", "facial_shadow", "normals", "parsing", "retouch", "maskedit"]


def test_registry_lists_the_six_tasks_in_order():
    assert task_ids() == EXPECTED
    assert [task.id for task in all_tasks()] == EXPECTED


def test_unknown_task_is_a_one_line_error():
    with pytest.raises(PortraitEdgeError, match="unknown task 'hair'.*parsing"):
        get_task("hair")


@pytest.mark.parametrize("task_id", EXPECTED)
def test_every_task_declares_a_complete_spec(task_id):
    task = get_task(task_id)
    assert isinstance(task, TaskSpec)
    assert task.inputs and task.in_channels == sum(g.channels for g in task.inputs)
    assert task.out_channels > 0
    assert task.primary_metric in task.metric_names
    assert task.output_distillation in ("kl", "l1")
    assert task.teacher.arch and task.student.arch


def test_channel_counts_match_the_design():
    assert get_task("normals").in_channels == 5
    assert get_task("facial_shadow").in_channels == 4
    assert get_task("maskedit").in_channels == 3 + 2 * len(CELEBAMASK_HQ_CLASSES)
    assert get_task("parsing").out_channels == 19
    assert get_task("parsing").class_names == CELEBAMASK_HQ_CLASSES


def test_build_model_rejects_unknown_role():
    with pytest.raises(ValueError, match="role"):
        get_task("parsing").build_model("pupil")


def test_batch_moves_every_tensor():
    batch = Batch(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), {"m": torch.ones(2, 1)})
    moved = batch.to("cpu")
    assert len(moved) == 2 and moved.extras["m"].shape == (2, 1)
