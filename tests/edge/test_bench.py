"""bench: every variant timed in one run; peak memory from a fresh process; the CPU peak estimate."""

from portrait_edge.edge.bench import measure_memory
from portrait_edge.edge.cpu import cpu_peak


def test_bench_times_teacher_student_and_every_runnable_file(built):
    rows = {r["variant"]: r for r in built["bench"]["rows"]}
    for name in ("teacher_pytorch_fp32", "pytorch_fp32", "executorch_fp32", "executorch_int8", "litert_fp32",
                 "litert_fp16", "litert_int8"):
        timing = rows[name]["latency"]["1"]
        assert timing["runs"] >= 3 and 0 < timing["p10_ms"] <= timing["median_ms"] <= timing["p90_ms"]
        assert timing["gflops"] > 0
    assert rows["coreml_fp16"]["latency"] == {} and "Apple" in rows["coreml_fp16"]["latency_note"]
    assert rows["litert_int8"]["bytes"] < rows["litert_fp32"]["bytes"]
    assert rows["pytorch_fp32"]["macs"] == rows["litert_int8"]["macs"] > 0
    assert built["bench"]["load_average_before"]


def test_memory_probe_runs_in_a_fresh_process(built):
    peak = measure_memory("tflite", str(built["dir"] / "parsing_student_int8.tflite"), (1, 3, 64, 64), 1)
    assert peak is not None and 0 < peak < 500


def test_cpu_peak_estimate_is_documented():
    peak = cpu_peak()
    assert peak["peak_gflops_fp32"] > 0 and peak["cores"] >= 1
    assert "FLOP/cycle" in peak["formula"]
