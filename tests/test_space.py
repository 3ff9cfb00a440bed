"""The Gradio Space, launched locally and driven through gradio_client as a visitor would."""

import re

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def space(space_app):
    return space_app


@pytest.fixture(scope="module")
def client(space):
    from gradio_client import Client

    return Client(space.local_url, verbose=False)


def test_every_task_with_weights_has_a_tab_and_an_endpoint(client):
    from portrait_edge.space import demo_tasks

    tasks = [t.id for t in demo_tasks()]
    assert "parsing" in tasks
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {f"/run_{t}" for t in tasks} <= set(endpoints)


@pytest.mark.parametrize("runtime", ["LiteRT int8", "ExecuTorch int8"])
def test_parsing_tab_runs_teacher_and_students_on_a_real_portrait(client, tmp_path, runtime):
    from gradio_client import handle_file

    from portrait_edge.train.visualize import real_portraits

    photo = tmp_path / "grace_hopper.png"
    Image.fromarray(real_portraits()["grace_hopper"]).save(photo)
    teacher, student, int8, _, summary = client.predict(handle_file(str(photo)), runtime, ["skin", "nose", "hair"],
                                                     api_name="/run_parsing")
    images = [np.asarray(Image.open(path)) for path in (teacher, student, int8)]
    assert all(image.shape[:2] == (600, 512) for image in images)
    assert not np.array_equal(images[0], images[1])  # the teacher and the student differ somewhere
    assert runtime.split()[0].lower() in summary.lower() and "same labels" in summary


def test_normals_tab_shows_the_normal_map_beside_the_photo_relit_by_the_sliders(client, tmp_path):
    from gradio_client import handle_file

    from portrait_edge.train.visualize import real_portraits

    photo = tmp_path / "grace_hopper.png"
    original = real_portraits()["grace_hopper"]
    Image.fromarray(original).save(photo)
    views = {}
    for azimuth in (-60, 60):
        teacher, student, int8, _, summary = client.predict(handle_file(str(photo)), "LiteRT int8", [], azimuth, 10, 1.5,
                                                         api_name="/run_normals")
        views[azimuth] = [np.asarray(Image.open(path)).astype(float) for path in (teacher, student, int8)]
        assert "litert" in summary.lower()
        # each student's distance from the teacher, in degrees
        distances = [float(d) for d in re.findall(r"([0-9.]+) deg from the teacher", summary)]
        assert len(distances) == 2 and all(0 < d < 30 for d in distances)
    for left_lit, right_lit in zip(views[-60], views[60]):
        assert left_lit.shape[:2] == (600, 1024)  # normal map | relit photo
        relit_left, relit_right = left_lit[:, 512:], right_lit[:, 512:]
        # the face is lit from the side the slider says: its subject-left/right halves swap brightness
        face = relit_left[200:400, 160:352].mean(2) - relit_right[200:400, 160:352].mean(2)
        assert face[:, :96].mean() > face[:, 96:].mean() + 5
        # outside the face: untouched (up to the lossy image format Gradio serves)
        assert np.abs(relit_left[:40] - original[:40]).mean() < 6 < np.abs(face).mean()


def shipped(task_id: str) -> bool:
    from portrait_edge.space import demo_tasks

    return task_id in [t.id for t in demo_tasks()]


@pytest.mark.skipif(not shipped("shadow"), reason="no shipped shadow teacher and student")
def test_shadow_tab_draws_a_shadow_on_the_photo_and_the_models_take_it_off(client, tmp_path):
    from gradio_client import handle_file

    from portrait_edge.train.visualize import real_portraits

    photo = tmp_path / "grace_hopper.png"
    original = real_portraits()["grace_hopper"]
    Image.fromarray(original).save(photo)
    teacher, student, int8, seen, summary = client.predict(handle_file(str(photo)), "LiteRT int8", [], True, 3,
                                                           api_name="/run_shadow")
    shadowed = np.asarray(Image.open(seen)).astype(float)
    assert shadowed.shape == original.shape and np.abs(shadowed - original).mean() > 1  # a shadow was drawn
    rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in summary.splitlines() if row.endswith("dB |")]
    psnr = {f"{row[0]} {row[1]}": float(row[-1].split()[0]) for row in rows}  # vs the original photo
    assert len(psnr) == 4, summary  # the input with the shadow and the three models
    assert all(15 < v < 100 for v in psnr.values()), psnr  # measured against the photo before the shadow
    again = client.predict(handle_file(str(photo)), "LiteRT int8", [], True, 4, api_name="/run_shadow")[3]
    assert not np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(seen)))  # the seed picks the shadow


@pytest.mark.skipif(not shipped("facial_shadow"), reason="no shipped facial_shadow teacher and student")
def test_facial_shadow_tab_fills_more_with_a_stronger_fill(client, tmp_path):
    from gradio_client import handle_file

    from portrait_edge.train.visualize import real_portraits

    photo = tmp_path / "astronaut.png"
    Image.fromarray(real_portraits()["astronaut"]).save(photo)
    brightness = []
    for fill in (0.0, 1.0):
        teacher, *_ = client.predict(handle_file(str(photo)), "LiteRT int8", [], fill, api_name="/run_facial_shadow")
        brightness.append(np.asarray(Image.open(teacher)).astype(float)[80:200, 160:320].mean())
    assert brightness[1] > brightness[0] + 1


@pytest.mark.skipif(not shipped("retouch"), reason="no shipped retouch teacher and student")
def test_retouch_tab_adds_blemishes_and_shows_before_and_after_on_a_slider(client, tmp_path):
    from gradio_client import handle_file

    from portrait_edge.train.visualize import real_portraits

    photo = tmp_path / "astronaut.png"
    original = real_portraits()["astronaut"]
    Image.fromarray(original).save(photo)
    teacher, student, int8, seen, summary, slider = client.predict(
        handle_file(str(photo)), "LiteRT int8", [], 1.0, True, 3, api_name="/run_retouch")
    blemished = np.asarray(Image.open(seen)).astype(float)
    assert blemished.shape == original.shape and (np.abs(blemished - original).max(-1) > 8).sum() > 20
    before, after = (np.asarray(Image.open(path)) for path in slider)
    assert np.array_equal(before, blemished.astype(np.uint8)) and np.array_equal(after, np.asarray(Image.open(int8)))
    rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in summary.splitlines() if row.endswith("dB |")]
    assert len(rows) == 4 and all(25 < float(row[-1].split()[0]) < 100 for row in rows), summary


def test_maskedit_tab_edits_with_a_reference_and_reports_mask_fidelity(client, tmp_path):
    from gradio_client import handle_file

    from portrait_edge.space import bundled_runtimes
    from portrait_edge.tasks import get_task

    from portrait_edge.train.visualize import real_portraits

    portraits = real_portraits()
    photo, reference = tmp_path / "grace_hopper.png", tmp_path / "astronaut.png"
    Image.fromarray(portraits["grace_hopper"]).save(photo)
    Image.fromarray(portraits["astronaut"]).save(reference)
    teacher, student, int8, masks, summary = client.predict(
        handle_file(str(photo)), handle_file(str(reference)), bundled_runtimes(get_task("maskedit"))[0], ["mouth"], [],
        "leave as they are", None, False, api_name="/run_maskedit")
    edits = [np.asarray(Image.open(path)) for path in (teacher, student, int8)]
    original = portraits["grace_hopper"].astype(float)
    for edit in edits:  # (the images come back through the UI's lossy image format: compare with a tolerance)
        assert edit.shape == original.shape
        difference = np.abs(edit.astype(float) - original).mean(-1)
        assert difference[:40, :40].mean() < 4 and difference.max() > 40  # the corner kept, the mouth changed
    fidelity = [float(row.strip("|").split("|")[-1]) for row in summary.splitlines() if row.startswith("| ")
                and row.split("|")[1].strip() in ("teacher", "student")]
    assert len(fidelity) == 3 and all(0 < f <= 1 for f in fidelity), summary
    assert np.asarray(Image.open(masks)).shape[1] == 2 * np.asarray(Image.open(masks)).shape[0]
    painted = client.predict(handle_file(str(photo)), api_name="/mask_maskedit")  # an image-editor value
    canvas = np.asarray(Image.open(painted["background"]))
    assert canvas.shape[:2] == (512, 512)  # the 128 px mask, 4x, to paint on
    from portrait_edge.space_edit import labels_from_picture

    labels = labels_from_picture(canvas, 128)  # read back: the same classes the mask had (a face is in it)
    assert {1, 2, 13} <= set(np.unique(labels).tolist())  # skin, nose, hair


def test_a_photo_without_a_face_is_a_message_not_a_stack_trace(client, tmp_path):
    from gradio_client import handle_file

    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 300, 3), 128, np.uint8)).save(wall)
    with pytest.raises(Exception) as info:
        client.predict(handle_file(str(wall)), "LiteRT int8", ["skin"], api_name="/run_parsing")
    assert "no face found" in str(info.value) and "Traceback" not in str(info.value)


def test_a_file_that_is_not_an_image_is_refused_with_a_message(client, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(Exception) as info:
        client.predict(handle_file(str(bad)), "LiteRT int8", ["skin"], api_name="/run_parsing")
    assert "Traceback" not in str(info.value)


def test_large_photos_are_resized_with_a_note():
    from portrait_edge.space import MAX_PIXELS, fit

    image, note = fit(np.zeros((2000, 1500, 3), np.uint8))
    assert image.shape[0] * image.shape[1] <= MAX_PIXELS and "resized" in note
    same, none = fit(np.zeros((100, 80, 3), np.uint8))
    assert same.shape == (100, 80, 3) and none == ""
