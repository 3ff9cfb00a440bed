"""The edge stages of one task, from checkpoints: export -> verify -> bench (each skipped when its
result is newer than its inputs, unless `rebuild`). Used by the CLI commands and `report --all`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from portrait_edge.edge.artifacts import (BENCH_JSON, DEFAULT_BUILD_DIR, EXPORT_JSON, VERIFY_JSON, read_json, target_name,
                                          task_dir)
from portrait_edge.edge.models import LoadedModel, has_shipped, load_role
from portrait_edge.edge.recipe import EdgeRecipe, load_recipe
from portrait_edge.edge.taskdata import TaskData
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.tasks import get_task
from portrait_edge.tasks.base import TaskSpec


@dataclass
class TaskJob:
    task: TaskSpec
    recipe: EdgeRecipe
    build_dir: Path = DEFAULT_BUILD_DIR
    checkpoint: Path | None = None          # the student; default: the shipped weights
    teacher_checkpoint: Path | None = None  # default: the shipped teacher, when there is one
    use_teacher: bool = True
    data: TaskData | None = None
    log: Callable[[str], None] = print
    target: str = ""  # build folder name: the task id, or <task>_<px> at one of the recipe's more_resolutions
    _student: LoadedModel | None = field(default=None, repr=False)
    _teacher: LoadedModel | None = field(default=None, repr=False)

    @property
    def dir(self) -> Path:
        return task_dir(self.build_dir, self.target or self.task.id)

    def student(self) -> LoadedModel:
        if self._student is None:
            self._student = load_role(self.task.id, "student", self.checkpoint)
        return self._student

    def teacher(self) -> LoadedModel | None:
        if not self.use_teacher:
            return None
        if self._teacher is None:
            if self.teacher_checkpoint is None and not has_shipped(self.task.id, "teacher"):
                self.log(f"  no shipped teacher for {self.task.id}: teacher rows are left out")
                self.use_teacher = False
                return None
            self._teacher = load_role(self.task.id, "teacher", self.teacher_checkpoint)
        return self._teacher

    def task_data(self) -> TaskData:
        if self.data is None:
            self.data = TaskData(self.task, self.recipe.resolution)
        return self.data

    def source(self) -> dict:
        """The student checkpoint the files come from; recorded in manifests and bundled metadata."""
        from portrait_edge.edge.artifacts import portable_path, sha256_of

        student = self.student()
        path = Path(student.source)
        return {"path": portable_path(path), "sha256": sha256_of(path) if path.is_file() else None,
                "arch": student.card.get("arch"), "arch_kwargs": student.card.get("arch_kwargs"),
                "card_metrics": student.card.get("metrics")}

    # ---- stages --------------------------------------------------------------------------------
    def export_is_current(self) -> bool:
        manifest_path = self.dir / EXPORT_JSON
        if not manifest_path.is_file():
            return False
        manifest = read_json(manifest_path, "export manifest")
        if (manifest.get("source") or {}).get("sha256") != self.source()["sha256"]:
            return False
        if manifest.get("recipe_fingerprint") != self.recipe.export_fingerprint():
            return False
        wanted = {f"{f}_{p}" for f, p in self.recipe.variants()}
        have = {v["id"] for v in manifest["variants"] if (self.dir / v["file"]).exists()}
        return wanted <= have and manifest.get("resolution") == self.recipe.resolution

    def export(self, formats: tuple[str, ...] | None = None, qat: str | None = None, rebuild: bool = True) -> dict:
        from portrait_edge.edge.export import export_task

        self.student()  # a missing or bad checkpoint fails before any work
        if not rebuild and formats is None and qat is None and self.export_is_current():
            self.log(f"{self.dir.name}: export is current ({self.dir / EXPORT_JSON})")
            return read_json(self.dir / EXPORT_JSON)
        self.log(f"{self.dir.name}: exporting to {self.dir}")
        return export_task(self.task, self.recipe, self.student().model, self.dir, self.task_data(), self.source(),
                           formats=formats, qat=qat, log=self.log, target=self.dir.name)

    def _newer(self, result: str) -> bool:
        path, manifest = self.dir / result, self.dir / EXPORT_JSON
        return path.is_file() and manifest.is_file() and path.stat().st_mtime >= manifest.stat().st_mtime

    def verify(self, samples: int | None = None, rebuild: bool = True) -> dict:
        from portrait_edge.edge.parity import verify_task

        self.student()
        if not rebuild and self._newer(VERIFY_JSON):
            self.log(f"{self.dir.name}: verify is current")
            return read_json(self.dir / VERIFY_JSON)
        count = samples or self.recipe.test.samples
        self.log(f"{self.dir.name}: verifying on {count} test samples")
        batches = self.task_data().test_batches(count, self.recipe.test.batch)
        teacher = self.teacher()
        return verify_task(self.task, self.recipe, self.dir, self.student().model, batches,
                           teacher.model if teacher else None, log=self.log)

    def bench(self, threads: tuple[int, ...] | None = None, memory: bool = True, rebuild: bool = True) -> dict:
        from portrait_edge.edge.bench import bench_task

        self.student()
        if not rebuild and self._newer(BENCH_JSON):
            self.log(f"{self.dir.name}: bench is current")
            return read_json(self.dir / BENCH_JSON)
        self.log(f"{self.dir.name}: benchmarking")
        return bench_task(self.task, self.recipe, self.dir, self.student(), self.teacher(), threads, memory, self.log)


def make_job(task_id: str, build_dir: Path | str | None = None, checkpoint: str | None = None,
             teacher_checkpoint: str | None = None, recipe_path: str | None = None, use_teacher: bool = True,
             resolution: int | None = None, log: Callable[[str], None] = print) -> TaskJob:
    """The edge stages of a task at the recipe's resolution, or at `resolution` (then built in its own
    folder, <task>_<px>, so the files of every size sit side by side)."""
    task = get_task(task_id)
    recipe = load_recipe(task_id, recipe_path)
    target = target_name(task_id, resolution, recipe.resolution)
    if resolution is not None:
        if resolution % 32:
            raise PortraitEdgeError(f"--resolution must be a multiple of 32, got {resolution}")
        recipe = recipe.with_overrides(resolution=resolution)
    return TaskJob(task, recipe, Path(build_dir) if build_dir else DEFAULT_BUILD_DIR,
                   Path(checkpoint) if checkpoint else None, Path(teacher_checkpoint) if teacher_checkpoint else None,
                   use_teacher, log=log, target=target)


def built_task_dirs(build_dir: Path | str) -> list[Path]:
    """Target folders in a build folder that hold an export.json, in registry order, each task's main
    size first, then its other sizes (<task>_<px>) from small to large."""
    from portrait_edge.tasks import task_ids

    build_dir = Path(build_dir)
    found = []
    for task_id in task_ids():
        suffixes = (p.name.removeprefix(f"{task_id}_") for p in build_dir.glob(f"{task_id}_*"))
        sizes = sorted(int(suffix) for suffix in suffixes if suffix.isdigit())
        for name in (task_id, *(f"{task_id}_{size}" for size in sizes)):
            if (build_dir / name / EXPORT_JSON).is_file():
                found.append(build_dir / name)
    return found
