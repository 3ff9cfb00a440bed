"""Relighting a portrait with its normal map (seed 001): a new light on the face, the rest untouched.

    from portrait_edge.relight import face_region, relight
    mask = result.mask & face_region(result.faces[0].landmarks, *image.shape[:2])   # result: load_pipeline("normals")
    out = relight(image, result.normals, mask, azimuth=60, elevation=20, color=(1.0, 0.9, 0.8), intensity=1.0)

Model, in linear light (sRGB ~ gamma 2.2), on the pixels of `mask` (the face, feathered at its edge):
1. The photo's own lighting is estimated as grey second-order spherical harmonics: the 9 SH
   coefficients that best explain the face's luminance from its normals (least squares), so
   shading_0(n) = sum_k c_k Y_k(n) (the coefficients absorb the mean albedo's brightness).
2. albedo = image / shading_0 (shading floored at 30% of its median, albedo clipped at its 99th
   percentile): colour and texture, without the photo's shading.
3. The new shading: ambient (the face's mean shading times `ambient`) plus a Lambertian light of `color` x
   `intensity` from the direction (azimuth, elevation), scaled so the face keeps its mean brightness
   at intensity 1. `keep` blends in the photo's own shading (0 = only the new light, 1 = unchanged).
4. out = albedo x new shading, back to sRGB; outside the mask, the photo as it was.

Direction (degrees; camera space as the normals: x right, y up, z towards the camera): azimuth 0 =
from the camera, +90 = from the image's right, -90 = from its left; elevation +90 = from above.
"""

from __future__ import annotations

import math

import numpy as np

from portrait_edge.errors import PortraitEdgeError

GAMMA = 2.2
LUMA = np.array([0.2126, 0.7152, 0.0722])
SHADING_FLOOR = 0.3  # the photo's estimated shading is at least this share of its median
FEATHER = 0.05  # the mask's edge fades over this share of the face's size so the relit face blends in


def face_region(landmarks: np.ndarray, height: int, width: int, grow: float = 1.08) -> np.ndarray:
    """HxW bool: the convex hull of a face's 468 Face Mesh landmarks (photo pixels), grown `grow` times
    about its centre so the hairline and jaw edge are included: the part of the photo that is relit."""
    from PIL import Image, ImageDraw
    from scipy.spatial import ConvexHull

    points = np.asarray(landmarks, np.float64)[:468, :2]
    hull = points[ConvexHull(points).vertices]
    centre = points.mean(0)
    hull = centre + (hull - centre) * grow
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in hull], fill=255)
    return np.asarray(canvas) > 0


def result_region(result, height: int, width: int) -> np.ndarray:
    """HxW bool: where a `normals` pipeline result is relit: its surface mask inside the largest face's region."""
    return result.mask & face_region(result.faces[0].landmarks, height, width)


def light_direction(azimuth: float, elevation: float) -> np.ndarray:
    az, el = math.radians(azimuth), math.radians(elevation)
    return np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)], np.float64)


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """[..., 3] unit normals -> [..., 9] real spherical harmonics up to order 2 (unnormalised constants
    folded into the fitted coefficients)."""
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    return np.stack([np.ones_like(x), y, z, x, x * y, y * z, 3 * z * z - 1, x * z, x * x - y * y], -1)


def fit_lighting(luminance: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """The 9 SH coefficients that best explain linear luminance [P] from normals [P, 3] (least squares)."""
    coefficients, *_ = np.linalg.lstsq(sh_basis(normals), luminance, rcond=None)
    return coefficients


def _feathered(mask: np.ndarray) -> np.ndarray:
    """Weights in [0, 1]: 0 outside the mask, rising over FEATHER x the face's size inside its edge."""
    from PIL import Image, ImageFilter

    radius = max(1.0, FEATHER * float(np.sqrt(mask.sum())))
    eroded = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MinFilter(2 * int(radius // 2) + 1))
    soft = eroded.filter(ImageFilter.GaussianBlur(radius / 2))
    return np.asarray(soft, np.float32) / 255 * mask


def relight(image: np.ndarray, normals: np.ndarray, mask: np.ndarray, azimuth: float = 45.0, elevation: float = 15.0,
            color: tuple[float, float, float] = (1.0, 1.0, 1.0), intensity: float = 1.0, ambient: float = 0.6,
            keep: float = 0.0) -> np.ndarray:
    """The photo (HxWx3 uint8) relit on `mask` (HxW bool) from its normals (HxWx3 unit, camera space)."""
    image, normals, mask = np.asarray(image), np.asarray(normals, np.float32), np.asarray(mask, bool)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PortraitEdgeError(f"relight needs an HxWx3 uint8 image, got {image.shape} {image.dtype}")
    if normals.shape != image.shape or mask.shape != image.shape[:2]:
        raise PortraitEdgeError(f"normals {normals.shape} and mask {mask.shape} must match the image {image.shape}")
    if not 0 <= keep <= 1 or intensity < 0 or ambient < 0 or min(color) < 0:
        raise PortraitEdgeError("relight: keep must be in [0, 1]; intensity, ambient and colour must be >= 0")
    if mask.sum() < 50:
        raise PortraitEdgeError("relight: the mask holds fewer than 50 pixels (no face surface to relight)")
    linear = (image.astype(np.float64) / 255) ** GAMMA
    face = linear[mask]
    face_normals = normals[mask].astype(np.float64)
    coefficients = fit_lighting(face @ LUMA, face_normals)  # grey lighting: the colour stays in the albedo
    shading_0 = sh_basis(face_normals) @ coefficients  # [P]
    # a fit on a flat or clipped face can dip towards 0: floor it, so the albedo does not blow up
    shading_0 = np.maximum(shading_0, SHADING_FLOOR * max(float(np.median(shading_0)), 1e-3))
    albedo = face / shading_0[:, None]
    albedo = np.clip(albedo, 0, np.percentile(albedo, 99, axis=0)[None])
    lambert = np.clip(face_normals @ light_direction(azimuth, elevation), 0, None)[:, None]
    rgb = np.asarray(color, np.float64)[None]
    ambient_term = ambient * float(shading_0.mean())  # (not c_0: with near-frontal normals c_0 and the z^2 term trade off)
    scale = shading_0.mean() / max(ambient_term + float((rgb @ LUMA)[0]) * lambert.mean(), 1e-6)  # intensity 1 keeps the mean
    new_shading = scale * (ambient_term + intensity * rgb * lambert)
    shading = keep * shading_0[:, None] + (1 - keep) * new_shading
    relit = np.clip(albedo * shading, 0, 1)
    out = linear.copy()
    out[mask] = relit
    weight = _feathered(mask)[..., None]
    blended = linear * (1 - weight) + out * weight
    return (np.clip(blended, 0, 1) ** (1 / GAMMA) * 255).round().astype(np.uint8)
