"""Relighting with a normal map, on the engine's renders (exact normals)."""

import numpy as np
import pytest

from portrait_edge.errors import PortraitEdgeError


@pytest.fixture(scope="module")
def render():
    from portrait_edge.data.pairs import make_pairs

    batch = make_pairs("normals", 1, 3, 128)
    image = (batch.inputs[0, :3].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    normals = batch.target[0].permute(1, 2, 0).numpy()
    mask = batch.extras["face_mask"][0, 0].numpy() > 0.5
    return image, normals, mask


def luminance(image):
    return (image.astype(float) @ [0.2126, 0.7152, 0.0722])


def test_a_light_from_one_side_brightens_the_faces_that_look_that_way(render):
    from portrait_edge.relight import relight

    image, normals, mask = render
    right, left = mask & (normals[..., 0] > 0.4), mask & (normals[..., 0] < -0.4)
    from_right = relight(image, normals, mask, azimuth=80, elevation=0)
    from_left = relight(image, normals, mask, azimuth=-80, elevation=0)
    assert luminance(from_right)[right].mean() > luminance(from_left)[right].mean() + 10
    assert luminance(from_left)[left].mean() > luminance(from_right)[left].mean() + 10
    assert np.array_equal(from_right[~mask], image[~mask])  # only the face changes


def test_colour_intensity_and_keep(render):
    from portrait_edge.relight import relight

    image, normals, mask = render
    warm = relight(image, normals, mask, azimuth=0, elevation=0, color=(1.0, 0.6, 0.3))
    def red_over_blue(picture):
        return picture[mask][:, 0].astype(float).mean() / max(1.0, picture[mask][:, 2].astype(float).mean())

    assert red_over_blue(warm) > 1.2 * red_over_blue(image)
    dim, bright = (relight(image, normals, mask, azimuth=0, elevation=0, intensity=v) for v in (0.3, 1.5))
    assert luminance(bright)[mask].mean() > luminance(dim)[mask].mean()
    unchanged = relight(image, normals, mask, keep=1.0)
    assert np.abs(unchanged.astype(int) - image.astype(int))[mask].mean() < 6  # the fitted SH lighting explains it


def test_bad_arguments_are_one_line_errors(render):
    from portrait_edge.relight import relight

    image, normals, mask = render
    with pytest.raises(PortraitEdgeError, match="must match"):
        relight(image, normals[:10], mask)
    with pytest.raises(PortraitEdgeError, match="fewer than 50"):
        relight(image, normals, np.zeros_like(mask))
    with pytest.raises(PortraitEdgeError, match="keep"):
        relight(image, normals, mask, keep=2)
