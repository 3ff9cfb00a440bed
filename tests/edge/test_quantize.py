"""PT2E int8 in PyTorch: post-training and quantization-aware fine-tuning on a tiny student."""

import pytest
import torch

from portrait_edge.edge.quantize import PerSample, QATSettings, quantize_ptq, quantize_qat
from edge_fixtures import random_make_batch, tiny_model


def _stream(task, size):
    seed = 0
    while True:
        yield random_make_batch(task, 2, seed, size)
        seed += 1


def test_ptq_is_close_to_fp32_but_not_identical(parsing_task):
    model = tiny_model(parsing_task)
    calibration = [random_make_batch(parsing_task, 4, 5, 32).inputs]
    quantized = PerSample(quantize_ptq(model, calibration[0][:1], calibration))
    x = random_make_batch(parsing_task, 2, 9, 32).inputs
    with torch.no_grad():
        reference, output = model(x), quantized(x)
    error = (output - reference).abs().mean() / reference.abs().mean()
    assert 0 < error < 0.1


def test_float_modules_stay_fp32_and_unknown_names_are_refused(parsing_task):
    from portrait_edge.errors import PortraitEdgeError

    model = tiny_model(parsing_task)
    calibration = [random_make_batch(parsing_task, 4, 5, 32).inputs]

    def quantized_ops(program):
        return [n for n in program.graph.nodes if "quantize_per" in str(n.target)]

    everything = quantize_ptq(model, calibration[0][:1], calibration)
    stem_float = quantize_ptq(model, calibration[0][:1], calibration, float_modules=["stem"])
    assert 0 < len(quantized_ops(stem_float)) < len(quantized_ops(everything))
    # the stem's conv keeps fp32 weights: its weight is no longer an int8-dequantized constant
    first_conv = next(n for n in stem_float.graph.nodes if n.target == torch.ops.aten.conv2d.default)
    assert "dequantize" not in str(first_conv.args[1].target)
    with pytest.raises(PortraitEdgeError, match="no module 'stme'"):
        quantize_ptq(model, calibration[0][:1], calibration, float_modules=["stme"])


@pytest.mark.slow  # convert_pt2e folds the QAT conv-BN patterns by subgraph matching: ~15 s even for 6 layers
def test_qat_trains_at_a_smaller_size_and_returns_a_batch_one_program(parsing_task):
    model = tiny_model(parsing_task)
    calibration = [random_make_batch(parsing_task, 2, 5, 64).inputs]
    losses = []
    quantized = quantize_qat(parsing_task, model, calibration[0][:1], _stream(parsing_task, 32), calibration,
                             QATSettings(steps=3, lr=1e-3), train_size=32,
                             progress=lambda step, loss: losses.append(loss))
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    x = random_make_batch(parsing_task, 2, 9, 64).inputs
    out = PerSample(quantized)(x)
    assert out.shape == (2, 19, 64, 64)
    with torch.no_grad():  # fine-tuned for 3 steps: still close to the fp32 student
        assert (out.argmax(1) == model(x).argmax(1)).float().mean() > 0.8


def test_quantize_command_writes_the_program_and_its_summary(tmp_path, monkeypatch, capsys):
    import json

    import edge_fixtures
    from portrait_edge import cli
    from portrait_edge.tasks import get_task

    edge_fixtures.use_random_engine(monkeypatch)
    task = get_task("parsing")
    checkpoint = edge_fixtures.save_tiny_checkpoint(tmp_path / "student", task, edge_fixtures.tiny_model(task))
    assert cli.main(["quantize", "--task", "parsing", "--checkpoint", str(checkpoint), "--qat", "never",
                     "--recipe", str(edge_fixtures.recipe_file(tmp_path)), "--build-dir", str(tmp_path / "build")]) == 0
    assert "(PTQ)" in capsys.readouterr().out
    summary = json.loads((tmp_path / "build" / "parsing" / "quantize.json").read_text())
    from portrait_edge.edge.artifacts import portable_path

    assert summary["chosen"] == "ptq" and summary["source"]["path"] == portable_path(checkpoint)
    assert (tmp_path / "build" / "parsing" / summary["file"]).is_file()


def test_a_float_input_correction_keeps_the_photo_at_full_precision():
    """Residual image students apply their correction in a weightless module (`correct`): left in float
    (int8_float_modules: [correct]), the photo passes through unquantized and only the correction is
    int8, instead of the whole output being requantized to 256 levels."""
    from portrait_edge.nn import create_model
    from portrait_edge.nn.encoder_decoder import InputCorrection

    torch.manual_seed(0)
    model = create_model("mobile_unet", in_channels=3, out_channels=3, width=8, residual_input=True).eval()
    assert isinstance(model.correct, InputCorrection) and not list(model.correct.parameters())
    with torch.no_grad():
        torch.nn.init.normal_(model.head[0].weight, std=0.01)  # a small correction, as a retouch makes
    coarse = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    x = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bilinear", align_corners=False)
    with torch.no_grad():
        reference = model(x)
        errors = {name: (PerSample(quantize_ptq(model, x[:1], [x], float_modules=modules))(x) - reference).abs().mean()
                  for name, modules in (("all int8", ()), ("float correction", ["correct"]))}
    assert errors["float correction"] < errors["all int8"] / 2, errors
