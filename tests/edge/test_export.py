"""Every exporter on the tiny student: the files, and what export.json says about them."""

from portrait_edge.edge.artifacts import sha256_of


def _variant(built, variant_id):
    return next(v for v in built["export"]["variants"] if v["id"] == variant_id)


def test_every_recipe_variant_is_written_with_its_checksum(built, tiny_recipe):
    ids = [v["id"] for v in built["export"]["variants"]]
    assert ids == [f"{f}_{p}" for f, p in tiny_recipe.variants()]
    for variant in built["export"]["variants"]:
        path = built["dir"] / variant["file"]
        assert path.exists()
        assert sha256_of(path) == variant["sha256"]
        assert variant["bytes"] > 1000


def test_executorch_programs_are_lowered_to_xnnpack(built):
    for precision in ("fp32", "int8"):
        details = _variant(built, f"executorch_{precision}")["details"]
        assert details["xnnpack_delegates"] >= 1
        # only the nearest upsample stays outside (XNNPACK in ExecuTorch 1.5.1 has none)
        assert set(details["ops_outside_delegate"]) <= {"aten.upsample_nearest2d.vec"}
    assert (built["dir"] / "parsing_student_int8.pt2").is_file()


def test_litert_files_are_nhwc_and_int8_has_int8_io_with_recorded_quantization(built):
    fp32 = _variant(built, "litert_fp32")["details"]
    assert fp32["inputs"][0]["shape"] == [1, 64, 64, 3] and fp32["inputs"][0]["dtype"] == "float32"
    assert fp32["outputs"][0]["shape"] == [1, 64, 64, 19]
    int8 = _variant(built, "litert_int8")["details"]
    assert int8["inputs"][0]["dtype"] == "int8" and int8["outputs"][0]["dtype"] == "int8"
    quant = int8["inputs"][0]["quantization"]
    # the int8 input encodes [0, 1] exactly (calibration images alone would leave 250..255 clipped)
    assert quant["zero_point"] == -128 and abs(quant["scale"] * 255 - 1) < 1e-6
    assert int8["outputs"][0]["quantization"]["scale"] > 0
    assert "CONV_2D" in int8["ops"]
    fp16 = _variant(built, "litert_fp16")
    assert "DEQUANTIZE" in fp16["details"]["ops"]  # float16 weights, dequantized at load
    assert fp16["bytes"] < _variant(built, "litert_fp32")["bytes"]


def test_coreml_packages_hold_compressed_weights_and_metadata(built):
    fp16, int8w, pal6 = (_variant(built, f"coreml_{p}") for p in ("fp16", "int8w", "pal6"))
    assert fp16["details"]["compressed_weight_ops"] == {}
    assert any("affine_dequantize" in op or "dequantize" in op for op in int8w["details"]["compressed_weight_ops"])
    assert any("lut" in op for op in pal6["details"]["compressed_weight_ops"])
    assert fp16["details"]["inputs"][0]["name"] == "input" and fp16["details"]["inputs"][0]["shape"] == [1, 3, 64, 64]
    assert fp16["details"]["outputs"][0]["name"] == "output"


def test_quantization_summary_records_ptq_against_fp32(built):
    quant = built["export"]["quantization"]
    assert quant["chosen"] == "ptq" and quant["qat_policy"] == "never"
    assert set(quant["fp32"]) >= {"miou", "mean_f1"}
    assert quant["calibration"]["samples"] == 4


def test_quantized_program_loads_in_a_fresh_process(built):
    import subprocess
    import sys

    code = ("import sys, torch; from portrait_edge.edge.quantize import load_quantized; "
            "m = load_quantized(sys.argv[1]); print(tuple(m(torch.rand(2, 3, 64, 64)).shape))")
    done = subprocess.run([sys.executable, "-c", code, str(built["dir"] / "parsing_student_int8.pt2")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(2, 19, 64, 64)" in done.stdout


def test_litert_int8_can_leave_named_modules_and_the_output_in_float(built, tmp_path):
    """recipe litert_int8_float: the named student modules' ops and the returned tensor stay float, the
    rest is int8; the runtime reads a float output as it is."""
    import re

    import numpy as np

    from portrait_edge.edge.export_litert import float_tensor_regex, quantize_tflite_int8
    from portrait_edge.edge.runtimes import open_runner

    name = "ChannelLastIOWrapper/x.TinyStudent_wrapped/torch.nn.modules.container.Sequential_fuse/torch.nn.Conv2d_0;1"
    assert re.fullmatch(float_tensor_regex("fuse"), name) and not re.fullmatch(float_tensor_regex("stem"), name)
    assert re.fullmatch(float_tensor_regex("output"), "serving_default_output_0_output")
    fp32 = built["dir"] / _variant(built, "litert_fp32")["file"]
    calibration = [np.random.default_rng(0).random((4, 64, 64, 3), dtype=np.float32)]
    details = quantize_tflite_int8(fp32, calibration, tmp_path / "float_tail.tflite", input_range=(0.0, 1.0),
                                   float_modules=["fuse", "head", "output"])
    assert details["inputs"][0]["dtype"] == "int8" and details["outputs"][0]["dtype"] == "float32"
    everything = _variant(built, "litert_int8")["details"]
    assert everything["outputs"][0]["dtype"] == "int8"
    x = np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32)
    import torch

    reference = open_runner(fp32)(torch.from_numpy(x))
    for path, tail in ((built["dir"] / _variant(built, "litert_int8")["file"], "int8"), (tmp_path / "float_tail.tflite", "float")):
        out = open_runner(path)(torch.from_numpy(x))
        assert out.shape == reference.shape and torch.isfinite(out).all(), tail
