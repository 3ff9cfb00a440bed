"""Training/evaluation pairs of every task, rendered by the synthetic portrait engine.

    batch = make_pairs("parsing", n=16, seed=0, size=256)   # -> portrait_edge.tasks.base.Batch

Seeds: sample i of make_pairs(task, n, seed, ...) depends only on (seed, i) (and task, size), never on
n, so a fixed split is a seed range. Convention: training draws seeds in
[TRAIN_SEED_BASE, TRAIN_SEED_BASE + TRAIN_SEED_COUNT), the test split uses seeds from TEST_SEED_BASE
up (e.g. make_pairs(task, 256, TEST_SEED_BASE, size) is "the" 256-image test set). Per-sample seeds are
a 64-bit hash of (seed, i), so batches of consecutive seeds do not share samples.

Per task (images float32 in [0, 1], [N, 3, H, W]; masks [N, 1, H, W] in [0, 1]):
- shadow: I = I_lit * (1 - M) + I_shadow * M, M a soft foreign-shadow mask (hands, leaves, branches,
  hat brims, blobs; varied penumbra), I_shadow lit only by bluish sky ambient (+ part of the fill).
  inputs = I, target = I_lit, extras shadow_mask = M, face_mask.
- facial_shadow: harsh key light with self shadows vs the same scene plus a fill light of strength s.
  inputs = [harsh image, s everywhere] (4 ch), target = image with fill s, extras face_mask, fill_strength [N].
- normals: inputs = [image, landmark_channels(landmarks)] (5 ch), target = unit camera-space normals
  (x right, y up, z towards the camera), 0 on background; extras foreground_mask (where normals are valid),
  face_mask, landmarks.
- parsing: inputs = image, target = CelebAMask-HQ label map [N, H, W] int64.
- retouch: inputs = image with blemishes (acne, pimples, dark spots, redness, scars), target = clean image,
  extras blemish_mask, face_mask; input == target wherever blemish_mask == 0.
- maskedit: inputs = [source image, one-hot source mask (19), one-hot target mask (19)] (41 ch),
  target = RGB. Half the samples (those whose per-sample seed is even): reconstruction (target mask =
  source mask, target = source image). The others: the target is rendered exactly: the source identity's appearance (skin, hair colour,
  lights, background, camera) on another identity's geometry (face shape, pose, hair style, clothes cut,
  accessories), whose label map is the target mask. extras target_labels [N, H, W], swapped [N] bool,
  has_target [N] (1: real-photo pairs with a mask from another photo have no target image), mask_photo
  (the image whose mask the target mask is: the target here).
face_mask = skin and face features: skin, nose, glasses, eyes, brows, mouth, lips.

Invariants (tested): shadow input == target where shadow_mask == 0; facial_shadow input == target when
s == 0; retouch input == target where blemish_mask == 0; maskedit reconstruction target == source.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from portrait_edge.data.synth.blemishes import blemish_albedo
from portrait_edge.data.synth.occluders import shadow_masks
from portrait_edge.data.synth.render import Prepared, check_size, develop_image, outputs, prepare
from portrait_edge.data.synth.scene import combine, sample_scene, sample_seed
from portrait_edge.data.synth.shading import shading_terms
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.labels import CLASS_ID, NUM_CLASSES
from portrait_edge.tasks.base import Batch

TRAIN_SEED_BASE = 0
TRAIN_SEED_COUNT = 1_000_000
TEST_SEED_BASE = 10_000_000
TASK_IDS = ("shadow", "facial_shadow", "normals", "parsing", "retouch", "maskedit")
FACE_CLASSES = ("skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip")
MAX_BATCH = 4096


def face_mask(labels: torch.Tensor) -> torch.Tensor:
    """[N, H, W] labels -> [N, 1, H, W] float mask of skin and face features."""
    ids = torch.tensor([CLASS_ID[c] for c in FACE_CLASSES], device=labels.device)
    return torch.isin(labels, ids)[:, None].float()


def one_hot(labels: torch.Tensor) -> torch.Tensor:
    """[N, H, W] class ids -> [N, 19, H, W] one-hot; ids >= 19 (255 = unlabelled, padding) -> all zeros."""
    labelled = (labels < NUM_CLASSES)[:, None].float()
    return F.one_hot(labels.clamp(0, NUM_CLASSES - 1), NUM_CLASSES).permute(0, 3, 1, 2).float() * labelled


def _per_sample(seeds: list[int], salt: int, draw) -> np.ndarray:
    return np.array([draw(np.random.default_rng([s, salt])) for s in seeds])


def _prepared(seeds: list[int], size: int, device) -> Prepared:
    return prepare(sample_scene(seeds, device), size)


def _parsing(seeds, size, device) -> Batch:
    prepared = _prepared(seeds, size, device)
    return Batch(develop_image(prepared), prepared.gbuffer.label.clone())


def _normals(seeds, size, device) -> Batch:
    from portrait_edge.data.landmarks import landmark_channels

    prepared = _prepared(seeds, size, device)
    render = outputs(prepared, develop_image(prepared))
    channels = landmark_channels(render.landmarks, size).to(render.image.device)
    return Batch(torch.cat([render.image, channels], 1), render.normals.clone(),
                 {"foreground_mask": render.foreground, "face_mask": face_mask(prepared.gbuffer.label),
                  "landmarks": render.landmarks})


def _shadow(seeds, size, device) -> Batch:
    prepared = _prepared(seeds, size, device)
    lit = develop_image(prepared)
    lights = prepared.lights
    sky_gain = torch.as_tensor(_per_sample(seeds, 21, lambda r: r.uniform(0.15, 0.45)), dtype=torch.float32, device=lit.device)
    fill_keep = torch.as_tensor(_per_sample(seeds, 22, lambda r: r.uniform(0.0, 0.8)), dtype=torch.float32, device=lit.device)
    key_level = lights.key_rgb.mean(-1, keepdim=True)
    blue_sky = torch.tensor([0.75, 0.9, 1.25], device=lit.device) * key_level * sky_gain[:, None]
    shadow_lights = lights.replace(key_rgb=lights.key_rgb * 0, rim_rgb=lights.rim_rgb * 0, fill_rgb=lights.fill_rgb * fill_keep[:, None],
                                   sky_rgb=lights.sky_rgb + blue_sky)
    gain = (0.25 + sky_gain)[:, None, None, None] * torch.tensor([0.85, 0.92, 1.1], device=lit.device)[None, :, None, None]
    shadowed = develop_image(prepared, shadow_lights, background_gain=gain)
    mask = shadow_masks(seeds, size, lit.device)
    image = lit * (1 - mask) + shadowed * mask
    return Batch(image, lit, {"shadow_mask": mask, "face_mask": face_mask(prepared.gbuffer.label)})


def _facial_shadow(seeds, size, device, strength: torch.Tensor | None = None) -> Batch:
    """strength: fill strengths [N] to use instead of the seeded draws (tests, demos)."""
    scene = sample_scene(seeds, device)
    app = scene.appearance
    n = len(seeds)
    # Harsh key: strong, hard, from the side; little ambient; no fill or rim.
    draws = _per_sample(seeds, 31, lambda r: [r.uniform(0.45, 1.35) * r.choice([-1, 1]), r.uniform(0.05, 0.9),
                                              r.uniform(0.005, 0.06), r.uniform(1.2, 2.0), r.uniform(0.2, 0.6),
                                              r.uniform(0.0, 1.0), r.uniform(0.25, 1.0)])
    d = torch.as_tensor(draws, dtype=torch.float32, device=scene.device)
    azimuth, elevation = d[:, 0], d[:, 1]
    key_dir = torch.stack([torch.sin(azimuth) * torch.cos(elevation), torch.sin(elevation), torch.cos(azimuth) * torch.cos(elevation)], -1)
    key_rgb = app["key_rgb"] / app["key_rgb"].mean(-1, keepdim=True) * d[:, 3:4]
    fill_az = -azimuth.sign() * 0.7
    fill_dir = torch.stack([torch.sin(fill_az), torch.full_like(fill_az, 0.2), torch.cos(fill_az)], -1)
    fill_dir = fill_dir / fill_dir.norm(dim=-1, keepdim=True)
    strength = d[:, 5] if strength is None else torch.as_tensor(strength, dtype=torch.float32, device=scene.device)
    prepared = prepare(scene, size)
    harsh = prepared.lights.replace(key_dir=key_dir, key_rgb=key_rgb, key_softness=d[:, 2], rim_rgb=app["rim_rgb"] * 0,
                                    fill_dir=fill_dir, fill_rgb=torch.zeros_like(key_rgb),
                                    sky_rgb=app["sky_rgb"] * 0.35, ground_rgb=app["ground_rgb"] * 0.35)
    terms = shading_terms(prepared.gbuffer, harsh)
    fill_max = key_rgb.mean(-1, keepdim=True) * d[:, 4:5] * torch.ones(1, 3, device=scene.device)
    filled_lights = harsh.replace(fill_rgb=fill_max * strength[:, None])
    harsh_image = develop_image(prepared, harsh, terms=terms)
    filled_image = develop_image(prepared, filled_lights, terms=terms)
    s_map = strength[:, None, None, None].expand(n, 1, size, size)
    return Batch(torch.cat([harsh_image, s_map], 1), filled_image,
                 {"face_mask": face_mask(prepared.gbuffer.label), "fill_strength": strength})


def _retouch(seeds, size, device) -> Batch:
    prepared = _prepared(seeds, size, device)
    clean = develop_image(prepared)
    albedo, mask = blemish_albedo(prepared.materials.albedo, prepared.gbuffer.label, prepared.gbuffer.posed.landmarks, seeds)
    materials = dataclasses.replace(prepared.materials, albedo=albedo)
    blemished = develop_image(prepared, materials=materials)
    image = clean * (1 - mask) + blemished * mask
    return Batch(image, clean, {"blemish_mask": mask, "face_mask": face_mask(prepared.gbuffer.label)})


def _maskedit_batch(seed: int, n: int, size: int, device, first_index: int = 0) -> Batch:
    seeds = [sample_seed(seed, first_index + i) for i in range(n)]
    source = prepare(sample_scene(seeds, device), size)
    source_image = develop_image(source)
    source_labels = source.gbuffer.label
    target_image = source_image.clone()
    target_labels = source_labels.clone()
    # swapped or not by the sample's own seed (not its place in the batch): a split rendered one sample
    # at a time (render_samples) is half swapped too
    odd = [i for i in range(n) if seeds[i] % 2 == 1]
    swapped = torch.zeros(n, dtype=torch.bool, device=source_image.device)
    swapped[odd] = True
    if odd:
        partners = [sample_seed(seeds[i], 0x5A17) for i in odd]
        look = source.scene.select(odd)
        shape = sample_scene(partners, device)
        edited = prepare(combine(shape, look), size)
        index = torch.tensor(odd, device=source_image.device)
        target_image[index] = develop_image(edited)
        target_labels[index] = edited.gbuffer.label
    inputs = torch.cat([source_image, one_hot(source_labels), one_hot(target_labels)], 1)
    # every render pair has its exact target image, which is also the real photo of the target mask
    return Batch(inputs, target_image, {"target_labels": target_labels, "swapped": swapped,
                                        "has_target": torch.ones_like(swapped, dtype=torch.float32),
                                        "mask_photo": target_image})


_BUILDERS = {
    "shadow": _shadow,
    "facial_shadow": _facial_shadow,
    "normals": _normals,
    "parsing": _parsing,
    "retouch": _retouch,
}


def make_pairs(task_id: str, n: int, seed: int, size: int, device: torch.device | str = "cpu", first_index: int = 0) -> Batch:
    """n pairs of `task_id` at size x size, deterministic in (task_id, seed, size) per sample index.

    first_index: the batch index of the first sample (to render a long run in chunks: the samples
    first_index .. first_index + n - 1 of make_pairs(task_id, big_n, seed, size)).
    """
    if task_id not in TASK_IDS:
        raise PortraitEdgeError(f"unknown task {task_id!r}; known tasks: {', '.join(TASK_IDS)}")
    if int(n) < 1 or int(n) > MAX_BATCH:
        raise PortraitEdgeError(f"the number of samples must be between 1 and {MAX_BATCH}, got {n}")
    check_size(size)
    device = torch.device(device)
    if int(first_index) < 0:
        raise PortraitEdgeError(f"first_index must be >= 0, got {first_index}")
    if task_id == "maskedit":
        return _maskedit_batch(int(seed), int(n), int(size), device, int(first_index))
    seeds = [sample_seed(int(seed), int(first_index) + i) for i in range(int(n))]
    return _BUILDERS[task_id](seeds, int(size), device)
