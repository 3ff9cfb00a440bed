"""Arguments shared by the edge subcommands (quantize, export, verify, bench, report, bundle)."""

from __future__ import annotations

import argparse
import os
import warnings

from portrait_edge.edge.artifacts import DEFAULT_BUILD_DIR


def add_task_arguments(parser: argparse.ArgumentParser, teacher: bool = False) -> None:
    parser.add_argument("--task", required=True, help="task id (see `portrait-edge tasks`), e.g. parsing")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="student checkpoint (.safetensors with its .json card); default: the shipped "
                             "portrait_edge/weights/<task>_student.safetensors")
    if teacher:
        parser.add_argument("--teacher-checkpoint", metavar="PATH",
                            help="teacher checkpoint for the 'vs teacher' columns; default: the shipped teacher")
        parser.add_argument("--no-teacher", action="store_true", help="leave the teacher out")
    add_build_arguments(parser)
    parser.add_argument("--recipe", metavar="YAML", help="export recipe; default: convert/<task>.yaml")
    parser.add_argument("--resolution", type=int, metavar="PX", help="override the recipe's square input size (multiple of 32)")


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--build-dir", default=str(DEFAULT_BUILD_DIR), metavar="DIR",
                        help=f"where converted files and results live, one folder per task (default: {DEFAULT_BUILD_DIR})")


def add_bundle_dir_arguments(parser: argparse.ArgumentParser) -> None:
    from portrait_edge.report.bundle import ANDROID_DIR, IOS_DIR

    parser.add_argument("--android-dir", default=str(ANDROID_DIR), metavar="DIR",
                        help=f"the Android bundle (default: {ANDROID_DIR})")
    parser.add_argument("--ios-dir", default=str(IOS_DIR), metavar="DIR", help=f"the iOS bundle (default: {IOS_DIR})")


def quiet_libraries() -> None:
    """The converters print progress bars and version warnings; keep the CLI output readable."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TQDM_DISABLE", "1")  # coremltools' and ai_edge_quantizer's progress bars ...
    try:  # ... and for a tqdm imported before this ran (the env var is read at import)
        from functools import partialmethod

        import tqdm

        tqdm.tqdm.__init__ = partialmethod(tqdm.tqdm.__init__, disable=True)
    except ImportError:
        pass
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import logging

    for name in ("coremltools", "torch._export", "torch.export", "executorch", "absl", "torchao"):
        logging.getLogger(name).setLevel(logging.ERROR)


def job_from_args(args: argparse.Namespace):
    from portrait_edge.edge.pipeline import make_job

    return make_job(args.task, args.build_dir, getattr(args, "checkpoint", None),
                    getattr(args, "teacher_checkpoint", None), getattr(args, "recipe", None),
                    use_teacher=not getattr(args, "no_teacher", False), resolution=getattr(args, "resolution", None))
