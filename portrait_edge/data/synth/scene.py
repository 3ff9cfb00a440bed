"""Random scene parameters, drawn per sample from its seed.

A scene is two independent parameter sets:
- geometry: everything that decides the label map (pose, framing, face shape, expression, hair style,
  ears, neck, clothes cut, accessories and their shapes);
- appearance: everything else (skin tone and texture, hair/eye/clothes colours, lights, background,
  camera). Swapping appearance between two scenes keeps each geometry's label map exactly.
Each set is drawn from its own random stream of the sample seed, so `combine(geometry_of_b,
appearance_of_a)` is the exact render of "a's look on b's shape" (used by the maskedit pairs).

All values are numpy draws (PCG64 via SeedSequence), identical on every platform and device, then
stacked into float32 / int64 tensors [N, ...] on the requested device.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
import torch

NUM_IDENTITY = 12
NOISE_RES = 64
_MASK64 = (1 << 64) - 1


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample `index` of a batch drawn with `seed` (splitmix64 of both; batch-size free)."""
    x = ((int(seed) & _MASK64) * 0x9E3779B97F4A7C15 + (int(index) & _MASK64) + 0x632BE59BD9B4E019) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) & ((1 << 63) - 1)


def srgb_to_linear(rgb) -> np.ndarray:
    return (np.asarray(rgb, dtype=np.float64) / 255.0) ** 2.2


# Fitzpatrick I..VI, typical facial skin colours (sRGB).
SKIN_TONES = np.array([(243, 213, 194), (230, 189, 162), (208, 160, 126), (176, 126, 92), (128, 87, 60), (80, 55, 41)])
HAIR_COLOURS = {  # sRGB, relative frequency
    "black": ((22, 18, 16), 5.0), "dark_brown": ((48, 32, 24), 5.0), "brown": ((88, 60, 40), 4.0),
    "light_brown": ((132, 96, 64), 2.5), "dark_blonde": ((162, 128, 84), 2.0), "blonde": ((212, 182, 124), 1.5),
    "platinum": ((226, 214, 188), 0.5), "auburn": ((120, 52, 30), 1.0), "ginger": ((178, 92, 44), 1.0),
    "grey": ((140, 138, 136), 1.5), "white": ((214, 212, 206), 0.7), "blue": ((44, 62, 140), 0.25),
    "pink": ((200, 92, 142), 0.25), "purple": ((90, 42, 112), 0.25), "green": ((42, 110, 72), 0.2),
}
EYE_COLOURS = [(58, 34, 20), (92, 58, 30), (118, 92, 48), (76, 106, 66), (78, 118, 168), (116, 126, 136)]
HAIR_STYLES = ("bald", "buzz", "short", "medium", "long")
HAIR_STYLE_P = (0.07, 0.13, 0.3, 0.18, 0.32)
HAT_TYPES = ("beanie", "cap", "brimmed")
BACKGROUND_TYPES = ("gradient", "texture", "bokeh", "studio", "interior")


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit vector in camera space: azimuth 0 = from the camera, positive = from image right."""
    return _unit([math.sin(azimuth) * math.cos(elevation), math.sin(elevation), math.cos(azimuth) * math.cos(elevation)])


def _colour_jitter(rng: np.random.Generator, rgb_linear: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(rgb_linear * np.exp(rng.normal(0.0, amount, 3)) * np.exp(rng.normal(0.0, amount)), 0.0, 1.0)


def _random_colour(rng: np.random.Generator, saturation=(0.1, 0.9), value=(0.1, 0.95)) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))
    return np.asarray(rgb) ** 2.2


def sample_geometry(rng: np.random.Generator) -> dict[str, np.ndarray]:
    g: dict[str, object] = {}
    g["yaw"] = rng.uniform(-math.radians(35), math.radians(35))
    g["pitch"] = float(np.clip(rng.normal(0.0, math.radians(7)), -math.radians(18), math.radians(18)))
    g["roll"] = float(np.clip(rng.normal(0.0, math.radians(5)), -math.radians(15), math.radians(15)))
    g["iod_frac"] = rng.uniform(0.21, 0.31)  # outer-eye-corner distance / image width
    g["eye_pos"] = np.array([0.5 + rng.normal(0, 0.025), 0.44 + rng.normal(0, 0.025)])
    g["identity"] = np.clip(rng.normal(0.0, 1.0, NUM_IDENTITY), -2.2, 2.2)
    g["jaw_open"] = rng.uniform(0.2, 1.0) if rng.uniform() < 0.35 else 0.0
    g["smile"] = rng.uniform(-0.3, 1.0)
    g["gaze"] = np.clip(rng.normal(0.0, 0.25, 2), -0.5, 0.5)
    g["skull_scale"] = 1.0 + rng.normal(0.0, 0.03, 3)
    g["ear_scale"] = 1.0 + rng.normal(0.0, 0.08)
    g["ear_angle"] = 0.3 + rng.normal(0.0, 0.1)
    g["neck_radius"] = 0.56 + rng.normal(0.0, 0.04)
    g["neck_length"] = 0.86 + rng.normal(0.0, 0.07)
    g["torso_radii"] = np.array([rng.uniform(2.0, 2.6), rng.uniform(1.2, 1.6), rng.uniform(0.8, 1.05)])
    g["torso_yaw"] = 0.35 * g["yaw"] + rng.normal(0.0, 0.08)
    g["torso_roll"] = rng.normal(0.0, 0.04)
    g["neckline"] = np.array([rng.integers(0, 3), rng.uniform(0.72, 0.96), rng.uniform(0.25, 0.55)])

    style = int(rng.choice(len(HAIR_STYLES), p=HAIR_STYLE_P))
    g["hair_style"] = style
    volume = {0: 0.0, 1: 0.035, 2: rng.uniform(0.06, 0.16), 3: rng.uniform(0.08, 0.2), 4: rng.uniform(0.06, 0.22)}[style]
    front = rng.uniform(0.55, 0.72) if rng.uniform() > 0.15 else rng.uniform(0.72, 0.85)  # receding sometimes
    side = {0: 0.3, 1: 0.08, 2: rng.uniform(-0.12, 0.08), 3: rng.uniform(-0.45, -0.15), 4: rng.uniform(-0.3, 0.05)}[style]
    back = {0: -0.3, 1: -0.45, 2: rng.uniform(-0.6, -0.4), 3: rng.uniform(-0.75, -0.5), 4: -0.9}[style]
    fringe = rng.uniform(0.07, 0.25) if style >= 2 and rng.uniform() < 0.25 else 9.0  # hairline height of a fringe (brows ~0.03)
    g["hair_shape"] = np.array([
        volume, front, side, back, min(fringe, front), rng.uniform(-0.6, 0.6),  # 5: parting azimuth
        rng.uniform(1.6, 3.6) if style == 4 else 0.0,  # 6: long-hair length below the skull centre
        rng.uniform(1.0, 1.5),  # 7: half-angle of the face opening of long hair
        rng.uniform(0.0, 0.12),  # 8: temple recession
        1.0 if style == 0 else 0.0,  # 9: bald (no cap; a horseshoe of short hair sometimes)
        1.0 if (style == 0 and rng.uniform() < 0.5) else 0.0,  # 10: horseshoe
    ])
    g["glasses"] = float(rng.uniform() < 0.22)
    g["glasses_shape"] = np.array([rng.uniform(0.2, 0.27), rng.uniform(0.12, 0.19), rng.uniform(2.0, 6.0),
                                   rng.uniform(0.012, 0.035), rng.uniform(0.1, 0.2), rng.normal(0.0, 0.02)])
    g["hat"] = float(rng.uniform() < 0.14)
    g["hat_shape"] = np.array([rng.integers(0, len(HAT_TYPES)), rng.uniform(0.25, 0.5), rng.uniform(0.05, 0.12),
                               rng.uniform(0.4, 0.9), rng.normal(0.0, 0.08)])
    g["earrings"] = float(rng.uniform() < 0.22)
    g["earring_shape"] = np.array([rng.uniform(0.03, 0.065), rng.uniform(0.0, 0.12)])
    g["necklace"] = float(rng.uniform() < 0.18)
    g["necklace_shape"] = np.array([rng.uniform(0.1, 0.5), rng.uniform(0.018, 0.04), rng.integers(10, 40)])
    g["noise"] = rng.standard_normal((4, NOISE_RES, NOISE_RES)).astype(np.float32)
    return {k: np.asarray(v) for k, v in g.items()}


def sample_appearance(rng: np.random.Generator) -> dict[str, np.ndarray]:
    a: dict[str, object] = {}
    skin_type = int(rng.integers(0, 6))
    a["skin_type"] = skin_type + 1
    a["skin_rgb"] = _colour_jitter(rng, srgb_to_linear(SKIN_TONES[skin_type]), 0.06)
    a["skin_detail"] = np.array([rng.uniform(0.3, 1.0),  # pores/texture strength
                                 rng.uniform(0.0, 1.0),  # cheek/nose redness
                                 rng.uniform(0.0, 1.0) if rng.uniform() < 0.15 else 0.0,  # freckles
                                 rng.uniform(0.2, 1.0),  # oiliness (specular)
                                 rng.uniform(0.3, 1.0) if rng.uniform() < 0.15 else 0.0])  # stubble
    names = list(HAIR_COLOURS)
    weights = np.array([HAIR_COLOURS[n][1] for n in names])
    hair = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    a["hair_rgb"] = _colour_jitter(rng, srgb_to_linear(HAIR_COLOURS[hair][0]), 0.1)
    a["brow_rgb"] = np.clip(a["hair_rgb"] * rng.uniform(0.5, 0.9), 0.0, 1.0) if hair not in ("white", "platinum", "grey") \
        else srgb_to_linear((90, 80, 70))
    a["eye_rgb"] = _colour_jitter(rng, srgb_to_linear(EYE_COLOURS[int(rng.integers(0, len(EYE_COLOURS)))]), 0.08)
    lipstick = rng.uniform() < 0.25
    lipstick_hue = (rng.uniform(-0.1, 0.04)) % 1.0  # reds, pinks, plums, browns
    a["lip_rgb"] = np.asarray(colorsys.hsv_to_rgb(lipstick_hue, rng.uniform(0.45, 0.85), rng.uniform(0.3, 0.7))) ** 2.2 if lipstick else \
        np.clip(a["skin_rgb"] * np.array([0.85, 0.5, 0.5]) * rng.uniform(0.7, 1.0), 0, 1)
    a["makeup"] = np.array([rng.uniform(0.3, 1.0) if rng.uniform() < 0.3 else 0.0, 0.6 if lipstick else 0.0])
    a["cloth_rgb"] = _random_colour(rng)
    a["cloth_rgb2"] = _random_colour(rng)
    a["cloth_pattern"] = np.array([rng.choice(4, p=[0.5, 0.22, 0.1, 0.18]), rng.uniform(4.0, 14.0), rng.uniform(0, math.pi)])
    a["accessory_rgb"] = np.stack([_random_colour(rng, (0.0, 0.6), (0.02, 0.6)),  # glasses frame
                                   _random_colour(rng, (0.0, 0.6), (0.3, 0.9)),  # lens tint
                                   _random_colour(rng, (0.2, 0.9), (0.1, 0.9)),  # hat
                                   srgb_to_linear((212, 175, 55)) if rng.uniform() < 0.5 else srgb_to_linear((200, 200, 205)),  # metal
                                   _random_colour(rng, (0.3, 1.0), (0.3, 1.0))])  # beads
    a["lens_alpha"] = rng.uniform(0.05, 0.55) if rng.uniform() < 0.35 else rng.uniform(0.0, 0.08)

    # Lights: key, fill, rim (directions towards the light, camera space), hemisphere ambient.
    key_az = rng.uniform(-math.radians(85), math.radians(85))
    a["key_dir"] = _direction(key_az, rng.uniform(-math.radians(10), math.radians(60)))
    warm = rng.uniform(-1.0, 1.0)
    key_rgb = np.array([1.0 + 0.18 * warm, 1.0, 1.0 - 0.22 * warm])
    if rng.uniform() < 0.12:
        key_rgb = 0.5 * key_rgb + _random_colour(rng, (0.4, 1.0), (0.8, 1.0)) * 1.2
    a["key_rgb"] = key_rgb / key_rgb.mean() * rng.uniform(0.6, 1.25)
    a["key_softness"] = rng.uniform(0.03, 0.5)
    a["fill_dir"] = _direction(-np.sign(key_az) * rng.uniform(math.radians(20), math.radians(80)), rng.uniform(0.0, math.radians(35)))
    fill_rgb = np.ones(3) if rng.uniform() < 0.7 else _random_colour(rng, (0.2, 0.8), (0.8, 1.0)) + 0.3
    a["fill_rgb"] = fill_rgb / fill_rgb.mean() * rng.uniform(0.05, 0.45)
    a["rim_dir"] = _direction(rng.choice([-1, 1]) * rng.uniform(math.radians(110), math.radians(160)), rng.uniform(0.0, math.radians(40)))
    rim_rgb = _random_colour(rng, (0.0, 0.9), (0.8, 1.0)) + 0.2
    a["rim_rgb"] = rim_rgb / rim_rgb.mean() * (rng.uniform(0.3, 1.2) if rng.uniform() < 0.35 else 0.0)
    sky = np.array([0.85, 0.93, 1.1]) * rng.uniform(0.12, 0.4)
    a["sky_rgb"] = _colour_jitter(rng, sky, 0.05)
    a["ground_rgb"] = _colour_jitter(rng, np.array([1.0, 0.92, 0.82]) * rng.uniform(0.04, 0.16), 0.1)

    bg_type = int(rng.integers(0, len(BACKGROUND_TYPES)))
    a["background"] = np.array([bg_type, rng.uniform(0, 2 * math.pi), rng.uniform(0.2, 1.0), rng.uniform(1.0, 4.0)])
    a["background_rgb"] = np.stack([_random_colour(rng, (0.0, 0.7), (0.05, 0.95)) for _ in range(4)])
    a["camera"] = np.array([
        rng.uniform(0.8, 1.15),  # 0 exposure
        rng.uniform(0.0, 0.9),  # 1 blur sigma in pixels at 256
        rng.uniform(0.002, 0.02),  # 2 read noise
        rng.uniform(0.0, 0.025),  # 3 shot noise
        rng.uniform(30, 95) if rng.uniform() < 0.6 else 0.0,  # 4 JPEG quality (0 = none)
        rng.normal(0.0, 0.04), rng.normal(0.0, 0.04),  # 5, 6 white balance (r, b)
        rng.uniform(0.0, 0.35),  # 7 vignetting
    ])
    a["camera_seed"] = int(rng.integers(0, 2**62))
    a["noise"] = rng.standard_normal((8, NOISE_RES, NOISE_RES)).astype(np.float32)
    return {k: np.asarray(v) for k, v in a.items()}


@dataclass
class Scene:
    """Parameters of N scenes as tensors [N, ...] on one device."""

    geometry: dict[str, torch.Tensor]
    appearance: dict[str, torch.Tensor]
    seeds: list[int]

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def device(self) -> torch.device:
        return self.geometry["yaw"].device

    def select(self, index: torch.Tensor | list[int]) -> "Scene":
        index = torch.as_tensor(index, dtype=torch.long)
        pick = lambda d: {k: v[index.to(v.device)] for k, v in d.items()}  # noqa: E731
        return Scene(pick(self.geometry), pick(self.appearance), [self.seeds[int(i)] for i in index])


def _stack(dicts: list[dict[str, np.ndarray]], device: torch.device | str) -> dict[str, torch.Tensor]:
    out = {}
    for key in dicts[0]:
        values = np.stack([d[key] for d in dicts])
        dtype = torch.int64 if np.issubdtype(values.dtype, np.integer) else torch.float32
        out[key] = torch.as_tensor(values, dtype=dtype).to(device)
    return out


def sample_scene(seeds: list[int], device: torch.device | str = "cpu", overrides: dict | None = None) -> Scene:
    """Scenes for per-sample seeds (see sample_seed). `overrides` replaces geometry/appearance values,
    e.g. {"yaw": array of N radians}, for controlled renders (benchmarks, tests)."""
    geometry, appearance = [], []
    for s in seeds:
        geometry.append(sample_geometry(np.random.default_rng([s, 1])))
        appearance.append(sample_appearance(np.random.default_rng([s, 2])))
    scene = Scene(_stack(geometry, device), _stack(appearance, device), list(seeds))
    for key, value in (overrides or {}).items():
        target = scene.geometry if key in scene.geometry else scene.appearance
        target[key] = torch.as_tensor(np.asarray(value), dtype=target[key].dtype, device=target[key].device)
    return scene


def combine(shape_from: Scene, look_from: Scene) -> Scene:
    """The geometry of one scene with the appearance of another (same N)."""
    return Scene(dict(shape_from.geometry), dict(look_from.appearance), list(shape_from.seeds))
