"""Image files in and out: the one way every part of portrait-edge reads and writes a photo.

`read_image` returns HxWx3 uint8 RGB whatever the file holds:
- formats: JPEG (and MPO, the multi-picture JPEG that phones write), PNG, WebP, TIFF. Others are
  rejected. Multi-frame files (animated WebP/PNG, multi-page TIFF) give their first frame.
- EXIF orientation is applied, so the array is upright as a viewer shows it.
- 1-bit, grayscale (L) and palette (P) images become RGB; images with transparency (RGBA, LA, PA,
  P with a transparent colour) are composited over white.
- 16-bit images (I;16*, 16-bit RGB/RGBA PNG and TIFF) are scaled to 8 bit (65535 -> 255), not clipped.
  32-bit integer images (I) whose values lie in [0, 65535] are read as 16-bit; other I images are
  stretched from their minimum to their maximum. Float images (F) are taken as [0, 1] when their
  values lie in it (out-of-range values would be clipped), otherwise stretched from min to max.
- CMYK, YCbCr, LAB and HSV become RGB through Pillow's conversions.

Every problem with the file (missing, a directory, empty, not an image, truncated, corrupt JPEG data,
more pixels than `max_pixels`, smaller than `min_side`, an unsupported format) raises PortraitEdgeError
with a one-line message that names the file. Decoding is forced (truncated files fail instead of
coming back half grey) and the pixel count is checked from the header before any pixel is decoded.

`max_pixels` (the CLI's --max-pixels) is the one size limit: Pillow's own Image.MAX_IMAGE_PIXELS is
switched off while this module opens a file, so it never refuses what `max_pixels` allows.

JPEG data is checked for damage first (portrait_edge.jpeg_damage: zeroed stretches, libjpeg-turbo's
warnings in strict mode, scans that end early): Pillow silences libjpeg's "Corrupt JPEG data: ..."
warnings and returns garbled rows, so such a file is refused instead.

`write_image` writes atomically: a temporary file in the destination folder, then os.replace, so a
failed write leaves no partial file behind.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from portrait_edge.atomic import atomic_path
from portrait_edge.errors import PortraitEdgeError

if TYPE_CHECKING:  # torch is only needed by the tensor helpers; keep `import portrait_edge.io` light
    import torch

READ_FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "WEBP", "TIFF"})
# suffix -> (Pillow format, save options)
WRITE_FORMATS: dict[str, tuple[str, dict]] = {
    ".png": ("PNG", {"compress_level": 6}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"quality": 95, "method": 4}),
    ".tif": ("TIFF", {"compression": "tiff_lzw"}),
    ".tiff": ("TIFF", {"compression": "tiff_lzw"}),
}
DEFAULT_MAX_PIXELS = 64_000_000
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, zlib.error)


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = 16) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB, upright (see the module docstring for conversions)."""
    image = _open_checked(path, max_pixels, decode=True)
    _check_min_side(Path(path), image.shape[1], image.shape[0], min_side)
    return image


def probe_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = 16) -> tuple[int, int]:
    """(width, height) of an image as read_image would return it, from the header only (no decode).

    Raises the same errors as read_image for everything the header reveals; a file whose pixel data
    is corrupt or truncated passes here and fails in read_image.
    """
    width, height = _open_checked(path, max_pixels, decode=False)
    _check_min_side(Path(path), width, height, min_side)
    return width, height


def _check_min_side(path: Path, width: int, height: int, min_side: int) -> None:
    if min(height, width) < min_side:
        raise PortraitEdgeError(f"{path}: image is too small ({width}x{height}; each side must be at least {min_side} px)")


def _open_checked(path: str | os.PathLike, max_pixels: int, decode: bool):
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise PortraitEdgeError(f"{name}: no such file")
    if path.is_dir():
        raise PortraitEdgeError(f"{name}: is a directory, not an image file")
    try:
        if path.stat().st_size == 0:
            raise PortraitEdgeError(f"{name}: empty file (0 bytes)")
    except OSError as error:
        raise PortraitEdgeError(f"{name}: cannot read ({error.strerror or error})") from None

    try:
        with _only_our_pixel_limit(), Image.open(path) as img:
            _check_header(img, name, max_pixels)
            if not decode:
                return _oriented_size(img)
            if img.format in ("JPEG", "MPO"):
                _check_jpeg_data(path, name)
            return _decode(img)
    except PortraitEdgeError:
        raise
    except UnidentifiedImageError:
        raise PortraitEdgeError(f"{name}: not an image (unrecognised file format)") from None
    except PermissionError:
        raise PortraitEdgeError(f"{name}: permission denied") from None
    except _DECODE_ERRORS as error:
        raise PortraitEdgeError(f"{name}: corrupt or truncated image ({_one_line(error)})") from None


# Pillow checks its global MAX_IMAGE_PIXELS inside Image.open, before _check_header could apply
# max_pixels, so a caller's higher limit would never be reached. It is set to None while any read
# is open; counted (not just saved and restored) so that overlapping reads in threads restore the
# caller's value only when the last one ends.
_PILLOW_LIMIT_LOCK = threading.Lock()
_pillow_limit_users = 0
_pillow_saved_limit: int | None = None


@contextmanager
def _only_our_pixel_limit() -> Iterator[None]:
    global _pillow_limit_users, _pillow_saved_limit
    with _PILLOW_LIMIT_LOCK:
        if _pillow_limit_users == 0:
            _pillow_saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pillow_limit_users += 1
    try:
        yield
    finally:
        with _PILLOW_LIMIT_LOCK:
            _pillow_limit_users -= 1
            if _pillow_limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_saved_limit


def _check_jpeg_data(path: Path, name: str) -> None:
    from portrait_edge.jpeg_damage import find_damage

    reason = find_damage(path.read_bytes(), name)
    if reason is not None:
        raise PortraitEdgeError(f"{name}: {reason}, refusing to read it (rows would come back garbled)")


def _check_header(img: Image.Image, name: str, max_pixels: int) -> None:
    if img.format not in READ_FORMATS:
        supported = ", ".join(sorted(READ_FORMATS - {"MPO"}))
        raise PortraitEdgeError(f"{name}: unsupported image format {img.format} (supported: {supported})")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise PortraitEdgeError(f"{name}: image header gives an empty size {width}x{height}")
    if width * height > max_pixels:
        raise PortraitEdgeError(f"{name}: image is too large ({width}x{height} = {width * height:,} pixels, "
                                f"over the limit of {max_pixels:,}; raise --max-pixels to allow it), "
                                "refusing to decode a possible decompression bomb")


def _oriented_size(img: Image.Image) -> tuple[int, int]:
    width, height = img.size
    if img.format == "PNG":  # PngImageFile.getexif() decodes the pixels when eXIf is not seen yet
        exif = Image.Exif()
        if img.info.get("exif"):
            exif.load(img.info["exif"])
    else:
        exif = img.getexif()
    orientation = exif.get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _decode(img: Image.Image) -> np.ndarray:
    """Decode every pixel, orient and convert to uint8 RGB."""
    img.load()  # full decode now: truncated data raises here (LOAD_TRUNCATED_IMAGES stays False)
    img = ImageOps.exif_transpose(img)
    return _to_rgb8(img)


def _to_rgb8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode == "RGB":
        return np.array(img, dtype=np.uint8)
    if mode.startswith("I;16") or mode == "I":
        return _gray_to_rgb(_scale_integer(np.asarray(img)))
    if mode == "F":
        return _gray_to_rgb(_scale_float(np.asarray(img, dtype=np.float64)))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    return np.array(img.convert("RGB"), dtype=np.uint8)  # 1, L, P, CMYK, YCbCr, LAB, HSV, RGBX


def _scale_integer(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if low >= 0 and high <= 65535:
        return np.rint(values * (255.0 / 65535.0)).astype(np.uint8)
    return _stretch(values, low, high)


def _scale_float(values: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        return np.rint(values * 255.0).astype(np.uint8)
    return _stretch(values, low, high)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write HxWx3 (or HxW) uint8, or float in [0, 1], to PNG/JPEG/WebP/TIFF chosen by the suffix.

    Atomic: the file appears complete or not at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise PortraitEdgeError(f"{path}: unknown image suffix {suffix or '(none)'!r} "
                                f"(use one of {', '.join(sorted(WRITE_FORMATS))})")
    parent = path.parent
    if not parent.is_dir():
        raise PortraitEdgeError(f"{path}: the folder {parent} does not exist")
    if path.is_dir():
        raise PortraitEdgeError(f"{path}: is a directory")
    pixels = _as_uint8(image, str(path))
    pil_format, options = WRITE_FORMATS[suffix]
    picture = Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")

    try:
        with atomic_path(path) as temp, open(temp, "wb") as handle:
            picture.save(handle, format=pil_format, **options)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise PortraitEdgeError(f"{path}: cannot write ({_one_line(error)})") from None


def _as_uint8(image: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(image)
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3))
    if not shape_ok or array.size == 0:
        raise PortraitEdgeError(f"{name}: cannot write an array of shape {tuple(array.shape)} "
                                "(expected HxWx3 or HxW)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise PortraitEdgeError(f"{name}: cannot write an image containing NaN or infinity")
        low, high = float(array.min()), float(array.max())
        if low < -1e-3 or high > 1.0 + 1e-3:  # 0..255 floats are the usual mistake
            raise PortraitEdgeError(f"{name}: float images must lie in [0, 1], got values in [{low:.4g}, {high:.4g}]")
        return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise PortraitEdgeError(f"{name}: cannot write an array of dtype {array.dtype} (expected uint8, or float in [0, 1])")


def to_tensor(image: np.ndarray) -> "torch.Tensor":
    """HxWx3 uint8 -> [1, 3, H, W] float32 in [0, 1]."""
    import torch

    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise PortraitEdgeError(f"expected an HxWx3 uint8 image, got shape {tuple(array.shape)} dtype {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def from_tensor(tensor: "torch.Tensor") -> np.ndarray:
    """[1, 3, H, W] or [3, H, W] float in [0, 1] (clipped) -> HxWx3 uint8."""
    import torch

    t = tensor.detach()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise PortraitEdgeError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise PortraitEdgeError(f"expected a [1, 3, H, W] or [3, H, W] tensor, got {tuple(tensor.shape)}")
    t = t.float().clamp(0.0, 1.0).mul(255.0).round().to("cpu").to(dtype=torch.uint8)
    return np.ascontiguousarray(t.permute(1, 2, 0).numpy())
