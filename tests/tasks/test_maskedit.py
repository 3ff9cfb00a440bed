"""The maskedit task: renders give paired and swapped pairs, the loss skips pairs without a target, the
metrics judge mask fidelity with the parsing teacher, a mirror swaps left and right in both masks, and the
teacher's parts (local auto-encoders, background copy) do what the source says."""

import pytest
import torch


@pytest.fixture(scope="module")
def task():
    from portrait_edge.tasks import get_task

    return get_task("maskedit")


@pytest.fixture(scope="module")
def batch(task):
    return task.make_batch(4, 0, 64)


def test_loss_is_zero_at_the_target_and_skips_samples_without_one(task, batch):
    assert float(task.loss(batch.target, batch)["l1"]) < 1e-7
    from portrait_edge.tasks.base import Batch

    no_target = Batch(batch.inputs, batch.target, {**batch.extras, "has_target": torch.tensor([1.0, 0, 1, 0])})
    wrong = batch.target.clone()
    wrong[[1, 3]] = 1 - wrong[[1, 3]]  # the samples without a target may be anything
    assert float(task.loss(wrong, no_target)["l1"]) < 1e-7
    assert float(task.loss(wrong, batch)["l1"]) > 0.1


def test_metrics_reward_the_target_layout(task, batch):
    perfect, copied = task.metric_accumulator(), task.metric_accumulator()
    perfect.update(batch.target, batch)
    copied.update(batch.inputs[:, :3], batch)  # the source unchanged: right on reconstructions, wrong layout on swaps
    scores, baseline = perfect.compute(), copied.compute()
    assert set(task.metric_names) <= set(scores)
    assert scores["psnr"] > 99 and scores["psnr_swapped"] > 99
    assert scores["mask_fidelity_miou"] > baseline["mask_fidelity_miou"]
    assert baseline["psnr_swapped"] < 30


def test_mirror_swaps_left_and_right_in_both_masks_and_the_labels(task, batch):
    from portrait_edge.labels import CLASS_ID, NUM_CLASSES

    flipped = task.hflip(batch)
    left_eye_source = 3 + CLASS_ID["l_eye"]
    right_eye_target = 3 + NUM_CLASSES + CLASS_ID["r_eye"]
    assert torch.equal(flipped.inputs[:, 3 + CLASS_ID["r_eye"]], batch.inputs[:, left_eye_source].flip(-1))
    assert torch.equal(flipped.inputs[:, 3 + NUM_CLASSES + CLASS_ID["l_eye"]], batch.inputs[:, right_eye_target].flip(-1))
    assert torch.equal((flipped.extras["target_labels"] == CLASS_ID["r_eye"]),
                       (batch.extras["target_labels"] == CLASS_ID["l_eye"]).flip(-1))
    twice = task.hflip(flipped)
    assert torch.equal(twice.inputs, batch.inputs) and torch.equal(twice.extras["target_labels"], batch.extras["target_labels"])


def test_teacher_copies_shared_background_and_rebuilds_components(task, batch):
    from portrait_edge.nn.maskgan import background_kept, split_inputs
    from portrait_edge.tasks.maskedit import LocalReconstructionTerm

    torch.manual_seed(0)
    model = task.build_model("teacher", width=8, embedding=8, blocks=1)
    output = model(batch.inputs)
    image, source_mask, target_mask = split_inputs(batch.inputs)
    keep = background_kept(source_mask, target_mask).bool().expand_as(image)
    assert bool(keep.any()) and torch.allclose(output[keep], image[keep], atol=1e-6)
    term = LocalReconstructionTerm(1.0)
    term.bind(model)
    local = term.losses(output, None, batch)["local"]
    local.backward()
    assert float(local.detach()) > 0 and model.local["mouth"].decoder[-1].weight.grad.abs().sum() > 0
    student_term = LocalReconstructionTerm(1.0)
    student_term.bind(task.build_model("student"))
    assert student_term.losses(output, None, batch) == {}  # students have no component auto-encoders


def test_swapped_style_follows_the_source_not_the_mask_owner(task, batch):
    """The mouth's style vector is read inside the SOURCE mouth and painted inside the TARGET mouth."""
    from portrait_edge.nn.maskgan import class_sum, masked_mean

    features = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, 0, 1, 1] = mask[0, 0, 2, 2] = 1
    mean = masked_mean(features, mask)
    assert torch.allclose(mean[0, :, 0, 0], (features[0, :, 1, 1] + features[0, :, 2, 2]) / 2)
    assert float(mean[1].abs().sum()) == 0  # an empty component has no style
    one_hot = batch.inputs[:, 3:22]
    assert torch.equal(class_sum(one_hot, ("u_lip", "l_lip")), one_hot[:, [11, 12]].sum(1, keepdim=True))


def test_discriminator_is_conditioned_on_the_target_mask(task, batch):
    condition, real = task.discriminator_pair(batch)
    assert condition.shape[1] == task.discriminator_condition_channels == 19
    assert torch.equal(condition, batch.inputs[:, 22:41]) and torch.equal(real, batch.extras["mask_photo"])
