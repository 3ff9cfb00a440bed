"""The batched renderer: scene parameters -> image and all ground truth.

    from portrait_edge.data.synth import render_batch
    out = render_batch(n=8, seed=0, size=256, device="cpu")
    out.image, out.labels, out.normals, out.landmarks, ...

Stages (each reusable by the pair builders): `prepare` (geometry -> G-buffer, materials,
background, sensor noise) and `develop_image` (lights -> shading -> camera). Rendering the same
prepared scene under other lights or materials gives pixel-aligned pairs with identical noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from portrait_edge.data.synth.appearance import Materials, background, build_materials
from portrait_edge.data.synth.camera import develop, sensor_noise
from portrait_edge.data.synth.gbuffer import GBuffer, build_gbuffer
from portrait_edge.data.synth.scene import Scene, sample_scene, sample_seed
from portrait_edge.data.synth.shading import Lighting, ShadingTerms, shade, shading_terms

MIN_SIZE = 32


@dataclass
class Prepared:
    scene: Scene
    gbuffer: GBuffer
    materials: Materials
    background: torch.Tensor  # [N, 3, H, W] linear
    noise: torch.Tensor  # [N, 3, H, W] unit sensor noise
    lights: Lighting
    _terms: ShadingTerms | None = None

    @property
    def size(self) -> int:
        return self.gbuffer.size

    @property
    def terms(self) -> ShadingTerms:
        """Shadows and ambient occlusion for the scene's own key light (computed on first use)."""
        if self._terms is None:
            self._terms = shading_terms(self.gbuffer, self.lights)
        return self._terms


@dataclass
class Render:
    """One batch of renders. Shapes [N, ...], float32 unless noted.

    image: [N, 3, H, W] sRGB camera image in [0, 1] (noise and JPEG included).
    albedo: [N, 3, H, W] linear reflectance in [0, 1] (0 on background).
    normals: [N, 3, H, W] unit camera-space normals (x right, y up, z towards the camera); 0 on background.
    depth: [N, 1, H, W] camera z of the visible surface in pixels relative to the head's rotation centre,
        larger = closer to the camera; 0 on background.
    foreground: [N, 1, H, W] 1 where a person/accessory surface is visible (normals, depth valid).
    labels: [N, H, W] int64 CelebAMask-HQ class ids (portrait_edge.labels). l_*/r_* are the PERSON's left
        and right (as in CelebAMask-HQ and Face Mesh): l_eye, l_brow, l_ear are on the IMAGE RIGHT in an
        unmirrored frontal view. Merge order as in CelebAMask-HQ: eyes, brows and hair seen through a
        glasses lens keep their class, the rest of the lens area is eye_g.
    landmarks: [N, 468, 3] Face Mesh topology in pixels: x right, y down (0 = image edge), z = depth
        relative to the landmarks' mean, smaller = closer, in pixels (MediaPipe's z * width).
    lights: per-sample light parameters (directions towards the light, linear RGB intensities).
    cast_shadow: [N, 1, H, W] key-light occlusion by the subject's own geometry (0 lit .. 1 shadowed).
    self_shadow: [N, 1, H, W] 1 where the surface faces away from the key light (attached shadow).
    """

    image: torch.Tensor
    albedo: torch.Tensor
    normals: torch.Tensor
    depth: torch.Tensor
    foreground: torch.Tensor
    labels: torch.Tensor
    landmarks: torch.Tensor
    lights: dict[str, torch.Tensor]
    cast_shadow: torch.Tensor
    self_shadow: torch.Tensor


def check_size(size: int) -> None:
    from portrait_edge.errors import PortraitEdgeError

    if int(size) < MIN_SIZE:
        raise PortraitEdgeError(f"image size must be at least {MIN_SIZE} pixels, got {size}")


def prepare(scene: Scene, size: int, materials: Materials | None = None) -> Prepared:
    check_size(size)
    gbuffer = build_gbuffer(scene.geometry, size)
    if materials is None:
        materials = build_materials(gbuffer, scene.geometry, scene.appearance)
    lights = Lighting.from_appearance(scene.appearance)
    noise = sensor_noise(scene.appearance["camera_seed"], (3, size, size), scene.device)
    return Prepared(scene, gbuffer, materials, background(scene.appearance, size), noise, lights)


def develop_image(prepared: Prepared, lights: Lighting | None = None, materials: Materials | None = None,
                  use_shadows: bool = True, background_gain: torch.Tensor | None = None,
                  terms: ShadingTerms | None = None) -> torch.Tensor:
    """Camera image [N, 3, H, W] of a prepared scene under `lights` (default: the scene's own)."""
    radiance = shade(prepared.gbuffer, materials or prepared.materials, lights or prepared.lights,
                     terms or prepared.terms, use_shadows)
    fg = prepared.gbuffer.foreground[:, None].float()
    bg = prepared.background if background_gain is None else prepared.background * background_gain
    return _lens(prepared, develop(radiance + (1 - fg) * bg, prepared.scene.appearance, prepared.noise))


def _lens(prepared: Prepared, image: torch.Tensor) -> torch.Tensor:
    """Tinted glasses lenses over whatever is behind them (applied after development)."""
    lens = prepared.gbuffer.lens[:, None].float()
    if not bool(lens.any()):
        return image
    app = prepared.scene.appearance
    tint = app["accessory_rgb"][:, 1, :, None, None] ** (1 / 2.2)
    alpha = app["lens_alpha"][:, None, None, None]
    return image * (1 - lens * alpha) + lens * alpha * image * tint


def outputs(prepared: Prepared, image: torch.Tensor) -> Render:
    g = prepared.gbuffer
    fg = g.foreground[:, None].float()
    pivot_z = g.posed.head.centre[:, 2, None, None, None]
    depth = torch.where(fg > 0, (g.depth[:, None] - pivot_z) * g.posed.scale[:, None, None, None], torch.zeros_like(fg))
    lights = prepared.lights
    self_shadow = ((g.normal * lights.key_dir[:, :, None, None]).sum(1, keepdim=True) <= 0).float() * fg
    return Render(
        image=image, albedo=prepared.materials.albedo, normals=g.normal, depth=depth, foreground=fg, labels=g.label,
        landmarks=g.posed.landmarks, lights=lights.as_dict(), cast_shadow=(1 - prepared.terms.visibility) * fg,
        self_shadow=self_shadow)


def render_scene(scene: Scene, size: int) -> Render:
    prepared = prepare(scene, size)
    return outputs(prepared, develop_image(prepared))


def batch_seeds(n: int, seed: int, first_index: int = 0) -> list[int]:
    return [sample_seed(seed, first_index + i) for i in range(n)]


def render_batch(n: int, seed: int, size: int = 256, device: torch.device | str = "cpu", overrides: dict | None = None,
                 return_pose: bool = False, *, first_index: int = 0):
    """n renders; sample i depends only on (seed, i), never on n. With return_pose, also the PosedHead.

    first_index: the batch index of the first sample, to render a batch in parts (e.g. in several
    processes): the samples first_index .. first_index + n - 1 of render_batch(big_n, seed, size), equal
    to them up to float rounding (overrides, if any, are per rendered sample).
    """
    if int(first_index) < 0:
        from portrait_edge.errors import PortraitEdgeError

        raise PortraitEdgeError(f"first_index must be >= 0, got {first_index}")
    prepared = prepare(sample_scene(batch_seeds(n, seed, int(first_index)), device, overrides), size)
    render = outputs(prepared, develop_image(prepared))
    return (render, prepared.gbuffer.posed) if return_pose else render
