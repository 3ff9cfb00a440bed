"""Real-photo pairs (shadow composites, blemish composites) on a pool built from renders the tests write."""

import numpy as np
import pytest
import torch

from portrait_edge.errors import PortraitEdgeError

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def photos(pool_dir):
    from portrait_edge.data.pool import Pool

    pool = Pool(pool_dir)
    images = torch.from_numpy(np.stack([pool.image(i) for i in range(len(pool))])).permute(0, 3, 1, 2).float() / 255
    landmarks = torch.from_numpy(np.stack([pool.landmarks(i) for i in range(len(pool))]))
    return images, landmarks


def luminance(images):
    return (images * torch.tensor([0.2126, 0.7152, 0.0722])[:, None, None]).sum(1, keepdim=True)


def test_shadow_composite_keeps_the_photo_outside_the_mask_and_darkens_inside(photos):
    from portrait_edge.data.real_pairs import shadow_composites

    images, _ = photos
    seeds = list(range(100, 100 + len(images)))
    shadowed, mask = shadow_composites(images, seeds)
    assert mask.shape == (len(images), 1, 256, 256) and mask.max() > 0.5
    outside = (mask == 0).expand_as(images)
    assert torch.equal(shadowed[outside], images[outside])
    umbra = (mask > 0.6) & (luminance(images) > 0.05)
    ratio = (luminance(shadowed)[umbra] / luminance(images)[umbra]).median()
    assert 0.2 < ratio < 0.85, ratio  # 12-50% of linear luminance is ~38-73% in sRGB
    again, _ = shadow_composites(images[:2], seeds[:2])
    assert torch.allclose(again, shadowed[:2], atol=1e-5)  # batch-independent up to float rounding
    other, _ = shadow_composites(images[:2], [7, 8])
    assert not torch.equal(other, shadowed[:2])


def test_shadowed_skin_turns_bluer_and_its_penumbra_warmer(photos):
    from portrait_edge.data.real_pairs import shadow_composites

    images, _ = photos
    shadowed, mask = shadow_composites(images, list(range(len(images))))
    peak = mask.flatten(1).amax(1)[:, None, None, None]
    umbra, penumbra = (mask > 0.97 * peak)[:, 0], ((mask > 0.2 * peak) & (mask < 0.6 * peak))[:, 0]

    def blue_over_red(x, where):
        return (x[:, 2][where] / x[:, 0][where].clamp(min=1e-3)).mean()

    assert blue_over_red(shadowed, umbra) > blue_over_red(images, umbra)
    # relative to the umbra's cast, the penumbra keeps more red
    gain = lambda where: blue_over_red(shadowed, where) / blue_over_red(images, where)  # noqa: E731
    assert gain(penumbra) < gain(umbra)


def test_blemishes_land_on_mesh_skin_only_and_nothing_else_changes(photos):
    from portrait_edge.data.real_pairs import blemish_composites, face_labels
    from portrait_edge.labels import CLASS_ID

    images, landmarks = photos
    blemished, mask = blemish_composites(images, landmarks, list(range(len(images))))
    assert (mask.flatten(1).amax(1) > 0.3).sum() >= len(images) - 1  # a blemish on (nearly) every face
    outside = (mask == 0).expand_as(images)
    assert torch.equal(blemished[outside], images[outside])
    labels = face_labels(landmarks, 256)
    skin = (labels == CLASS_ID["skin"]) | (labels == CLASS_ID["nose"])
    assert (mask[:, 0][~skin] == 0).all()
    assert (blemished - images).abs().amax() > 0.05


def test_pool_reader_pairs_become_task_batches_with_their_masks(pool_dir):
    from portrait_edge.data.readers import open_reader
    from portrait_edge.metrics import ImageMetrics, psnr
    from portrait_edge.tasks import get_task
    from portrait_edge.train.real_data import batch_from_samples

    for task_id, mask_name in (("shadow", "shadow_mask"), ("retouch", "blemish_mask")):
        reader = open_reader("pool", pool_dir, split=None, pairs=task_id, size=128)
        samples = [reader[i] for i in range(3)]
        assert samples[0]["image"].shape == (128, 128, 3) and samples[0][mask_name].shape == (128, 128)
        assert np.array_equal(reader[0]["image"], samples[0]["image"])  # a fixed pair per photo and pair_seed
        other = open_reader("pool", pool_dir, split=None, pairs=task_id, size=128, pair_seed=1)[0]
        assert not np.array_equal(other["image"], samples[0]["image"])
        task = get_task(task_id)
        batch = batch_from_samples(task, samples, 128)
        assert batch.inputs.shape == (3, 3, 128, 128) and batch.target.shape == (3, 3, 128, 128)
        assert batch.extras[mask_name].shape == (3, 1, 128, 128) and batch.extras["face_mask"].shape == (3, 1, 128, 128)
        metrics = ImageMetrics({"psnr_face": ("face_mask", True), "psnr_outside": (mask_name, False)})
        metrics.update(batch.inputs, batch)
        values = metrics.compute()
        whole = float(psnr(batch.inputs.flatten()[None], batch.target.flatten()[None]))  # pooled, like the regions
        assert whole < values["psnr_outside"] and np.isfinite(values["psnr_face"])  # the change is inside the mask


def test_reader_refuses_unknown_pairs(pool_dir):
    from portrait_edge.data.readers import open_reader

    with pytest.raises(PortraitEdgeError, match="pairs must be one of"):
        open_reader("pool", pool_dir, pairs="normals")
    with pytest.raises(PortraitEdgeError, match="pair_seed"):
        open_reader("pool", pool_dir, pairs="shadow", pair_seed="x")


@pytest.mark.parametrize("task", ["shadow", "retouch"])
def test_cli_preview_writes_a_contact_sheet(pool_dir, tmp_path, task):
    from PIL import Image

    from portrait_edge.cli import main

    out = tmp_path / f"{task}.png"
    assert main(["pool", "preview", "--pool", str(pool_dir), "--task", task, "--split", "train", "--n", "2",
                 "--out", str(out)]) == 0
    with Image.open(out) as sheet:
        assert sheet.size == (3 * 256, 2 * 256)
    assert main(["pool", "preview", "--pool", str(pool_dir), "--task", "normals", "--out", str(out)]) == 2


def test_a_shadow_drawn_on_a_whole_photo_falls_on_the_face_only(photos):
    from portrait_edge.data.real_pairs import draw_shadow

    images, landmarks = photos
    face = (images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    photo = np.full((400, 700, 3), 200, np.uint8)
    photo[100:356, 350:606] = face  # the framed face, off-centre in a wider photo
    points = landmarks[0].numpy().copy()
    points[:, 0] += 350
    points[:, 1] += 100
    shadowed, mask = draw_shadow(photo, points, seed=3)
    assert shadowed.shape == photo.shape and mask.shape == photo.shape[:2]
    assert mask[:, :300].max() == 0 and np.array_equal(shadowed[:, :300], photo[:, :300])  # far from the face
    inside = mask > 0.6
    assert inside.sum() > 500 and shadowed[inside].mean() < photo[inside].mean() - 10
    again, _ = draw_shadow(photo, points, seed=3)
    assert np.array_equal(again, shadowed)  # the seed decides the shadow
