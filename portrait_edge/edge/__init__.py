"""The edge toolchain: from a trained student to files a phone app can bundle, and proof they agree.

    recipe.py             convert/<task>.yaml -> EdgeRecipe (formats, quantization, calibration, tolerances)
    models.py             the student / teacher of a task from a checkpoint or the shipped weights
    taskdata.py           calibration and test batches of a task (fixed seeds, disjoint splits)
    quantize.py           PT2E int8 (post-training, and quantization-aware fine-tuning)
    export_executorch.py  .pte for the XNNPACK delegate (fp32, int8)
    export_litert.py      .tflite with NHWC I/O (fp32, fp16 weights, int8 with int8 I/O)
    export_coreml.py      .mlpackage (fp16, int8 weights, 6-bit palettized), inspection, torch simulation
    runtimes.py           one Runner per runtime: NCHW float32 in, NCHW float32 out
    export.py             every variant of a task's recipe -> files + export.json
    parity.py             `verify`: every file in its real runtime vs the PyTorch student
    bench.py              params, MACs, bytes, peak memory, latency, GFLOP/s in one run
    cpu.py                this CPU's peak GFLOP/s estimate
    artifacts.py          where files go, sha256, atomic writes

Heavy libraries (executorch, litert, coremltools) are imported inside the functions that need them,
so the CLI's --help stays fast.
"""
