"""`portrait-edge synth`: files, contact sheet, one-line errors."""

import json

import numpy as np
import pytest
from PIL import Image

from portrait_edge.cli import main


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
