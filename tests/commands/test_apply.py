"""`portrait-edge apply` end to end: photos and folders in, label maps, overlays and a legend out."""

import numpy as np
import pytest
from PIL import Image

from portrait_edge import cli

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from portrait_edge.train.visualize import real_portraits

    folder = tmp_path_factory.mktemp("photos")
    for name, image in real_portraits().items():
        Image.fromarray(image).save(folder / f"{name}.jpg", quality=95)
    (folder / "more").mkdir()
    Image.fromarray(real_portraits()["astronaut"]).save(folder / "more" / "astronaut.png")  # same stem
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(folder / "wall.png")  # no face
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return folder


def test_apply_writes_labels_overlays_and_a_legend_and_skips_bad_files(photos, tmp_path, capsys):
    out = tmp_path / "out"
    rc = cli.main(["apply", "--task", "parsing", str(photos), "--out", str(out), "--backend", "litert",
                   "--precision", "int8", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 2  # two of five photos failed
    skipped = [line for line in captured.err.splitlines() if line.startswith("portrait-edge apply: skipped")]
    assert len(skipped) == 2 and any("broken.jpg" in line for line in skipped)
    assert any("wall.png" in line and "no face" in line for line in skipped)
    assert "3 of 5 photos" in captured.out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["astronaut-2.labels.png", "astronaut-2.overlay.png", "astronaut.labels.png",
                     "astronaut.overlay.png", "grace_hopper.labels.png", "grace_hopper.overlay.png", "legend.png"]
    with Image.open(out / "grace_hopper.labels.png") as labels, Image.open(photos / "grace_hopper.jpg") as photo:
        assert labels.size == photo.size and labels.mode == "L"
        assert max(np.asarray(labels).ravel()) < 19


def test_apply_refuses_what_it_cannot_run(tmp_path, capsys):
    assert cli.main(["apply", "--task", "parsing", str(tmp_path / "missing.jpg"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["apply", "--task", "parsing", str(tmp_path / "empty"), "--out", str(tmp_path)]) == 2
    assert "no images" in capsys.readouterr().err
