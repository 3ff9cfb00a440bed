"""Label-map overlays used for the pictures in docs/images."""

import numpy as np

from portrait_edge.labels import NUM_CLASSES
from portrait_edge.train.visualize import PALETTE, colourise, overlay


def test_palette_has_a_distinct_colour_per_class():
    assert PALETTE.shape == (NUM_CLASSES, 3)
    assert len({tuple(c) for c in PALETTE}) == NUM_CLASSES


def test_overlay_keeps_background_and_tints_classes():
    image = np.full((4, 4, 3), 100, np.uint8)
    labels = np.zeros((4, 4), np.int64)
    labels[0, 0] = 1
    out = overlay(image, labels, alpha=0.5)
    assert (out[1:, :] == 100).all()
    assert out[0, 0].tolist() == [round(100 * 0.5 + c * 0.5) for c in PALETTE[1]]
    assert colourise(labels)[0, 0].tolist() == PALETTE[1].tolist()
