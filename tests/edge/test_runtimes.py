"""The runners: layout and int8 I/O handling, wrong shapes and garbage files give one-line errors."""

import pytest
import torch

from portrait_edge.edge.runtimes import ExecuTorchRunner, LiteRTRunner, open_runner
from portrait_edge.errors import PortraitEdgeError


def test_litert_int8_runner_quantizes_input_and_dequantizes_output(built):
    runner = LiteRTRunner(built["dir"] / "parsing_student_int8.tflite", threads=1)
    assert runner.input["dtype"].__name__ == "int8"
    x = torch.rand(2, 3, 64, 64)
    out = runner(x)
    assert out.shape == (2, 19, 64, 64) and out.dtype == torch.float32
    scale, zero_point = runner.output["quantization"]
    levels = out / scale + zero_point  # dequantized int8: integers on the output grid
    assert torch.allclose(levels, levels.round(), atol=1e-3)


def test_runners_reject_wrong_shapes(built):
    with pytest.raises(PortraitEdgeError, match="takes"):
        ExecuTorchRunner(built["dir"] / "parsing_student_fp32.pte")(torch.rand(1, 3, 32, 32))
    with pytest.raises(PortraitEdgeError, match="takes NHWC"):
        LiteRTRunner(built["dir"] / "parsing_student_fp32.tflite")(torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize("suffix", [".pte", ".tflite"])
def test_garbage_model_files_give_one_line_errors(tmp_path, suffix):
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(PortraitEdgeError) as info:
        open_runner(path)
    assert "\n" not in str(info.value)


def test_unknown_model_type(tmp_path):
    with pytest.raises(PortraitEdgeError, match="unknown model file type"):
        open_runner(tmp_path / "model.onnx")
