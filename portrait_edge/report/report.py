"""The quantization accuracy report: report.md, report.json and PNG plots from the build folders.

Inputs per task (written by export, verify and bench): export.json, verify.json, bench.json.
report.json holds one record per variant: task, role, format, precision, runtime, file, params, MACs,
bytes, median latency in ms per thread count (with p10/p90/runs), peak memory, GFLOP/s, and metrics:
vs_gt (the task's metrics against ground truth), vs_teacher (the same with the teacher's output as
target), vs_fp32 (agreement with the PyTorch fp32 student), drop (primary metric, positive = worse),
passed and simulated. The markdown follows the usual layout of public quantization reports: float vs
quantized metric per runtime, then latency, size and memory, then how it was measured and with which
tool versions.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

from portrait_edge.edge.artifacts import BENCH_JSON, EXPORT_JSON, VERIFY_JSON, read_json, write_bytes_atomic, write_json_atomic
from portrait_edge.errors import PortraitEdgeError

ORDER = ["teacher_pytorch_fp32", "pytorch_fp32", "pytorch_int8_pt2e", "executorch_fp32", "executorch_int8",
         "litert_fp32", "litert_fp16", "litert_int8", "coreml_fp16", "coreml_int8w", "coreml_pal6"]


def task_records(task_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(task summary, records) of one task's build folder."""
    export = read_json(task_dir / EXPORT_JSON, "export manifest")
    verify = read_json(task_dir / VERIFY_JSON, "verify result") if (task_dir / VERIFY_JSON).is_file() else None
    bench = read_json(task_dir / BENCH_JSON, "bench result") if (task_dir / BENCH_JSON).is_file() else None
    task_id = export["task"]
    target = export.get("target") or task_id
    by_variant: dict[str, dict[str, Any]] = {}
    files = {v["id"]: v for v in export["variants"]}
    for row in (bench or {}).get("rows", []):
        by_variant.setdefault(row["variant"], {}).update(bench=row)
    for row in (verify or {}).get("rows", []):
        by_variant.setdefault(row["variant"], {}).update(verify=row)
    for variant_id in files:
        by_variant.setdefault(variant_id, {})
    records = []
    for variant_id in sorted(by_variant, key=lambda v: ORDER.index(v) if v in ORDER else len(ORDER)):
        parts = by_variant[variant_id]
        b, v, f = parts.get("bench", {}), parts.get("verify", {}), files.get(variant_id, {})
        fmt = b.get("format") or v.get("format") or f.get("format") or "pytorch"
        precision = b.get("precision") or v.get("precision") or f.get("precision") or "fp32"
        role = b.get("role") or v.get("role") or ("teacher" if variant_id.startswith("teacher") else "student")
        latency = {t: x["median_ms"] for t, x in (b.get("latency") or {}).items()}
        record = {
            "task": task_id, "target": target, "variant": variant_id, "role": role, "format": fmt, "precision": precision,
            "runtime": v.get("runtime") or b.get("runtime") or f.get("runtime"),
            "file": f.get("file") or b.get("file") or v.get("file"),
            "params": b.get("params"), "macs": b.get("macs"),
            "bytes": f.get("bytes") if f else b.get("bytes"),
            "latency_ms": latency, "latency": b.get("latency") or {},
            "gflops": {t: x.get("gflops") for t, x in (b.get("latency") or {}).items()},
            "peak_memory_mb": b.get("peak_memory_mb"),
            "metrics": {k: v[k] for k in ("vs_gt", "vs_teacher", "vs_fp32") if k in v},
            "drop": v.get("drop"), "passed": v.get("passed"), "check": v.get("check"),
            "simulated": bool(v.get("simulated")) if v else None,
            "sha256": f.get("sha256"),
        }
        one, two = latency.get("1"), latency.get("2")
        # more threads should never be much slower: when they are, another process held a core
        record["contention_suspected"] = bool(one and two and two > 1.3 * one)
        if b.get("latency_note"):
            record["latency_note"] = b["latency_note"]
        if v.get("program_checks"):
            record["coreml_program_checks"] = v["program_checks"]
            record["coreml_predict"] = v.get("coreml_predict")
            record["coreml_compressed_weight_ops"] = f.get("details", {}).get("compressed_weight_ops", {})
        if f.get("details", {}).get("inputs"):
            record["io"] = {"inputs": f["details"]["inputs"], "outputs": f["details"]["outputs"]}
        records.append(record)
    summary = {
        "task": task_id, "target": target, "resolution": export["resolution"], "primary_metric": (verify or {}).get("primary_metric"),
        "higher_is_better": (verify or {}).get("higher_is_better", True),
        "test_samples": (verify or {}).get("test_samples"), "tolerances": (verify or {}).get("tolerances"),
        "quantization": export.get("quantization"), "source": export.get("source"),
        "versions": export.get("versions"), "cpu": (bench or {}).get("cpu"),
        "bench_settings": (bench or {}).get("settings"),
        "load_average": {"before": (bench or {}).get("load_average_before"), "after": (bench or {}).get("load_average_after")},
        "verified": verify is not None, "benchmarked": bench is not None,
        "all_passed": (verify or {}).get("all_passed"),
    }
    summary["goals"] = _goals(summary, records)
    return summary, records


def _record(records, variant):
    return next((r for r in records if r["variant"] == variant), None)


def _goals(summary: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline numbers: int8 LiteRT latency at 2 threads, its speed-up over the teacher, metric drop."""
    goals: dict[str, Any] = {}
    int8, teacher, fp32 = _record(records, "litert_int8"), _record(records, "teacher_pytorch_fp32"), _record(records, "pytorch_fp32")
    if int8 and int8["latency_ms"].get("2"):
        goals["litert_int8_ms_2_threads"] = int8["latency_ms"]["2"]
        if teacher and teacher["latency_ms"].get("2"):
            goals["speedup_vs_teacher_2_threads"] = round(teacher["latency_ms"]["2"] / int8["latency_ms"]["2"], 1)
    if int8 and teacher and int8["latency_ms"].get("1") and teacher["latency_ms"].get("1"):
        goals["speedup_vs_teacher_1_thread"] = round(teacher["latency_ms"]["1"] / int8["latency_ms"]["1"], 1)
    if any(r.get("contention_suspected") for r in (int8, teacher) if r):
        goals["two_thread_timing_disturbed"] = True
    metric = summary.get("primary_metric")
    if int8 and fp32 and metric and int8["metrics"].get("vs_gt") and fp32["metrics"].get("vs_gt"):
        goals[f"litert_int8_{metric}"] = int8["metrics"]["vs_gt"][metric]
        goals[f"pytorch_fp32_{metric}"] = fp32["metrics"]["vs_gt"][metric]
        goals["litert_int8_drop"] = int8["drop"]
    return goals


# ---- markdown -------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        return f"{value:.{digits}f}"
    return str(value)


def _human(count: int | None) -> str:
    if count is None:
        return "–"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.2f}{unit}"
    return str(count)


def _metric_cell(record: dict[str, Any], key: str, metric: str, scale: float) -> str:
    values = record["metrics"].get(key) or {}
    return _fmt(values[metric] * scale, 2) if metric in values and values[metric] is not None else "–"


def _task_markdown(summary: dict[str, Any], records: list[dict[str, Any]], plots: list[Path], out_dir: Path) -> list[str]:
    task_id, metric = summary["target"], summary.get("primary_metric") or ""
    # Metrics in [0, 1] (mIoU, F1, SSIM) are shown in points (x100), like public reports.
    fraction = metric in ("miou", "mean_f1", "ssim", "pixel_accuracy") or metric.startswith("within")
    scale, unit = (100.0, " (points, x100)") if fraction else (1.0, "")
    lines = [f"## {task_id}", ""]
    goals = summary.get("goals") or {}
    if goals:
        parts = []
        if "litert_int8_ms_2_threads" in goals:
            parts.append(f"LiteRT int8 student: **{goals['litert_int8_ms_2_threads']:.2f} ms** median at "
                         f"{summary['resolution']}x{summary['resolution']}, 2 threads")
        if "speedup_vs_teacher_2_threads" in goals:
            parts.append(f"**{goals['speedup_vs_teacher_2_threads']:.1f}x** faster than the fp32 teacher in PyTorch (same run)"
                         + (f" ({goals['speedup_vs_teacher_1_thread']:.1f}x at 1 thread)" if "speedup_vs_teacher_1_thread" in goals else ""))
        if "litert_int8_drop" in goals:
            parts.append(f"{metric} {goals[f'litert_int8_{metric}'] * scale:.2f} vs fp32 student "
                         f"{goals[f'pytorch_fp32_{metric}'] * scale:.2f} (drop {goals['litert_int8_drop'] * scale:+.2f}{' points' if fraction else ''})")
        lines += ["; ".join(parts) + ".", ""]
        if goals.get("two_thread_timing_disturbed"):
            lines += ["**Warning:** a 2-thread timing here is slower than its 1-thread timing (another process held a "
                      "core during the run), so the 2-thread ratio is not trustworthy; use the 1-thread ratio or rerun "
                      "`portrait-edge bench` on a quiet machine.", ""]
    lines += [f"Test split: {summary.get('test_samples')} synthetic pairs (fixed seeds), "
              f"{summary['resolution']}x{summary['resolution']}. Source: `{(summary.get('source') or {}).get('path', '?')}`.", ""]

    lines += [f"### Accuracy: float vs quantized, per runtime{unit}", "",
              f"| variant | runtime | precision | {metric} (GT) | {metric} vs teacher | drop vs fp32 | agreement with fp32 student | check |",
              "|---|---|---|---:|---:|---:|---|---|"]
    for r in records:
        if not r["metrics"]:
            continue
        agree = r["metrics"].get("vs_fp32") or {}
        if r["variant"] == "pytorch_fp32" or r["role"] == "teacher":
            agreement = "reference" if r["variant"] == "pytorch_fp32" else "–"
        else:
            bits = []
            if "label_agreement" in agree:
                bits.append(f"labels {agree['label_agreement'] * 100:.3f}%")
            if "psnr_db" in agree:
                bits.append(f"PSNR {_fmt(agree['psnr_db'], 1)} dB")
            agreement = ", ".join(bits)
        check = "–" if r.get("passed") is None or r["variant"] == "pytorch_fp32" else ("pass" if r["passed"] else "**FAIL**")
        runtime = (r.get("runtime") or "").replace("simulated", "*simulated*")
        drop = _fmt(r["drop"] * scale, 2) if r.get("drop") is not None and r["role"] != "teacher" else "–"
        lines.append(f"| {r['variant']} | {runtime} | {r['precision']} | {_metric_cell(r, 'vs_gt', metric, scale)} | "
                     f"{_metric_cell(r, 'vs_teacher', metric, scale)} | {drop} | {agreement} | {check} |")
    lines += ["", "fp32 files must match the PyTorch student (label agreement >= "
              f"{(summary.get('tolerances') or {}).get('fp32_label_agreement', '?')} or PSNR >= "
              f"{(summary.get('tolerances') or {}).get('fp32_psnr_db', '?')} dB); quantized files pass when the "
              f"{metric} drop is within {_tolerance(summary)}. Core ML rows are *simulated* in torch on Linux "
              "(same weight compression by coremltools' routines, fp16 inference); Core ML predict() needs macOS.", ""]

    lines += _per_class_table(records, scale, unit)
    lines += ["### Speed, size, memory", "",
              "| variant | params | MACs | file | latency 1 thread (ms) | latency 2 threads (ms) | x teacher (2 thr) | GFLOP/s (2 thr) | % of CPU fp32 peak | peak memory (MB) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    teacher = _record(records, "teacher_pytorch_fp32")
    for r in records:
        if r["variant"] == "pytorch_int8_pt2e":
            continue
        l1, l2 = r["latency_ms"].get("1"), r["latency_ms"].get("2")
        speedup = _fmt(teacher["latency_ms"]["2"] / l2, 1) if teacher and teacher["latency_ms"].get("2") and l2 else "–"
        two = r["latency"].get("2") or {}
        size = f"{r['bytes'] / 1024:.0f} KiB" if r.get("bytes") else "–"
        frac = two.get("fraction_of_peak")
        mark = " ‡" if r.get("contention_suspected") else ""
        lines.append(f"| {r['variant']} | {_human(r['params'])} | {_human(r['macs'])} | {size} | {_fmt(l1)} | {_fmt(l2)}{mark} | "
                     f"{speedup} | {_fmt(two.get('gflops'), 1)} | {_fmt(frac * 100 if frac is not None else None, 1)} | "
                     f"{_fmt(r.get('peak_memory_mb'), 1)} |")
    lines += ["", "Core ML files have no latency here (Apple devices only). Teacher size is its checkpoint file."
              + (" ‡ slower with 2 threads than with 1: CPU contention during the run." if any(r.get("contention_suspected") for r in records) else ""), ""]

    quant = summary.get("quantization")
    if quant:
        lines += ["### Quantization", "", f"- ExecuTorch int8: {quant['scheme']}; calibrated on "
                  f"{quant['calibration']['samples']} synthetic samples (seeds from {quant['calibration']['seed']}).",
                  f"- PyTorch PT2E int8 (PTQ): {metric} {quant['ptq'][metric] * scale:.2f} vs fp32 {quant['fp32'][metric] * scale:.2f} "
                  f"(drop {quant['ptq_drop'] * scale:+.2f}); QAT policy `{quant['qat_policy']}`"
                  + (f"; QAT ({quant['qat_steps']} steps): {quant['qat'][metric] * scale:.2f} (drop {quant['qat_drop'] * scale:+.2f})"
                     if "qat" in quant else "; QAT not needed") + f"; shipped: **{quant['chosen'].upper()}**."]
        int8 = _record(records, "litert_int8")
        if int8 and int8.get("io"):
            i, o = int8["io"]["inputs"][0], int8["io"]["outputs"][0]
            lines.append(f"- LiteRT int8 (ai_edge_quantizer static_wi8_ai8, int8 weights per channel, int8 activations): "
                         f"input `{i['name']}` {i['dtype']} {i['shape']} NHWC, scale {_q(i)}, "
                         f"output `{o['name']}` {o['dtype']} {o['shape']} NHWC, scale {_q(o)}; real = scale x (q - zero_point).")
        lines.append("")
    checks = [r for r in records if r.get("coreml_program_checks")]
    if checks:
        lines += ["### Core ML programs (checked on Linux)", "", "| variant | checks | compressed-weight ops | predict() |", "|---|---|---|---|"]
        for r in checks:
            ok = ", ".join(f"{k} {'ok' if v else 'FAIL'}" for k, v in r["coreml_program_checks"].items())
            predict = r["coreml_predict"] if isinstance(r.get("coreml_predict"), str) else "ran on macOS"
            ops = ", ".join(f"{k} x{n}" for k, n in (r.get("coreml_compressed_weight_ops") or {}).items()) or "none (fp16 weights)"
            lines.append(f"| {r['variant']} | {ok} | {ops} | {predict} |")
        lines.append("")
    for plot in plots:
        lines += [f"![{plot.stem}]({plot.relative_to(out_dir).as_posix()})", ""]
    return lines


def _per_class_table(records: list[dict[str, Any]], scale: float, unit: str) -> list[str]:
    """Per-class IoU of every variant on the test split (label tasks; classes present in the split)."""
    rows = [r for r in records if r.get("metrics") and any(k.startswith("iou_") for k in r["metrics"].get("vs_gt", {}))]
    if not rows:
        return []
    classes = [k for k in rows[0]["metrics"]["vs_gt"] if k.startswith("iou_")]
    classes = [k for k in classes if any(r["metrics"]["vs_gt"].get(k) is not None for r in rows)]
    lines = [f"### Per-class IoU on the test split{unit}", "",
             "| variant | " + " | ".join(k.removeprefix("iou_") for k in classes) + " |",
             "|---|" + "---:|" * len(classes)]
    for r in rows:
        values = [r["metrics"]["vs_gt"].get(k) for k in classes]
        lines.append(f"| {r['variant']} | " + " | ".join("–" if v is None or v != v else f"{v * scale:.1f}" for v in values) + " |")
    return lines + ["", "– = the class is absent from both the prediction and the ground truth of the split.", ""]


def _q(tensor: dict[str, Any]) -> str:
    quant = tensor.get("quantization")
    return f"{quant['scale']:.6g}, zero point {quant['zero_point']}" if quant else "none (float)"


def _tolerance(summary: dict[str, Any]) -> str:
    tol = summary.get("tolerances") or {}
    if "int8_max_drop" in tol:
        return f"{tol['int8_max_drop']:g} x {tol.get('int8_drop_unit', 1):g}"
    return "?"


def write_report(task_dirs: list[Path], out_dir: Path) -> dict[str, Any]:
    """Writes out_dir/report.md, report.json and the plots for the given task build folders."""
    from portrait_edge.report.plots import write_plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries, all_records, markdown = [], [], []
    for task_dir in task_dirs:
        if not (Path(task_dir) / EXPORT_JSON).is_file():
            raise PortraitEdgeError(f"{task_dir} has no {EXPORT_JSON}: run `portrait-edge export` first")
        summary, records = task_records(Path(task_dir))
        plots = write_plots(summary["target"], summary["primary_metric"] or "", records, out_dir) if summary["primary_metric"] else []
        summary["plots"] = [p.name for p in plots]
        summaries.append(summary)
        all_records += records
        markdown += _task_markdown(summary, records, plots, out_dir)
    if not summaries:
        raise PortraitEdgeError("nothing to report: no task build folders given")
    first = summaries[0]
    cpu = next((s["cpu"] for s in summaries if s.get("cpu")), None)
    header = ["# portrait-edge: quantization accuracy report", "",
              f"Generated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} for: {', '.join(s['target'] for s in summaries)}.", ""]
    header += ["| task | LiteRT int8 latency, 2 threads (ms) | x faster than teacher | primary metric: fp32 -> LiteRT int8 | all checks |",
               "|---|---:|---:|---|---|"]
    for s in summaries:
        g, m = s.get("goals") or {}, s.get("primary_metric")
        acc = (f"{m}: {g[f'pytorch_fp32_{m}']:.4f} -> {g[f'litert_int8_{m}']:.4f}" if f"litert_int8_{m}" in g else "–")
        header.append(f"| {s['target']} | {_fmt(g.get('litert_int8_ms_2_threads'))} | {_fmt(g.get('speedup_vs_teacher_2_threads'), 1)} | "
                      f"{acc} | {'pass' if s.get('all_passed') else ('not verified' if s.get('all_passed') is None else '**FAIL**')} |")
    header.append("")
    footer = ["## How this was measured", ""]
    if cpu:
        footer += [f"- CPU: {cpu['model']} ({cpu['vendor']}), {cpu['cores']} cores; ISA {', '.join(cpu['isa'])}. "
                   f"Estimated fp32 peak {cpu['peak_gflops_fp32']} GFLOP/s = {cpu['formula']}"
                   + (f" ({cpu['note']})" if cpu.get("note") else "") + ". int8 kernels (VNNI) can exceed the fp32 peak in ops/s.",
                   "- Latency: batch 1, invoke only (input already set), warm-up then interleaved rounds; median reported "
                   "(p10/p90 in report.json). Load average before/after: "
                   + "; ".join(f"{s['target']} {s['load_average']['before']} / {s['load_average']['after']}" for s in summaries)
                   + " (other work on this shared machine inflates latencies; ratios within a run hold better).",
                   "- Peak memory: " + "; ".join(f"{s['target']}: {(s.get('bench_settings') or {}).get('memory', 'not measured')}"
                                                 for s in summaries) + "."]
    footer += ["- MACs: torch.utils.flop_counter (convolutions and matmuls; FLOPs / 2).",
               "- Accuracy: the task's metric accumulators on the synthetic test split; 'vs teacher' takes the teacher's "
               "output as the target; 'agreement with fp32 student' compares outputs of the same inputs.", ""]
    versions = first.get("versions") or {}
    footer += ["Tool versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    text = "\n".join(header + markdown + footer) + "\n"
    write_bytes_atomic(out_dir / "report.md", text.encode())
    report = {"generated": _dt.datetime.now().isoformat(timespec="seconds"), "tasks": summaries, "records": all_records,
              "versions": versions, "cpu": cpu}
    write_json_atomic(out_dir / "report.json", report)
    return report
