"""The teacher U-Net and the mobile student: shapes, feature taps, edge-friendly ops, MAC ratio."""

from pathlib import Path

import pytest
import torch
from torch import nn

from portrait_edge.nn import create_model, list_models
from portrait_edge.nn.stats import count_macs, count_params
from portrait_edge.tasks import all_tasks, get_task


def test_both_families_are_registered():
    assert {"unet", "mobile_unet"} <= set(list_models())


@pytest.mark.parametrize("arch,size", [("unet", 32), ("unet", 48), ("mobile_unet", 32), ("mobile_unet", 96)])
def test_output_shape_and_taps(arch, size):
    model = create_model(arch, in_channels=5, out_channels=3, width=8).eval()
    x = torch.rand(2, 5, size, size)
    with torch.no_grad():
        y, taps = model.forward_features(x)
        assert torch.equal(y, model(x))
    assert y.shape == (2, 3, size, size)
    # taps coarse to fine at strides 16, 8, 4, 2, 1 for both families
    assert [t.shape[-1] for t in taps] == [size // 16, size // 8, size // 4, size // 2, size]


def test_wrong_size_is_a_clear_error():
    model = create_model("mobile_unet", in_channels=3, out_channels=3, width=8)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.rand(1, 3, 48, 48))


def test_residual_input_adds_the_image_and_starts_as_the_identity():
    model = create_model("mobile_unet", in_channels=4, out_channels=3, width=8, residual_input=True).eval()
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), x[:, :3])  # untrained: the head starts at zero
        nn.init.normal_(model.head[0].weight)
        assert not torch.allclose(model(x), x[:, :3])  # trained: the correction is added


@pytest.mark.parametrize("arch,kwargs", [
    ("mobile_unet", {"width": 8}), ("unet", {"width": 4, "depth": 2}), ("gridnet", {"width": 4, "rows": 2, "columns": 2}),
    ("pix2pixhd_generator", {"width": 4, "global_downsample": 1, "global_blocks": 1, "local_blocks": 1}),
])
def test_gain_correction_scales_and_offsets_the_input(arch, kwargs):
    model = create_model(arch, in_channels=4, out_channels=3, residual_input=True, correction="gain", **kwargs).eval()
    last = [m for m in model.head.modules() if isinstance(m, nn.Conv2d)][-1]
    assert last.out_channels == 6  # a gain and an offset per channel
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        nn.init.zeros_(last.weight)
        last.bias.copy_(torch.tensor([1.0, 0.0, -0.5, 0.0, 0.1, 0.0]))  # a constant correction
        y = model(x)
    expected = x[:, :3] * torch.tensor([2.0, 1.0, 0.5])[:, None, None] + torch.tensor([0.0, 0.1, 0.0])[:, None, None]
    assert torch.allclose(y, expected, atol=1e-6)


@pytest.mark.parametrize("arch,kwargs", [
    ("mobile_unet", {"width": 8}), ("gridnet", {"width": 4, "rows": 2, "columns": 2}),
])
def test_downscale_works_at_half_size_and_corrects_the_full_size_input(arch, kwargs):
    model = create_model(arch, in_channels=3, out_channels=3, residual_input=True, correction="gain", downscale=2,
                         **kwargs).eval()
    full = create_model(arch, in_channels=3, out_channels=3, residual_input=True, correction="gain", **kwargs).eval()
    full.load_state_dict(model.state_dict())  # the same weights, working at full size
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), x)  # untrained: the identity, full-size detail included
        last = [m for m in model.head.modules() if isinstance(m, nn.Conv2d)][-1]
        nn.init.normal_(last.weight, std=0.1)
        y, taps = model.forward_features(x)
    assert y.shape == x.shape and taps[-1].shape[-1] == 32  # the network's own maps are at half size
    assert count_macs(model, (1, 3, 64, 64)) < 0.3 * count_macs(full, (1, 3, 64, 64))
    assert model.size_multiple == 2 * full.size_multiple
    with pytest.raises(ValueError, match=f"multiples of {model.size_multiple}"):
        model(torch.rand(1, 3, full.size_multiple * 3, full.size_multiple * 3))
    with pytest.raises(ValueError, match="only with residual_input"):
        create_model(arch, in_channels=3, out_channels=3, downscale=2, **{**kwargs, "residual_input": False})


def test_unknown_correction_is_a_clear_error():
    with pytest.raises(ValueError, match="correction must be one of add, gain"):
        create_model("mobile_unet", in_channels=3, out_channels=3, width=8, residual_input=True, correction="mul")


def test_student_uses_only_edge_friendly_ops():
    model = create_model("mobile_unet", in_channels=3, out_channels=19, width=16)
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU6, nn.ReLU, nn.Hardswish, nn.Upsample, nn.Identity,
               nn.Sigmoid, nn.Tanh)
    for name, module in model.named_modules():
        if not list(module.children()):  # leaves only
            assert isinstance(module, allowed), f"{name}: {type(module).__name__}"
        if isinstance(module, nn.Conv2d):
            assert isinstance(module.padding, tuple) and all(isinstance(p, int) for p in module.padding), name


def test_student_exports_with_static_shapes():
    model = create_model("mobile_unet", in_channels=3, out_channels=19, width=8).eval()
    x = torch.rand(1, 3, 64, 64)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.allclose(exported.module()(x), model(x), atol=1e-5)
    targets = {str(node.target) for node in exported.graph.nodes if node.op == "call_function"}
    assert not any("norm" in t and "batch_norm" not in t for t in targets), targets


def test_counts_by_hand():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_params(conv) == 8 * 3 * 9 + 8
    assert count_macs(conv, (1, 3, 10, 10)) == 8 * 3 * 9 * 100
    depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    assert count_macs(depthwise, (2, 8, 10, 10)) == 2 * 8 * 9 * 100


@pytest.mark.parametrize("task", [t.id for t in all_tasks() if t.teacher.arch in ("unet", "gridnet", "pix2pixhd_generator")])
def test_default_student_is_at_least_20x_cheaper_than_teacher(task):
    spec = get_task(task)
    shape = (1, spec.in_channels, 256, 256)
    with torch.device("meta"):  # MACs need shapes only: no memory, no compute
        teacher_macs = count_macs(spec.build_model("teacher"), shape)
        student_macs = count_macs(spec.build_model("student"), shape)
    assert teacher_macs >= 20 * student_macs, (teacher_macs, student_macs)


RECIPES = Path(__file__).resolve().parents[2] / "training"


@pytest.mark.parametrize("profile", ["cpu-quick", "gpu-full"])
def test_recipe_students_are_at_least_10x_cheaper_than_their_teachers(profile):
    from portrait_edge.train.recipe import load_recipe
    from portrait_edge.train.trainer import model_config

    for teacher_path in RECIPES.glob(f"*/teacher.{profile}.yaml"):
        teacher = load_recipe(teacher_path)
        task = get_task(teacher.task)
        shape = (1, task.in_channels, 256, 256)
        arch, kwargs = model_config(task, teacher)
        with torch.device("meta"):
            teacher_macs = count_macs(create_model(arch, in_channels=task.in_channels,
                                                   out_channels=task.out_channels, **kwargs), shape)
        for student_path in teacher_path.parent.glob(f"student-*.{profile}.yaml"):
            arch, kwargs = model_config(task, load_recipe(student_path))
            with torch.device("meta"):
                student_macs = count_macs(create_model(arch, in_channels=task.in_channels,
                                                       out_channels=task.out_channels, **kwargs), shape)
            assert teacher_macs >= 10 * student_macs, (student_path.name, teacher_macs, student_macs)


def test_ignored_inputs_do_not_change_the_output_and_survive_a_checkpoint(tmp_path):
    import torch

    from portrait_edge.nn import create_model
    from portrait_edge.train.checkpoint import load_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("unet", in_channels=5, out_channels=3, width=8, ignore_inputs=[3, 4]).eval()
    x = torch.rand(1, 5, 64, 64)
    y = x.clone()
    y[:, 3:] = torch.rand(1, 2, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), model(y))
        assert not torch.equal(model(x), model(torch.rand(1, 5, 64, 64)))
    card = {"task": "normals", "role": "teacher", "arch": "unet", "arch_kwargs": {"width": 8, "ignore_inputs": [3, 4]},
            "in_channels": 5, "out_channels": 3}
    path = save_checkpoint(tmp_path / "ablation", model, card)
    loaded, _ = load_model(path)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))


@pytest.mark.parametrize("correction", ["add", "gain"])
def test_a_residual_image_student_exports_without_alias_nodes(correction):
    """Correcting the whole input (3 channels in, 3 out) must not export as a slice of it: torch.export turns
    a whole-tensor slice into an alias node, which Core ML cannot convert."""
    model = create_model("mobile_unet", in_channels=3, out_channels=3, width=4, residual_input=True,
                         correction=correction).eval()
    program = torch.export.export(model, (torch.rand(1, 3, 32, 32),))
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not any("alias" in t for t in targets), targets
    if correction == "add":
        assert not any("slice" in t for t in targets), targets
