"""LiteRT (TFLite): litert_torch.convert with NHWC I/O, then ai_edge_quantizer for fp16 and int8.

    fp32  litert_torch.convert(to_channel_last_io(model)) -- NHWC float32 in and out (the phone
          convention: camera frames and bitmaps are channel-last)
    fp16  fp32 file with float16 weights (ai_edge_quantizer float casting, weight-only; the
          runtime dequantizes them, XNNPACK may run fp16 where the CPU supports it)
    int8  fp32 file quantized with ai_edge_quantizer's static_wi8_ai8 recipe (int8 weights per
          channel, int8 activations calibrated on the task's data). Its input and output tensors
          are int8 too: real = scale * (q - zero_point); the scales and zero points are recorded.

litert_torch's own PT2E static route fails on U-Net skip concats (a same-scale error), hence the
quantizer works on the fp32 .tflite.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from portrait_edge.edge.artifacts import write_bytes_atomic

# ai_edge_quantizer ops that take a float16 weight (float casting, weight-only)
_FP16_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D_TRANSPOSE", "FULLY_CONNECTED")


def _quiet_litert_torch():
    import litert_torch

    litert_torch.config.show_progress = False
    return litert_torch


def export_tflite_fp32(model: nn.Module, example_nchw: torch.Tensor, path: Path | str) -> dict[str, Any]:
    """Converts an eval-mode NCHW model to an NHWC .tflite; returns its I/O and op details."""
    litert_torch = _quiet_litert_torch()
    wrapped = litert_torch.to_channel_last_io(model, args=[0], outputs=[0]).eval()
    example_nhwc = example_nchw.permute(0, 2, 3, 1).contiguous()
    edge_model = litert_torch.convert(wrapped, (example_nhwc,))
    write_bytes_atomic(path, bytes(edge_model.model_content()))
    return describe_tflite(path)


def signature_io(path: Path | str) -> tuple[str, str, str]:
    """(signature key, input name, output name) of a one-input, one-output .tflite."""
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_path=str(path)).get_signature_list()
    key = next(iter(signatures))
    return key, signatures[key]["inputs"][0], signatures[key]["outputs"][0]


def quantize_tflite_fp16(fp32_path: Path | str, path: Path | str) -> dict[str, Any]:
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    q = quantizer.Quantizer(str(fp32_path))
    for op in _FP16_OPS:
        q.add_weight_only_config(regex=".*", operation_name=getattr(qtyping.TFLOperationName, op), num_bits=16,
                                 algorithm_key=AlgorithmName.FLOAT_CASTING)
    result = q.quantize(enable_progress_report=False)
    write_bytes_atomic(path, bytes(result.quantized_model))
    return describe_tflite(path)


OUTPUT_TENSORS = "serving_default_output.*"  # the tensor(s) the model returns (litert_torch's names)


def float_tensor_regex(module: str) -> str:
    """A student module's dotted name (decoder.full_resolution) -> a regex over the tensor names
    litert_torch writes (.../MobileDecoder_decoder/.../MobileUpStage_full_resolution/...); "output" -> the
    model's output tensor."""
    import re

    if module == "output":
        return OUTPUT_TENSORS
    # each dotted part ends one path segment, in order, within one ';'-separated name
    return ".*?" + "[^;]*?".join(f"_{re.escape(part)}(?=[/;]|$)" for part in module.split(".")) + ".*"


def quantize_tflite_int8(fp32_path: Path | str, calibration_nhwc: Iterable[np.ndarray], path: Path | str,
                         threads: int = 2, input_range: tuple[float, float] | None = None,
                         float_modules: Iterable[str] = ()) -> dict[str, Any]:
    """Static int8 (static_wi8_ai8) calibrated on NHWC float32 batches of size 1 or more. `input_range`
    (the task's value range, e.g. (0, 1) for RGB) replaces the calibrated range of the input tensor, so
    its int8 encoding covers every valid input exactly (a calibration set whose brightest pixel is 249
    would otherwise clip 250..255). `float_modules` (recipe litert_int8_float) stay float: their ops are
    not quantized (matched by tensor name, float_tensor_regex)."""
    from ai_edge_quantizer import qtyping, quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    key, input_name, _ = signature_io(fp32_path)
    samples = [{input_name: sample[None].astype(np.float32)} for batch in calibration_nhwc for sample in batch]
    if not samples:
        raise ValueError("int8 calibration needs at least one sample")
    q = quantizer.Quantizer(str(fp32_path), recipe.static_wi8_ai8())
    for module in float_modules:
        q.update_quantization_recipe(regex=float_tensor_regex(module), operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                     algorithm_key=AlgorithmName.NO_QUANTIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental_preserve_all_tensors ... debugging purposes only"
        calibration = q.calibrate({key: samples}, num_threads=threads)
    if input_range is not None:
        from ai_edge_litert.interpreter import Interpreter

        for detail in Interpreter(model_path=str(fp32_path)).get_input_details():
            stats = calibration.get(detail["name"])
            if stats is not None:
                stats["min"] = np.full_like(stats["min"], input_range[0])
                stats["max"] = np.full_like(stats["max"], input_range[1])
    result = q.quantize(calibration, enable_progress_report=False)
    write_bytes_atomic(path, bytes(result.quantized_model))
    return describe_tflite(path)


def describe_tflite(path: Path | str) -> dict[str, Any]:
    """Input/output names, shapes, dtypes, quantization (scale, zero point) and the op types."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()

    def tensor(detail: dict) -> dict[str, Any]:
        scale, zero_point = detail["quantization"]
        info = {"name": detail["name"], "shape": [int(v) for v in detail["shape"]],
                "dtype": np.dtype(detail["dtype"]).name, "layout": "NHWC"}
        if scale:
            info["quantization"] = {"scale": float(scale), "zero_point": int(zero_point)}
        return info

    ops: dict[str, int] = {}
    for op in interpreter._get_ops_details():
        ops[op["op_name"]] = ops.get(op["op_name"], 0) + 1
    return {
        "inputs": [tensor(d) for d in interpreter.get_input_details()],
        "outputs": [tensor(d) for d in interpreter.get_output_details()],
        "signature": interpreter.get_signature_list(),
        "ops": dict(sorted(ops.items())),
    }
