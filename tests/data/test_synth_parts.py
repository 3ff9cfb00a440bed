"""Building blocks of the synthetic engine: template, rasteriser, ray casting, camera, occluders."""

import numpy as np
import torch

from portrait_edge.data.synth.camera import jpeg, tone_map
from portrait_edge.data.synth.occluders import shadow_masks
from portrait_edge.data.synth.raster import rasterize
from portrait_edge.data.synth.geometry import axis_rotation
from portrait_edge.data.synth.raycast import box_rays, cylinder, cylinder_front, ellipsoid, ellipsoid_front
from portrait_edge.data.synth.scene import sample_scene, sample_seed
from portrait_edge.data.synth.template import NUM_LANDMARKS, load_template
from portrait_edge.data.synth.textures import lookup, lookup_row


def test_template_is_face_mesh_topology_and_symmetric():
    t = load_template()
    assert t.vertices.shape == (NUM_LANDMARKS, 3)
    assert np.array_equal(t.mirror[t.mirror], np.arange(NUM_LANDMARKS))
    mirrored = t.vertices[t.mirror] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mirrored - t.vertices).max() < 1e-4
    # Outer eye corners 33 (person's right) and 263 (left) are one unit apart, left at +x.
    assert t.vertices[263, 0] > 0 > t.vertices[33, 0]
    assert abs(np.linalg.norm(t.vertices[263] - t.vertices[33]) - 1.0) < 0.1  # ~1 after calibration
    assert t.vertices[1, 2] > t.vertices[:, 2].max() - 0.03  # the nose tip is (about) the nearest point
    assert t.triangles.max() < t.num_vertices and len(t.kinds) == len(t.triangles)


def test_rasterizer_covers_a_triangle_and_keeps_the_nearest():
    # Clockwise in pixel coordinates = front-facing (counter-clockwise seen in a y-up frame).
    v = torch.tensor([[[2.0, 2.0, 0.0], [14.0, 2.0, 0.0], [2.0, 14.0, 0.0],  # far triangle
                       [2.0, 2.0, 5.0], [8.0, 2.0, 5.0], [2.0, 8.0, 5.0]]])  # near, smaller
    faces = torch.tensor([[0, 2, 1], [3, 5, 4]])
    frag = rasterize(v, faces, 16, 16)
    assert frag.face[0, 3, 3] == 1 and abs(float(frag.depth[0, 3, 3]) - 5.0) < 1e-4
    assert frag.face[0, 3, 11] == 0 and frag.face[0, 12, 12] == -1
    covered = int((frag.face[0] >= 0).sum())
    assert 60 <= covered <= 80  # area of the 12 x 12 right triangle is 72
    assert torch.allclose(frag.bary[0][frag.face[0] >= 0].sum(-1), torch.ones(covered))
    back = rasterize(v, faces[:, [0, 2, 1]], 16, 16)  # reversed winding: culled
    assert int((back.face >= 0).sum()) == 0


def test_ray_cast_sphere_depth_and_box_pixels():
    size, scale = 32, torch.tensor([10.0])
    rays = box_rays(torch.tensor([[16.0, 16.0]]), torch.tensor([[10.0, 10.0]]), scale, size)
    assert len(rays) == 23 * 23
    front, back = ellipsoid(rays, torch.eye(3)[None], torch.zeros(1, 3), torch.ones(1, 3))
    centre = (rays.x.abs() < 0.06) & (rays.y.abs() < 0.06)
    assert torch.allclose(front.z[centre], torch.ones(int(centre.sum())), atol=0.01)
    assert torch.allclose(back.z[centre], -torch.ones(int(centre.sum())), atol=0.01)
    assert bool(torch.isinf(front.z[(rays.x**2 + rays.y**2) > 1.1]).all())


def test_depth_bounds_used_for_culling_are_never_exceeded():
    # The G-buffer skips pixels already closer than a part's largest depth; that bound must hold.
    torch.manual_seed(3)
    n, size = 6, 48
    rotation = axis_rotation(torch.rand(n) * 6, "y") @ axis_rotation(torch.rand(n) * 6, "x")
    centre = torch.randn(n, 3) * 0.3
    radii = torch.rand(n, 3) + 0.3
    scale = torch.full((n,), 12.0)
    rays = box_rays(torch.full((n, 2), size / 2), torch.full((n, 2), size / 2), scale, size)
    front, _ = ellipsoid(rays, rotation, centre, radii)
    hit = torch.isfinite(front.z)
    assert int(hit.sum()) > 100
    assert bool((front.z[hit] <= ellipsoid_front(rotation, centre, radii)[rays.batch[hit]] + 1e-5).all())
    y_range = torch.stack([-torch.rand(n) - 0.2, torch.rand(n)], -1)
    hits = cylinder(rays, rotation, centre, radii[:, [0, 2]], y_range)
    bound = cylinder_front(rotation, centre, radii[:, [0, 2]], y_range)[rays.batch]
    for hit in hits:
        finite = torch.isfinite(hit.z)
        assert int(finite.sum()) > 100 and bool((hit.z[finite] <= bound[finite] + 1e-5).all())


def test_texture_lookup_wraps_and_row_lookup_matches_it_bitwise():
    torch.manual_seed(4)
    texture = torch.randn(3, 2, 8, 16)
    batch = torch.tensor([0, 1, 2, 2])
    u = torch.tensor([0.0, 15.5, -0.25, 33.0])
    v = torch.tensor([2.0, 7.5, 1.0, -8.0])
    value = lookup(texture, batch, u, v)
    assert torch.allclose(value[0], texture[0, :, 2, 0])
    assert torch.allclose(value[1], texture[1, :, [7, 7, 0, 0], [15, 0, 15, 0]].mean(-1), atol=1e-6)  # wraps in u and v
    assert torch.allclose(value[2], 0.25 * texture[2, :, 1, 15] + 0.75 * texture[2, :, 1, 0], atol=1e-6)
    u = torch.rand(1000) * 200 - 100
    batch = torch.randint(0, 3, (1000,))
    for row in (0, 5, 7):
        expected = lookup(texture[:, :1], batch, u, torch.full_like(u, float(row)))[:, 0]
        assert torch.equal(lookup_row(texture[:, :1], batch, u, row), expected)


def test_jpeg_and_tone_map():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 32, 40) * 0.5 + 0.25
    assert torch.equal(jpeg(image, torch.zeros(2)), image)  # quality 0 = off
    low, high = jpeg(image, torch.full((2,), 20.0)), jpeg(image, torch.full((2,), 95.0))
    assert (high - image).abs().mean() < (low - image).abs().mean()
    assert float(low.min()) >= 0 and float(low.max()) <= 1
    x = torch.linspace(0, 4, 50)
    y = tone_map(x)
    assert bool((y[1:] >= y[:-1]).all()) and float(y.max()) <= 1.0


def test_shadow_masks_are_soft_varied_and_deterministic():
    seeds = [sample_seed(3, i) for i in range(6)]
    masks = shadow_masks(seeds, 64, "cpu")
    assert masks.shape == (6, 1, 64, 64)
    assert float(masks.min()) == 0.0 and float(masks.max()) <= 1.0
    assert bool(((masks > 0.05) & (masks < 0.95)).any())  # penumbra
    assert torch.equal(masks, shadow_masks(seeds, 64, "cpu"))
    assert len({round(float(m.mean()), 4) for m in masks}) > 3


def test_scene_geometry_and_appearance_are_independent_streams():
    a = sample_scene([sample_seed(1, 0)])
    b = sample_scene([sample_seed(1, 0)], overrides={"skin_rgb": np.array([[0.1, 0.1, 0.1]])})
    assert torch.equal(a.geometry["identity"], b.geometry["identity"])
    assert not torch.equal(a.appearance["skin_rgb"], b.appearance["skin_rgb"])
