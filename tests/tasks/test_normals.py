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


def _samples_of(batch):
    images = (batch.inputs[:, :3].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return [{"image": image, "landmarks": landmarks.numpy()} for image, landmarks in zip(images, batch.extras["landmarks"])]


def test_real_photos_get_the_landmark_channels_and_no_ground_truth(task, batch):
    real = task.batch_from_samples(_samples_of(batch), 64)
    assert real.inputs.shape == batch.inputs.shape
    # the same rasteriser as the engine's renders: identical landmark channels
    torch.testing.assert_close(real.inputs[:, 3:], batch.inputs[:, 3:])
    assert real.extras["foreground_mask"].sum() == 0 and real.extras.keys() == batch.extras.keys()
    assert all(float(v) == 0 for v in task.loss(torch.randn(4, 3, 64, 64), real).values())


def test_measured_normals_are_targets_inside_their_mask(task, batch):
    samples = _samples_of(batch)
    for sample, normals in zip(samples, batch.target):
        sample["normals"] = normals.permute(1, 2, 0).numpy()
        sample["mask"] = np.ones((64, 64), np.float32)
    measured = task.batch_from_samples(samples, 64)
    torch.testing.assert_close(measured.target, batch.target)
    assert float(task.loss(measured.target, measured)["angular"]) < 1e-6
    assert float(task.loss(-measured.target, measured)["angular"]) > 1.5


def test_a_photo_without_landmarks_is_refused(task, batch):
    from portrait_edge.errors import PortraitEdgeError

    samples = _samples_of(batch)
    del samples[0]["landmarks"]
    with pytest.raises(PortraitEdgeError, match="landmarks"):
        task.batch_from_samples(samples, 64)
