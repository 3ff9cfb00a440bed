"""Lighting: key, fill and rim directional lights plus a sky/ground hemisphere ambient.

Diffuse: Lambert, wrapped on skin (light bleeding past the terminator) and blurred on skin per colour
channel (red scatters farthest) as a cheap stand-in for subsurface scattering. Specular: Blinn-Phong
with Fresnel boost; strand-aligned (Kajiya-Kay) highlights on hair. Key-light shadows (cast and self
shadows) are traced in screen space through the depth buffer with a penumbra that widens with the
distance to the occluder; ambient occlusion comes from the depth buffer's local concavity.
All light directions point from the surface towards the light, in camera space.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from portrait_edge.data.synth.appearance import Materials
from portrait_edge.data.synth.gbuffer import GBuffer
from portrait_edge.data.synth.textures import blur, masked_blur

SHADOW_STEPS = 14
SHADOW_REACH = 1.6  # units (1 = outer eye corner distance)


@dataclass
class Lighting:
    """Per-sample light set [N, ...]; multiply a light's colour by 0 to switch it off."""

    key_dir: torch.Tensor
    key_rgb: torch.Tensor
    key_softness: torch.Tensor  # penumbra growth per unit of distance to the occluder
    fill_dir: torch.Tensor
    fill_rgb: torch.Tensor
    rim_dir: torch.Tensor
    rim_rgb: torch.Tensor
    sky_rgb: torch.Tensor
    ground_rgb: torch.Tensor

    @staticmethod
    def from_appearance(app: dict) -> "Lighting":
        return Lighting(app["key_dir"], app["key_rgb"], app["key_softness"], app["fill_dir"], app["fill_rgb"],
                        app["rim_dir"], app["rim_rgb"], app["sky_rgb"], app["ground_rgb"])

    def replace(self, **changes) -> "Lighting":
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        values.update(changes)
        return Lighting(**values)

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class _Shifter:
    """Samples images [N, 1, H, W] at (x + dx, y + dy) per sample (pixels; border padding). The
    pixel-centre grid and the sampling grid's buffer are made once for all the shifts of a ray march."""

    def __init__(self, n: int, h: int, w: int, device: torch.device):
        ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=device)
        xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=device)
        self.gy, self.gx = torch.meshgrid(ys, xs, indexing="ij")
        self.grid = torch.empty(n, h, w, 2, device=device)

    def __call__(self, image: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
        _, _, h, w = image.shape
        torch.add(self.gx[None], (2 * dx / w)[:, None, None], out=self.grid[..., 0])
        torch.add(self.gy[None], (2 * dy / h)[:, None, None], out=self.grid[..., 1])
        return F.grid_sample(image, self.grid, mode="bilinear", padding_mode="border", align_corners=False)


def key_visibility(gbuffer: GBuffer, light_dir: torch.Tensor, softness: torch.Tensor) -> torch.Tensor:
    """Screen-space shadow ray march towards the light: 1 = lit, 0 = fully shadowed [N, 1, H, W].

    Step positions are jittered per pixel (fixed pattern) and the result slightly blurred, which turns
    the banding of a few discrete steps into a fine grain that the blur removes.
    """
    fg = gbuffer.foreground[:, None]
    floor = torch.where(fg, gbuffer.depth[:, None], torch.full_like(gbuffer.depth[:, None], -1e4))
    depth = torch.where(fg, gbuffer.depth[:, None], torch.zeros_like(floor))
    scale = gbuffer.posed.scale
    h, w = depth.shape[-2:]
    generator = torch.Generator().manual_seed(1234)
    jitter = torch.rand(1, 1, h, w, generator=generator).to(depth.device)
    occlusion = torch.zeros_like(depth)
    bias = 0.015
    shift = _Shifter(depth.shape[0], h, w, depth.device)
    offset = (jitter - 0.5) * 0.02
    for k in range(1, SHADOW_STEPS + 1):
        t0 = SHADOW_REACH * (k / SHADOW_STEPS) ** 1.6
        sample = shift(floor, t0 * light_dir[:, 0] * scale, -t0 * light_dir[:, 1] * scale)
        ray = (depth + t0 * light_dir[:, 2, None, None, None]).add_(offset)
        penumbra = softness[:, None, None, None] * t0 + 0.012
        torch.maximum(occlusion, sample.sub_(ray).sub_(bias).div_(penumbra).clamp_(0, 1), out=occlusion)
    visibility = torch.where(fg, 1.0 - occlusion, torch.ones_like(occlusion))
    return masked_blur(visibility, fg.float(), (scale * 0.012).clamp(min=0.6))


def ambient_occlusion(gbuffer: GBuffer) -> torch.Tensor:
    """Concavity of the depth buffer: surfaces below their neighbourhood are darker [N, 1, H, W]."""
    fg = gbuffer.foreground[:, None].float()
    depth = torch.where(fg > 0, gbuffer.depth[:, None], torch.zeros_like(fg))
    lowest = torch.where(fg > 0, depth, torch.full_like(depth, 1e4)).amin((2, 3), keepdim=True)
    filled = torch.where(fg > 0, depth, lowest)
    h, w = depth.shape[-2:]
    small = F.interpolate(filled, size=(h // 4, w // 4), mode="area")
    small = blur(small, gbuffer.posed.scale * 0.04)
    around = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    ao = 1.0 - ((around - filled) * 2.2).clamp(0.0, 0.6)
    return torch.where(fg > 0, ao, torch.ones_like(ao))


def _tilt(normal: torch.Tensor, bump: torch.Tensor) -> torch.Tensor:
    """Unit normals [N, 3, H, W] tilted by camera x/y offsets bump [N, 2, H, W]; stays 0 on background."""
    x, y = normal[:, 0:1] + bump[:, 0:1], normal[:, 1:2] + bump[:, 1:2]
    z = normal[:, 2:3]
    # Channel-wise sum of squares: Tensor.norm over dim 1 of an NCHW tensor is several times slower.
    length = (x * x + y * y + z * z).sqrt_().clamp_(min=1e-6)
    return torch.cat([x, y, z], 1).div_(length).mul_((normal != 0).any(1, keepdim=True))


def _dot(normal: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Per-pixel dot product [N, 1, H, W] of normals [N, 3, H, W] with one direction [N, 3] per sample
    (channel by channel: no [N, 3, H, W] temporary; the same sum as .sum(1) in the same order)."""
    d = direction[:, :, None, None]
    out = normal[:, 0:1] * d[:, 0:1]
    out += normal[:, 1:2] * d[:, 1:2]
    out += normal[:, 2:3] * d[:, 2:3]
    return out


def _half_vector(direction: torch.Tensor) -> torch.Tensor:
    half = direction + torch.tensor([0.0, 0.0, 1.0], device=direction.device)
    return half / half.norm(dim=-1, keepdim=True).clamp(min=1e-6)


@dataclass
class ShadingTerms:
    """What a render needs besides the lights; computed once per G-buffer and light direction."""

    visibility: torch.Tensor  # key-light visibility [N, 1, H, W]
    ambient_occlusion: torch.Tensor  # [N, 1, H, W]


def shading_terms(gbuffer: GBuffer, lights: Lighting) -> ShadingTerms:
    return ShadingTerms(key_visibility(gbuffer, lights.key_dir, lights.key_softness), ambient_occlusion(gbuffer))


def shade(gbuffer: GBuffer, materials: Materials, lights: Lighting, terms: ShadingTerms, use_shadows: bool = True) -> torch.Tensor:
    """Linear radiance [N, 3, H, W] of the foreground (zeros on background)."""
    n = gbuffer.normal
    if materials.bump is not None:
        n = _tilt(n, materials.bump)
    batch = n.shape[0]
    fg = gbuffer.foreground[:, None].float()
    wrap = 0.25 * materials.subsurface
    vis = terms.visibility if use_shadows else torch.ones_like(terms.visibility)
    ao = terms.ambient_occlusion
    n_key = _dot(n, lights.key_dir)
    wrap_norm = 1.0 + wrap

    def diffuse(cosine):
        return (cosine + wrap).div_(wrap_norm).clamp_(min=0)

    irradiance = lights.key_rgb[:, :, None, None] * (diffuse(n_key) * vis)
    irradiance += lights.fill_rgb[:, :, None, None] * (diffuse(_dot(n, lights.fill_dir)) * (0.55 + 0.45 * ao))
    irradiance += lights.rim_rgb[:, :, None, None] * diffuse(_dot(n, lights.rim_dir))
    up = n[:, 1:2] * 0.5 + 0.5
    sky, ground = lights.sky_rgb[:, :, None, None], lights.ground_rgb[:, :, None, None]
    irradiance += (ground + (sky - ground) * up) * ao

    # Subsurface stand-in: skin irradiance blurred, more in red than in blue (one batched blur).
    # Computed at half resolution: the scattering blur is smooth anyway.
    skin_mask = (materials.subsurface > 0.5).float()
    if bool(skin_mask.any()):
        scale = gbuffer.posed.scale
        sigma = torch.stack([scale * 0.01, scale * 0.006, scale * 0.004], 1).reshape(-1)
        h, w = n.shape[-2:]
        small = F.avg_pool2d(torch.cat([irradiance * skin_mask, skin_mask], 1), 2, ceil_mode=True)
        sh, sw = small.shape[-2:]
        flat = small[:, :3].reshape(batch * 3, 1, sh, sw)
        mask3 = small[:, 3:].expand(-1, 3, -1, -1).reshape(batch * 3, 1, sh, sw)
        blurred = masked_blur(flat, mask3, sigma).reshape(batch, 3, sh, sw)
        blurred = F.interpolate(blurred, size=(h, w), mode="bilinear", align_corners=False)
        irradiance = irradiance + skin_mask * 0.7 * (blurred - irradiance)
    radiance = materials.albedo * irradiance

    # Key-light specular: Blinn-Phong with a Fresnel boost; strand-aligned highlights on hair.
    half = _half_vector(lights.key_dir)
    lobe = _dot(n, half).clamp(min=0) ** materials.shininess * (n_key > 0)
    hair = (materials.anisotropic > 0.5).reshape(-1)
    if bool(hair.any()):
        h, w = n.shape[-2:]
        index = hair.nonzero().squeeze(1)
        b = index // (h * w)
        # Gathered per channel from [N, 3, H, W] (no full channels-last copy).
        channel0 = index + b * (2 * h * w)
        normals = torch.stack([n.reshape(-1)[channel0 + k * h * w] for k in range(3)], -1)
        head_up = gbuffer.posed.head.rotation[b, :, 1]
        tangent = head_up - (normals * head_up).sum(-1, keepdim=True) * normals
        tangent_h = (tangent * half[b]).sum(-1) / tangent.norm(dim=-1).clamp(min=1e-6)
        shininess = materials.shininess.reshape(-1)[index]
        strand = (1.0 - tangent_h**2).clamp(min=0) ** (shininess * 0.5) * (n_key.reshape(-1)[index] > -0.1) * 0.5
        lobe = lobe.reshape(-1).index_put((index,), strand).view_as(lobe)
    fresnel = 1.0 + 2.0 * (1.0 - n[:, 2:3].clamp(0, 1)) ** 5
    spec = lights.key_rgb[:, :, None, None] * (lobe * vis * materials.specular * fresnel)
    # Fill and rim: cheap broad sheen (no exponent per pixel).
    sheen = (lights.fill_rgb[:, :, None, None] * _dot(n, _half_vector(lights.fill_dir)).clamp(min=0) ** 16
             + lights.rim_rgb[:, :, None, None] * _dot(n, _half_vector(lights.rim_dir)).clamp(min=0) ** 16)
    radiance += spec
    radiance += sheen * materials.specular
    return radiance.mul_(fg)
