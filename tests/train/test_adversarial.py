"""pix2pixHD's GAN terms: LSGAN and feature matching values, the discriminator's own step, its
companion checkpoint and loading it into a student run."""

import pytest
import torch


def _term(tmp_path=None, **section):
    from types import SimpleNamespace

    from portrait_edge.train.adversarial import build_adversarial_term
    from portrait_edge.train.recipe import AdversarialSection

    recipe = SimpleNamespace(adversarial=AdversarialSection(**{"weight": 1.0, "width": 8, "num_scales": 2, **section}))
    return build_adversarial_term(recipe, 3, 3)


def _batch(n=2, size=32):
    from portrait_edge.tasks.base import Batch

    torch.manual_seed(0)
    target = torch.rand(n, 3, size, size)
    return Batch(target + 0.1 * torch.randn_like(target), target, {})


def test_lsgan_and_feature_matching():
    from portrait_edge.train.adversarial import feature_matching, lsgan

    ones, zeros = [[torch.ones(1, 1, 4, 4)]], [[torch.zeros(1, 1, 4, 4)]]
    assert float(lsgan(ones, real=True)) == 0 and float(lsgan(zeros, real=False)) == 0
    assert float(lsgan(zeros, real=True)) == pytest.approx(1.0)
    features = [[torch.ones(1, 2, 4, 4), torch.zeros(1, 1, 2, 2)]]
    assert float(feature_matching(features, features)) == 0
    shifted = [[torch.full((1, 2, 4, 4), 1.5), torch.zeros(1, 1, 2, 2)]]
    assert float(feature_matching(shifted, features)) == pytest.approx(0.5)  # logits are not matched


def test_generator_losses_leave_the_discriminator_alone_and_its_step_moves_it():
    term = _term()
    batch = _batch()
    before = {k: v.clone() for k, v in term.discriminator.state_dict().items()}
    output = batch.inputs.clone().requires_grad_(True)
    losses = term.losses(output, None, batch)
    assert set(losses) == {"gan", "feature_matching"} and float(losses["feature_matching"]) > 0
    sum(losses.values()).backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    assert all(p.grad is None for p in term.discriminator.parameters())
    term.after_step(0)
    after = term.discriminator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert term.last_discriminator_loss > 0


def test_the_discriminator_is_saved_next_to_a_checkpoint_and_loads_back(tmp_path):
    from portrait_edge.errors import PortraitEdgeError
    from portrait_edge.train.adversarial import discriminator_path

    term = _term()
    term.after_step(0)  # nothing pending: no step, no error
    checkpoint = tmp_path / "final.safetensors"
    term.save_companion(checkpoint)
    assert discriminator_path(checkpoint) == tmp_path / "final.discriminator.safetensors"
    loaded = _term(init=str(checkpoint))
    for key, value in term.discriminator.state_dict().items():
        assert torch.equal(loaded.discriminator.state_dict()[key], value)
    with pytest.raises(PortraitEdgeError, match="does not fit"):
        _term(init=str(checkpoint), width=16)
    with pytest.raises(PortraitEdgeError, match="no discriminator"):
        _term(init=str(tmp_path / "other.safetensors"))


def test_recipe_checks_the_adversarial_section():
    from portrait_edge.errors import PortraitEdgeError
    from portrait_edge.train.recipe import recipe_from_dict

    base = {"task": "retouch", "role": "teacher", "steps": 2}
    assert recipe_from_dict({**base, "adversarial": {"weight": 1.0}}).adversarial.num_scales == 3
    with pytest.raises(PortraitEdgeError, match="adversarial.init needs"):
        recipe_from_dict({**base, "adversarial": {"init": "x.safetensors"}})
    with pytest.raises(PortraitEdgeError, match="unknown field"):
        recipe_from_dict({**base, "adversarial": {"scales": 2}})
