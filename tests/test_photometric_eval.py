"""portrait_edge.photometric_eval on photometric-stereo captures rendered by the engine: one render as
the centre-lit photo, its albedo and normals lit from four directions (Lambertian) as the rest."""

import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mediapipe")

LIGHTS = {"left.png": [-0.6, 0.1, 0.8], "right.png": [0.6, 0.1, 0.8], "top.png": [0.0, 0.6, 0.8],
          "bottom.png": [0.0, -0.5, 0.85], "front.png": [0.1, 0.1, 1.0]}


def _srgb8(linear):
    linear = np.clip(linear, 0, 1)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return (srgb * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    from portrait_edge.data.synth.render import render_batch

    root = tmp_path_factory.mktemp("captures")
    render = render_batch(2, seed=11, size=256)
    truths = {}
    for i in range(2):
        subject = root / f"subject_{i}"
        subject.mkdir()
        image = render.image[i].permute(1, 2, 0).numpy()
        albedo = render.albedo[i].permute(1, 2, 0).numpy()
        normals = render.normals[i].permute(1, 2, 0).numpy()
        inside = render.foreground[i, 0].numpy() > 0.5
        Image.fromarray((image * 255).round().astype(np.uint8)).save(subject / "center.png")
        for name, direction in LIGHTS.items():
            light = np.asarray(direction) / np.linalg.norm(direction)
            shading = np.clip(normals @ light, 0, None) * inside
            Image.fromarray(_srgb8(0.9 * shading[..., None] * albedo)).save(subject / name)
        (subject / "lights.json").write_text(json.dumps(LIGHTS))
        truths[subject.name] = normals
    return root, truths


class _Oracle:
    """A pipeline that answers with the render's own normals, everywhere but a top band."""

    def __init__(self, truths):
        self.truths, self.calls = iter(truths.values()), 0

    def __call__(self, image):
        from types import SimpleNamespace

        normals = next(self.truths)
        mask = np.ones(normals.shape[:2], bool)
        mask[:20] = False
        return SimpleNamespace(normals=normals, mask=mask)


def test_the_harness_measures_the_least_squares_normals_against_the_prediction(captures):
    from portrait_edge.photometric_eval import evaluate_captures

    root, truths = captures
    metrics = evaluate_captures(_Oracle(truths), root)
    assert metrics["captures"] == 2 and not metrics["skipped"]
    # least squares on noiseless Lambertian captures recovers the render's normals: a few degrees
    assert metrics["angular_error_deg"] < 5, metrics
    assert metrics["within_11_25"] > 0.9
    flipped = {k: -v for k, v in truths.items()}
    assert evaluate_captures(_Oracle(flipped), root)["angular_error_deg"] > 150


def test_the_shipped_student_from_the_centre_photo(captures):
    from portrait_edge.photometric_eval import evaluate_captures
    from portrait_edge.pipelines import load_pipeline

    root, _ = captures
    metrics = evaluate_captures(load_pipeline("normals"), root)
    assert metrics["captures"] == 2, metrics["skipped"]
    assert metrics["pixels"] > 5000
    assert metrics["angular_error_deg"] < 25, metrics  # an untrained or mirrored network is far worse
