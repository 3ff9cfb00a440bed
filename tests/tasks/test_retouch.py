"""The retouch task: its loss and metrics look inside the blemishes, before/after data without masks
works, inference pastes back only the face."""

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def task():
    from portrait_edge.tasks import get_task

    return get_task("retouch")


@pytest.fixture(scope="module")
def batch(task):
    return task.make_batch(4, 0, 64)


def test_engine_pairs_differ_only_inside_the_blemishes(batch):
    mask = batch.extras["blemish_mask"]
    assert float(mask.sum()) > 0 and batch.extras["face_mask"].shape == mask.shape
    changed = (batch.inputs - batch.target).abs().amax(1, keepdim=True) > 1e-6
    assert not bool((changed & (mask == 0)).any())


def test_loss_is_zero_at_the_target_and_weighs_blemish_pixels_by_their_area(task, batch):
    assert all(float(v) < 1e-6 for v in task.loss(batch.target, batch).values())
    left_alone = task.loss(batch.inputs, batch)  # the identity is wrong only inside the blemishes
    assert float(left_alone["l1_blemish"]) > 10 * float(left_alone["l1"])


def test_metrics_separate_inside_from_outside(task, batch):
    accumulator = task.metric_accumulator()
    accumulator.update(task.postprocess(batch.inputs), batch)
    scores = accumulator.compute()
    assert set(task.metric_names) <= set(scores)
    assert scores["psnr_outside_blemish"] > 50  # outside (mask <= 0.5) only the soft edges of blemishes differ
    assert scores["psnr_blemish"] < scores["psnr"] < scores["psnr_outside_blemish"]


def test_before_after_data_without_masks_gets_them_from_the_difference(task, batch):
    from portrait_edge.tasks.base import Batch
    from portrait_edge.tasks.retouch import with_masks

    bare = Batch(batch.inputs, batch.target, {})
    filled = with_masks(bare)
    derived, drawn = filled.extras["blemish_mask"] > 0, batch.extras["blemish_mask"] > 0
    assert bool((derived <= drawn).all()) and float(derived.sum()) > 0.3 * float(drawn.sum())
    assert float(filled.extras["face_mask"].min()) == 1.0
    accumulator = task.metric_accumulator()
    accumulator.update(batch.inputs, bare)  # no KeyError
    assert accumulator.compute()["psnr_outside_blemish"] > 60  # outside, only changes under CHANGED remain
    assert float(task.loss(batch.inputs, bare)["l1_blemish"]) > 0


def test_paste_region_covers_the_face_and_not_the_corners(task):
    from portrait_edge.tasks import get_task

    faces = get_task("normals").make_batch(1, 0, 128)
    region = task.paste_region(faces.extras["landmarks"][0].numpy(), 128, {})
    assert region.shape == (128, 128) and 0 <= region.min() and region.max() <= 1
    points = faces.extras["landmarks"][0].numpy()
    nose = points[1, :2].round().astype(int)
    assert region[nose[1], nose[0]] == pytest.approx(1.0)
    assert region[:8, :8].max() == 0 and region[-8:, -8:].max() == 0


def test_synthesize_adds_blemishes_on_the_face_only(task):
    from portrait_edge.tasks import get_task

    faces = get_task("normals").make_batch(1, 0, 128)
    image = (faces.inputs[0, :3].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    points = faces.extras["landmarks"][0].numpy()
    blemished = task.synthesize(image, points, seed=3)
    changed = np.abs(blemished.astype(int) - image).max(-1) > 0
    assert changed.any()
    region = task.paste_region(points, 128, {})
    assert (region[changed] > 0).all()


def test_synthesize_works_on_photos_that_are_not_square(task):
    """The Space draws blemishes on whole photos: a tall one with the face low (past the width) works."""
    from portrait_edge.tasks import get_task

    faces = get_task("normals").make_batch(1, 0, 128)
    face = (faces.inputs[0, :3].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    tall = np.concatenate([np.full((160, 128, 3), 200, np.uint8), face])  # 288 x 128, the face in rows 160-287
    points = faces.extras["landmarks"][0].numpy() + np.array([0.0, 160.0, 0.0], np.float32)
    blemished = task.synthesize(tall, points, seed=3)
    changed = np.abs(blemished.astype(int) - tall).max(-1) > 0
    assert blemished.shape == tall.shape and changed.any() and not changed[:160].any()


def test_strength_scales_the_paste_region_and_bad_values_are_one_line_errors(task):
    from portrait_edge.errors import PortraitEdgeError
    from portrait_edge.tasks import get_task

    points = get_task("normals").make_batch(1, 0, 64).extras["landmarks"][0].numpy()
    full = task.paste_region(points, 64, {})
    assert np.allclose(task.paste_region(points, 64, {"strength": 0.5}), full * 0.5)
    assert task.paste_region(points, 64, {"strength": 0}).max() == 0
    for bad in (1.5, "much"):
        with pytest.raises(PortraitEdgeError, match="strength"):
            task.paste_region(points, 64, {"strength": bad})


def test_the_ffhqr_recipe_trains_on_before_after_folders(tmp_path):
    """training/retouch/teacher.ffhqr.gpu-full.yaml on a tiny before/after dataset (shrunk to run here):
    the paired reader feeds the retouch loss, whose blemish mask comes from where the pairs differ."""
    from pathlib import Path

    from PIL import Image

    from portrait_edge.train.recipe import load_recipe
    from portrait_edge.train.trainer import train

    rng = np.random.default_rng(0)
    for folder in ("source", "target"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    for i in range(2):
        clean = (rng.random((64, 64, 3)) * 60 + 120).astype(np.uint8)
        spotted = clean.copy()
        spotted[20:24, 30:34] = (90, 60, 60)
        Image.fromarray(spotted).save(tmp_path / "data" / "source" / f"{i}.png")
        Image.fromarray(clean).save(tmp_path / "data" / "target" / f"{i}.png")
    recipe_path = Path(__file__).resolve().parents[2] / "training" / "retouch" / "teacher.ffhqr.gpu-full.yaml"
    recipe = load_recipe(recipe_path, {
        "data.root": str(tmp_path / "data"), "steps": 2, "batch_size": 2, "resolution": 64, "model.init": None,
        "model.kwargs.width": 4, "model.kwargs.global_blocks": 1, "adversarial.init": None, "adversarial.width": 8,
        "loss.perceptual": 0.0, "eval.n": 2, "eval.batch_size": 2, "eval.size": 64, "checkpoint_every": 1,
        "log_every": 1})
    result = train(recipe, tmp_path / "run", device="cpu", show_progress=False)
    assert (tmp_path / "run" / "final.discriminator.safetensors").is_file()
    assert result.metrics["psnr"] > 0
