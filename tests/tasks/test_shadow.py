"""The shadow task: its loss weights the shadow, its metrics look inside it, pool pairs make batches."""

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def task():
    from portrait_edge.tasks import get_task

    return get_task("shadow")


@pytest.fixture(scope="module")
def batch(task):
    return task.make_batch(4, 0, 64)


def test_loss_is_zero_at_the_target_and_counts_shadowed_pixels_more(task, batch):
    from portrait_edge.tasks.shadow import SHADOW_WEIGHT

    assert all(float(v) < 1e-6 for v in task.loss(batch.target, batch).values())
    left_alone = task.loss(batch.inputs, batch)  # the "do nothing" output: wrong only inside the shadow
    assert float(left_alone["mse_shadow"]) > 0 and float(left_alone["l1"]) > 0
    mask = batch.extras["shadow_mask"]
    (n, _, y, x), (m, _, v, u) = (mask == mask.max()).nonzero()[0].tolist(), (mask == 0).nonzero()[0].tolist()
    total = lambda terms: sum(float(t) for t in terms.values())  # noqa: E731
    for error in (0.1, 0.3):
        in_shadow, outside = batch.target.clone(), batch.target.clone()
        in_shadow[n, :, y, x] += error
        outside[m, :, v, u] += error  # the same error on one pixel, without and with a shadow over it
        ratio = total(task.loss(in_shadow, batch)) / total(task.loss(outside, batch))
        # inside the shadow the squared term adds SHADOW_WEIGHT * mask * error^2 to the L1's error
        expected = 1 + SHADOW_WEIGHT * float(mask[n, 0, y, x]) * error
        assert float(mask[n, 0, y, x]) > 0.5 and ratio == pytest.approx(expected, rel=1e-3)


def test_metrics_inside_the_shadow_separate_the_input_from_the_target(task, batch):
    scores = {}
    for name, prediction in (("target", batch.target), ("input", batch.inputs)):
        accumulator = task.metric_accumulator()
        accumulator.update(task.postprocess(prediction), batch)
        scores[name] = accumulator.compute()
    assert set(task.metric_names) <= set(scores["input"])
    assert scores["target"]["psnr_shadow"] > 100 and scores["target"]["ssim_shadow"] > 0.999
    assert scores["input"]["psnr_shadow"] < scores["input"]["psnr"]  # the error is where the shadow is
    assert scores["input"]["ssim_shadow"] < scores["input"]["ssim"] < 1


def test_real_photo_composites_become_batches(task):
    from portrait_edge.data.real_pairs import make_pair
    from portrait_edge.tasks import get_task
    from portrait_edge.train.real_data import batch_from_samples

    faces = get_task("normals").make_batch(2, 0, 64)  # renders standing in for framed photos, with landmarks
    images = (faces.inputs[:, :3].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    samples = [make_pair("shadow", image, points.numpy(), seed)
               for image, points, seed in zip(images, faces.extras["landmarks"], (1, 2))]
    made = batch_from_samples(task, samples, 64)
    assert made.inputs.shape == made.target.shape == (2, 3, 64, 64)
    assert made.extras["shadow_mask"].shape == (2, 1, 64, 64) and float(made.extras["shadow_mask"].max()) > 0.5
    assert float(task.loss(made.inputs, made)["mse_shadow"]) > 0
