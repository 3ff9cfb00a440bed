"""Crop results back onto the photo: the inverse of the framing crop."""

import numpy as np
import torch

from portrait_edge import framing
from portrait_edge.pipelines.paste import feather_weights, paste_image, paste_labels


def test_feather_weights_fade_to_zero_at_the_border():
    weights = feather_weights(100)
    assert weights[50, 50] == 1 and weights[0, 0] < 0.05 and weights[0, 50] < 0.05
    assert np.allclose(weights, weights.T) and np.allclose(weights, weights[::-1])


def test_labels_land_where_the_crop_came_from_even_past_the_photo_edge():
    square = framing.Square(top=-20.0, left=30.0, side=100.0)  # reaches above the photo
    logits = torch.zeros(1, 3, 64, 64)
    logits[0, 2, :, :32] = 5  # left half of the crop: class 2
    logits[0, 1, :, 32:] = 5  # right half: class 1
    labels = paste_labels(logits, square, 120, 200, fill=0)
    assert labels.shape == (120, 200)
    assert (labels[:80, 32:78] == 2).all() and (labels[:80, 82:128] == 1).all()
    assert (labels[80:] == 0).all() and (labels[:, :30] == 0).all() and (labels[:, 131:] == 0).all()


def test_pasting_the_photo_s_own_crop_gives_the_photo_back():
    rng = np.random.default_rng(0)
    photo = (rng.uniform(0, 1, (8, 8, 3)) * 255).astype(np.uint8).repeat(32, 0).repeat(32, 1)  # smooth blocks
    square = framing.Square(top=40.0, left=60.0, side=128.0)
    crop, _ = framing.crop(photo, square, 128)
    result = torch.from_numpy(crop.astype(np.float32) / 255).permute(2, 0, 1)[None]
    pasted = paste_image(result, square, photo)
    assert np.abs(pasted.astype(int) - photo.astype(int)).max() <= 2
    edited = paste_image(torch.zeros_like(result), square, photo)  # a black edit
    assert (edited[100, 120] == 0).all()                 # the square's centre takes the edit
    assert (edited[:40] == photo[:40]).all() and (edited[:, :60] == photo[:, :60]).all()  # outside: untouched


def test_pasting_the_change_keeps_the_photo_s_detail_where_nothing_changed():
    rng = np.random.default_rng(1)
    photo = (rng.uniform(0, 1, (400, 400, 3)) * 255).astype(np.uint8)  # fine detail the 64 px crop cannot hold
    square = framing.Square(top=50.0, left=50.0, side=300.0)
    crop, _ = framing.crop(photo, square, 64)
    seen = torch.from_numpy(crop.astype(np.float32) / 255).permute(2, 0, 1)[None]
    assert np.array_equal(paste_image(seen, square, photo, reference=seen), photo)  # no change: the same bytes
    assert np.abs(paste_image(seen, square, photo).astype(int) - photo.astype(int)).mean() > 20  # a whole paste blurs
    brighter = paste_image((seen + 0.2).clamp(0, 1), square, photo, reference=seen)
    centre = np.s_[180:220, 180:220]
    change = brighter[centre].astype(int) - photo[centre].astype(int)
    assert 20 < np.median(change) <= 52  # the edit arrives (+0.2, less where the crop was clipped at 1)
    assert np.array_equal(brighter[:50], photo[:50])  # outside the square: untouched
