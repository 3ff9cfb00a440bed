"""`portrait-edge quantize`: int8 PT2E quantization of a student, measured in PyTorch before any export."""

from __future__ import annotations

import argparse

from portrait_edge.edge.cli_common import add_task_arguments, job_from_args, quiet_libraries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Calibrates static int8 (per-channel weights) on the task's synthetic data, compares the task "
                     "metric with the fp32 student on the test split and, when the drop is over the recipe's "
                     "tolerance (or --qat always), fine-tunes with quantization-aware training. Writes "
                     "<build-dir>/<task>/<task>_student_int8.pt2 (torch.export program) and quantize.json.\n"
                     "Example: portrait-edge quantize --task parsing")
    add_task_arguments(parser)
    parser.add_argument("--qat", choices=["never", "over_tolerance", "always"],
                        help="when to run quantization-aware fine-tuning (default: the recipe's qat.when)")


def run(args: argparse.Namespace) -> int:
    quiet_libraries()
    from portrait_edge.edge.artifacts import write_json_atomic
    from portrait_edge.edge.export import quantize_student, stem
    from portrait_edge.edge.quantize import save_quantized

    job = job_from_args(args)
    recipe, data = job.recipe, job.task_data()
    student = job.student().model
    calibration = data.calibration_inputs(recipe.calibration.samples, recipe.calibration.batch, recipe.calibration.seed)
    test = data.test_batches(recipe.test.samples, recipe.test.batch)
    quantized, summary = quantize_student(job.task, recipe, student, data, calibration, test, args.qat)
    job.dir.mkdir(parents=True, exist_ok=True)
    path = job.dir / f"{stem(job.task.id)}_int8.pt2"
    save_quantized(quantized, calibration[0][:1], path)
    write_json_atomic(job.dir / "quantize.json", {"task": job.task.id, "file": path.name, "source": job.source(), **summary})
    print(f"wrote {path} ({summary['chosen'].upper()}); summary in {job.dir / 'quantize.json'}")
    return 0
