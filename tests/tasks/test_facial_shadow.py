"""The facial_shadow task: fill strength is an input, the loss weights the face, options are checked."""

import numpy as np
import pytest
import torch

from portrait_edge.errors import PortraitEdgeError


@pytest.fixture(scope="module")
def task():
    from portrait_edge.tasks import get_task

    return get_task("facial_shadow")


def shadowed_skin(batch) -> torch.Tensor:
    """HxW bool: the darker half of the face in the batch's first harsh-key render."""
    harsh = batch.inputs[0, :3]
    face = batch.extras["face_mask"][0, 0] > 0.5
    return face & (harsh.mean(0) < harsh.mean(0)[face].median())


def test_the_engine_s_targets_brighten_shadowed_skin_with_the_fill_strength(task):
    from portrait_edge.data.pairs import _facial_shadow

    strengths = torch.tensor([0.0, 0.25, 0.5, 1.0])
    batch = _facial_shadow([7, 7, 7, 7], 64, "cpu", strength=strengths)  # one scene, four fill strengths
    shadowed = shadowed_skin(batch)
    brightness = [float(t.mean(0)[shadowed].mean()) for t in batch.target]
    assert brightness == sorted(brightness) and brightness[-1] > brightness[0] + 0.02
    assert torch.allclose(batch.target[0], batch.inputs[0, :3], atol=1e-5)  # no fill: the target is the input
    assert torch.equal(batch.inputs[:, 3, 0, 0], strengths)  # the strength is the fourth channel


def test_loss_is_zero_at_the_target_and_weights_the_face(task):
    batch = task.make_batch(2, 0, 64)
    assert float(task.loss(batch.target, batch)["l1"]) < 1e-6
    face = batch.extras["face_mask"][0, 0] > 0.5
    (fy, fx), (by, bx) = face.nonzero()[0].tolist(), (~face).nonzero()[0].tolist()
    on_face, off_face = batch.target.clone(), batch.target.clone()
    on_face[0, :, fy, fx] += 0.5
    off_face[0, :, by, bx] += 0.5  # the same error on one pixel: it counts twice on the face
    assert float(task.loss(on_face, batch)["l1"]) == pytest.approx(2 * float(task.loss(off_face, batch)["l1"]), rel=1e-4)


def test_pipeline_inputs_carry_the_fill_strength_and_refuse_bad_values(task):
    image = torch.rand(1, 3, 32, 32)
    inputs = task.pipeline_inputs(image, np.zeros((478, 3)), {"fill": 0.25})
    assert inputs.shape == (1, 4, 32, 32) and torch.equal(inputs[:, :3], image) and (inputs[:, 3] == 0.25).all()
    assert (task.pipeline_inputs(image, np.zeros((478, 3)), {})[:, 3] == 0.5).all()  # the default
    for bad in (1.5, -0.1, "lots"):
        with pytest.raises(PortraitEdgeError, match="fill must be"):
            task.pipeline_inputs(image, np.zeros((478, 3)), {"fill": bad})


def test_load_pipeline_refuses_options_the_task_does_not_take():
    from portrait_edge.pipelines import load_pipeline

    with pytest.raises(PortraitEdgeError, match="parsing takes no option fill"):
        load_pipeline("parsing", fill=0.5)


@pytest.mark.parametrize("role", ["teacher", "student", "student_scratch"])
def test_the_shipped_models_brighten_shadowed_skin_monotonically_with_the_fill(role):
    """The issue's check on the networks themselves: one harsh render, five fill strengths."""
    from portrait_edge.data.pairs import _facial_shadow
    from portrait_edge.edge.models import load_checkpoint, shipped_checkpoint

    model = load_checkpoint(shipped_checkpoint("facial_shadow", role), "facial_shadow").model
    strengths = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    batch = _facial_shadow([11] * 5, 128, "cpu", strength=strengths)
    shadowed = shadowed_skin(batch)
    with torch.no_grad():
        out = model(batch.inputs).clamp(0, 1)
    brightness = [float(o.mean(0)[shadowed].mean()) for o in out]
    assert brightness == sorted(brightness) and brightness[-1] > brightness[0] + 0.01, brightness
