"""Pair builders: shapes per task spec, invariants, seeds, bad input."""

import pytest
import torch

from portrait_edge.data import pairs
from portrait_edge.data.pairs import TASK_IDS, TEST_SEED_BASE, TRAIN_SEED_BASE, TRAIN_SEED_COUNT, make_pairs
from portrait_edge.data.synth.scene import sample_seed
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.labels import NUM_CLASSES
from portrait_edge.tasks import get_task

SIZE = 64


@pytest.fixture(scope="module", params=TASK_IDS)
def task_batch(request):
    return request.param, make_pairs(request.param, 2, seed=3, size=SIZE)


def test_batch_matches_the_task_spec(task_batch):
    task_id, batch = task_batch
    spec = get_task(task_id)
    assert batch.inputs.shape == (2, spec.in_channels, SIZE, SIZE) and batch.inputs.dtype == torch.float32
    assert float(batch.inputs.min()) >= 0.0 and float(batch.inputs.max()) <= 1.0
    if task_id == "parsing":
        assert batch.target.shape == (2, SIZE, SIZE) and batch.target.dtype == torch.int64
        assert 0 <= int(batch.target.min()) and int(batch.target.max()) < NUM_CLASSES
    else:
        assert batch.target.shape == (2, spec.out_channels, SIZE, SIZE) and batch.target.dtype == torch.float32
    for value in batch.extras.values():
        assert value.shape[0] == 2


def test_shadow_input_equals_target_outside_the_mask():
    batch = make_pairs("shadow", 3, seed=1, size=SIZE)
    mask = batch.extras["shadow_mask"]
    outside = (mask == 0).expand_as(batch.inputs)
    assert torch.equal(batch.inputs[outside], batch.target[outside])
    assert float(mask.max()) > 0.5
    inside = (mask > 0.9).expand_as(batch.inputs)
    assert float((batch.inputs[inside] - batch.target[inside]).mean()) < 0  # shadows are darker
    assert batch.extras["face_mask"].sum() > 0


def test_facial_shadow_fill_strength_zero_is_identity_and_more_fill_is_brighter():
    seeds = [sample_seed(2, i) for i in range(2)]
    none = pairs._facial_shadow(seeds, SIZE, torch.device("cpu"), strength=torch.zeros(2))
    assert torch.equal(none.inputs[:, :3], none.target)
    assert float(none.inputs[:, 3].abs().max()) == 0.0
    full = pairs._facial_shadow(seeds, SIZE, torch.device("cpu"), strength=torch.ones(2))
    face = full.extras["face_mask"].expand(-1, 3, -1, -1) > 0
    assert float(full.target[face].mean()) > float(full.inputs[:, :3][face].mean())
    batch = make_pairs("facial_shadow", 2, seed=4, size=SIZE)
    s = batch.extras["fill_strength"]
    assert torch.allclose(batch.inputs[:, 3].flatten(1).mean(1), s)


def test_normals_target_is_unit_on_foreground_and_zero_elsewhere():
    batch = make_pairs("normals", 2, seed=5, size=SIZE)
    fg = batch.extras["foreground_mask"][:, 0] > 0
    length = batch.target.norm(dim=1)
    assert torch.allclose(length[fg], torch.ones_like(length[fg]), atol=1e-3)
    assert float(length[~fg].max()) == 0.0
    assert float(batch.inputs[:, 3:].max()) > 0  # landmark channels are drawn


def test_retouch_input_equals_target_outside_blemishes():
    batch = make_pairs("retouch", 3, seed=6, size=128)
    mask = batch.extras["blemish_mask"]
    outside = (mask == 0).expand_as(batch.inputs)
    assert torch.equal(batch.inputs[outside], batch.target[outside])
    assert float(mask.sum()) > 0
    assert float((batch.inputs - batch.target).abs()[(mask > 0.5).expand_as(batch.inputs)].mean()) > 0.005


def test_maskedit_reconstruction_and_swapped_halves():
    batch = make_pairs("maskedit", 4, seed=9, size=SIZE)
    swapped = batch.extras["swapped"]
    assert swapped.tolist() == [True, False, True, False]  # by each sample's seed, not its place in the batch
    source = batch.inputs[:, :3]
    source_mask = batch.inputs[:, 3:3 + NUM_CLASSES]
    target_mask = batch.inputs[:, 3 + NUM_CLASSES:]
    assert torch.equal(source_mask.sum(1), torch.ones_like(source_mask[:, 0]))
    assert torch.equal(target_mask.argmax(1), batch.extras["target_labels"])
    for i in (1, 3):
        assert torch.equal(batch.target[i], source[i]) and torch.equal(source_mask[i], target_mask[i])
    for i in (0, 2):
        assert not torch.equal(source_mask[i], target_mask[i])
        assert not torch.equal(batch.target[i], source[i])
    # A swapped target has the source's appearance: its background colour matches the source's.
    corner = (slice(None), slice(0, 4), slice(0, 4))
    assert torch.allclose(batch.target[0][corner].mean(), source[0][corner].mean(), atol=0.08)
    # one sample at a time (as evaluation splits are rendered), about half are swapped too
    singles = [bool(make_pairs("maskedit", 1, seed=s, size=SIZE).extras["swapped"][0]) for s in range(8)]
    assert 0 < sum(singles) < 8
    # every render pair has its target, which is also the photo of the target mask (the GAN's real image)
    assert batch.extras["has_target"].tolist() == [1.0] * 4 and torch.equal(batch.extras["mask_photo"], batch.target)


def test_one_hot_leaves_unlabelled_pixels_empty():
    from portrait_edge.data.pairs import one_hot

    labels = torch.tensor([[[0, 18], [255, 3]]])
    encoded = one_hot(labels)
    assert encoded.shape == (1, NUM_CLASSES, 2, 2)
    assert encoded.sum(1).tolist() == [[[1.0, 1.0], [0.0, 1.0]]] and float(encoded[0, 18, 0, 1]) == 1.0


def test_samples_depend_only_on_seed_and_index():
    whole = make_pairs("parsing", 3, seed=9, size=SIZE)
    part = make_pairs("parsing", 1, seed=9, size=SIZE, first_index=2)
    assert torch.equal(whole.inputs[2:], part.inputs) and torch.equal(whole.target[2:], part.target)
    edit = make_pairs("maskedit", 1, seed=9, size=SIZE, first_index=2)
    assert bool(edit.extras["swapped"][0]) and torch.equal(edit.inputs, make_pairs("maskedit", 3, seed=9, size=SIZE).inputs[2:])
    assert TRAIN_SEED_BASE + TRAIN_SEED_COUNT <= TEST_SEED_BASE


@pytest.mark.parametrize("kwargs, message", [
    ({"task_id": "nope", "n": 1, "seed": 0, "size": 64}, "unknown task"),
    ({"task_id": "parsing", "n": 0, "seed": 0, "size": 64}, "number of samples"),
    ({"task_id": "parsing", "n": 1, "seed": 0, "size": 8}, "size"),
])
def test_bad_requests_raise_one_line_errors(kwargs, message):
    with pytest.raises(PortraitEdgeError, match=message) as info:
        make_pairs(**kwargs)
    assert "\n" not in str(info.value)
