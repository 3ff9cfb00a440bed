"""`verify`: every converted file, run in its real runtime on the task's test split, against the
PyTorch student it came from and against the ground truth.

Per variant:
- vs_fp32: agreement with the PyTorch fp32 student: max |difference|, PSNR (dB; data range = the
  output's value range, or for logits the spread of the student's logits) and, for label maps, the
  fraction of pixels with the same label. fp32 files must reach PSNR >= tolerances.fp32_psnr_db
  (image-like outputs) or label agreement >= tolerances.fp32_label_agreement (label maps).
- vs_gt: the task's metrics against the ground truth (TaskSpec.metric_accumulator()).
- vs_teacher: the same metrics with the teacher's output taken as the target (when a teacher is given).
- drop: fp32 student primary metric minus this variant's (sign-adjusted so that positive = worse);
  quantized files pass when it is within tolerances.int8_max_drop * int8_drop_unit.
Core ML files are inspected (ops, I/O, metadata) and their accuracy is simulated in torch on Linux
(`simulated: true`); on macOS they also run through Core ML.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from portrait_edge.edge.artifacts import EXPORT_JSON, VERIFY_JSON, read_json, require_checksum, write_json_atomic
from portrait_edge.edge.recipe import EdgeRecipe
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.tasks.base import Batch, TaskSpec


# ---- comparisons -----------------------------------------------------------------------------------
def run_all(fn: Callable[[torch.Tensor], torch.Tensor], batches: Sequence[Batch]) -> list[torch.Tensor]:
    with torch.no_grad():
        return [fn(batch.inputs).float() for batch in batches]


def task_metrics(task: TaskSpec, outputs: Sequence[torch.Tensor], batches: Sequence[Batch],
                 targets: Sequence[torch.Tensor] | None = None) -> dict[str, float]:
    """The task's metrics of `outputs`; against `targets` (e.g. the teacher's) instead of the ground truth when given."""
    accumulator = task.metric_accumulator()
    for i, (output, batch) in enumerate(zip(outputs, batches)):
        if targets is not None:
            batch = Batch(batch.inputs, targets[i], batch.extras)
        accumulator.update(task.postprocess(output), batch)
    return {k: float(v) for k, v in accumulator.compute().items()}


def agreement(task: TaskSpec, outputs: Sequence[torch.Tensor], reference: Sequence[torch.Tensor]) -> dict[str, float]:
    out = torch.cat([o.float() for o in outputs])
    ref = torch.cat([r.float() for r in reference])
    low, high = task.output.value_range
    data_range = (high - low) if math.isfinite(low) and math.isfinite(high) else float(ref.max() - ref.min())
    mse = float(((out - ref) ** 2).mean())
    result = {
        "max_abs_diff": float((out - ref).abs().max()),
        "psnr_db": float(10 * math.log10(data_range ** 2 / mse)) if mse > 0 else float("inf"),
        "data_range": float(data_range),
    }
    if task.output.kind == "logits":
        result["label_agreement"] = float((out.argmax(1) == ref.argmax(1)).float().mean())
    return result


def primary_drop(task: TaskSpec, reference: dict[str, float], value: dict[str, float]) -> float:
    """How much worse `value` is than `reference` on the primary metric (positive = worse)."""
    key = task.primary_metric
    difference = reference[key] - value[key]
    return difference if task.higher_is_better else -difference


def fp32_passes(task: TaskSpec, vs_fp32: dict[str, float], recipe: EdgeRecipe) -> bool:
    tolerances = recipe.tolerances
    if "label_agreement" in vs_fp32:
        return vs_fp32["label_agreement"] >= tolerances.fp32_label_agreement or vs_fp32["psnr_db"] >= tolerances.fp32_psnr_db
    return vs_fp32["psnr_db"] >= tolerances.fp32_psnr_db


def quantized_passes(drop: float, recipe: EdgeRecipe) -> bool:
    return drop <= recipe.tolerances.int8_max_drop * recipe.tolerances.int8_drop_unit


# ---- verify ----------------------------------------------------------------------------------------
def check_file(task_dir: Path, entry: dict[str, Any]) -> Path:
    """The variant's file, after checking it exists and matches the sha256 recorded at export."""
    path = task_dir / entry["file"]
    require_checksum(path, entry["sha256"], task_dir / EXPORT_JSON, f"run `portrait-edge export --task {entry['task']}`")
    return path


def _row(task: TaskSpec, entry: dict[str, Any], outputs, batches, reference, fp32_metrics, teacher_targets,
         recipe: EdgeRecipe, simulated: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"variant": entry["id"], "format": entry["format"], "precision": entry["precision"],
                           "runtime": entry["runtime"], "file": entry.get("file"), "simulated": simulated,
                           # the bytes verified (check_file matched them to export.json): bundles trust only these
                           "sha256": entry.get("sha256")}
    row["vs_fp32"] = agreement(task, outputs, reference)
    row["vs_gt"] = task_metrics(task, outputs, batches)
    if teacher_targets is not None:
        row["vs_teacher"] = task_metrics(task, outputs, batches, teacher_targets)
    row["drop"] = primary_drop(task, fp32_metrics, row["vs_gt"])
    if entry["precision"] == "fp32":
        row["check"] = "fp32 parity"
        row["passed"] = fp32_passes(task, row["vs_fp32"], recipe)
    else:
        row["check"] = f"{task.primary_metric} drop <= {recipe.tolerances.int8_max_drop * recipe.tolerances.int8_drop_unit:g}"
        row["passed"] = quantized_passes(row["drop"], recipe)
    return row


def verify_task(task: TaskSpec, recipe: EdgeRecipe, task_dir: Path, student: torch.nn.Module,
                batches: Sequence[Batch], teacher: torch.nn.Module | None = None,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs every variant in export.json; writes verify.json beside it and returns its content."""
    from portrait_edge.edge import export_coreml
    from portrait_edge.edge.quantize import load_quantized
    from portrait_edge.edge.runtimes import open_runner

    manifest = read_json(task_dir / EXPORT_JSON, "export manifest")
    if manifest.get("task") != task.id:
        raise PortraitEdgeError(f"{task_dir / EXPORT_JSON} is for task {manifest.get('task')!r}, not {task.id!r}")
    resolution = int(manifest["resolution"])
    if batches and tuple(batches[0].inputs.shape[-2:]) != (resolution, resolution):
        raise PortraitEdgeError(f"test batches are {tuple(batches[0].inputs.shape[-2:])}, files take {resolution}x{resolution}")
    student = student.eval()
    reference = run_all(student, batches)
    fp32_metrics = task_metrics(task, reference, batches)
    teacher_targets = None
    rows: list[dict[str, Any]] = []
    pytorch_entry = {"id": "pytorch_fp32", "format": "pytorch", "precision": "fp32", "runtime": "pytorch eager", "file": None}
    if teacher is not None:
        teacher_outputs = run_all(teacher.eval(), batches)
        teacher_targets = [task.postprocess(o) for o in teacher_outputs]
        teacher_row = {"variant": "teacher_pytorch_fp32", "role": "teacher", "format": "pytorch", "precision": "fp32",
                       "runtime": "pytorch eager", "file": None, "simulated": False,
                       "vs_gt": task_metrics(task, teacher_outputs, batches),
                       "vs_teacher": task_metrics(task, teacher_outputs, batches, teacher_targets)}
        rows.append(teacher_row)
    student_row = _row(task, pytorch_entry, reference, batches, reference, fp32_metrics, teacher_targets, recipe, False)
    rows.append(student_row)

    pt2 = manifest.get("quantized_program")
    if pt2 and (task_dir / pt2["file"]).is_file():
        program = load_quantized(task_dir / pt2["file"])
        outputs = run_all(program, batches)
        entry = {"id": "pytorch_int8_pt2e", "format": "pytorch", "precision": "int8", "file": pt2["file"],
                 "runtime": "pytorch (PT2E fake-quant reference)"}
        rows.append(_row(task, entry, outputs, batches, reference, fp32_metrics, teacher_targets, recipe, True))

    for entry in manifest["variants"]:
        entry = {**entry, "task": task.id}
        path = check_file(task_dir, entry)
        started = time.perf_counter()
        if entry["format"] == "coreml":
            inspection = export_coreml.inspect_mlpackage(path)
            simulated_model = export_coreml.simulate(student, entry["precision"], recipe.coreml_weight_threshold)
            outputs = run_all(simulated_model, batches)
            row = _row(task, entry, outputs, batches, reference, fp32_metrics, teacher_targets, recipe, True)
            row["runtime"] = "Core ML compression simulated in torch (fp16)"
            row["inspection"] = inspection
            row["program_checks"] = coreml_program_checks(task, inspection, resolution)
            if export_coreml.can_predict():
                runner = open_runner(path)
                real = _row(task, entry, run_all(runner, batches), batches, reference, fp32_metrics,
                            teacher_targets, recipe, False)
                row["coreml_predict"] = {k: real[k] for k in ("vs_fp32", "vs_gt", "drop", "passed")}
            else:
                row["coreml_predict"] = "skipped: Core ML prediction needs macOS"
            row["passed"] = row["passed"] and all(row["program_checks"].values())
        else:
            runner = open_runner(path, threads=2)
            outputs = run_all(runner, batches)
            row = _row(task, entry, outputs, batches, reference, fp32_metrics, teacher_targets, recipe, False)
        row["seconds"] = round(time.perf_counter() - started, 2)
        rows.append(row)
        log(_summary(task, row))

    result = {
        "task": task.id,
        "resolution": resolution,
        "test_samples": sum(len(b) for b in batches),
        "primary_metric": task.primary_metric,
        "higher_is_better": task.higher_is_better,
        "tolerances": vars(recipe.tolerances),
        "student_fp32": fp32_metrics,
        "source": manifest.get("source"),
        "rows": rows,
        "all_passed": all(r.get("passed", True) for r in rows),
    }
    write_json_atomic(task_dir / VERIFY_JSON, result)
    return result


def coreml_program_checks(task: TaskSpec, inspection: dict[str, Any], resolution: int) -> dict[str, bool]:
    from portrait_edge.edge.export_coreml import INPUT_NAME, OUTPUT_NAME

    inputs, outputs = inspection["inputs"], inspection["outputs"]
    meta = inspection["metadata"]
    return {
        "is_ml_program": inspection["model_type"] == "mlProgram",
        "input_name_and_shape": len(inputs) == 1 and inputs[0]["name"] == INPUT_NAME
        and inputs[0]["shape"] == [1, task.in_channels, resolution, resolution],
        "output_name_and_shape": len(outputs) == 1 and outputs[0]["name"] == OUTPUT_NAME
        and outputs[0]["shape"] in ([1, task.out_channels, resolution, resolution], []),
        "metadata": bool(meta.get("author")) and bool(meta.get("license")) and bool(meta.get("version"))
        and meta.get("task") == task.id,
        "descriptions": bool(inputs and inputs[0]["description"]) and bool(outputs and outputs[0]["description"]),
    }


def _summary(task: TaskSpec, row: dict[str, Any]) -> str:
    agree = row["vs_fp32"]
    parts = [f"{row['variant']:<18}", "PASS" if row["passed"] else "FAIL"]
    if "label_agreement" in agree:
        parts.append(f"labels={agree['label_agreement'] * 100:.3f}%")
    parts.append(f"psnr={agree['psnr_db']:.1f}dB")
    parts.append(f"{task.primary_metric}={row['vs_gt'][task.primary_metric]:.4f} (drop {row['drop']:+.4f})")
    if row.get("simulated"):
        parts.append("[simulated]")
    return "  ".join(parts)
