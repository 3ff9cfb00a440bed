"""Photometric-stereo captures (seed 001): normals and albedo from one photo per light direction.

Layout: one folder per subject (or the root itself, for a single subject), each holding
    lights.json   either {"left.png": [x, y, z], "right.png": [x, y, z], ...}  (file -> light direction)
                  or     {"center": "ring.png", "lights": {"left.png": [x, y, z], ...}}
    a centre-lit image: the file named by "center", else the one whose stem is center or centre
    N >= 3 directional images, all the size of the centre image.
Light directions point from the face towards the light, in camera space: x right, y up, z towards
the camera (the `normals` task convention); they are normalised on reading.

Normals come from a per-pixel least-squares Lambertian fit, I_k = albedo * (n . l_k) on linear
intensity (sRGB is decoded first): g = albedo * n solves (sum_k w_k l_k l_k^T) g = sum_k w_k I_k l_k,
where w_k drops measurements that are too dark (shadowed: I_k <= dark) or saturated (I_k >= 0.98).
Pixels with fewer than 3 usable lights, an ill-conditioned system or albedo <= dark are masked out.
Per-channel albedo is then fitted with the normal fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from portrait_edge.data.readers.base import (DatasetReader, Sample, images_by_stem, natural_key, require_folder,
                                             resize_float, resize_image, resize_nearest)
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.io import read_image

LIGHTS_FILE = "lights.json"
LAYOUT = (f"one folder per subject holding {LIGHTS_FILE} (file name -> [x, y, z] light direction), "
          "a center image and >= 3 directional images")
LUMINANCE = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
SATURATED = 0.98


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    """uint8 sRGB (or float sRGB in [0, 1]) -> float32 linear light in [0, 1]."""
    values = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4).astype(np.float32)


def fit_normals(intensities: np.ndarray, lights: np.ndarray, dark: float = 0.02,
                saturated: float = SATURATED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares Lambertian photometric stereo.

    intensities: [K, H, W] linear intensities in [0, 1]; lights: [K, 3] unit directions.
    Returns (normals [H, W, 3] float32 unit, zero where invalid; albedo [H, W] float32; valid [H, W] bool).
    """
    count, height, width = intensities.shape
    light = np.asarray(lights, dtype=np.float64)
    values = intensities.reshape(count, -1).astype(np.float64)
    weight = ((values > dark) & (values < saturated)).astype(np.float64)
    system = np.einsum("kp,ki,kj->pij", weight, light, light)  # [P, 3, 3]
    rhs = np.einsum("kp,kp,ki->pi", weight, values, light)  # [P, 3]
    usable = weight.sum(axis=0) >= 3
    # A well-conditioned 3x3 system: its determinant is not tiny compared to the usable lights' scale.
    usable &= np.abs(np.linalg.det(system)) > 1e-6
    g = np.zeros((values.shape[1], 3))
    if usable.any():
        g[usable] = np.linalg.solve(system[usable], rhs[usable][..., None])[..., 0]
    albedo = np.linalg.norm(g, axis=1)
    valid = usable & (albedo > dark)
    normals = np.zeros_like(g)
    normals[valid] = g[valid] / albedo[valid, None]
    albedo = np.where(valid, albedo, 0.0)
    return (normals.reshape(height, width, 3).astype(np.float32), albedo.reshape(height, width).astype(np.float32),
            valid.reshape(height, width))


def fit_albedo(images: np.ndarray, lights: np.ndarray, normals: np.ndarray, valid: np.ndarray, dark: float = 0.02,
               saturated: float = SATURATED) -> np.ndarray:
    """Per-channel albedo with the normals fixed: [K, H, W, 3] linear images -> [H, W, 3] float32."""
    shading = np.einsum("hwi,ki->khw", normals, lights)  # [K, H, W]
    gray = np.einsum("khwc,c->khw", images, LUMINANCE)
    weight = ((gray > dark) & (gray < saturated) & (shading > 0)).astype(np.float32)
    numerator = np.einsum("khw,khwc->hwc", weight * shading, images)
    denominator = np.einsum("khw,khw->hw", weight, shading * shading)[..., None]
    albedo = np.where(denominator > 1e-6, numerator / np.maximum(denominator, 1e-6), 0.0)
    return np.where(valid[..., None], albedo, 0.0).astype(np.float32)


def read_lights(folder: Path) -> tuple[Path, list[Path], np.ndarray]:
    """(centre image, directional images, unit light directions [K, 3]) of one capture folder."""
    path = folder / LIGHTS_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PortraitEdgeError(f"{path}: cannot read the light directions ({' '.join(str(error).split())})") from None
    if not isinstance(spec, dict):
        raise PortraitEdgeError(f"{path}: expected a JSON object of file name -> [x, y, z]")
    center_name = spec.get("center") if isinstance(spec.get("center"), str) else None
    table = spec.get("lights", spec) if isinstance(spec.get("lights"), dict) else spec
    table = {k: v for k, v in table.items() if k not in ("center", "lights")}
    if len(table) < 3:
        raise PortraitEdgeError(f"{path}: needs at least 3 directional images, lists {len(table)}")
    names, directions = [], []
    for name, direction in table.items():
        vector = np.asarray(direction, dtype=np.float64) if isinstance(direction, list) else np.zeros(0)
        if vector.shape != (3,) or not np.all(np.isfinite(vector)) or np.linalg.norm(vector) < 1e-9:
            raise PortraitEdgeError(f"{path}: the direction of {name!r} must be 3 numbers, not all zero (got {direction!r})")
        names.append(name)
        directions.append(vector / np.linalg.norm(vector))
    lights = np.stack(directions)
    if np.linalg.matrix_rank(lights, tol=1e-3) < 3:
        raise PortraitEdgeError(f"{path}: the light directions all lie in one plane; normals need 3 independent ones")
    files = [folder / name for name in names]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise PortraitEdgeError(f"{folder}: {LIGHTS_FILE} lists image(s) that are not there: {', '.join(missing[:5])}")
    if center_name is not None:
        center = folder / center_name
        if not center.is_file():
            raise PortraitEdgeError(f"{folder}: the center image {center_name} named in {LIGHTS_FILE} is not there")
    else:
        stems = images_by_stem(folder)
        candidates = [stems[s] for s in ("center", "centre") if s in stems]
        if not candidates:
            raise PortraitEdgeError(f"{folder}: no center-lit image (name it center.png or give \"center\" in {LIGHTS_FILE})")
        center = candidates[0]
    return center, files, lights.astype(np.float32)


class PhotometricStereo(DatasetReader):
    """Samples {"image": centre photo HxWx3 uint8, "normals": HxWx3 float32 unit (0 where masked),
    "albedo": HxWx3 float32 linear, "mask": HxW float32 {0, 1}}.

    size: resize to size x size (normals bilinear then renormalised, mask nearest). dark: linear
    intensity at or below which a measurement counts as shadowed, and the smallest usable albedo.
    """

    name = "photometric_stereo"

    def __init__(self, root: str | Path, size: int | None = None, dark: float = 0.02) -> None:
        super().__init__(root)
        require_folder(self.root, "a photometric-stereo folder", LAYOUT)
        if (self.root / LIGHTS_FILE).is_file():
            self.subjects = [self.root]
        else:
            self.subjects = sorted((p for p in self.root.iterdir() if (p / LIGHTS_FILE).is_file()),
                                   key=lambda p: natural_key(p.name))
        if not self.subjects:
            raise PortraitEdgeError(f"{self.root}: does not look like photometric-stereo captures (expected {LAYOUT})")
        self.ids = [p.name for p in self.subjects]
        self.size, self.dark = size, dark

    def load(self, index: int) -> Sample:
        folder = self.subjects[index]
        center_path, files, lights = read_lights(folder)
        center = read_image(center_path)
        images = []
        for path in files:
            image = read_image(path)
            if image.shape != center.shape:
                raise PortraitEdgeError(f"{path}: is {image.shape[1]}x{image.shape[0]} but the center image is "
                                        f"{center.shape[1]}x{center.shape[0]}")
            images.append(srgb_to_linear(image))
        linear = np.stack(images)  # [K, H, W, 3]
        normals, _, valid = fit_normals(np.einsum("khwc,c->khw", linear, LUMINANCE), lights, self.dark)
        albedo = fit_albedo(linear, lights, normals, valid, self.dark)
        mask = valid.astype(np.float32)
        if self.size is not None:
            center = resize_image(center, self.size)
            normals = resize_float(normals, self.size)
            length = np.linalg.norm(normals, axis=2, keepdims=True)
            mask = resize_nearest(mask, self.size) * (length[..., 0] > 0.5)
            normals = np.where(mask[..., None] > 0, normals / np.maximum(length, 1e-6), 0.0).astype(np.float32)
            albedo = resize_float(albedo, self.size) * mask[..., None]
        return {"image": center, "normals": normals, "albedo": albedo.astype(np.float32), "mask": mask.astype(np.float32)}
