"""Shared fixtures of the data tests: a folder of photos the tests write, and a pool built from it."""

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    from portrait_edge.data.synth.render import render_batch

    folder = tmp_path_factory.mktemp("photos")
    images = (render_batch(5, seed=3, size=256).image.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"face{i}.jpg", quality=95)
    (folder / "sub").mkdir()
    (folder / "sub" / "copy.jpg").write_bytes((folder / "face0.jpg").read_bytes())
    # the same photo, 2 levels brighter, losslessly saved: other bytes, the same difference hash
    Image.fromarray(np.clip(images[1].astype(int) + 2, 0, 255).astype(np.uint8)).save(folder / "sub" / "near.png")
    Image.fromarray(images[2]).convert("L").convert("RGB").save(folder / "gray.jpg")
    Image.fromarray(np.tile(np.array([120, 180, 60], np.uint8), (200, 200, 1))).save(folder / "blank.png")
    (folder / "notes.jpg").write_text("not an image")
    return folder


@pytest.fixture(scope="session")
def pool_dir(photo_folder, tmp_path_factory):
    from portrait_edge.data.pool import Source, build_pool

    out = tmp_path_factory.mktemp("pools") / "pool"
    build_pool([Source(str(photo_folder), "renders", "test licence")], out, sizes=(128, 256), val_percent=40,
               workers=2, show_progress=False)
    return out
