"""portrait_edge.io: every conversion read_image promises, every bad input it must refuse, atomic writes."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.io import _to_rgb8, from_tensor, probe_image, read_image, to_tensor, write_image


def _noise(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with_header_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (8-bit RGB) but holds almost no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def _expect_error(path: Path, *words: str, **kwargs) -> str:
    with pytest.raises(PortraitEdgeError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message.lower(), message
    return message


# ---------------------------------------------------------------- conversions


def test_rgb_png_round_trips_exactly(tmp_path):
    image = _noise()
    Image.fromarray(image).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, image)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # wide as stored, red block at the stored top-left
    stored[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    out = read_image(tmp_path / "rot.jpg")
    assert out.shape == (40, 20, 3)  # upright: tall
    expected = np.rot90(stored, k=-1)
    assert np.abs(out.astype(int) - expected.astype(int)).mean() < 6
    assert out[2:6, -6:-2, 0].mean() > 200 and out[2:6, 2:6, 0].mean() < 50  # red ended top-right


@pytest.mark.parametrize("mode", ["L", "1", "P"])
def test_grayscale_and_palette_become_rgb(tmp_path, mode):
    gray = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (32, 1))
    source = Image.fromarray(gray, "L").convert(mode)
    source.save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (32, 64, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out, np.asarray(source.convert("RGB")))


def test_rgba_is_composited_over_white(tmp_path):
    rgba = np.zeros((16, 48, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red-ish everywhere
    rgba[:, :16, 3] = 0  # transparent
    rgba[:, 16:32, 3] = 255  # opaque
    rgba[:, 32:, 3] = 128  # half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png").astype(int)
    assert (out[:, :16] == 255).all()
    assert (out[:, 16:32] == (200, 0, 0)).all()
    np.testing.assert_allclose(out[:, 32:], np.broadcast_to((228, 127, 127), (16, 16, 3)), atol=2)


def test_la_and_palette_transparency_are_composited(tmp_path):
    la = np.zeros((16, 16, 2), dtype=np.uint8)
    la[..., 0] = 10
    la[:8, :, 1] = 255
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = read_image(tmp_path / "la.png")
    assert (out[:8] == 10).all() and (out[8:] == 255).all()

    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    palette.paste(1, (0, 0, 16, 8))
    palette.save(tmp_path / "p.png", transparency=0)  # index 0 (blue) is transparent
    out = read_image(tmp_path / "p.png")
    assert (out[:8] == (0, 255, 0)).all() and (out[8:] == 255).all()


def test_16bit_gray_png_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    out = read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[..., 0], np.rint(values / 257.0).astype(np.uint8))
    assert out.max() == 255 and out.min() == 0 and len(np.unique(out)) > 200


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgb_is_scaled(tmp_path, suffix):
    cv2 = pytest.importorskip("cv2")
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    rgb16 = np.stack([ramp, ramp // 2, 65535 - ramp], axis=-1)
    cv2.imwrite(str(tmp_path / f"c16{suffix}"), rgb16[..., ::-1])  # OpenCV writes BGR
    out = read_image(tmp_path / f"c16{suffix}").astype(float)
    np.testing.assert_allclose(out, rgb16 / 257.0, atol=1.0)


@pytest.mark.parametrize("mode_dtype", [("I;16B", ">u2"), ("I;16", "<u2"), ("I", "<i4")])
def test_16bit_integer_modes_scale(mode_dtype):
    mode, dtype = mode_dtype
    values = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(dtype)
    image = Image.frombytes(mode, (16, 16), values.tobytes())
    assert image.mode == mode
    out = _to_rgb8(image)
    np.testing.assert_array_equal(out[..., 2], np.rint(values.astype(float) / 257.0).astype(np.uint8))


def test_float_tiff(tmp_path):
    values = np.linspace(0, 1, 24 * 24, dtype=np.float32).reshape(24, 24)
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    out = read_image(tmp_path / "f.tif")
    np.testing.assert_array_equal(out[..., 1], np.rint(values * 255).astype(np.uint8))
    Image.fromarray(values * 1000 + 5, "F").save(tmp_path / "hdr.tif")  # not [0, 1]: stretched
    out = read_image(tmp_path / "hdr.tif")
    assert out.min() == 0 and out.max() == 255


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    out = read_image(tmp_path / "cmyk.jpg").astype(int)
    assert out[..., 0].mean() > 240 and out[..., 1].mean() < 15 and out[..., 2].mean() < 15


def _smooth(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_tiff_round_trips_exactly(tmp_path, suffix):
    image = _noise()
    write_image(tmp_path / f"x{suffix}", image)
    np.testing.assert_array_equal(read_image(tmp_path / f"x{suffix}"), image)


def test_webp_lossless_exact_and_lossy_close(tmp_path):
    image = _noise()
    Image.fromarray(image).save(tmp_path / "lossless.webp", lossless=True)
    np.testing.assert_array_equal(read_image(tmp_path / "lossless.webp"), image)
    smooth = _smooth()
    write_image(tmp_path / "lossy.webp", smooth)  # quality 95
    assert np.abs(read_image(tmp_path / "lossy.webp").astype(int) - smooth).mean() < 3


def test_first_frame_of_a_multipage_tiff(tmp_path):
    frames = [Image.fromarray(np.full((20, 20, 3), v, np.uint8)) for v in (30, 200)]
    frames[0].save(tmp_path / "m.tif", save_all=True, append_images=frames[1:])
    assert (read_image(tmp_path / "m.tif") == 30).all()


# ---------------------------------------------------------------- rejections


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nope.jpg", "no such file")


def test_directory(tmp_path):
    (tmp_path / "d.jpg").mkdir()
    _expect_error(tmp_path / "d.jpg", "directory")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    _expect_error(tmp_path / "empty.jpg", "empty")


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a picture\n" * 20)
    _expect_error(tmp_path / "notes.jpg", "not an image")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image_fails(tmp_path, suffix):
    buffer = io.BytesIO()
    Image.fromarray(_noise(256, 256)).save(buffer, format="JPEG" if suffix == ".jpg" else "PNG")
    data = buffer.getvalue()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) * 6 // 10])
    _expect_error(tmp_path / f"cut{suffix}", "truncated")


def test_decompression_bomb_header_is_refused_without_decoding(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_with_header_size(100_000, 100_000))
    _expect_error(tmp_path / "bomb.png", "decompression bomb")


def test_image_over_max_pixels_is_refused(tmp_path):
    # 9000 x 9000 = 81 MP: under Pillow's own bomb limit, over our default 64 MP; never decoded
    (tmp_path / "big.png").write_bytes(_png_with_header_size(9000, 9000))
    _expect_error(tmp_path / "big.png", "too large")
    Image.fromarray(_noise(40, 40)).save(tmp_path / "small.png")
    _expect_error(tmp_path / "small.png", "too large", max_pixels=1000)


def test_max_pixels_is_the_only_limit(tmp_path, monkeypatch):
    # 12000 x 9000 = 108 MP: over Pillow's own MAX_IMAGE_PIXELS (89 MP), which used to refuse it in
    # Image.open as a "decompression bomb" whatever max_pixels allowed.
    Image.new("L", (12000, 9000), 128).save(tmp_path / "huge.jpg", quality=50)  # uniform: small and fast
    assert probe_image(tmp_path / "huge.jpg", max_pixels=200_000_000) == (12000, 9000)
    _expect_error(tmp_path / "huge.jpg", "too large", "64,000,000")  # the package's default still applies
    # Decoding: Pillow's limit set far below the image must not fire either (a 108 MP decode is slow)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    image = _noise(100, 120)
    Image.fromarray(image).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), image)
    assert read_image(tmp_path / "a.png", max_pixels=12_000).shape == (100, 120, 3)
    _expect_error(tmp_path / "a.png", "too large", "11,999", max_pixels=11_999)
    assert Image.MAX_IMAGE_PIXELS == 1000  # the caller's setting is restored after every read


def test_pillow_limit_is_restored_after_concurrent_reads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    Image.fromarray(_noise(200, 200)).save(tmp_path / "a.png")
    before = Image.MAX_IMAGE_PIXELS
    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda _: read_image(tmp_path / "a.png").shape, range(32)))
    assert shapes == [(200, 200, 3)] * 32
    assert Image.MAX_IMAGE_PIXELS == before


def _photo_like(height: int = 300, width: int = 400) -> np.ndarray:
    """Smooth shading plus fine texture, so the JPEG's entropy-coded data is large like a photo's."""
    texture = np.random.default_rng(1).normal(0, 12, (height, width, 3))
    return np.clip(_smooth(height, width).astype(float) + texture, 0, 255).astype(np.uint8)


def _zero_middle_of_scan(data: bytes, count: int = 2000) -> bytes:
    """Zero `count` bytes in the middle of the entropy-coded data (between the first SOS and EOI)."""
    sos = data.index(b"\xff\xda")
    scan_start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")  # skip the SOS header segment
    eoi = data.rindex(b"\xff\xd9")
    assert eoi - scan_start > 3 * count, "the test image must have enough entropy-coded data"
    middle = (scan_start + eoi) // 2 - count // 2
    return data[:middle] + bytes(count) + data[middle + count:]


def _jpeg(picture: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("variant, words", [
    ("baseline", "zero bytes in a row"),  # libjpeg itself says nothing for this one: the stretch resyncs
    ("optimized", "zero bytes in a row"),
    ("cmyk", "zero bytes in a row"),
    ("progressive", "libjpeg: corrupt jpeg data"),
])
def test_jpeg_with_zeroed_bytes_in_the_scan_is_refused(tmp_path, variant, words):
    picture = Image.fromarray(_photo_like())
    data = _jpeg(picture.convert("CMYK") if variant == "cmyk" else picture, quality=90,
                 progressive=variant == "progressive", optimize=variant == "optimized")
    (tmp_path / "good.jpg").write_bytes(data)
    assert read_image(tmp_path / "good.jpg").shape == (300, 400, 3)
    (tmp_path / "damaged.jpg").write_bytes(_zero_middle_of_scan(data))
    with Image.open(tmp_path / "damaged.jpg") as damaged:
        damaged.load()  # Pillow alone accepts it: the reason for the check
    message = _expect_error(tmp_path / "damaged.jpg", "corrupt", "jpeg data", words)
    assert "refusing to read" in message
    assert probe_image(tmp_path / "damaged.jpg") == (400, 300)  # header only, as documented


def test_jpeg_scan_that_ends_early_is_refused(tmp_path):
    # Two stray bytes before EOI: libjpeg finishes the image, drops them from its bit buffer and
    # warns about nothing; a sound scan would need its last byte.
    data = _jpeg(Image.fromarray(_photo_like()), quality=90)
    end = data.rindex(b"\xff\xd9")
    (tmp_path / "stray.jpg").write_bytes(data[:end] + b"\x5a\x5a" + data[end:])
    _expect_error(tmp_path / "stray.jpg", "corrupt", "without the last byte")


def test_flat_jpeg_with_optimised_tables_is_not_mistaken_for_zeroed_data(tmp_path):
    # Its all-zero Huffman code is "end of block", so a flat image is coded as a run of zero bytes
    data = _jpeg(Image.new("RGB", (512, 512), (250, 250, 250)), optimize=True)
    assert bytes(64) in data
    (tmp_path / "flat.jpg").write_bytes(data)
    assert (read_image(tmp_path / "flat.jpg") >= 248).all()


def test_jpeg_check_ignores_the_frames_after_the_first(tmp_path):
    # An MPO's first frame is what read_image returns; damage in a later frame does not matter to it
    picture = Image.fromarray(_photo_like())
    picture.save(tmp_path / "two.mpo", format="MPO", save_all=True, append_images=[picture.rotate(180)])
    data = (tmp_path / "two.mpo").read_bytes()
    second = data.index(b"\xff\xd8", data.index(b"\xff\xd9", data.index(b"\xff\xda")))
    (tmp_path / "later.jpg").write_bytes(data[:second] + _zero_middle_of_scan(data[second:]))
    assert read_image(tmp_path / "later.jpg").shape == (300, 400, 3)
    (tmp_path / "first.jpg").write_bytes(_zero_middle_of_scan(data[:second]) + data[second:])
    _expect_error(tmp_path / "first.jpg", "zero bytes in a row")


def test_too_small(tmp_path):
    Image.fromarray(_noise(8, 64)).save(tmp_path / "tiny.png")
    _expect_error(tmp_path / "tiny.png", "too small")
    assert read_image(tmp_path / "tiny.png", min_side=8).shape == (8, 64, 3)


@pytest.mark.parametrize("pil_format,suffix", [("GIF", ".gif"), ("BMP", ".bmp")])
def test_unsupported_formats(tmp_path, pil_format, suffix):
    Image.fromarray(_noise()).save(tmp_path / f"x{suffix}", format=pil_format)
    _expect_error(tmp_path / f"x{suffix}", "unsupported image format")


def test_probe_reads_the_header_only(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_noise(20, 40)).save(tmp_path / "rot.jpg", exif=exif.tobytes())
    assert probe_image(tmp_path / "rot.jpg") == (20, 40)  # oriented, like read_image
    buffer = io.BytesIO()
    Image.fromarray(_noise(256, 256)).save(buffer, format="PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:4000])
    assert probe_image(tmp_path / "cut.png") == (256, 256)  # pixel data is not decoded
    (tmp_path / "bomb.png").write_bytes(_png_with_header_size(100_000, 100_000))
    with pytest.raises(PortraitEdgeError, match="decompression bomb"):
        probe_image(tmp_path / "bomb.png")
    with pytest.raises(PortraitEdgeError, match="too small"):
        probe_image(tmp_path / "rot.jpg", min_side=32)


# ---------------------------------------------------------------- writing


def test_write_formats_and_arrays(tmp_path):
    image = _noise()
    write_image(tmp_path / "a.png", image)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), image)
    write_image(tmp_path / "b.jpeg", image)
    assert read_image(tmp_path / "b.jpeg").shape == image.shape
    write_image(tmp_path / "gray.png", image[..., 0])
    np.testing.assert_array_equal(read_image(tmp_path / "gray.png")[..., 2], image[..., 0])
    write_image(tmp_path / "f.png", image.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(read_image(tmp_path / "f.png"), image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.jpeg", "f.png", "gray.png"]
    assert (tmp_path / "a.png").stat().st_mode & 0o044  # not left at mkstemp's 0600


@pytest.mark.parametrize("name,array,words", [
    ("x.bmp", np.zeros((20, 20, 3), np.uint8), "unknown image suffix"),
    ("x", np.zeros((20, 20, 3), np.uint8), "unknown image suffix"),
    ("missing/x.png", np.zeros((20, 20, 3), np.uint8), "does not exist"),
    ("x.png", np.zeros((20, 20, 4), np.uint8), "shape"),
    ("x.png", np.zeros((2, 20, 20, 3), np.uint8), "shape"),
    ("x.png", np.zeros((20, 20, 3), np.int32), "dtype"),
    ("x.png", np.full((20, 20, 3), 255.0), "[0, 1]"),
    ("x.png", np.full((20, 20, 3), np.nan), "nan"),
])
def test_write_rejects_bad_requests(tmp_path, name, array, words):
    with pytest.raises(PortraitEdgeError) as info:
        write_image(tmp_path / name, array)
    assert words in str(info.value).lower()
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    write_image(target, np.zeros((20, 20, 3), np.uint8))
    before = target.read_bytes()

    def broken_save(self, fp, format=None, **params):
        fp.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(PortraitEdgeError, match="disk full"):
        write_image(target, np.ones((20, 20, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]
    assert target.read_bytes() == before


def test_tensor_helpers_round_trip():
    image = _noise()
    tensor = to_tensor(image)
    assert tensor.shape == (1, 3, 48, 64) and tensor.dtype == torch.float32
    assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0
    np.testing.assert_array_equal(from_tensor(tensor), image)
    np.testing.assert_array_equal(from_tensor(tensor[0] * 2 - 0.5).max(), 255)  # clipped
    with pytest.raises(PortraitEdgeError):
        to_tensor(image[..., 0])
    with pytest.raises(PortraitEdgeError):
        from_tensor(torch.zeros(2, 3, 4, 4))
