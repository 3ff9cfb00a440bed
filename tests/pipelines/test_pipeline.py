"""portrait_edge.pipelines on real portraits (the photos that ship inside skimage and matplotlib)."""

import numpy as np
import pytest
import torch

from portrait_edge.errors import PortraitEdgeError

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def portraits():
    from portrait_edge.train.visualize import real_portraits

    return real_portraits()


@pytest.fixture(scope="module")
def torch_pipe():
    from portrait_edge.pipelines import load_pipeline

    return load_pipeline("parsing", role="student", backend="torch")


@pytest.fixture(scope="module")
def torch_results(torch_pipe, portraits):
    return {name: torch_pipe(image) for name, image in portraits.items()}


def test_parsing_labels_the_whole_photo_with_the_face_where_the_face_is(torch_results, portraits):
    from portrait_edge.labels import CLASS_ID

    for name, result in torch_results.items():
        image = portraits[name]
        assert result.labels.shape == image.shape[:2] and result.labels.dtype == np.uint8
        x0, y0, x1, y1 = (int(v) for v in result.face_box)
        assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
        face = result.labels[y0:y1, x0:x1]
        assert (face == CLASS_ID["skin"]).mean() > 0.3, name
        assert (face == CLASS_ID["nose"]).sum() > 200, name  # a nose of hundreds of pixels, not 5
        assert set(result.timings_ms) >= {"detect", "crop", "model", "paste", "total"}


@pytest.mark.parametrize("backend, precision, agreement", [
    ("litert", "fp32", 0.995), ("executorch", "fp32", 0.995), ("litert", "int8", 0.95), ("executorch", "int8", 0.95)])
def test_phone_runtimes_agree_with_torch(torch_results, portraits, backend, precision, agreement):
    """The bundled files in their real runtimes give the labels PyTorch gives (fp32: verify's parity;
    int8: the quantization error only)."""
    from portrait_edge.pipelines import load_pipeline

    pipe = load_pipeline("parsing", backend=backend, precision=precision)
    for name, image in portraits.items():
        result = pipe(image)
        reference = torch_results[name]
        x0, y0, x1, y1 = (int(v) for v in reference.face_box)
        assert np.allclose(result.face_box, reference.face_box)
        share = (result.labels[y0:y1, x0:x1] == reference.labels[y0:y1, x0:x1]).mean()
        assert share >= agreement, f"{name}: {share:.4f}"


def test_a_small_tight_photo_still_finds_the_face(torch_results, torch_pipe, portraits):
    from PIL import Image

    image = portraits["astronaut"]
    x0, y0, x1, y1 = (int(v) for v in torch_results["astronaut"].face_box)
    tight = np.asarray(Image.fromarray(image[y0:y1, x0:x1]).resize((150, 150)))
    result = torch_pipe(tight)
    assert result.labels.shape == (150, 150)
    assert (result.labels > 0).mean() > 0.5  # the face fills the photo


def test_several_faces_largest_first_or_all(torch_pipe, portraits):
    from PIL import Image

    big = portraits["astronaut"]
    small = np.asarray(Image.fromarray(big).resize((384, 384)))
    canvas = np.full((512, 896, 3), 255, np.uint8)
    canvas[:, :512], canvas[64:448, 512:] = big, small
    largest = torch_pipe(canvas)
    assert len(largest.faces) == 1 and largest.face_box[0] < 512
    both = torch_pipe(canvas, faces="all")
    assert len(both.faces) == 2 and both.faces[1].face_box[0] > 512
    assert (both.labels[64:448, 600:] > 0).sum() > (largest.labels[64:448, 600:] > 0).sum()


def test_bad_inputs_are_one_line_errors(torch_pipe):
    from portrait_edge.pipelines import NoFaceInPhotoError, load_pipeline

    with pytest.raises(NoFaceInPhotoError, match="no face found in the 300x200 photo"):
        torch_pipe(np.full((200, 300, 3), 120, np.uint8))
    with pytest.raises(PortraitEdgeError, match="uint8"):
        torch_pipe(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(PortraitEdgeError, match="no option fill"):
        torch_pipe(np.zeros((64, 64, 3), np.uint8), fill=0.5)
    with pytest.raises(PortraitEdgeError, match="int8 and fp16 run in the phone runtimes"):
        load_pipeline("parsing", backend="torch", precision="int8")
    with pytest.raises(PortraitEdgeError, match="only students are converted"):
        load_pipeline("parsing", role="teacher", backend="litert")
    with pytest.raises(PortraitEdgeError, match="unknown task"):
        load_pipeline("hairstyle")
    for bad in (1.5, "lots", float("nan")):  # options out of range fail when the pipeline is made
        with pytest.raises(PortraitEdgeError, match=r"fill must be a number between 0 and 1 \(fill-light strength"):
            load_pipeline("facial_shadow", fill=bad)


def test_a_modified_bundled_file_is_refused(tmp_path, monkeypatch):
    import shutil

    import portrait_edge.report.bundle as bundle
    from portrait_edge.pipelines import load_pipeline

    copy = tmp_path / "android_assets"
    shutil.copytree(bundle.ANDROID_DIR, copy)
    model = copy / "parsing" / "parsing_int8.tflite"
    model.write_bytes(model.read_bytes() + b"\0")
    monkeypatch.setattr(bundle, "ANDROID_DIR", copy)
    with pytest.raises(PortraitEdgeError, match="checksum mismatch"):
        load_pipeline("parsing", backend="litert", precision="int8")


@pytest.mark.parametrize("task_id", ["normals", "shadow", "facial_shadow", "retouch"])
def test_image_and_normal_results_come_back_at_the_photo_s_size(task_id, portraits, tmp_path):
    """Any task's outputs map back onto the photo: normals (unit vectors + mask) and images (the edit
    feathered into the photo, untouched far from the face). Tiny untrained models stand in."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
    import edge_fixtures

    from portrait_edge.pipelines import load_pipeline
    from portrait_edge.tasks import get_task

    task = get_task(task_id)
    model = edge_fixtures.tiny_model(task)
    if task_id == "normals":  # an untrained net outputs near-zero vectors ("no surface"): point them at the camera
        with torch.no_grad():
            model.head.bias.copy_(torch.tensor([0.0, 0.0, 3.0]))
    checkpoint = edge_fixtures.save_tiny_checkpoint(tmp_path / task_id, task, model)
    pipe = load_pipeline(task_id, checkpoint=checkpoint)
    image = portraits["grace_hopper"]
    result = pipe(image)
    if task_id == "normals":
        assert result.normals.shape == (600, 512, 3) and result.mask.shape == (600, 512)
        lengths = np.linalg.norm(result.normals[result.mask], axis=-1)
        assert result.mask.any() and np.allclose(lengths, 1, atol=1e-4)
        assert (result.normals[~result.mask] == 0).all()
    else:
        assert result.image.shape == image.shape and result.image.dtype == np.uint8
        x0, y0, x1, y1 = (int(v) for v in result.face_box)
        assert not np.array_equal(result.image[y0:y1, x0:x1], image[y0:y1, x0:x1])
        assert np.array_equal(result.image[:5, :5], image[:5, :5]) or np.array_equal(result.image[-5:, -5:], image[-5:, -5:])


def test_retouch_changes_only_the_face_and_strength_scales_it(portraits, tmp_path):
    """A retouch network that changes everything (a tiny untrained one) still leaves hair, background and
    clothes alone: only the Face Mesh surface is pasted back; strength 0 leaves the photo as it was."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
    import edge_fixtures

    from portrait_edge.pipelines import load_pipeline
    from portrait_edge.tasks import get_task

    task = get_task("retouch")
    checkpoint = edge_fixtures.save_tiny_checkpoint(tmp_path / "retouch", task, edge_fixtures.tiny_model(task))
    pipe = load_pipeline("retouch", checkpoint=checkpoint)
    image = portraits["astronaut"]
    full, half, none = pipe(image), pipe(image, strength=0.5), pipe(image, strength=0.0)
    x0, y0, x1, y1 = (int(v) for v in full.face_box)
    margin = int(0.2 * (y1 - y0))  # the region grows and fades over 5% of the crop (~12% of the face box)
    assert not np.array_equal(full.image[y0:y1, x0:x1], image[y0:y1, x0:x1])
    assert np.array_equal(full.image[:max(0, y0 - margin)], image[:max(0, y0 - margin)])  # hair and sky above
    assert np.array_equal(full.image[y1 + margin:], image[y1 + margin:])  # neck, suit and flag below
    assert np.array_equal(none.image, image)
    change = lambda r: np.abs(r.image.astype(float) - image).sum()  # noqa: E731
    assert 0.3 * change(full) < change(half) < 0.7 * change(full)


@pytest.mark.skipif(not __import__("portrait_edge.edge.models", fromlist=["has_shipped"]).has_shipped("retouch", "teacher"),
                    reason="no shipped retouch teacher")
def test_shipped_retouch_teacher_fades_blemishes_drawn_on_a_real_portrait(portraits):
    """Blemishes drawn on the astronaut (TaskSpec.synthesize) come out closer to the clean photo where
    they were drawn, and the photo keeps its size."""
    from portrait_edge.data.landmarks import find_faces
    from portrait_edge.pipelines import load_pipeline
    from portrait_edge.tasks import get_task

    clean = portraits["astronaut"]
    blemished = get_task("retouch").synthesize(clean, find_faces(clean, max_faces=1)[0], 3)
    drawn = np.abs(blemished.astype(float) - clean).max(-1) > 4
    result = load_pipeline("retouch", role="teacher")(blemished).image
    assert result.shape == clean.shape and drawn.sum() > 50
    error = lambda image: np.abs(image.astype(float) - clean)[drawn].mean()  # noqa: E731
    assert error(result) < 0.95 * error(blemished)


def test_shipped_facial_shadow_pipeline_takes_the_fill_and_returns_the_photo_s_size(portraits):
    from portrait_edge.pipelines import load_pipeline

    image = portraits["astronaut"]
    none = load_pipeline("facial_shadow", fill=0.0)(image)
    full = load_pipeline("facial_shadow", fill=1.0)(image)
    assert none.image.shape == full.image.shape == image.shape
    x0, y0, x1, y1 = (int(v) for v in full.face_box)
    face_none, face_full = none.image[y0:y1, x0:x1].astype(float), full.image[y0:y1, x0:x1].astype(float)
    assert face_full.mean() > face_none.mean()  # more fill light, a brighter face
