"""The hardening probes: bad input and faults a user meets, each through the CLI, each ending in one
line that names the file and the cause, with nothing left behind.

Also covered elsewhere (not repeated here): a SIGKILLed training run resumes bit for bit
(tests/train/test_trainer.py), damaged bundles and verify results for other bytes
(tests/report/test_bundle.py), bad and corrupt images and concurrent synth runs (tests/test_io.py,
tests/commands/test_synth.py).
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portrait_edge import cli

sys.path.insert(0, str(Path(__file__).resolve().parent / "train"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "edge"))
import edge_fixtures  # noqa: E402
import fake_data  # noqa: E402
from fake_data import tiny_recipe  # noqa: E402


@pytest.fixture
def fake_engine(monkeypatch):
    monkeypatch.setattr(fake_data.TaskSpec, "make_batch", fake_data.fake_make_batch)
    import portrait_edge.train.evaluate as evaluate

    monkeypatch.setattr(evaluate, "test_seed_base", lambda: fake_data.TEST_SEED_BASE)


def one_line(capsys, rc, expected_rc=2) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == expected_rc, err
    lines = [line for line in err.splitlines() if not line.startswith(("warning:", "W0", "I0"))]
    assert len(lines) == 1 and "internal error" not in lines[0], err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished run (20 steps, checkpoints every 10)."""
    fake_data.install()
    try:
        root = tmp_path_factory.mktemp("probe-run")
        recipe = tiny_recipe(root, steps=20, checkpoint_every=10)
        assert cli.main(["train", "--recipe", str(recipe), "--out", str(root / "run"), "--no-progress"]) == 0
    finally:
        fake_data.uninstall()
    return root


def copy_run(trained, tmp_path) -> Path:
    shutil.copytree(trained / "run", tmp_path / "run")
    return tmp_path / "run"


# ---- checkpoints and cards ------------------------------------------------------------------------
def test_a_card_edited_to_another_task(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    card = json.loads((run / "final.json").read_text())
    (run / "final.json").write_text(json.dumps({**card, "task": "normals"}))
    line = one_line(capsys, cli.main(["eval", "--checkpoint", str(run / "final.safetensors"), "--n", "2"]))
    assert "final.json" in line and "card was edited" in line


def test_a_corrupt_resume_file_is_named(trained, tmp_path, capsys, fake_engine):
    run = copy_run(trained, tmp_path)
    (run / "last.resume.pt").write_bytes(b"\x80\x04garbage" * 10)
    recipe = tiny_recipe(tmp_path, steps=30, checkpoint_every=10)
    line = one_line(capsys, cli.main(["train", "--recipe", str(recipe), "--out", str(run), "--resume", "--no-progress"]))
    assert "last.resume.pt is corrupt or not a resume file" in line


def test_resuming_with_another_width(trained, tmp_path, capsys, fake_engine):
    run = copy_run(trained, tmp_path)
    recipe = tiny_recipe(tmp_path, steps=30, checkpoint_every=10, extra_kwargs=", depth: 2, width: 8")
    recipe.write_text(recipe.read_text().replace("width: 4, ", ""))
    line = one_line(capsys, cli.main(["train", "--recipe", str(recipe), "--out", str(run), "--resume", "--no-progress"]))
    assert "does not fit this recipe's model" in line and "size mismatch" in line


def test_resuming_a_run_already_past_the_steps(trained, tmp_path, capsys, fake_engine):
    run = copy_run(trained, tmp_path)
    recipe = tiny_recipe(tmp_path, steps=20, checkpoint_every=10)
    line = one_line(capsys, cli.main(["train", "--recipe", str(recipe), "--out", str(run), "--resume",
                                      "--no-progress", "--set", "steps=15"]))
    assert "at step 20, past steps=15" in line


def test_a_run_folder_as_checkpoint(trained, tmp_path, capsys):
    assert cli.main(["eval", "--checkpoint", str(trained / "run"), "--n", "2", "--size", "32", "--cache-dir", ""]) in (0, 1)
    capsys.readouterr()
    line = one_line(capsys, cli.main(["eval", "--checkpoint", str(tmp_path), "--n", "2"]))
    assert str(tmp_path) in line and "without final.safetensors or last.safetensors" in line


def test_a_student_given_as_teacher_is_said(trained, tmp_path, capsys, fake_engine):
    recipe = tiny_recipe(tmp_path, "s.yaml", role="student", steps=2, extra="loss: {output_distill: 1.0}\n")
    student = tmp_path / "student"
    assert cli.main(["train", "--recipe", str(recipe), "--out", str(student), "--no-progress",
                     "--set", "loss.output_distill=0"]) == 0
    capsys.readouterr()
    assert cli.main(["distill", "--recipe", str(recipe), "--out", str(tmp_path / "d"), "--no-progress",
                     "--teacher", str(student / "final.safetensors")]) == 0
    assert "is a student_scratch checkpoint, not a teacher" in capsys.readouterr().err


# ---- recipes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, message", [
    ("resolution", "50", "resolution 50 is not a multiple of"),
    ("steps", "40.5", "steps must be a whole number"),
])
def test_bad_recipe_numbers_leave_no_run_folder(tmp_path, capsys, fake_engine, field, value, message):
    recipe = tiny_recipe(tmp_path, steps=4)
    text = recipe.read_text().replace("resolution: 32", f"resolution: {value}" if field == "resolution" else "resolution: 32")
    recipe.write_text(text.replace("steps: 4", f"steps: {value}") if field == "steps" else text)
    line = one_line(capsys, cli.main(["train", "--recipe", str(recipe), "--out", str(tmp_path / "run"), "--no-progress"]))
    assert message in line
    assert not (tmp_path / "run").exists()


# ---- disks ------------------------------------------------------------------------------------------
def _mount_tmpfs(folder: Path, options: str) -> str | None:
    """Mounts a tmpfs (root only); returns why not when it cannot."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return "mounting a tmpfs needs root"
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    return None if done.returncode == 0 else f"mount -t tmpfs failed: {done.stderr.strip()}"


@contextlib.contextmanager
def _tmpfs_or_skip(folder: Path, options: str):
    why = _mount_tmpfs(folder, options)
    if why:
        pytest.skip(why)
    try:
        yield folder
    finally:
        # lazy: a failed torch.save may still hold its (deleted) temp file open until garbage collection
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    with _tmpfs_or_skip(tmp_path / "disk", "size=64k") as folder:
        yield folder


@pytest.fixture
def read_only_disk(tmp_path):
    with _tmpfs_or_skip(tmp_path / "ro", "ro,size=64k") as folder:
        yield folder


def test_a_full_disk_during_training(tmp_path, small_disk, capsys, fake_engine):
    recipe = tiny_recipe(tmp_path, steps=4, checkpoint_every=2, extra_kwargs=", depth: 2, width: 32")
    recipe.write_text(recipe.read_text().replace("width: 4, ", ""))
    line = one_line(capsys, cli.main(["train", "--recipe", str(recipe), "--out", str(small_disk / "run"), "--no-progress"]))
    assert "no space left on the disk" in line and str(small_disk) in line
    assert not [p for p in small_disk.rglob("*") if p.name.endswith(".tmp")]


def test_a_read_only_output_folder(tmp_path, read_only_disk, capsys, fake_engine):
    from portrait_edge.tasks import get_task

    task = get_task("parsing")
    checkpoint = edge_fixtures.save_tiny_checkpoint(tmp_path / "student", task, edge_fixtures.tiny_model(task))
    line = one_line(capsys, cli.main(["export", "--task", "parsing", "--checkpoint", str(checkpoint), "--formats", "litert",
                                      "--recipe", str(edge_fixtures.recipe_file(tmp_path)),
                                      "--build-dir", str(read_only_disk / "build")]))
    assert "read-only file system" in line and str(read_only_disk) in line


def test_an_error_starts_on_its_own_line_after_a_progress_bar(monkeypatch, capsys):
    """A command that fails with its progress bar open: the bar is closed first, so the one-line error
    does not share the bar's line."""
    import portrait_edge.commands.tasks as tasks_command
    from tqdm import tqdm

    from portrait_edge.errors import PortraitEdgeError

    def failing(args):
        bar = tqdm(total=10, desc="working", file=sys.stderr, disable=False)  # edge commands mute tqdm globally
        bar.update(3)
        raise PortraitEdgeError("the input went away")

    monkeypatch.setattr(tasks_command, "run", failing)
    assert cli.main(["tasks"]) == 2
    err = capsys.readouterr().err
    assert "\nportrait-edge tasks: error: the input went away" in err
    assert err.rstrip().splitlines()[-1] == "portrait-edge tasks: error: the input went away"
