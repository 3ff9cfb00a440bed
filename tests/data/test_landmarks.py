"""Face Mesh detection on real portraits, the landmark channels of `normals`, landmark_error."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from portrait_edge.data import landmarks as lm_module
from portrait_edge.data.landmarks import (EYE_CENTER_INDICES, FACE_MESH_CONTOURS, FACE_MESH_REGIONS, MESH_TRIANGLES,
                                          MESH_TRIANGLE_REGIONS, REGION_CODES, REGION_VALUES, NoFaceError,
                                          detect_landmarks, landmark_channels, landmark_error)
from portrait_edge.errors import NotAvailableError, PortraitEdgeError

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
needs_mediapipe = pytest.mark.skipif(not HAS_MEDIAPIPE, reason="mediapipe 0.10.21 is not installed")


def _astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def _grace_hopper() -> np.ndarray:
    cbook = pytest.importorskip("matplotlib.cbook")
    from portrait_edge.io import read_image

    return read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


# Face boxes (x0, y0, x1, y1) in pixels, read off the images by eye: forehead to chin, ear to ear.
FACE_BOXES = {"astronaut": (160, 50, 295, 200), "grace_hopper": (150, 100, 380, 360)}


@pytest.fixture(scope="module")
def detections() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not HAS_MEDIAPIPE:
        pytest.skip("mediapipe 0.10.21 is not installed")
    images = {"astronaut": _astronaut(), "grace_hopper": _grace_hopper()}
    return {name: (image, detect_landmarks(image)) for name, image in images.items()}


def _eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return points[EYE_CENTER_INDICES["left"], :2].mean(0), points[EYE_CENTER_INDICES["right"], :2].mean(0)


# ---------------------------------------------------------------- detection


@needs_mediapipe
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_detects_468_points_inside_the_face(detections, name):
    image, points = detections[name]
    assert points.shape == (468, 3) and points.dtype == np.float32
    x0, y0, x1, y1 = FACE_BOXES[name]
    assert (points[:, 0] > x0).all() and (points[:, 0] < x1).all()
    assert (points[:, 1] > y0).all() and (points[:, 1] < y1).all()
    left, right = _eye_centres(points)
    assert left[0] > right[0]  # the subject's left eye is on the image's right
    mouth = points[FACE_MESH_REGIONS["lips"], 1].mean()
    assert mouth > left[1] + 10 and mouth > right[1] + 10  # mouth below the eyes (y down)
    z = points[:, 2]
    assert z[1] < np.percentile(z, 5)  # the nose tip (vertex 1) is among the nearest points
    assert abs(float(z.mean())) < 0.1 * np.ptp(points[:, 0])  # z is relative to the head centre


@needs_mediapipe
def test_no_face_in_a_flat_grey_image():
    with pytest.raises(NoFaceError) as info:
        detect_landmarks(np.full((256, 256, 3), 128, np.uint8))
    assert isinstance(info.value, PortraitEdgeError) and "\n" not in str(info.value)
    assert "no face" in str(info.value)


def test_detect_rejects_wrong_arrays():
    with pytest.raises(PortraitEdgeError, match="HxWx3 uint8"):
        detect_landmarks(np.zeros((64, 64), np.uint8))
    with pytest.raises(PortraitEdgeError, match="HxWx3 uint8"):
        detect_landmarks(np.zeros((64, 64, 3), np.float32))


@needs_mediapipe
def test_detection_is_repeatable_across_threads(detections):
    image, expected = detections["astronaut"]
    results = []
    threads = [threading.Thread(target=lambda: results.append(detect_landmarks(image))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_missing_mediapipe_is_a_clear_not_available_error(monkeypatch):
    monkeypatch.setattr(lm_module, "_FACE_MESHES", {})
    for name in ["mediapipe", *[m for m in sys.modules if m.startswith("mediapipe.")]]:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import mediapipe...` fail
    with pytest.raises(NotAvailableError, match="MediaPipe 0.10.21"):
        detect_landmarks(np.zeros((64, 64, 3), np.uint8))


def test_channels_work_without_mediapipe():
    code = ("import sys; sys.modules['mediapipe'] = None\n"
            "import torch\n"
            "from portrait_edge.data.landmarks import landmark_channels, MESH_TRIANGLES\n"
            "g = torch.Generator().manual_seed(0)\n"
            "points = torch.rand(1, 468, 3, generator=g) * 40 + 10\n"
            "print(float(landmark_channels(points, 64)[:, 0].max()))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) > 0


# ---------------------------------------------------------------- topology


def test_topology_tables_are_consistent():
    assert MESH_TRIANGLES.shape == (898, 3) and MESH_TRIANGLES.min() == 0 and MESH_TRIANGLES.max() == 467
    assert MESH_TRIANGLE_REGIONS.shape == (898,)
    assert set(MESH_TRIANGLE_REGIONS.tolist()) == set(REGION_CODES.values())
    assert len(set(REGION_VALUES.values())) == len(REGION_VALUES) and max(REGION_VALUES.values()) == 1.0
    for name in ("face_oval", "left_eye", "right_eye", "left_eyebrow", "right_eyebrow", "lips_outer", "lips_inner"):
        assert sorted(FACE_MESH_CONTOURS[name]) == FACE_MESH_REGIONS[name]
    assert len(EYE_CENTER_INDICES["left"]) == 16 and not set(EYE_CENTER_INDICES["left"]) & set(EYE_CENTER_INDICES["right"])
    eye_vertices = set(FACE_MESH_REGIONS["left_eye"]) | set(FACE_MESH_REGIONS["right_eye"])
    for triangle, code in zip(MESH_TRIANGLES.tolist(), MESH_TRIANGLE_REGIONS.tolist()):
        if code == REGION_CODES["eyes"]:
            assert set(triangle) <= eye_vertices
        if code == REGION_CODES["mouth"]:
            assert set(triangle) <= set(FACE_MESH_REGIONS["lips_inner"])


@needs_mediapipe
def test_committed_topology_matches_mediapipe():
    from portrait_edge.data.build_face_mesh_topology import build

    with open(lm_module.TOPOLOGY_PATH, encoding="utf-8") as handle:
        assert json.load(handle) == json.loads(json.dumps(build()))


# ---------------------------------------------------------------- landmark channels


@pytest.fixture(scope="module")
def face_landmarks() -> torch.Tensor:
    """A real Face Mesh detection when MediaPipe is here, else a fixed, well-formed stand-in."""
    if HAS_MEDIAPIPE:
        points = detect_landmarks(_astronaut())
        points[:, :2] -= (160.0, 50.0)  # crop the face box into a 128 x 128 frame
        points *= 128.0 / 140.0
    else:  # a mean-face-like layout: the region tables still apply
        g = torch.Generator().manual_seed(0)
        points = (torch.rand(468, 3, generator=g) * torch.tensor([60.0, 70.0, 20.0]) + torch.tensor([34.0, 30.0, -10.0])).numpy()
    return torch.from_numpy(points).float()


def test_channel_shapes_ranges_and_values(face_landmarks):
    channels = landmark_channels(face_landmarks[None].repeat(2, 1, 1), 128)
    assert channels.shape == (2, 2, 128, 128) and channels.dtype == torch.float32
    assert float(channels.min()) >= 0.0 and float(channels.max()) <= 1.0
    region, depth = channels[0, 0], channels[0, 1]
    allowed = torch.tensor([0.0] + sorted(REGION_VALUES.values()))
    assert torch.isin(region, allowed).all()
    assert ((region > 0) == (depth > 0)).all()  # one footprint: the mesh
    assert float((region > 0).float().mean()) > 0.2


@needs_mediapipe
def test_channels_mark_every_region_and_the_nose_is_nearest(face_landmarks):
    region, depth = landmark_channels(face_landmarks[None], 128)[0]
    for name, value in REGION_VALUES.items():
        assert int((region == value).sum()) > 3, name
    nose_tip = face_landmarks[1]
    x, y = int(nose_tip[0]), int(nose_tip[1])
    assert float(depth[y, x]) >= float(depth[depth > 0].quantile(0.98))
    lips = region == REGION_VALUES["lips"]
    eyes = region == REGION_VALUES["eyes"]
    assert lips.nonzero()[:, 0].float().mean() > eyes.nonzero()[:, 0].float().mean() + 10  # lips below the eyes


def test_channels_are_zero_away_from_the_face(face_landmarks):
    channels = landmark_channels(face_landmarks[None], 128)[0]
    ys, xs = (channels.abs().sum(0) > 0).nonzero(as_tuple=True)
    assert xs.min() >= face_landmarks[:, 0].min().floor() - 1 and xs.max() <= face_landmarks[:, 0].max().ceil()
    assert ys.min() >= face_landmarks[:, 1].min().floor() - 1 and ys.max() <= face_landmarks[:, 1].max().ceil()
    assert float(channels[:, :10].abs().sum()) == 0.0 or float(face_landmarks[:, 1].min()) < 10


def test_channels_are_deterministic_and_batch_independent(face_landmarks):
    other = face_landmarks.clone()
    other[:, :2] = other[:, :2] * 0.7 + 12.0
    batch = torch.stack([face_landmarks, other])
    first, second = landmark_channels(batch, 96), landmark_channels(batch, 96)
    assert torch.equal(first, second)
    assert torch.equal(first[1:], landmark_channels(other[None], 96))
    assert torch.equal(first[:1], landmark_channels(face_landmarks[None], 96))


def test_flipped_landmarks_give_flipped_channels(face_landmarks):
    size = 128
    flipped = face_landmarks.clone()
    flipped[:, 0] = size - flipped[:, 0]
    a = landmark_channels(face_landmarks[None], size)[0]
    b = landmark_channels(flipped[None], size)[0].flip(-1)
    assert float((a[0] != b[0]).float().mean()) < 0.002  # only ties on triangle edges may differ
    assert float((a[1] - b[1]).abs().max()) < 0.05


def test_channels_scale_with_resolution(face_landmarks):
    small = landmark_channels(face_landmarks[None] * 0.5, 64)
    large = landmark_channels(face_landmarks[None], 128)
    pooled = torch.nn.functional.interpolate(large, size=64, mode="nearest")
    covered = (small[0, 0] > 0) | (pooled[0, 0] > 0)
    assert float((small[0, 0] == pooled[0, 0])[covered].float().mean()) > 0.9
    both = (small[0, 1] > 0) & (pooled[0, 1] > 0)
    assert float((small[0, 1] - pooled[0, 1])[both].abs().mean()) < 0.02  # depth is resolution independent


def test_channels_tolerate_points_off_the_image_and_nan(face_landmarks):
    shifted = face_landmarks.clone()
    shifted[:, 0] += 90.0  # most of the face off the right edge
    channels = landmark_channels(shifted[None], 128)
    assert torch.isfinite(channels).all() and float(channels[0, 0].sum()) > 0
    broken = face_landmarks.clone()
    broken[0] = float("nan")
    channels = landmark_channels(broken[None], 128)
    assert torch.isfinite(channels).all() and float(channels[0, 0].sum()) > 0
    assert landmark_channels(face_landmarks[None][:0], 32).shape == (0, 2, 32, 32)


def test_channels_reject_wrong_shapes():
    with pytest.raises(PortraitEdgeError, match=r"\[N, 468, 3\]"):
        landmark_channels(torch.zeros(468, 3), 64)
    with pytest.raises(PortraitEdgeError, match=r"\[N, 468, 3\]"):
        landmark_channels(torch.zeros(1, 100, 3), 64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_channels_match_on_cuda(face_landmarks):
    batch = torch.stack([face_landmarks, face_landmarks * 0.8 + 5])
    cpu = landmark_channels(batch, 128)
    cuda = landmark_channels(batch.cuda(), 128)
    assert cuda.is_cuda
    assert float((cpu[:, 0] != cuda.cpu()[:, 0]).float().mean()) < 0.001
    assert torch.equal(cuda, landmark_channels(batch.cuda(), 128))


# ---------------------------------------------------------------- landmark_error


def test_landmark_error_is_mean_distance_over_inter_ocular_distance():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 100, (468, 3)).astype(np.float32)
    ref[EYE_CENTER_INDICES["left"], :2] = (70.0, 40.0)
    ref[EYE_CENTER_INDICES["right"], :2] = (30.0, 40.0)  # inter-ocular distance 40
    assert landmark_error(ref, ref) == 0.0
    moved = ref.copy()
    moved[:, 0] += 3.0
    moved[:, 1] -= 4.0  # every point 5 px away
    moved[:, 2] += 50.0  # depth does not count
    assert landmark_error(moved, ref) == pytest.approx(5.0 / 40.0)
    assert landmark_error(moved[:, :2], ref) == pytest.approx(5.0 / 40.0)
    with pytest.raises(PortraitEdgeError):
        landmark_error(ref[:10], ref)
    with pytest.raises(PortraitEdgeError, match="inter-ocular"):
        landmark_error(ref, np.zeros((468, 3)))


@needs_mediapipe
def test_landmark_error_between_a_face_and_its_shifted_copy(detections):
    image, points = detections["grace_hopper"]
    shifted = detect_landmarks(np.ascontiguousarray(np.roll(image, 6, axis=1)))
    shifted[:, 0] -= 6.0
    error = landmark_error(shifted, points)
    assert error < 0.05  # the detector is nearly translation invariant


def test_the_app_encoding_alone_reproduces_the_landmark_channels():
    """An app that follows app_encoding() (what the bundles ship; the Kotlin snippet's loop, here in
    numpy) computes the same channels as landmark_channels."""
    import json

    from portrait_edge.data.landmarks import app_encoding, landmark_channels
    from portrait_edge.data.synth.render import render_batch

    encoding = json.loads(json.dumps(app_encoding()))  # what the JSON file holds
    size = 64
    landmarks = render_batch(1, seed=4, size=size).landmarks[0].numpy().astype(np.float32)
    depth_cfg, steps = encoding["depth"], encoding["depth"]["depth_steps"]
    centred = landmarks - landmarks.mean(0)
    s = max(float(np.sqrt((centred ** 2).sum(1).mean())), 1e-6)
    d = np.clip(depth_cfg["offset"] - depth_cfg["gain"] * centred[:, 2] / s, depth_cfg["floor"], 1.0)
    keys = np.full(size * size, -1, np.int64)
    for (a, b, q), code in zip(encoding["triangles"], encoding["triangle_region_codes"]):
        (ax, ay), (bx, by), (qx, qy) = landmarks[a, :2], landmarks[b, :2], landmarks[q, :2]
        area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
        if abs(area) <= 1e-9:
            continue
        for py in range(max(int(np.ceil(min(ay, by, qy) - 0.5)), 0), min(int(np.floor(max(ay, by, qy) - 0.5)), size - 1) + 1):
            for px in range(max(int(np.ceil(min(ax, bx, qx) - 0.5)), 0), min(int(np.floor(max(ax, bx, qx) - 0.5)), size - 1) + 1):
                cx, cy = px + 0.5, py + 0.5
                l0 = ((qx - bx) * (cy - by) - (qy - by) * (cx - bx)) / area
                l1 = ((ax - qx) * (cy - qy) - (ay - qy) * (cx - qx)) / area
                l2 = 1 - l0 - l1
                if min(l0, l1, l2) < -1e-5:
                    continue
                depth = min(max(l0 * d[a] + l1 * d[b] + l2 * d[q], 0.0), 1.0)
                keys[py * size + px] = max(keys[py * size + px], (int(round(depth * steps)) << 3) | code)
    covered = keys >= 0
    region = np.where(covered, (keys & 7) / encoding["max_code"], 0).reshape(size, size)
    depth_map = np.where(covered, (keys >> 3) / steps, 0).reshape(size, size)
    expected = landmark_channels(torch.from_numpy(landmarks)[None], size)[0].numpy()
    assert covered.sum() > 300
    # float32 (torch) vs float64 (here) barycentrics: pixels exactly on an edge may differ
    assert (np.abs(region - expected[0]) > 1e-6).mean() < 0.01
    assert np.abs(depth_map - expected[1]).max() < 0.02 and np.abs(depth_map - expected[1]).mean() < 1e-3
