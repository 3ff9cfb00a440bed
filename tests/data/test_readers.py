"""Real-dataset readers on tiny datasets written in tmp_path in the published layouts."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
from PIL import Image

from portrait_edge.data.readers import (PPR10K, READERS, CelebAMaskHQ, PairedFolders, PhotometricStereo,
                                        PortraitFolder, fit_normals, open_reader)
from portrait_edge.data.readers.base import resize_nearest
from portrait_edge.data.readers.photometric_stereo import srgb_to_linear
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.labels import CLASS_ID


def _save(path, array, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)


def _solid(value, size=(32, 32)):
    return np.full((*size, 3), value, dtype=np.uint8)


def _noise(size=(32, 32), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


# ---------------------------------------------------------------- CelebAMask-HQ


def _mask(box, size=16, rgb=False):
    mask = np.zeros((size, size), np.uint8)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = 255
    return np.repeat(mask[..., None], 3, axis=2) if rgb else mask


@pytest.fixture
def celebamask(tmp_path):
    root = tmp_path / "CelebAMask-HQ"
    for face in (0, 1, 2001):
        _save(root / "CelebA-HQ-img" / f"{face}.jpg", _solid(40 * (face % 5 + 1), (32, 32)))
    parts = root / "CelebAMask-HQ-mask-anno"
    _save(parts / "0" / "00000_skin.png", _mask((0, 16, 0, 16)))
    _save(parts / "0" / "00000_nose.png", _mask((4, 12, 4, 12)))
    _save(parts / "0" / "00000_hair.png", _mask((0, 8, 0, 8), rgb=True))  # later than nose: overwrites it
    _save(parts / "0" / "00000_eye_g.png", _mask((10, 14, 10, 14)))
    _save(parts / "0" / "00000_l_eye.png", _mask((12, 16, 12, 16)))  # later than eye_g: overwrites it
    _save(parts / "0" / "00001_skin.png", _mask((2, 14, 2, 14)))
    _save(parts / "1" / "02001_cloth.png", _mask((12, 16, 0, 16)))  # folder = 2001 // 2000 = 1
    return root


def test_celebamask_merges_parts_in_class_order(celebamask):
    reader = CelebAMaskHQ(celebamask, size=16)
    assert len(reader) == 3 and reader.ids == ["0", "1", "2001"] and reader.name == "celebamask_hq"
    sample = reader[0]
    assert sample["image"].shape == (16, 16, 3) and sample["image"].dtype == np.uint8
    labels = sample["labels"]
    assert labels.shape == (16, 16) and labels.dtype == np.int64
    assert labels[2, 2] == CLASS_ID["hair"]  # skin, nose and hair overlap: hair is last
    assert labels[10, 6] == CLASS_ID["nose"]
    assert labels[11, 11] == CLASS_ID["eye_g"] and labels[13, 13] == CLASS_ID["l_eye"]
    assert labels[14, 2] == CLASS_ID["skin"]
    assert reader[1]["labels"][0, 0] == CLASS_ID["background"]
    assert reader[2]["labels"][15, 5] == CLASS_ID["cloth"] and reader[-1]["labels"][0, 0] == 0


def test_celebamask_resizes_image_and_labels_consistently(celebamask):
    small, large = CelebAMaskHQ(celebamask, size=16)[0], CelebAMaskHQ(celebamask, size=64)[0]
    assert large["image"].shape == (64, 64, 3) and large["labels"].shape == (64, 64)
    assert set(np.unique(large["labels"])) == set(np.unique(small["labels"]))  # nearest: no new classes
    np.testing.assert_array_equal(large["labels"][::4, ::4], small["labels"])
    assert CelebAMaskHQ(celebamask)[0]["labels"].shape == (512, 512)  # default: the masks' resolution


def test_celebamask_errors(celebamask, tmp_path):
    with pytest.raises(PortraitEdgeError, match="CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/"):
        CelebAMaskHQ(tmp_path)
    with pytest.raises(PortraitEdgeError, match="no such folder"):
        CelebAMaskHQ(tmp_path / "nope")
    with pytest.raises(PortraitEdgeError, match=r"no image for face\(s\) \[7\]"):
        CelebAMaskHQ(celebamask, indices=[0, 7])
    _save(celebamask / "CelebA-HQ-img" / "5.jpg", _solid(9))
    with pytest.raises(PortraitEdgeError, match="no part masks for face 5"):
        CelebAMaskHQ(celebamask, size=16, indices=[5])  # checked up front on the first face
    reader = CelebAMaskHQ(celebamask, size=16, indices=[0, 5])
    with pytest.raises(PortraitEdgeError, match="no part masks for face 5"):
        reader[1]
    with pytest.raises(IndexError):
        reader[2]


# ---------------------------------------------------------------- paired folders


@pytest.mark.parametrize("before,after", [("source", "target"), ("before", "after"), ("input", "retouched"),
                                          ("original", "edited")])
def test_paired_folders_match_by_stem(tmp_path, before, after):
    _save(tmp_path / before / "2.png", _noise(seed=2))
    _save(tmp_path / before / "10.jpg", _solid(10))
    _save(tmp_path / after / "2.jpg", _solid(200))
    _save(tmp_path / after / "10.png", _noise(seed=10))
    reader = PairedFolders(tmp_path)
    assert reader.ids == ["2", "10"]  # numbers sorted as numbers
    sample = reader[0]
    np.testing.assert_array_equal(sample["image"], _noise(seed=2))
    assert abs(int(sample["target"].mean()) - 200) <= 2
    np.testing.assert_array_equal(reader[1]["target"], _noise(seed=10))
    assert [s["image"].shape for s in reader] == [(32, 32, 3)] * 2  # iteration stops at IndexError


def test_paired_folders_report_unpaired_files(tmp_path):
    for name in ("a", "b", "c", "d", "e", "f", "g"):
        _save(tmp_path / "before" / f"{name}.png", _solid(1))
    _save(tmp_path / "after" / "a.png", _solid(2))
    _save(tmp_path / "after" / "z.png", _solid(2))
    with pytest.raises(PortraitEdgeError) as info:
        PairedFolders(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "6 in before/ without a partner in after/ (b, c, d, e, f and 1 more)" in message
    assert "1 in after/ without a partner in before/ (z)" in message
    with pytest.warns(UserWarning, match="skipped"):
        reader = PairedFolders(tmp_path, strict=False)
    assert reader.ids == ["a"]


def test_paired_folders_sizes(tmp_path):
    _save(tmp_path / "source" / "x.png", _noise((32, 48)))
    _save(tmp_path / "target" / "x.png", _noise((20, 20)))
    reader = PairedFolders(tmp_path)
    with pytest.raises(PortraitEdgeError, match="is 20x20 but its source x.png is 48x32"):
        reader[0]
    sample = PairedFolders(tmp_path, size=24)[0]
    assert sample["image"].shape == sample["target"].shape == (24, 24, 3)


def test_paired_folders_errors(tmp_path):
    with pytest.raises(PortraitEdgeError, match="source/\\+target/"):
        PairedFolders(tmp_path)
    (tmp_path / "source").mkdir()
    (tmp_path / "target").mkdir()
    with pytest.raises(PortraitEdgeError, match="no image pairs"):
        PairedFolders(tmp_path)
    _save(tmp_path / "source" / "a.png", _solid(1))
    _save(tmp_path / "source" / "a.jpg", _solid(1))
    with pytest.raises(PortraitEdgeError, match="two images share the name 'a'"):
        PairedFolders(tmp_path)


# ---------------------------------------------------------------- PPR10K


@pytest.fixture
def ppr10k(tmp_path):
    cv2 = pytest.importorskip("cv2")
    root = tmp_path / "train"
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    for stem in ("0_0", "0_1", "1_0"):
        (root / "source").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "source" / f"{stem}.tif"), np.stack([ramp] * 3, -1))  # 16-bit TIFF
        mask = np.zeros((16, 16), np.uint8)
        mask[4:12, 4:12] = 255
        _save(root / "masks" / f"{stem}.png", mask)  # half resolution: resized to the photo
        for expert, value in (("a", 50), ("b", 150), ("c", 250)):
            _save(root / f"target_{expert}" / f"{stem}.tif", _solid(value))
    return root


def test_ppr10k_reads_groups_experts_and_masks(ppr10k):
    reader = PPR10K(ppr10k)
    assert reader.ids == ["0_0", "0_1", "1_0"] and reader.groups == {"0": [0, 1], "1": [2]}
    sample = reader[0]
    assert sample["image"].shape == (32, 32, 3) and sample["image"].max() == 255 and sample["image"].min() == 0
    assert (sample["target"] == 50).all()
    assert sample["mask"].shape == (32, 32) and sample["mask"].dtype == np.float32
    assert sample["mask"][16, 16] == 1.0 and sample["mask"][2, 2] == 0.0 and sample["mask"].sum() == 16 * 16
    assert (PPR10K(ppr10k, expert="b")[0]["target"] == 150).all()
    resized = PPR10K(ppr10k, expert="C", size=8)[2]
    assert resized["mask"].shape == (8, 8) and (resized["target"] == 250).all()
    assert "mask" not in PPR10K(ppr10k, with_masks=False)[0]


def test_ppr10k_errors(ppr10k, tmp_path):
    with pytest.raises(PortraitEdgeError, match="one of a, b, c"):
        PPR10K(ppr10k, expert="d")
    (ppr10k / "masks" / "0_1.png").unlink()
    with pytest.raises(PortraitEdgeError, match=r"no mask for 1 photo\(s\) \(0_1\)"):
        PPR10K(ppr10k)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PortraitEdgeError, match="missing source/, target_a/, masks/"):
        PPR10K(tmp_path / "empty")


# ---------------------------------------------------------------- photometric stereo


def _sphere(size=96, radius=40.0):
    """Unit normals of a sphere seen head-on (x right, y up, z to the camera) and its mask."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    nx, ny = (xs - size / 2) / radius, -(ys - size / 2) / radius  # image rows go down, y goes up
    inside = nx ** 2 + ny ** 2 < 1.0
    nz = np.sqrt(np.clip(1.0 - nx ** 2 - ny ** 2, 0.0, None))
    return np.stack([nx, ny, nz], -1) * inside[..., None], inside


def _linear_to_srgb8(linear):
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.rint(srgb * 255).astype(np.uint8)


@pytest.fixture
def sphere_capture(tmp_path):
    normals, inside = _sphere()
    albedo = np.array([0.85, 0.6, 0.45])
    lights = {"left.png": [-0.5, 0.0, 0.866], "right.png": [0.5, 0.0, 0.866],
              "top.png": [0.0, 0.5, 0.866], "bottom.png": [0.0, -0.5, 0.866]}
    subject = tmp_path / "captures" / "subject_01"
    subject.mkdir(parents=True)
    for name, direction in [("center.png", [0.0, 0.0, 1.0]), *lights.items()]:
        light = np.asarray(direction) / np.linalg.norm(direction)
        shading = np.clip(normals @ light, 0.0, None) * inside
        _save(subject / name, _linear_to_srgb8(shading[..., None] * albedo))
    (subject / "lights.json").write_text(json.dumps(lights))
    return tmp_path / "captures", normals, inside, albedo


def _angles_deg(a, b):
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


def test_photometric_stereo_recovers_sphere_normals(sphere_capture):
    root, normals, inside, albedo = sphere_capture
    reader = PhotometricStereo(root)
    assert reader.ids == ["subject_01"] and len(reader) == 1
    sample = reader[0]
    mask = sample["mask"] > 0
    assert not mask[~inside].any()  # background (black) is masked out
    assert mask[inside].mean() > 0.9
    error = _angles_deg(sample["normals"][mask], normals[mask])
    assert error.mean() < 1.0, error.mean()
    np.testing.assert_allclose(np.linalg.norm(sample["normals"][mask], axis=-1), 1.0, atol=1e-5)
    assert sample["normals"][20, 48, 1] > 0.5  # upper part of the sphere faces up (y up)
    np.testing.assert_allclose(np.median(sample["albedo"][mask], axis=0), albedo, atol=0.02)
    assert sample["image"].shape == (96, 96, 3) and sample["image"][48, 48, 0] > 200


def test_photometric_stereo_resized_and_single_subject(sphere_capture):
    root, normals, inside, _ = sphere_capture
    resized = PhotometricStereo(root / "subject_01", size=48)[0]  # the subject folder itself as root
    assert resized["normals"].shape == (48, 48, 3) and resized["mask"].shape == (48, 48)
    mask = resized["mask"] > 0
    small_truth = resize_nearest(normals, 48)
    assert _angles_deg(resized["normals"][mask], small_truth[mask] / np.linalg.norm(small_truth[mask], axis=-1, keepdims=True)).mean() < 3.0


def test_fit_normals_ignores_shadowed_measurements():
    normal = np.array([0.6, 0.0, 0.8])
    lights = np.array([[-0.9, 0.0, 0.3], [0.6, 0.0, 0.8], [0.0, 0.6, 0.8], [0.0, -0.6, 0.8], [0.5, 0.5, 0.707]])
    lights /= np.linalg.norm(lights, axis=1, keepdims=True)
    intensities = np.clip(lights @ normal, 0, None)[:, None, None] * 0.7  # the first light is in shadow
    assert intensities[0, 0, 0] == 0.0
    normals, albedo, valid = fit_normals(intensities.astype(np.float32), lights)
    assert valid[0, 0] and albedo[0, 0] == pytest.approx(0.7, abs=1e-5)
    assert _angles_deg(normals[0, 0], normal) < 0.01


def test_photometric_stereo_errors(sphere_capture, tmp_path):
    root, *_ = sphere_capture
    with pytest.raises(PortraitEdgeError, match="lights.json"):
        PhotometricStereo(tmp_path / "captures" / "..")  # no subject folders with lights.json here
    subject = root / "subject_01"
    (subject / "lights.json").write_text(json.dumps({"left.png": [1, 0, 1], "right.png": [-1, 0, 1], "x.png": [0, 0, 1]}))
    with pytest.raises(PortraitEdgeError, match="one plane"):
        PhotometricStereo(root)[0]
    (subject / "lights.json").write_text(json.dumps({"left.png": [1, 0, 1], "right.png": [-1, 0, 1], "gone.png": [0, 1, 1]}))
    with pytest.raises(PortraitEdgeError, match="not there: gone.png"):
        PhotometricStereo(root)[0]
    (subject / "lights.json").write_text("{not json")
    with pytest.raises(PortraitEdgeError, match="cannot read the light directions"):
        PhotometricStereo(root)[0]
    (subject / "lights.json").write_text(json.dumps({"left.png": [1, 0, 1], "right.png": "up"}))
    with pytest.raises(PortraitEdgeError, match="at least 3"):
        PhotometricStereo(root)[0]


def test_srgb_round_trip():
    values = np.linspace(0, 1, 256)
    np.testing.assert_allclose(srgb_to_linear(_linear_to_srgb8(values)), values, atol=0.01)


# ---------------------------------------------------------------- plain folder


def test_portrait_folder_skips_and_counts_unreadable_files(tmp_path):
    _save(tmp_path / "10.png", _solid(10))
    _save(tmp_path / "2.jpg", _solid(2))
    _save(tmp_path / "sub" / "1.webp", _solid(1), lossless=True)
    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    _save(tmp_path / "tiny.png", _solid(3, (4, 4)))
    (tmp_path / "README.txt").write_text("ignored: not an image suffix")
    _save(tmp_path / ".hidden.png", _solid(5))
    with pytest.warns(UserWarning, match="skipped 3 unreadable"):
        reader = PortraitFolder(tmp_path)
    assert reader.ids == ["2", "10"]
    assert sorted(p.name for p, _ in reader.skipped) == ["empty.png", "notes.jpg", "tiny.png"]
    assert reader[1]["image"][0, 0, 0] == 10
    with pytest.warns(UserWarning):
        nested = PortraitFolder(tmp_path, recursive=True, size=8)
    assert nested.ids == ["2", "10", "sub/1"] and nested[2]["image"].shape == (8, 8, 3)


def test_portrait_folder_full_check_catches_truncated_files(tmp_path):
    _save(tmp_path / "good.png", _noise())
    buffer = io.BytesIO()
    Image.fromarray(_noise((128, 128))).save(buffer, format="PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:3000])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PortraitFolder(tmp_path).ids == ["cut", "good"]  # the header is fine
    with pytest.warns(UserWarning, match="truncated"):
        assert PortraitFolder(tmp_path, full_check=True).ids == ["good"]
    with pytest.raises(PortraitEdgeError, match="truncated"):
        PortraitFolder(tmp_path)[0]


def test_portrait_folder_errors(tmp_path):
    with pytest.raises(PortraitEdgeError, match="no readable images"):
        PortraitFolder(tmp_path)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(PortraitEdgeError, match="not a folder"):
        PortraitFolder(tmp_path / "x.txt")


def test_registry_and_common_interface(tmp_path):
    assert set(READERS) == {"celebamask_hq", "paired", "ppr10k", "photometric_stereo", "folder", "pool"}
    _save(tmp_path / "a.png", _solid(7))
    reader = open_reader("folder", tmp_path)
    assert len(reader) == 1 and reader.name == "folder" and "samples=1" in repr(reader)
    with pytest.raises(IndexError):
        reader[1]
    with pytest.raises(TypeError):
        reader["a"]
    with pytest.raises(PortraitEdgeError, match="unknown dataset kind"):
        open_reader("imagenet", tmp_path)


def test_pool_pairs_can_keep_a_share_of_photos_clean(pool_dir):
    from portrait_edge.data.readers import open_reader

    shadowed = open_reader("pool", str(pool_dir), split=None, task="shadow", pairs="shadow")
    every = open_reader("pool", str(pool_dir), split=None, task="shadow", pairs="shadow", clean_percent="100")
    for i in range(len(every)):
        sample = every[i]
        assert np.array_equal(sample["image"], sample["target"]) and sample["shadow_mask"].max() == 0
        assert np.array_equal(sample["target"], shadowed[i]["target"])  # the same photo
    assert sum(not np.array_equal(shadowed[i]["image"], shadowed[i]["target"]) for i in range(len(every))) >= 3
    with pytest.raises(PortraitEdgeError, match="clean_percent"):
        open_reader("pool", str(pool_dir), split=None, pairs="shadow", clean_percent="lots")
