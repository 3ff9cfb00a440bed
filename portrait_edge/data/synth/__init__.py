"""The synthetic portrait engine: the embedded default data source of every network.

One scene (drawn from a seed) gives a batched render with exact ground truth: image, albedo, normals,
depth, CelebAMask-HQ labels, lights, cast/self shadows and Face Mesh landmarks (render.Render documents
every convention). Runs on CPU or CUDA with torch only; never imports mediapipe.

Modules, one job each:
- scene.py: random scene parameters per sample seed (geometry and appearance as separate streams).
- template.py / make_template.py: the 468-point Face Mesh template (derived offline from real
  portraits with Face Mesh, then calibrated against it) and its topology (eye/mouth fills, skirt).
- geometry.py: identity deformations, expression, pose, head/neck/torso frames, landmarks.
- raster.py: batched triangle rasteriser (face mesh); raycast.py: analytic parts on pixel lists.
- gbuffer.py: merges all parts into depth, normals, labels, materials per pixel.
- face_atlas.py: feature regions in the face's UV space (lips, brows, nose, eye liner, ...).
- appearance.py: skin tones and texture, eyes, mouth, hair strands, clothes, accessories, backgrounds.
- shading.py: key/fill/rim/hemisphere lights, screen-space shadows, AO, subsurface-like blur, specular.
- camera.py: blur, vignetting, white balance, tone curve, sensor noise, JPEG (torch DCT).
- occluders.py / blemishes.py: foreign-shadow masks and skin blemishes for the pair builders.
- render.py: the pipeline (prepare -> develop_image) and the public Render output.
"""

from portrait_edge.data.synth.render import Render, batch_seeds, prepare, render_batch, render_scene
from portrait_edge.data.synth.scene import Scene, combine, sample_scene, sample_seed

__all__ = ["Render", "Scene", "batch_seeds", "combine", "prepare", "render_batch", "render_scene", "sample_scene", "sample_seed"]
