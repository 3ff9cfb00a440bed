"""Every variant of a task's recipe from one student: the files, and export.json describing them.

Order: PT2E int8 (with quantization-aware fine-tuning when the recipe asks for it), ExecuTorch fp32
and int8, LiteRT fp32 / fp16 / int8, Core ML fp16 / int8w / pal6. export.json records, per file:
format, precision, runtime, sha256, bytes, I/O layout, shapes, dtypes and quantization parameters, and
what the converter left outside the delegate.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import torch

from portrait_edge import __version__
from portrait_edge.edge.artifacts import EXPORT_JSON, sha256_of, size_of, write_json_atomic
from portrait_edge.edge.recipe import EXTENSIONS, EdgeRecipe
from portrait_edge.edge.taskdata import TaskData
from portrait_edge.edge.versions import tool_versions
from portrait_edge.tasks.base import TaskSpec

RUNTIMES = {"executorch": "executorch (XNNPACK)", "litert": "ai-edge-litert (XNNPACK)", "coreml": "Core ML"}


def stem(task_id: str) -> str:
    return f"{task_id}_student"


def file_name(task_id: str, fmt: str, precision: str) -> str:
    return f"{stem(task_id)}_{precision}{EXTENSIONS[fmt]}"


def quantize_student(task: TaskSpec, recipe: EdgeRecipe, student: torch.nn.Module, data: TaskData,
                     calibration: list[torch.Tensor], test_batches: list, qat: str | None = None,
                     log: Callable[[str], None] = print) -> tuple[torch.nn.Module, dict[str, Any]]:
    """PT2E int8 of the student; QAT when recipe.qat.when (or `qat`) asks and PTQ is over tolerance.
    Returns the quantized module and a summary (metrics of fp32, PTQ and, if run, QAT in torch)."""
    from portrait_edge.edge.parity import primary_drop, quantized_passes, run_all, task_metrics
    from portrait_edge.edge.quantize import PerSample, QATSettings, quantize_ptq, quantize_qat

    when = qat or recipe.qat.when
    example = calibration[0][:1].contiguous()
    started = time.perf_counter()
    ptq = quantize_ptq(student, example, calibration, per_channel=recipe.per_channel,
                       float_modules=recipe.int8_float_modules)
    fp32_metrics = task_metrics(task, run_all(student, test_batches), test_batches)
    ptq_metrics = task_metrics(task, run_all(PerSample(ptq), test_batches), test_batches)
    ptq_drop = primary_drop(task, fp32_metrics, ptq_metrics)
    summary: dict[str, Any] = {
        "scheme": "PT2E static int8: per-channel symmetric weights, per-tensor asymmetric activations (XNNPACKQuantizer)"
        if recipe.per_channel else "PT2E static int8: per-tensor weights and activations (XNNPACKQuantizer)",
        "float_modules": list(recipe.int8_float_modules),
        "calibration": {"samples": sum(int(c.shape[0]) for c in calibration), "seed": recipe.calibration.seed},
        "test_samples": sum(len(b) for b in test_batches),
        "fp32": fp32_metrics, "ptq": ptq_metrics, "ptq_drop": ptq_drop, "qat_policy": when,
        "tolerance": recipe.tolerances.int8_max_drop * recipe.tolerances.int8_drop_unit,
    }
    log(f"  int8 PT2E (PTQ): {task.primary_metric} {ptq_metrics[task.primary_metric]:.4f} vs fp32 "
        f"{fp32_metrics[task.primary_metric]:.4f} (drop {ptq_drop:+.4f}, {time.perf_counter() - started:.0f}s)")
    chosen, quantized = "ptq", ptq
    if when == "always" or (when == "over_tolerance" and not quantized_passes(ptq_drop, recipe)):
        started = time.perf_counter()
        settings = QATSettings(steps=recipe.qat.steps, lr=recipe.qat.lr)
        train_size = min(recipe.qat.resolution, recipe.resolution)
        stream = data.training_stream(recipe.qat.batch, recipe.qat.seed, crop=train_size)
        log(f"  int8 over tolerance: quantization-aware fine-tuning, {settings.steps} steps of {recipe.qat.batch} "
            f"on {train_size}x{train_size} crops")
        qat_model = quantize_qat(task, student, example, stream, calibration, settings, recipe.per_channel, train_size,
                                 recipe.int8_float_modules)
        qat_metrics = task_metrics(task, run_all(PerSample(qat_model), test_batches), test_batches)
        qat_drop = primary_drop(task, fp32_metrics, qat_metrics)
        summary.update(qat=qat_metrics, qat_drop=qat_drop, qat_steps=settings.steps, qat_seed=recipe.qat.seed,
                       qat_resolution=train_size, qat_batch=recipe.qat.batch)
        log(f"  int8 PT2E (QAT, {settings.steps} steps): {task.primary_metric} {qat_metrics[task.primary_metric]:.4f} "
            f"(drop {qat_drop:+.4f}, {time.perf_counter() - started:.0f}s)")
        if qat_drop < ptq_drop:
            chosen, quantized = "qat", qat_model
    summary["chosen"] = chosen
    return quantized, summary


def export_task(task: TaskSpec, recipe: EdgeRecipe, student: torch.nn.Module, out_dir: Path, data: TaskData,
                source: dict[str, Any], formats: tuple[str, ...] | None = None, qat: str | None = None,
                log: Callable[[str], None] = print, target: str | None = None) -> dict[str, Any]:
    """Writes every variant into out_dir and out_dir/export.json; returns the manifest."""
    from portrait_edge.edge import export_coreml, export_executorch, export_litert
    from portrait_edge.edge.quantize import save_quantized

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous_manifest(out_dir)
    # files are about to change: a manifest left from an earlier export would vouch for them
    (out_dir / EXPORT_JSON).unlink(missing_ok=True)
    student = student.eval()
    size = recipe.resolution
    calibration = data.calibration_inputs(recipe.calibration.samples, recipe.calibration.batch, recipe.calibration.seed)
    example = calibration[0][:1].contiguous()
    wanted = [(f, p) for f, p in recipe.variants() if formats is None or f in formats]
    variants: list[dict[str, Any]] = []
    manifest: dict[str, Any] = {
        "task": task.id, "target": target or task.id, "role": "student", "resolution": size, "source": source,
        "recipe_fingerprint": recipe.export_fingerprint(),
        "input": {"channels": [{"name": g.name, "channels": g.channels, "kind": g.kind, "range": list(g.value_range),
                                "description": g.description} for g in task.inputs],
                  "shape_nchw": [1, task.in_channels, size, size]},
        "output": {"name": task.output.name, "channels": task.out_channels, "kind": task.output.kind,
                   "range": [v if abs(v) != float("inf") else None for v in task.output.value_range],
                   "description": task.output.description, "shape_nchw": [1, task.out_channels, size, size]},
        "labels": list(task.class_names), "versions": tool_versions(), "variants": variants,
    }

    def record(fmt: str, precision: str, details: dict[str, Any], seconds: float) -> None:
        path = out_dir / file_name(task.id, fmt, precision)
        variants.append({"id": f"{fmt}_{precision}", "format": fmt, "precision": precision, "runtime": RUNTIMES[fmt],
                         "file": path.name, "sha256": sha256_of(path), "bytes": size_of(path),
                         "layout": "NHWC" if fmt == "litert" else "NCHW", "details": details,
                         "seconds": round(seconds, 1)})
        log(f"  wrote {path.name} ({size_of(path) / 1024:.0f} KiB, {seconds:.1f}s)")

    needs_int8 = ("executorch", "int8") in wanted
    if needs_int8:
        test_batches = data.test_batches(recipe.test.samples, recipe.test.batch)
        quantized, summary = quantize_student(task, recipe, student, data, calibration, test_batches, qat, log)
        pt2 = out_dir / f"{stem(task.id)}_int8.pt2"
        save_quantized(quantized, example, pt2)
        manifest["quantization"] = summary
        manifest["quantized_program"] = {"file": pt2.name, "sha256": sha256_of(pt2), "bytes": size_of(pt2)}

    for fmt, precision in wanted:
        started = time.perf_counter()
        path = out_dir / file_name(task.id, fmt, precision)
        if fmt == "executorch":
            model = quantized if precision == "int8" else student
            details = export_executorch.export_pte(model, example, path)
        elif fmt == "litert":
            fp32_path = out_dir / file_name(task.id, "litert", "fp32")
            if precision == "fp32":
                details = export_litert.export_tflite_fp32(student, example, path)
            else:
                if not fp32_path.is_file() or ("litert", "fp32") not in wanted:
                    export_litert.export_tflite_fp32(student, example, fp32_path)
                if precision == "fp16":
                    details = export_litert.quantize_tflite_fp16(fp32_path, path)
                else:
                    nhwc = [batch.permute(0, 2, 3, 1).numpy() for batch in calibration]
                    value_range = (min(g.value_range[0] for g in task.inputs), max(g.value_range[1] for g in task.inputs))
                    details = export_litert.quantize_tflite_int8(fp32_path, nhwc, path, input_range=value_range,
                                                                 float_modules=recipe.litert_int8_float)
                    details["calibration_samples"] = sum(int(c.shape[0]) for c in calibration)
        else:
            continue
        record(fmt, precision, details, time.perf_counter() - started)

    coreml_precisions = tuple(p for f, p in wanted if f == "coreml")
    if coreml_precisions:
        started = time.perf_counter()
        extra = {"source_sha256": str(source.get("sha256", ""))[:16], "normalization": "RGB in [0, 1], no mean/std"}
        export_coreml.export_mlpackage(student, example, out_dir / stem(task.id), task, coreml_precisions, __version__,
                                       recipe.coreml_weight_threshold, recipe.coreml_minimum_target, extra)
        seconds = (time.perf_counter() - started) / len(coreml_precisions)
        for precision in coreml_precisions:
            details = export_coreml.inspect_mlpackage(out_dir / file_name(task.id, "coreml", precision))
            record("coreml", precision, {"ops": details["ops"], "compressed_weight_ops": details["compressed_weight_ops"],
                                         "inputs": details["inputs"], "outputs": details["outputs"]}, seconds)
    _keep_other_formats(previous, manifest, out_dir, log)
    write_json_atomic(out_dir / EXPORT_JSON, manifest)
    return manifest


def _previous_manifest(out_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out_dir / EXPORT_JSON).read_text())
    except (OSError, ValueError):
        return None


def _keep_other_formats(previous: dict[str, Any] | None, manifest: dict[str, Any], out_dir: Path, log) -> None:
    """`export --formats` rewrites some variants: the others stay listed when they are still the files an
    export of this checkpoint with this recipe wrote (same source sha256 and recipe fingerprint, bytes
    unchanged); otherwise their files are removed, so no file sits in the folder unlisted or out of date."""
    if not previous:
        return
    written = {v["id"] for v in manifest["variants"]}
    same_origin = ((previous.get("source") or {}).get("sha256") == (manifest.get("source") or {}).get("sha256")
                   and previous.get("recipe_fingerprint") == manifest.get("recipe_fingerprint"))
    for entry in previous.get("variants", []):
        if entry.get("id") in written:
            continue
        path = out_dir / entry["file"]
        if same_origin and path.exists() and sha256_of(path) == entry.get("sha256"):
            manifest["variants"].append(entry)
        elif path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            log(f"  removed {path.name}: exported from another checkpoint or recipe")
    old_program = previous.get("quantized_program")
    if old_program and "quantized_program" not in manifest:
        path = out_dir / old_program["file"]
        if same_origin and path.is_file() and sha256_of(path) == old_program.get("sha256"):
            manifest["quantized_program"] = old_program
            if "quantization" in previous:
                manifest["quantization"] = previous["quantization"]
        else:
            path.unlink(missing_ok=True)
