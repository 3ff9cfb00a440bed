"""The maskedit pipeline: the target mask is built from the edits asked for, only what changed is pasted
back, bad requests are one-line errors; the `edit` command writes its files. A tiny untrained network
stands in for the shipped one (what is tested here is the plumbing, not the rendering)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.labels import CLASS_ID


@pytest.fixture(scope="module")
def portraits():
    from portrait_edge.train.visualize import real_portraits

    found = real_portraits()
    if len(found) < 2:
        pytest.skip("needs the skimage and matplotlib sample portraits")
    return found


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
    import edge_fixtures

    from portrait_edge.tasks import get_task

    task = get_task("maskedit")
    return edge_fixtures.save_tiny_checkpoint(tmp_path_factory.mktemp("maskedit") / "tiny", task, edge_fixtures.tiny_model(task))


@pytest.fixture(scope="module")
def pipe(checkpoint):
    from portrait_edge.pipelines import load_pipeline

    return load_pipeline("maskedit", checkpoint=checkpoint)


def _outside(result, image, margin: int = 5) -> bool:
    return np.array_equal(result.image[:margin, :margin], image[:margin, :margin])


def test_glasses_on_changes_only_around_the_eyes(pipe, portraits):
    image = portraits["grace_hopper"]
    result = pipe(image, glasses="on")
    source, target = result.extra["source_mask"], result.extra["target_mask"]
    assert source.shape == target.shape == (pipe.size, pipe.size)
    added = (target == CLASS_ID["eye_g"]) & (source != CLASS_ID["eye_g"])
    assert added.sum() > 20
    rows = np.nonzero(added)[0]
    assert rows.max() < 0.7 * pipe.size  # drawn around the eyes, not on the chin
    assert result.image.shape == image.shape and not np.array_equal(result.image, image)
    assert _outside(result, image)
    assert set(result.timings_ms) >= {"detect", "parse", "model", "paste", "total"}


def test_an_edit_that_changes_nothing_leaves_the_photo_alone(pipe, portraits):
    image = portraits["grace_hopper"]
    result = pipe(image, target_mask=pipe(image, glasses="off").extra["source_mask"])
    assert np.array_equal(result.extra["target_mask"], result.extra["source_mask"])
    assert np.array_equal(result.image, image)


def test_change_takes_the_reference_parts_and_style_copies_inside_them(pipe, portraits):
    image, reference = portraits["grace_hopper"], portraits["astronaut"]
    changed = pipe(image, reference=reference, change=["mouth"])
    mouth = [CLASS_ID[c] for c in ("mouth", "u_lip", "l_lip")]
    ref_mask, target = changed.extra["reference_mask"], changed.extra["target_mask"]
    assert np.array_equal(np.isin(target, mouth), np.isin(ref_mask, mouth))
    hair = changed.extra["source_mask"] == CLASS_ID["hair"]
    assert np.array_equal(target[hair], changed.extra["source_mask"][hair])  # hair untouched
    styled = pipe(image, reference=reference, style=["hair"])
    assert np.array_equal(styled.extra["target_mask"], styled.extra["source_mask"])  # the layout stays
    assert not np.array_equal(styled.image, image) and _outside(styled, image)


def test_bad_requests_are_one_line_errors(pipe, portraits):
    image = portraits["grace_hopper"]
    cases = [
        ({}, "nothing to edit"),
        ({"change": ["mouth"]}, "reference photo"),
        ({"reference": image, "change": ["ears"]}, "unknown part ears"),
        ({"glasses": "maybe"}, "glasses must be"),
        ({"target_mask": np.zeros((5, 6), np.int64)}, "square 2-D"),
        ({"target_mask": np.full((8, 8), 40)}, "outside 0..18"),
        ({"reference": np.zeros((64, 64, 3), np.uint8), "style": ["hair"]}, "no face found in the reference"),
    ]
    for options, message in cases:
        with pytest.raises(PortraitEdgeError, match=message) as error:
            pipe(image, **options)
        assert "\n" not in str(error.value)


def test_edit_command_writes_the_edit_the_masks_and_a_paintable_mask(checkpoint, portraits, tmp_path):
    from PIL import Image

    from portrait_edge.cli import main

    photo = tmp_path / "photo.png"
    Image.fromarray(portraits["grace_hopper"]).save(photo)
    out = tmp_path / "out"
    assert main(["edit", str(photo), "--glasses", "on", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["photo.maskedit.png", "photo.masks.png", "photo.source_mask.png"]
    mask = out / "photo.source_mask.png"
    assert main(["edit", str(photo), "--target-mask", str(mask), "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out / "photo.maskedit.png")), portraits["grace_hopper"])
    assert main(["edit", str(photo), "--target-mask", str(photo), "--checkpoint", str(checkpoint), "--out", str(out)]) != 0
    assert main(["apply", "--task", "maskedit", str(photo), "--out", str(out)]) != 0
