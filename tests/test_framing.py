import numpy as np

from portrait_edge import framing


def test_square_follows_the_definition():
    landmarks = np.array([[100, 200, 0], [180, 300, 0]] * 234, np.float32)  # box 80 x 100
    square = framing.face_square(landmarks)
    assert square.side == 2.25 * 100
    assert square.left == 140 - square.side / 2
    assert square.top == 250 - 0.52 * square.side


def test_crop_inside_the_photo_has_all_pixels_valid_and_maps_points_back():
    image = np.random.default_rng(0).integers(0, 255, (400, 300, 3), dtype=np.uint8)
    square = framing.Square(top=50, left=40, side=200)
    crop, valid = framing.crop(image, square, 100)
    assert crop.shape == (100, 100, 3) and valid == (0, 0, 100, 100)
    points = np.array([[40, 50, 10], [240, 250, 0], [140, 150, -4]], np.float32)
    inside = framing.to_crop(points, square, 100)
    np.testing.assert_allclose(inside[:, :2], [[0, 0], [100, 100], [50, 50]])
    assert inside[0, 2] == 5 and inside[2, 2] == -2
    np.testing.assert_allclose(framing.from_crop(inside, square, 100), points, atol=1e-4)


def test_crop_past_the_edges_repeats_edge_pixels_and_says_which_part_is_real():
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :50] = 200
    crop, valid = framing.crop(image, framing.Square(top=-50, left=-50, side=200), 100)
    top, left, bottom, right = valid
    assert (top, left, bottom, right) == (25, 25, 75, 75)
    assert crop[50, 5].tolist() == [200, 200, 200]  # left padding repeats the photo's left column
    assert crop[50, 95].tolist() == [0, 0, 0]
