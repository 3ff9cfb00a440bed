"""The synthetic portrait engine: outputs, conventions, determinism (CPU; CUDA when available)."""

import math

import numpy as np
import pytest
import torch

from portrait_edge.data.synth import render_batch, sample_seed
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.labels import CLASS_ID, NUM_CLASSES

SIZE = 96
FACE_IDS = [CLASS_ID[c] for c in ("skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip", "hair")]


@pytest.fixture(scope="module")
def render():
    return render_batch(4, seed=11, size=SIZE)


@pytest.fixture(scope="module")
def frontal():
    """Frontal faces, mouth closed, no hair/hat/glasses hiding features."""
    overrides = {"yaw": np.zeros(3), "pitch": np.zeros(3), "roll": np.zeros(3), "jaw_open": np.zeros(3),
                 "glasses": np.zeros(3), "hat": np.zeros(3), "iod_frac": np.full(3, 0.26)}
    return render_batch(3, seed=5, size=128, overrides=overrides)


def test_shapes_dtypes_and_ranges(render):
    n = 4
    assert render.image.shape == (n, 3, SIZE, SIZE) and render.image.dtype == torch.float32
    assert render.albedo.shape == (n, 3, SIZE, SIZE)
    assert render.normals.shape == (n, 3, SIZE, SIZE)
    assert render.depth.shape == render.foreground.shape == render.cast_shadow.shape == (n, 1, SIZE, SIZE)
    assert render.labels.shape == (n, SIZE, SIZE) and render.labels.dtype == torch.int64
    assert render.landmarks.shape == (n, 468, 3) and render.landmarks.dtype == torch.float32
    for tensor in (render.image, render.albedo, render.cast_shadow, render.self_shadow, render.foreground):
        assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0
    assert int(render.labels.min()) >= 0 and int(render.labels.max()) < NUM_CLASSES
    assert set(render.lights) >= {"key_dir", "key_rgb", "fill_dir", "fill_rgb", "sky_rgb", "ground_rgb"}


def test_normals_are_unit_on_the_person_and_zero_elsewhere(render):
    length = render.normals.norm(dim=1)
    fg = render.foreground[:, 0] > 0
    assert torch.allclose(length[fg], torch.ones_like(length[fg]), atol=1e-3)
    assert float(length[~fg].abs().max()) == 0.0
    # Labels and the foreground agree: background label exactly where nothing was hit (glasses lenses aside).
    assert bool(((render.labels == 0) | fg).all())


def test_deterministic_and_independent_of_batch_size():
    a = render_batch(3, seed=21, size=64)
    b = render_batch(3, seed=21, size=64)
    c = render_batch(2, seed=21, size=64)
    assert torch.equal(a.image, b.image) and torch.equal(a.labels, b.labels)
    assert torch.equal(a.image[:2], c.image) and torch.equal(a.landmarks[:2], c.landmarks)
    d = render_batch(3, seed=22, size=64)
    assert not torch.equal(a.image, d.image)


def test_first_index_renders_the_same_samples_as_a_slice_of_the_batch():
    whole = render_batch(4, seed=21, size=64)
    tail = render_batch(2, seed=21, size=64, first_index=2)
    # Equal up to float rounding (batch-size-dependent BLAS paths in posing change depths by ~1e-3 px).
    assert float((whole.labels[2:] != tail.labels).float().mean()) < 1e-3
    assert torch.allclose(whole.landmarks[2:], tail.landmarks, atol=1e-3)
    assert float((whole.image[2:] - tail.image).abs().mean()) < 1e-3
    assert not torch.equal(whole.labels[:2], tail.labels)
    with pytest.raises(PortraitEdgeError):
        render_batch(1, seed=21, size=64, first_index=-1)


def test_sample_seeds_do_not_overlap_between_neighbouring_seeds():
    first = {sample_seed(7, i) for i in range(64)}
    second = {sample_seed(8, i) for i in range(64)}
    assert not first & second


def test_every_face_has_its_main_classes(frontal):
    for labels in frontal.labels:
        present = set(labels.unique().tolist())
        for name in ("background", "skin", "nose", "l_eye", "r_eye", "u_lip", "l_lip", "neck", "cloth"):
            assert CLASS_ID[name] in present, name


def test_landmarks_lie_on_the_face(frontal):
    for labels, landmarks in zip(frontal.labels, frontal.landmarks):
        x = landmarks[:, 0].long().clamp(0, 127)
        y = landmarks[:, 1].long().clamp(0, 127)
        on_face = torch.isin(labels[y, x], torch.tensor(FACE_IDS))
        assert float(on_face.float().mean()) > 0.9


def test_left_and_right_are_the_persons(frontal):
    """Person's left (CelebAMask-HQ l_*, Face Mesh 'left') = image right in an unmirrored frontal view."""
    for labels, landmarks in zip(frontal.labels, frontal.landmarks):
        ys, xs = torch.nonzero(labels == CLASS_ID["l_eye"], as_tuple=True)
        ys_r, xs_r = torch.nonzero(labels == CLASS_ID["r_eye"], as_tuple=True)
        assert xs.float().mean() > 64 > xs_r.float().mean()
        assert landmarks[263, 0] > landmarks[33, 0]  # Face Mesh: 263 = left eye outer corner
        assert xs.float().mean() == pytest.approx(float(landmarks[[263, 362], 0].mean()), abs=6)


def test_yaw_turns_the_nose_to_image_right_and_depth_is_mediapipe_like():
    overrides = {"yaw": np.array([0.0, math.radians(30)]), "pitch": np.zeros(2), "roll": np.zeros(2)}
    r = render_batch(2, seed=3, size=128, overrides=overrides)
    eye_mid = r.landmarks[:, [33, 263], 0].mean(1)
    offset = r.landmarks[:, 1, 0] - eye_mid  # landmark 1 = nose tip
    assert abs(float(offset[0])) < 1.5 and float(offset[1]) > 5
    z = r.landmarks[0, :, 2]
    assert abs(float(z.mean())) < 1e-3  # relative to the landmarks' centre
    assert float(z[1]) < float(z[234])  # nose tip closer (smaller) than the cheek contour


def test_normals_face_the_camera_on_the_face_and_match_shading(frontal):
    skin = frontal.labels == CLASS_ID["skin"]
    nz = frontal.normals[:, 2][skin]
    assert float((nz > 0).float().mean()) > 0.97
    # Lambert: where the key light hits straight on, skin is brighter than where it grazes.
    key = frontal.lights["key_dir"]
    cosine = (frontal.normals * key[:, :, None, None]).sum(1)
    lum = frontal.image.mean(1)
    for i in range(len(key)):
        m = skin[i] & (frontal.cast_shadow[i, 0] < 0.05)
        high, low = cosine[i][m] > 0.8, (cosine[i][m] > 0.0) & (cosine[i][m] < 0.35)
        if int(high.sum()) > 20 and int(low.sum()) > 20:
            assert float(lum[i][m][high].mean()) > float(lum[i][m][low].mean())


def test_accessories_and_hair_styles_appear_over_seeds():
    r = render_batch(24, seed=0, size=48)
    present = set(r.labels.unique().tolist())
    for name in ("hair", "eye_g", "hat", "ear_r", "neck_l", "mouth", "l_ear", "r_ear"):
        assert CLASS_ID[name] in present, name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
def test_cuda_matches_cpu_labels():
    cpu = render_batch(2, seed=4, size=64, device="cpu")
    gpu = render_batch(2, seed=4, size=64, device="cuda")
    assert gpu.image.device.type == "cuda"
    agree = (cpu.labels == gpu.labels.cpu()).float().mean()
    assert float(agree) > 0.99
