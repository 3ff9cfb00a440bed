"""Core ML on Linux: BatchNorm folding, the torch simulation of each compression, predict() on macOS only."""

import pytest
import torch

from portrait_edge.edge import export_coreml
from portrait_edge.edge.runtimes import CoreMLRunner
from portrait_edge.errors import NotAvailableError
from edge_fixtures import tiny_model


def test_fold_batchnorm_is_exact(parsing_task):
    model = tiny_model(parsing_task)
    folded = export_coreml.fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(folded(x), model(x), atol=1e-5)


def test_simulations_get_further_from_fp32_as_compression_grows(parsing_task):
    model = tiny_model(parsing_task)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        errors = {p: (export_coreml.simulate(model, p, weight_threshold=64)(x) - reference).abs().mean().item()
                  for p in ("fp16", "int8w", "pal6")}
    assert 0 < errors["fp16"] < errors["int8w"]
    assert errors["fp16"] < errors["pal6"]
    assert max(errors.values()) < 0.05 * reference.abs().mean().item()


def test_pal6_simulation_uses_at_most_64_distinct_weights(parsing_task):
    simulated = export_coreml.simulate(tiny_model(parsing_task), "pal6", weight_threshold=64)
    conv = simulated.model.fuse[0]  # 24 -> 8 1x1 conv: 192 weights > threshold
    assert conv.weight.numel() > 64
    assert len(torch.unique(conv.weight.float())) <= 64


@pytest.mark.skipif(export_coreml.can_predict(), reason="checks the behaviour off macOS")
def test_predict_is_refused_off_macos(built):
    with pytest.raises(NotAvailableError, match="macOS"):
        CoreMLRunner(built["dir"] / "parsing_student_fp16.mlpackage")


@pytest.mark.skipif(not export_coreml.can_predict(), reason="Core ML prediction needs macOS")
def test_predict_matches_torch_on_macos(built):
    runner = CoreMLRunner(built["dir"] / "parsing_student_fp16.mlpackage")
    model = built["job"].student().model
    x = torch.rand(1, 3, 64, 64)
    assert (runner(x).argmax(1) == model(x).argmax(1)).float().mean() > 0.99


def test_the_same_model_saves_to_the_same_package_bytes(parsing_task, tmp_path):
    """Rebuilding a bundle from the same checkpoint must not change its sha256 (random manifest ids and
    a debug map inside the package used to)."""
    from portrait_edge.edge.artifacts import sha256_of

    model = tiny_model(parsing_task).eval()
    example = torch.rand(1, 3, 64, 64)
    digests = []
    for run in ("a", "b"):
        written = export_coreml.export_mlpackage(model, example, tmp_path / run / "parsing", parsing_task, ("fp16",),
                                                 "test", weight_threshold=64)
        package = written["fp16"]
        assert not list(package.glob("executorch_debug_handle_mapping.json"))
        digests.append(sha256_of(package))
    assert digests[0] == digests[1]
