"""`portrait-edge synth`: files, contact sheet, one-line errors."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from portrait_edge.cli import main
from portrait_edge.errors import PortraitEdgeError


def test_synth_writes_pairs_contact_sheet_and_manifest(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["synth", "--task", "parsing", "--n", "3", "--size", "64", "--seed", "5", "--out", str(out), "--no-progress"])
    assert code == 0
    for i in range(3):
        for part in ("input", "target", "target_ids"):
            assert (out / f"parsing_{i:05d}_{part}.png").is_file()
    ids = np.asarray(Image.open(out / "parsing_00000_target_ids.png"))
    assert ids.shape == (64, 64) and ids.max() < 19 and ids.max() > 0
    sheet = Image.open(out / "parsing_contact_sheet.png")
    assert sheet.size[0] > 2 * 128 and sheet.size[1] > 3 * 128
    manifest = json.loads((out / "parsing_manifest.json").read_text())
    assert manifest["n"] == 3 and len(manifest["samples"]) == 3
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_synth_maskedit_records_which_samples_are_swapped(tmp_path):
    out = tmp_path / "edit"
    assert main(["synth", "--task", "maskedit", "--n", "2", "--size", "48", "--out", str(out), "--no-progress"]) == 0
    manifest = json.loads((out / "maskedit_manifest.json").read_text())
    assert [s["swapped"] for s in manifest["samples"]] == [False, True]
    assert (out / "maskedit_00001_target_mask.png").is_file()


@pytest.mark.parametrize("args, words", [
    (["--task", "parsing", "--n", "0"], "--n"),
    (["--task", "parsing", "--n", "-3"], "--n"),
    (["--task", "parsing", "--size", "8"], "--size"),
    (["--task", "bogus"], "unknown task"),
])
def test_synth_rejects_bad_arguments_with_one_line(tmp_path, capsys, args, words):
    code = main(["synth", *args, "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and words in err
    assert not (tmp_path / "x").exists()


def test_synth_comparison_sheet_puts_a_real_portrait_next_to_renders(tmp_path):
    sheet = tmp_path / "sheet.png"
    code = main(["synth", "--task", "parsing", "--n", "1", "--size", "48", "--out", str(tmp_path / "o"),
                 "--comparison", str(sheet), "--no-progress"])
    assert code == 0
    image = Image.open(sheet)
    assert image.size == (8 * 48, 2 * 48)  # astronaut + 7 renders, label maps below


# ---------------------------------------------------------------- output folders written whole


def _synth(out, *extra: str, n: int = 3, seed: int = 5, task: str = "parsing") -> int:
    return main(["synth", "--task", task, "--n", str(n), "--size", "48", "--seed", str(seed), "--out", str(out),
                 "--no-progress", *extra])


def _staging_left(parent) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _assert_complete(out, task: str = "parsing", extra: tuple[str, ...] = ()) -> dict:
    """The folder holds exactly the files its manifest lists, with the listed sha256."""
    manifest = json.loads((out / f"{task}_manifest.json").read_text())
    names = {p.name for p in out.iterdir()}
    assert names == set(manifest["files"]) | {f"{task}_manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    listed = {name for sample in manifest["samples"] for name in sample["files"]}
    assert listed | {f"{task}_contact_sheet.png", *extra} == set(manifest["files"])
    assert len(manifest["samples"]) == manifest["n"]
    return manifest


def test_manifest_lists_the_sha256_of_every_file(tmp_path):
    assert _synth(tmp_path / "out") == 0
    manifest = _assert_complete(tmp_path / "out")
    assert len(manifest["files"]) == 3 * 3 + 1  # three parts per parsing sample, and the contact sheet
    assert _staging_left(tmp_path) == []


def test_second_run_replaces_an_earlier_output_whole(tmp_path, capsys):
    out = tmp_path / "out"
    assert _synth(out, n=3, seed=5) == 0
    first = (out / "parsing_00000_input.png").read_bytes()
    assert _synth(out, n=2, seed=7) == 0
    manifest = _assert_complete(out)  # no sample 2 of the first run left behind
    assert (manifest["n"], manifest["seed"]) == (2, 7) and not (out / "parsing_00002_input.png").exists()
    assert (out / "parsing_00000_input.png").read_bytes() != first
    assert _staging_left(tmp_path) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _synth(empty) == 0  # an empty folder is written too
    _assert_complete(empty)


def test_comparison_sheet_inside_the_output_folder_is_part_of_it(tmp_path):
    out = tmp_path / "out"
    assert _synth(out, "--comparison", str(out / "real_vs_render.png"), n=1) == 0
    _assert_complete(out, extra=("real_vs_render.png",))
    assert _synth(out, n=1, seed=2) == 0  # so the folder stays replaceable
    assert not (out / "real_vs_render.png").exists()


def test_replacing_works_without_an_atomic_exchange(tmp_path, monkeypatch):
    from portrait_edge import staging

    out = tmp_path / "out"
    assert _synth(out, n=3) == 0
    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)  # e.g. macOS, or a file system without it
    assert _synth(out, n=1, seed=9) == 0
    assert _assert_complete(out)["n"] == 1
    assert _staging_left(tmp_path) == []


@pytest.mark.parametrize("content, words", [
    ("notes", "is not a synth output folder"),
    ("other_task", "holds another synth output"),
    ("extra_file", "holds files synth did not write"),
    ("old_manifest", "not a synth manifest"),
    ("file", "is not a folder"),
])
def test_a_folder_holding_anything_else_is_refused_untouched(tmp_path, capsys, content, words):
    out = tmp_path / "out"
    if content == "file":
        out.write_text("a file")
    elif content == "other_task":
        assert _synth(out, n=1, task="retouch") == 0
    else:
        out.mkdir()
        if content == "notes":
            (out / "notes.txt").write_text("mine")
        elif content == "extra_file":
            assert _synth(out, n=1) == 0
            (out / "notes.txt").write_text("mine")
        else:
            (out / "parsing_manifest.json").write_text(json.dumps({"task": "parsing", "n": 1, "samples": []}))
    before = {p.name: p.read_bytes() for p in out.iterdir()} if out.is_dir() else out.read_bytes()
    capsys.readouterr()
    assert _synth(out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and str(out) in err, err
    after = {p.name: p.read_bytes() for p in out.iterdir()} if out.is_dir() else out.read_bytes()
    assert after == before
    assert _staging_left(tmp_path) == []


def test_a_run_while_another_writes_the_folder_is_refused(tmp_path, capsys):
    from portrait_edge.staging import staging_folder

    out = tmp_path / "out"
    with staging_folder(out, "synth"):  # as a live run holds it
        assert _synth(out) == 2
    err = capsys.readouterr().err
    assert "is writing it now" in err and f"pid {os.getpid()}" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and _staging_left(tmp_path) == []


def test_failed_run_leaves_no_output_folder(tmp_path, monkeypatch, capsys):
    import portrait_edge.io as image_io

    real_write, calls = image_io.write_image, []

    def failing_write(path, image):
        calls.append(path)
        if len(calls) == 4:
            raise PortraitEdgeError(f"{path}: cannot write (No space left on device)")
        real_write(path, image)

    monkeypatch.setattr(image_io, "write_image", failing_write)
    assert _synth(tmp_path / "out") == 2
    assert "No space left" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no out/, no staging folder
    monkeypatch.undo()
    assert _synth(tmp_path / "old", n=2) == 0  # a failed replacement keeps the old output as it was
    monkeypatch.setattr(image_io, "write_image", failing_write)
    calls.clear()
    assert _synth(tmp_path / "old", n=3, seed=1) == 2
    assert _assert_complete(tmp_path / "old")["n"] == 2
    assert _staging_left(tmp_path) == []


def _start_synth(out, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "portrait_edge.cli", "synth", "--task", "parsing", "--n", str(n),
                             "--size", "48", "--out", str(out), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_staged_files(parent, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        staged = [p for p in parent.glob(".out.synth-*") if p.is_dir()]
        if staged and len(list(staged[0].iterdir())) >= 6:
            return
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.1)
    raise AssertionError("the synth run never started writing")


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL])
def test_stopped_or_killed_run_leaves_no_partial_output(tmp_path, signal_number):
    out = tmp_path / "out"
    process = _start_synth(out, n=5000)
    try:
        _wait_for_staged_files(tmp_path, process)
        process.send_signal(signal_number)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not out.exists()  # never a half-written output folder
    if signal_number == signal.SIGTERM:
        assert _staging_left(tmp_path) == []  # cleaned up on the way out
    else:
        assert len(_staging_left(tmp_path)) == 1  # a SIGKILL leaves the staging folder ...
    assert _synth(out, n=2) == 0
    _assert_complete(out)
    assert _staging_left(tmp_path) == []  # ... which the next run removes


def test_concurrent_runs_never_mix(tmp_path, capsys):
    out = tmp_path / "out"
    process = _start_synth(out, n=5000)
    try:
        _wait_for_staged_files(tmp_path, process)
        assert _synth(out, n=2) == 2  # the second writer is refused while the first is writing
        err = capsys.readouterr().err
        assert f"pid {process.pid}" in err and "is writing it now" in err
    finally:
        process.kill()
        process.wait()
    assert not out.exists()
