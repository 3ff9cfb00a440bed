"""`portrait-edge prepare`: run as a real subprocess; bad input gives one line on stderr, no files."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portrait_edge.commands.prepare import resize_to_max_side


def run_prepare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portrait_edge.cli", "prepare", *args],
                          capture_output=True, text=True, timeout=120)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png() -> bytes:
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


def _zeroed_jpeg() -> bytes:
    """A photo-like JPEG with 2000 zero bytes in the middle of its entropy-coded data (Pillow accepts it)."""
    y, x = np.mgrid[0:300, 0:400]
    smooth = np.stack([x * 255 // 400, y * 255 // 300, (x + y) * 255 // 700], -1).astype(float)
    photo = np.clip(smooth + np.random.default_rng(1).normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    middle = (data.index(b"\xff\xda") + len(data)) // 2
    return data[:middle] + bytes(2000) + data[middle + 2000:]


def _make_bad_input(kind: str, folder: Path) -> Path:
    path = folder / {"missing": "nope.jpg", "directory": "dir.jpg", "empty": "empty.jpg", "text": "text.jpg",
                     "truncated": "cut.jpg", "bomb": "bomb.png", "tiny": "tiny.png", "gif": "x.gif",
                     "zeroed": "zeroed.jpg"}[kind]
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not an image\n" * 10)
    elif kind == "truncated":
        path.write_bytes(_truncated_jpeg())
    elif kind == "bomb":
        path.write_bytes(_bomb_png())
    elif kind == "tiny":
        Image.new("RGB", (10, 10)).save(path)
    elif kind == "gif":
        Image.new("RGB", (40, 40)).save(path)
    elif kind == "zeroed":
        path.write_bytes(_zeroed_jpeg())
    return path


BAD_INPUTS = ["missing", "directory", "empty", "text", "truncated", "bomb", "tiny", "gif", "zeroed"]


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_fails_in_one_line_and_writes_nothing(tmp_path, kind):
    source_dir, out_dir = tmp_path / "in", tmp_path / "out"
    source_dir.mkdir()
    out_dir.mkdir()
    source = _make_bad_input(kind, source_dir)
    result = run_prepare(str(source), str(out_dir / "result.png"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[0].startswith("portrait-edge prepare: error:") and str(source) in lines[0]
    assert result.stdout == ""
    assert list(out_dir.iterdir()) == []  # no output, no temporary file


def test_bad_output_requests_fail_cleanly(tmp_path):
    Image.new("RGB", (40, 30), (10, 20, 30)).save(tmp_path / "ok.png")
    for output, words in [(tmp_path / "x.bmp", "unknown image suffix"), (tmp_path / "no" / "x.png", "does not exist")]:
        result = run_prepare(str(tmp_path / "ok.png"), str(output))
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and words in result.stderr
    result = run_prepare(str(tmp_path / "ok.png"), str(tmp_path / "y.png"), "--max-side", "0")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.png"]


def test_zeroed_jpeg_names_the_cause(tmp_path):
    (tmp_path / "zeroed.jpg").write_bytes(_zeroed_jpeg())
    result = run_prepare(str(tmp_path / "zeroed.jpg"), str(tmp_path / "out.png"))
    assert result.returncode == 2 and "corrupt JPEG data" in result.stderr and "zero bytes" in result.stderr
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused(tmp_path, spelling):
    (tmp_path / "photos").mkdir()
    source = tmp_path / "photos" / "a.png"
    Image.new("RGB", (60, 40), (200, 10, 10)).save(source)
    before = source.read_bytes()
    if spelling == "same":
        output = source
    elif spelling == "dotted":
        output = tmp_path / "photos" / ".." / "photos" / "a.png"
    elif spelling == "symlink":
        (tmp_path / "link").symlink_to(tmp_path / "photos")  # the folder by another name
        output = tmp_path / "link" / "a.png"
    else:
        output = tmp_path / "photos" / "b.png"
        os.link(source, output)
    result = run_prepare(str(source), str(output), "--max-side", "20")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "is the input file" in lines[0] and str(output) in lines[0]
    assert source.read_bytes() == before
    expected = ["a.png", "b.png"] if spelling == "hardlink" else ["a.png"]
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == expected


def test_output_folder_is_refused(tmp_path):
    Image.new("RGB", (60, 40)).save(tmp_path / "a.png")
    result = run_prepare(str(tmp_path / "a.png"), str(tmp_path))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "is a folder" in result.stderr and "a_prepared.png" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_max_pixels_is_the_only_limit(tmp_path, monkeypatch, capsys):
    from portrait_edge.cli import main

    Image.new("RGB", (100, 80), (5, 6, 7)).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own limit, far below the image
    assert main(["prepare", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--max-pixels", "200000000"]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'b.png'} 100x80"
    assert main(["prepare", str(tmp_path / "a.png"), str(tmp_path / "c.png"), "--max-pixels", "7999"]) == 2
    err = capsys.readouterr().err
    assert "too large" in err and "7,999" in err and "--max-pixels" in err
    assert not (tmp_path / "c.png").exists()
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_prepare_converts_and_downsizes(tmp_path):
    rgba = np.zeros((300, 200, 4), dtype=np.uint8)
    rgba[..., 2] = 255
    rgba[:, :100, 3] = 255  # left half opaque blue, right half transparent -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    result = run_prepare(str(tmp_path / "in.png"), str(tmp_path / "out.jpg"), "--max-side", "150")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tmp_path / 'out.jpg'} 100x150"
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.mode == "RGB" and out.size == (100, 150)
        pixels = np.asarray(out).astype(int)
    assert pixels[75, 10, 2] > 240 and pixels[75, 10, 0] < 15
    assert (pixels[75, 90] > 240).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.jpg"]


def test_resize_never_enlarges_and_keeps_aspect():
    image = np.zeros((30, 90, 3), np.uint8)
    assert resize_to_max_side(image, 200) is image
    assert resize_to_max_side(image, 45).shape == (15, 45, 3)
