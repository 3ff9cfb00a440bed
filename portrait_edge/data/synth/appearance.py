"""Appearance: albedo and specular properties per pixel (skin tones and texture, facial features,
eyes, mouth, hair strands, clothes patterns, accessories) and the background.

Everything is computed on pixel lists per material (only where that material is visible). Albedo is
linear reflectance in [0, 1]. Texture noise comes from the sample's appearance noise bank, looked up
in surface coordinates so it sticks to the surface when the head turns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from portrait_edge.data.synth.face_atlas import face_maps
from portrait_edge.data.synth.gbuffer import (
    BACKGROUND,
    CLOTH,
    EAR,
    EYE,
    FACE,
    GLASSES,
    HAIR,
    HAIR_INNER,
    HAT,
    METAL,
    MOUTH,
    NECK,
    SKIN,
    GBuffer,
)
from portrait_edge.data.synth.template import load_template
from portrait_edge.data.synth.textures import fbm_texture, lookup, smoothstep
from portrait_edge.labels import CLASS_ID

IRIS_RADIUS = 0.062  # template units
PUPIL_RADIUS = 0.026


@dataclass
class Materials:
    albedo: torch.Tensor  # [N, 3, H, W] linear reflectance
    specular: torch.Tensor  # [N, 1, H, W] specular strength
    shininess: torch.Tensor  # [N, 1, H, W] Blinn-Phong exponent
    subsurface: torch.Tensor  # [N, 1, H, W] 1 on skin (soft, wrapped, blurred shading)
    anisotropic: torch.Tensor  # [N, 1, H, W] 1 on hair (strand highlights)
    bump: torch.Tensor | None = None  # [N, 2, H, W] small camera x/y normal tilts (skin pores), shading only


class _FlatGBuffer:
    """The G-buffer channels that materials read, flattened once to [N * H * W, ...] pixel rows, and the
    foreground pixels (each material's pixels are then searched among those only)."""

    def __init__(self, gbuffer: GBuffer):
        self.pixels_per_image = gbuffer.material[0].numel()
        material = gbuffer.material.reshape(-1)
        self.foreground = (material != BACKGROUND).nonzero().squeeze(1)
        self.material = material.index_select(0, self.foreground)
        self.coords = gbuffer.coords.permute(0, 2, 3, 1).reshape(-1, 3)
        self.label = gbuffer.label.reshape(-1)


class _Pixels:
    """The pixels of one material: flat index, sample index and their material coordinates and labels."""

    def __init__(self, gbuffer: _FlatGBuffer, material: int):
        flat = gbuffer.foreground.index_select(0, (gbuffer.material == material).nonzero().squeeze(1))
        self.index = flat
        self.batch = flat // gbuffer.pixels_per_image
        self.coords = gbuffer.coords.index_select(0, flat)
        self.label = gbuffer.label.index_select(0, flat)

    def __len__(self) -> int:
        return int(self.index.shape[0])


def _noise(bank: torch.Tensor, px: _Pixels, channel: int, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return lookup(bank[:, channel:channel + 1], px.batch, u, v)[:, 0]


def _skin_albedo(app: dict, bank: torch.Tensor, px: _Pixels, u: torch.Tensor, v: torch.Tensor, detail_scale: float = 1.0,
                 pores: torch.Tensor | None = None) -> torch.Tensor:
    """Skin tone with pores and mottling (u, v: surface coordinates in template-sized units; pores: the
    pore noise if the caller already has it)."""
    b = px.batch
    detail = app["skin_detail"][b]
    base = app["skin_rgb"][b]
    if pores is None:
        pores = _noise(bank, px, 0, u * 150 * detail_scale, v * 150 * detail_scale)
    mottle = _noise(bank, px, 1, u * 18, v * 18)
    shade = 1.0 + 0.035 * detail[:, 0] * pores + 0.05 * mottle
    tint = torch.stack([1.0 + 0.03 * mottle, 1.0 - 0.01 * mottle, 1.0 - 0.02 * mottle], -1)
    return base * shade[:, None] * tint


def _face(out: dict, app: dict, bank: torch.Tensor, px: _Pixels) -> None:
    if not len(px):
        return
    b = px.batch
    uv = px.coords[:, :2]
    maps = face_maps(uv)
    u, v = uv[:, 0], uv[:, 1]
    detail = app["skin_detail"][b]
    pores = _noise(bank, px, 0, u * 150, v * 150)  # also the height field of the bump below
    albedo = _skin_albedo(app, bank, px, u, v, pores=pores)
    redness = (maps["blush"] * 0.6 + maps["nose_tip"] * 0.5) * detail[:, 1]
    albedo = albedo * (1.0 - redness[:, None] * torch.tensor([0.0, 0.18, 0.15], device=u.device))
    freckles = smoothstep(1.0, 1.8, _noise(bank, px, 2, u * 90, v * 90)) * detail[:, 2] * (1 - maps["lips"])
    albedo = albedo * (1.0 - 0.35 * freckles[:, None] * torch.tensor([0.7, 0.9, 1.0], device=u.device))
    socket = maps["socket"] * 0.22 + maps["crease"] * 0.25
    albedo = albedo * (1.0 - socket[:, None] * torch.tensor([0.9, 1.0, 0.8], device=u.device))
    stubble = maps["stubble"] * detail[:, 4] * (0.6 + 0.4 * smoothstep(-0.5, 1.0, _noise(bank, px, 3, u * 200, v * 200)))
    albedo = albedo * (1.0 - 0.45 * stubble[:, None] * torch.tensor([1.0, 0.95, 0.85], device=u.device))
    # Lips: own colour, vertical creases.
    lip_lines = 0.92 + 0.08 * _noise(bank, px, 4, u * 260, v * 25)
    lip = app["lip_rgb"][b] * lip_lines[:, None]
    albedo = albedo + maps["lips"][:, None] * (lip - albedo)
    # Brows: strands along the brow (long along u).
    strands = smoothstep(-0.6, 0.9, _noise(bank, px, 5, u * 40, v * 320))
    brow = maps["brow"] * (0.55 + 0.45 * strands)
    albedo = albedo + (0.92 * brow)[:, None] * (app["brow_rgb"][b] - albedo)
    liner = maps["liner"] * (0.55 + app["makeup"][b, 0])
    albedo = albedo * (1.0 - 0.85 * liner.clamp(max=1.0)[:, None])
    albedo = albedo * (1.0 - 0.75 * maps["nostril"].clamp(max=1.0)[:, None])
    out["albedo"][px.index] = albedo.clamp(0.0, 1.0)
    # Pores and fine wrinkles tilt the shading normal a little (the normals ground truth stays smooth).
    step = 1.0 / 150.0
    slope_u = _noise(bank, px, 0, (u + step) * 150, v * 150) - pores
    slope_v = _noise(bank, px, 0, u * 150, (v + step) * 150) - pores
    strength = 0.05 * detail[:, 0] * (1 - maps["lips"])
    out["bump"][px.index] = torch.stack([-slope_u * strength, -slope_v * strength], -1)
    oily = detail[:, 3]
    out["specular"][px.index] = (0.03 + 0.07 * oily * maps["oily"]) * (1 - brow) + maps["lips"] * (0.08 + 0.2 * app["makeup"][b, 1])
    out["shininess"][px.index] = 18.0 + 30.0 * maps["lips"]
    out["subsurface"][px.index] = 1.0 - 0.7 * brow


def _eyes(out: dict, app: dict, bank: torch.Tensor, px: _Pixels, geometry: dict) -> None:
    if not len(px):
        return
    t = load_template()
    device = px.coords.device
    centres = torch.as_tensor(np.stack([t.vertices[t.loops["right_eye"], :2].mean(0), t.vertices[t.loops["left_eye"], :2].mean(0)]), device=device)
    b = px.batch
    which = (px.label == CLASS_ID["l_eye"]).long()
    gaze = geometry["gaze"][b] * torch.tensor([0.06, 0.025], device=device)
    d = px.coords[:, :2] - centres[which] - gaze
    r = d.norm(dim=-1)
    angle = torch.atan2(d[:, 1], d[:, 0])
    streaks = _noise(bank, px, 6, angle / (2 * math.pi) * 64 * 3, r * 400)
    iris = app["eye_rgb"][b] * (0.8 + 0.25 * streaks[:, None]) * (1.0 - 0.5 * smoothstep(0.6, 1.0, r / IRIS_RADIUS))[:, None]
    sclera = torch.tensor([0.68, 0.62, 0.58], device=device) * (1.0 - 0.25 * smoothstep(0.08, 0.16, d[:, 0].abs()))[:, None]
    pupil = torch.full_like(iris, 0.01)
    albedo = torch.where((r < IRIS_RADIUS)[:, None], iris, sclera)
    albedo = torch.where((r < PUPIL_RADIUS)[:, None], pupil, albedo)
    out["albedo"][px.index] = albedo
    out["specular"][px.index] = 0.6
    out["shininess"][px.index] = 400.0


def _mouth(out: dict, app: dict, bank: torch.Tensor, px: _Pixels) -> None:
    if not len(px):
        return
    device = px.coords.device
    side = px.coords[:, 2]
    u = px.coords[:, 0]
    gaps = smoothstep(0.0, 0.3, (torch.cos(u / 0.045 * math.pi)).abs())
    teeth = torch.tensor([0.62, 0.57, 0.48], device=device) * (0.75 + 0.25 * gaps)[:, None]
    inside = torch.tensor([0.14, 0.025, 0.03], device=device).expand_as(teeth)
    tongue = torch.tensor([0.42, 0.1, 0.1], device=device).expand_as(teeth)
    albedo = torch.where((side > 0.45)[:, None], teeth, torch.where((side < -0.35)[:, None], tongue, inside))
    out["albedo"][px.index] = albedo
    out["specular"][px.index] = 0.12
    out["shininess"][px.index] = 40.0


def _body_skin(out: dict, app: dict, bank: torch.Tensor, px: _Pixels, tint: tuple[float, float, float], darker: float) -> None:
    if not len(px):
        return
    c = px.coords
    albedo = _skin_albedo(app, bank, px, c[:, 0] * 0.8 + c[:, 2] * 0.3, c[:, 1] * 0.8, 0.6)
    albedo = albedo * torch.tensor(tint, device=c.device) * darker
    out["albedo"][px.index] = albedo.clamp(0, 1)
    out["specular"][px.index] = 0.03
    out["shininess"][px.index] = 15.0
    out["subsurface"][px.index] = 1.0


def _ears(out: dict, app: dict, bank: torch.Tensor, px: _Pixels) -> None:
    if not len(px):
        return
    c = px.coords  # local normalised ear coordinates, x > 0 = outward face
    albedo = _skin_albedo(app, bank, px, c[:, 2], c[:, 1], 0.6) * torch.tensor([1.0, 0.88, 0.85], device=c.device)
    bowl = torch.exp(-((c[:, 1] / 0.55) ** 2 + ((c[:, 2] + 0.1) / 0.45) ** 2)) * (c[:, 0] > 0)
    rim = smoothstep(0.75, 0.95, torch.sqrt(c[:, 1] ** 2 + c[:, 2] ** 2))
    albedo = albedo * (1.0 - 0.45 * bowl[:, None]) * (1.0 + 0.1 * rim[:, None])
    out["albedo"][px.index] = albedo.clamp(0, 1)
    out["specular"][px.index] = 0.04
    out["shininess"][px.index] = 20.0
    out["subsurface"][px.index] = 1.0


def _hair(out: dict, app: dict, bank: torch.Tensor, px: _Pixels, inner: bool) -> None:
    if not len(px):
        return
    b = px.batch
    azimuth, elevation = px.coords[:, 0], px.coords[:, 1]
    a = azimuth / (2 * math.pi) * 64
    fine = _noise(bank, px, 7, a * 9.0, elevation * 6.0)
    coarse = _noise(bank, px, 6, a * 2.0, elevation * 2.0 + 17.0)
    clumps = _noise(bank, px, 5, a * 0.7, elevation * 1.2 + 31.0)
    strands = 0.62 + 0.22 * fine + 0.12 * coarse + 0.16 * clumps
    crown = smoothstep(0.75, 0.95, elevation) * 0.25
    colour = app["hair_rgb"][b] * (strands.clamp(0.2, 1.35) - crown)[:, None]
    if inner:
        colour = colour * 0.45
    out["albedo"][px.index] = colour.clamp(0, 1)
    out["specular"][px.index] = 0.25 * (0.6 + 0.4 * fine.clamp(-1, 1))
    out["shininess"][px.index] = 60.0
    out["anisotropic"][px.index] = 1.0


def _cloth(out: dict, app: dict, bank: torch.Tensor, px: _Pixels) -> None:
    if not len(px):
        return
    b = px.batch
    c = px.coords
    pattern, frequency, angle = (app["cloth_pattern"][b, k] for k in range(3))
    x = c[:, 0] * torch.cos(angle) + c[:, 1] * torch.sin(angle)
    y = -c[:, 0] * torch.sin(angle) + c[:, 1] * torch.cos(angle)
    stripes = (torch.sin(x * frequency * math.pi) > 0).float()
    checks = ((torch.sin(x * frequency * math.pi) > 0) ^ (torch.sin(y * frequency * math.pi) > 0)).float()
    blotch = smoothstep(-0.3, 0.3, _noise(bank, px, 3, c[:, 0] * 12 + 5, c[:, 1] * 12 + 5))
    mix = torch.where(pattern < 0.5, torch.zeros_like(x), torch.where(pattern < 1.5, stripes, torch.where(pattern < 2.5, checks, 0.35 * blotch)))
    weave = 1.0 + 0.05 * _noise(bank, px, 0, c[:, 0] * 300, c[:, 1] * 300)
    folds = 1.0 + 0.12 * _noise(bank, px, 1, c[:, 0] * 6 + 11, c[:, 1] * 3 + 3)
    colour = app["cloth_rgb"][b] + mix[:, None] * (app["cloth_rgb2"][b] - app["cloth_rgb"][b])
    collar = smoothstep(-0.05, 0.0, c[:, 2])  # just below the neckline
    colour = colour * (weave * folds)[:, None] * (1.0 - 0.3 * collar[:, None])
    out["albedo"][px.index] = colour.clamp(0, 1)
    out["specular"][px.index] = 0.02
    out["shininess"][px.index] = 8.0


def _plain(out: dict, px: _Pixels, colour: torch.Tensor, specular: float, shininess: float, pattern: torch.Tensor | None = None) -> None:
    if not len(px):
        return
    albedo = colour if pattern is None else colour * pattern[:, None]
    out["albedo"][px.index] = albedo.clamp(0, 1)
    out["specular"][px.index] = specular
    out["shininess"][px.index] = shininess


def build_materials(gbuffer: GBuffer, geometry: dict, app: dict) -> Materials:
    n, h, w = gbuffer.material.shape
    device = gbuffer.depth.device
    out = {
        "albedo": torch.zeros(n * h * w, 3, device=device),
        "specular": torch.zeros(n * h * w, device=device),
        "shininess": torch.full((n * h * w,), 10.0, device=device),
        "subsurface": torch.zeros(n * h * w, device=device),
        "anisotropic": torch.zeros(n * h * w, device=device),
        "bump": torch.zeros(n * h * w, 2, device=device),
    }
    bank = app["noise"]
    gbuffer = _FlatGBuffer(gbuffer)
    _face(out, app, bank, _Pixels(gbuffer, FACE))
    _eyes(out, app, bank, _Pixels(gbuffer, EYE), geometry)
    _mouth(out, app, bank, _Pixels(gbuffer, MOUTH))
    _body_skin(out, app, bank, _Pixels(gbuffer, SKIN), (1.0, 1.0, 1.0), 1.0)
    _body_skin(out, app, bank, _Pixels(gbuffer, NECK), (1.0, 0.97, 0.95), 0.93)
    _ears(out, app, bank, _Pixels(gbuffer, EAR))
    _hair(out, app, bank, _Pixels(gbuffer, HAIR), inner=False)
    _hair(out, app, bank, _Pixels(gbuffer, HAIR_INNER), inner=True)
    _cloth(out, app, bank, _Pixels(gbuffer, CLOTH))
    px = _Pixels(gbuffer, HAT)
    if len(px):
        knit = 0.85 + 0.15 * torch.cos(px.coords[:, 0] * 40).abs() * (px.coords[:, 2] < 0.5)
        _plain(out, px, app["accessory_rgb"][px.batch, 2], 0.03, 10.0, knit)
    px = _Pixels(gbuffer, GLASSES)
    _plain(out, px, app["accessory_rgb"][px.batch, 0], 0.35, 80.0)
    px = _Pixels(gbuffer, METAL)
    if len(px):
        beads = (px.coords[:, 2] > 0.5) & (app["accessory_rgb"][px.batch, 4, 0] > 0.3)
        colour = torch.where(beads[:, None], app["accessory_rgb"][px.batch, 4], app["accessory_rgb"][px.batch, 3])
        _plain(out, px, colour, 0.9, 120.0)
    view = lambda t, c: t.view(n, h, w, c).permute(0, 3, 1, 2).contiguous() if c > 1 else t.view(n, 1, h, w)  # noqa: E731
    return Materials(view(out["albedo"], 3), view(out["specular"], 1), view(out["shininess"], 1),
                     view(out["subsurface"], 1), view(out["anisotropic"], 1), view(out["bump"], 2))


def background(app: dict, size: int) -> torch.Tensor:
    """Linear-light background [N, 3, size, size]: gradients, textures, bokeh shapes, studio, interior."""
    device = app["noise"].device
    kind, angle, contrast, scale = (app["background"][:, k, None, None] for k in range(4))
    colours = app["background_rgb"]  # [N, 4, 3]
    res = 64
    coord = (torch.arange(res, device=device, dtype=torch.float32) + 0.5) / res * 2 - 1
    yy, xx = torch.meshgrid(coord, coord, indexing="ij")
    along = (xx[None] * torch.cos(angle) + yy[None] * torch.sin(angle)) * 0.5 + 0.5
    gradient = colours[:, 0, :, None, None] + (colours[:, 1, :, None, None] - colours[:, 0, :, None, None]) * along[:, None]
    fbm = fbm_texture(app["noise"][:, :3], octaves=4, base_res=3, out_res=res)
    texture = gradient * (1.0 + 0.35 * contrast[:, None] * fbm)
    # Bokeh: soft discs of the other colours.
    bokeh = gradient.clone()
    for k in range(6):
        centre = app["noise"][:, 7, k, :2].tanh() * 1.1  # [N, 2]
        radius = 0.08 + 0.12 * app["noise"][:, 7, k + 8, 0].sigmoid()
        d = torch.sqrt((xx[None] - centre[:, 0, None, None]) ** 2 + (yy[None] - centre[:, 1, None, None]) ** 2)
        disc = smoothstep(1.0, 0.7, d / radius[:, None, None])[:, None]
        bokeh = bokeh + disc * (colours[:, 2 + k % 2, :, None, None] * 1.4 - bokeh) * 0.6
    studio = colours[:, 0, :, None, None] * (1.15 - 0.45 * (xx[None] ** 2 + yy[None] ** 2))[:, None]
    bands = (torch.sin(xx[None] * scale * math.pi + angle) > 0.3).float()[:, None]
    interior = gradient * (0.8 + 0.35 * bands) * (1.0 + 0.15 * fbm)
    choice = [gradient, texture, bokeh, studio, interior]
    out = torch.zeros_like(gradient)
    for k, image in enumerate(choice):
        out = torch.where((kind == k)[:, None], image, out)
    out = F.interpolate(out, size=(size, size), mode="bicubic", align_corners=False)
    return out.clamp(0.0, 1.0)
