"""The normals task: its loss, metrics, mirror and pipeline inputs on the engine's pairs."""

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def task():
    from portrait_edge.tasks import get_task

    return get_task("normals")


@pytest.fixture(scope="module")
def batch(task):
    return task.make_batch(4, 0, 64)


def test_loss_is_zero_at_the_target_and_large_for_noise(task, batch):
    perfect = task.loss(batch.target, batch)
    noisy = task.loss(torch.randn_like(batch.target), batch)
    assert all(abs(float(v)) < 1e-5 for v in perfect.values())
    assert float(noisy["angular"]) > 0.5 and float(noisy["l1"]) > 1.0
    scaled = task.loss(batch.target * 3, batch)  # the loss sees directions only
    assert all(abs(float(v)) < 1e-5 for v in scaled.values())


def test_metrics_on_the_face_and_the_foreground(task, batch):
    accumulator = task.metric_accumulator()
    accumulator.update(batch.target, batch)
    perfect = accumulator.compute()
    assert perfect["angular_error_deg"] < 0.01 and perfect["within_11_25"] == 1.0 and perfect["fg_within_30"] == 1.0
    rotated = batch.target[:, [1, 0, 2]]  # x and y swapped: wrong almost everywhere on a face
    accumulator = task.metric_accumulator()
    accumulator.update(rotated, batch)
    wrong = accumulator.compute()
    assert wrong["angular_error_deg"] > 10 and wrong["cosine_similarity"] < perfect["cosine_similarity"]


def test_a_mirrored_portrait_has_mirrored_normals(task, batch):
    flipped = task.hflip(batch)
    assert torch.equal(flipped.target[:, 0], -batch.target[:, 0].flip(-1))
    assert torch.equal(flipped.target[:, 1:], batch.target[:, 1:].flip(-1))
    assert torch.equal(task.hflip(flipped).target, batch.target)


def test_pipeline_inputs_add_the_landmark_channels(task, batch):
    landmarks = batch.extras["landmarks"][0].numpy()
    image = batch.inputs[:1, :3]
    inputs = task.pipeline_inputs(image, np.concatenate([landmarks, landmarks[:10]]), {})  # 478 refined points
    assert inputs.shape == (1, 5, 64, 64)
    assert torch.allclose(inputs[:, 3:], batch.inputs[:1, 3:])  # the engine's own landmark channels
