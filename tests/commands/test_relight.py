"""`portrait-edge relight` through the CLI, with a tiny stand-in normals checkpoint."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from portrait_edge import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
import edge_fixtures  # noqa: E402

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def normals_checkpoint(tmp_path_factory):
    from portrait_edge.tasks import get_task

    task = get_task("normals")
    model = edge_fixtures.tiny_model(task)
    with torch.no_grad():  # every pixel a surface facing the camera, tilted a little
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.3, 0.2, 1.0]))
    return edge_fixtures.save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "normals", task, model)


def test_relight_writes_the_relit_photo(normals_checkpoint, tmp_path, capsys):
    from portrait_edge.train.visualize import real_portraits

    photo = tmp_path / "astronaut.png"
    Image.fromarray(real_portraits()["astronaut"]).save(photo)
    out = tmp_path / "relit.png"
    rc = cli.main(["relight", str(photo), "--checkpoint", str(normals_checkpoint), "--role", "student",
                   "--azimuth", "60", "--color", "1,0.8,0.6", "--out", str(out)])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    relit, original = np.asarray(Image.open(out)), np.asarray(Image.open(photo))
    assert relit.shape == original.shape and not np.array_equal(relit, original)
    assert np.array_equal(relit[:8, :8], original[:8, :8])  # far from the face: untouched


def test_relight_refuses_bad_options(normals_checkpoint, tmp_path, capsys):
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((64, 64, 3), 100, np.uint8)).save(photo)
    assert cli.main(["relight", str(photo), "--checkpoint", str(normals_checkpoint), "--color", "red",
                     "--out", str(tmp_path / "o.png")]) == 2
    assert "--color" in capsys.readouterr().err
    assert cli.main(["relight", str(photo), "--checkpoint", str(normals_checkpoint), "--out", str(tmp_path / "o.png")]) == 2
    assert "no face" in capsys.readouterr().err
