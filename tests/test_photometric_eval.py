"""portrait_edge.photometric_eval on photometric-stereo captures rendered by the engine: one render as
the centre-lit photo, its albedo and normals lit from five directions (Lambertian) as the rest."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    from portrait_edge.photometric_eval import render_captures

    root = tmp_path_factory.mktemp("captures")
    return root, render_captures(root, 2)


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
