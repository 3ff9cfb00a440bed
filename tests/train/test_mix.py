"""Mixed data sources, augmentation and the parsing task's mirror."""

import torch

from portrait_edge.tasks.base import Batch
from portrait_edge.train.data import AugmentedSource, MixedSource


class Constant:
    """A source whose samples carry their value and position: inputs = value, target = position."""

    def __init__(self, value: float) -> None:
        self.value = value

    def draw(self, positions):
        positions = list(positions)
        return Batch(torch.full((len(positions), 3, 4, 4), self.value),
                     torch.tensor(positions).view(-1, 1, 1).expand(-1, 4, 4).clone(), {})


def test_mix_follows_weights_keeps_order_and_is_a_function_of_position():
    mix = MixedSource([(3.0, Constant(1.0)), (1.0, Constant(2.0))], data_seed=0)
    batch = mix.batch(step=0, rank=0, world_size=1, global_batch=400)
    assert batch.target[:, 0, 0].tolist() == list(range(400))
    share = (batch.inputs[:, 0, 0, 0] == 1.0).float().mean().item()
    assert 0.68 < share < 0.82
    again = mix.batch(step=0, rank=0, world_size=1, global_batch=400)
    assert torch.equal(batch.inputs, again.inputs)
    # two ranks together draw the one-process batch
    halves = [mix.batch(step=0, rank=r, world_size=2, global_batch=400) for r in (0, 1)]
    assert torch.equal(torch.cat([h.inputs for h in halves]), batch.inputs)


def test_parsing_flip_mirrors_pixels_and_swaps_left_right_classes(parsing_task):
    from portrait_edge.labels import CLASS_ID

    target = torch.zeros(1, 4, 4, dtype=torch.int64)
    target[0, 0, 0] = CLASS_ID["l_eye"]
    target[0, 1, 0] = 255  # ignored stays ignored
    flipped = parsing_task.hflip(Batch(torch.zeros(1, 3, 4, 4), target, {}))
    assert flipped.target[0, 0, 3] == CLASS_ID["r_eye"]
    assert flipped.target[0, 1, 3] == 255


def test_augmentation_is_deterministic_and_changes_only_rgb(parsing_task):
    source = AugmentedSource(Constant(0.5), parsing_task, ["brighten_darken", "colour", "degrade"], data_seed=1)
    a, b = source.draw([3, 4]), source.draw([3, 4])
    assert torch.equal(a.inputs, b.inputs)
    assert not torch.equal(a.inputs, torch.full_like(a.inputs, 0.5))
    assert a.inputs.min() >= 0 and a.inputs.max() <= 1


def test_parsing_loss_ignores_unlabelled_pixels(parsing_task):
    logits = torch.randn(2, 19, 8, 8)
    target = torch.randint(0, 19, (2, 8, 8))
    full = parsing_task.loss(logits, Batch(torch.zeros(2, 3, 8, 8), target))
    ignored = target.clone()
    ignored[:, :4] = 255
    half = parsing_task.loss(logits, Batch(torch.zeros(2, 3, 8, 8), ignored))
    assert torch.isfinite(half["ce"]) and not torch.isclose(half["ce"], full["ce"])
    none = parsing_task.loss(logits, Batch(torch.zeros(2, 3, 8, 8), torch.full_like(target, 255)))
    assert none["ce"] == 0 and torch.isfinite(none["dice"])
