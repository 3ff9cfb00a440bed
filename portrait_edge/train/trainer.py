"""The one training loop of every task and role: teacher training, student from scratch, distillation.

    train(recipe, out_dir) -> TrainResult

Per step: draw this rank's share of the global batch (a pure function of the step, see data.py), run
the student (and the frozen teacher when distilling) under autocast on CUDA, add the weighted losses
(ground truth via TaskSpec.loss, output and feature distillation, extra terms), backward (GradScaler
for fp16), clip, step with the learning rate of this step (warm-up + cosine, a pure function of the
step). Every `checkpoint_every` steps and at the end: BatchNorm statistics are averaged across ranks
and rank 0 writes out_dir/last.{safetensors,json,resume.pt}. The finished model is also written as
out_dir/final.{safetensors,json}, with validation metrics in its card.

Resume (resume=True): continues from out_dir/last.resume.pt at the saved step with the same schedule
and data order, so the result equals an uninterrupted run (bit-exact on CPU with the same thread
count; on CUDA up to non-deterministic kernels).
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from portrait_edge.errors import NotAvailableError, PortraitEdgeError
from portrait_edge.nn import create_model
from portrait_edge.nn.stats import count_macs, count_params
from portrait_edge.tasks import get_task
from portrait_edge.tasks.base import TaskSpec
from portrait_edge.train import ddp
from portrait_edge.train.checkpoint import (atomic_write, load_checkpoint, load_model, resume_path, save_checkpoint, sha256_file,
                                            weights_path)
from portrait_edge.train.data import VALIDATION_SEED_BASE, Prefetching, engine_fingerprint, make_source
from portrait_edge.train.distill import (StudentWithAdapters, build_adapters, extra_terms_for, feature_distillation,
                                         output_distillation)
from portrait_edge.train.evaluate import evaluate, synthetic_batches
from portrait_edge.train.recipe import Recipe
from portrait_edge.train.runlog import RunLog


@dataclass
class TrainResult:
    checkpoint: Path  # out_dir/final.safetensors
    steps: int
    seconds: float
    metrics: dict[str, float]


def learning_rate(recipe: Recipe, step: int) -> float:
    """Linear warm-up to optimizer.lr, then cosine down to lr * min_lr_ratio (or constant)."""
    opt = recipe.optimizer
    if opt.warmup_steps > 0 and step < opt.warmup_steps:
        return opt.lr * (step + 1) / opt.warmup_steps
    if opt.schedule == "constant":
        return opt.lr
    span = max(1, recipe.steps - opt.warmup_steps)
    progress = min(1.0, (step - opt.warmup_steps) / span)
    return opt.lr * (opt.min_lr_ratio + (1 - opt.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def model_config(task: TaskSpec, recipe: Recipe) -> tuple[str, dict[str, Any]]:
    """The architecture and kwargs a recipe trains: the task's ModelConfig for the role, with the
    recipe's model.kwargs on top (or only those when the recipe names another architecture)."""
    default = task.teacher if recipe.role == "teacher" else task.student
    arch = recipe.model.arch or default.arch
    base = dict(default.kwargs) if arch == default.arch else {}
    return arch, {**base, **recipe.model.kwargs}


def autocast_dtype(recipe: Recipe, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or recipe.amp == "off":
        return None
    if recipe.amp == "fp16":
        return torch.float16
    if recipe.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _optimizer(recipe: Recipe, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
    opt = recipe.optimizer
    if opt.name == "sgd":
        return torch.optim.SGD(parameters, lr=opt.lr, momentum=opt.betas[0], weight_decay=opt.weight_decay)
    cls = torch.optim.AdamW if opt.name == "adamw" else torch.optim.Adam
    return cls(parameters, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)


def _load_teacher(recipe: Recipe, task: TaskSpec, device: torch.device) -> nn.Module:
    teacher, card = load_model(recipe.distill.teacher, device)
    if card.get("task") != task.id:
        raise PortraitEdgeError(f"teacher {recipe.distill.teacher} is for task {card.get('task')!r}, "
                                f"the recipe trains {task.id!r}")
    if card.get("role") != "teacher":
        print(f"warning: distill.teacher {recipe.distill.teacher} is a {card.get('role', 'role-less')} checkpoint, "
              f"not a teacher: the student learns from it as if it were one", file=sys.stderr)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def _load_init(model: nn.Module, path: str, task: TaskSpec, arch: str, arch_kwargs: dict[str, Any]) -> None:
    """Starts `model` from the weights of checkpoint `path`: same task and arch; arch kwargs may differ
    only in ways that leave every tensor's name and shape alone (e.g. a student's upsampling mode)."""
    state, card = load_checkpoint(path)
    found = (card.get("task"), card.get("arch"), card.get("arch_kwargs") or {})
    if found[:2] != (task.id, arch):
        raise PortraitEdgeError(f"model.init {path} holds {found[1]!r} {found[2]} for task {found[0]!r}; "
                                f"the recipe builds {arch!r} {arch_kwargs} for {task.id!r}")
    stages = (found[2].get("stage", "full"), arch_kwargs.get("stage", "full"))
    if hasattr(model, "load_stage") and stages[0] != stages[1]:
        try:  # coarse to fine (pix2pixHD): the full generator starts from the global stage's weights
            loaded = model.load_stage(state)
        except ValueError as error:
            raise PortraitEdgeError(f"model.init {path}: {error}") from None
        print(f"model.init: {loaded} tensors of the {stages[0]} stage from {path}", file=sys.stderr)
        return
    reference = model.state_dict()
    if set(state) != set(reference) or any(state[k].shape != reference[k].shape for k in state):
        raise PortraitEdgeError(f"model.init {path}: its tensors do not match the model's "
                                f"({found[1]!r} {found[2]} vs {arch_kwargs})")
    model.load_state_dict({name: tensor.to(reference[name].dtype) for name, tensor in state.items()})


def _changed_fields(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of recipe fields that differ (name and source path do not count)."""
    changed = []
    for key in sorted(set(old) | set(new)):
        if key in ("name", "source_path"):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_fields(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(prefix + key)
    return changed


class Trainer:
    def __init__(self, recipe: Recipe, out_dir: str | Path, resume: bool = False, device: str = "auto",
                 show_progress: bool = True) -> None:
        self.recipe = recipe
        self.out_dir = Path(out_dir)
        self.context = ddp.init_distributed(device)
        self.device = self.context.device
        self.show_progress = show_progress and self.context.is_main
        if recipe.threads > 0:
            torch.set_num_threads(recipe.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.task = get_task(recipe.task)
        for method in ("loss", "metric_accumulator"):
            if recipe.loss.gt and getattr(type(self.task), method) is getattr(TaskSpec, method):
                raise NotAvailableError(f"task {self.task.id!r} does not define TaskSpec.{method} yet, so it cannot "
                                        "be trained")
        if recipe.batch_size % self.context.world_size:
            raise PortraitEdgeError(f"batch_size {recipe.batch_size} is not divisible by the "
                                    f"{self.context.world_size} ranks")

        torch.manual_seed(recipe.seed)  # same initial weights on every rank
        self.arch, self.arch_kwargs = model_config(self.task, recipe)
        try:
            self.model = create_model(self.arch, in_channels=self.task.in_channels,
                                      out_channels=self.task.out_channels, **self.arch_kwargs).to(self.device)
        except (TypeError, ValueError) as error:
            raise PortraitEdgeError(f"bad recipe: cannot build {self.arch!r} with {self.arch_kwargs}: {error}") from None

        multiple = getattr(self.model, "size_multiple", 1)
        for name, size in (("resolution", recipe.resolution), ("eval.size", recipe.eval.size),
                           *((f"crop of data entry {i}", d.crop) for i, d in enumerate(recipe.data.mix or [recipe.data]))):
            if size and size % multiple:
                raise PortraitEdgeError(f"bad recipe: {name} {size} is not a multiple of {multiple}, which "
                                        f"{self.arch} needs (it halves the image {multiple.bit_length() - 1} times)")
        if recipe.model.init:
            _load_init(self.model, recipe.model.init, self.task, self.arch, self.arch_kwargs)
        # the checkpoints this run starts from, hashed once when loaded (every card records them)
        backbone = recipe.loss.perceptual_backbone if recipe.loss.perceptual and recipe.loss.perceptual_backbone != "vgg19" else None
        self.lineage = {role: {"path": str(path), "sha256": sha256_file(weights_path(path))}
                        for role, path in (("init", recipe.model.init), ("teacher", recipe.distill.teacher),
                                           ("perceptual_backbone", backbone)) if path}
        self.memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.teacher = _load_teacher(recipe, self.task, self.device) if recipe.distilling else None
        if self.teacher is not None:
            self.teacher = self.teacher.to(memory_format=self.memory_format)
        adapters, pairs = None, []
        if self.teacher is not None and recipe.loss.feature_distill > 0:
            adapters, pairs = build_adapters(self.model, self.teacher, self.task.in_channels,
                                             self._probe_size(), recipe.distill.feature_taps, self.device)
        self.pairs = pairs
        if adapters is not None:
            adapters = adapters.to(memory_format=self.memory_format)
        self.bundle = StudentWithAdapters(self.model, adapters, pairs)
        self.wrapped: nn.Module = self.bundle
        if self.context.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # depthwise-conv grads come in a different memory layout than DDP's buckets: only slower
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            self.wrapped = DistributedDataParallel(self.bundle, device_ids=ids)
        self.extra_terms = extra_terms_for(self.task, recipe, self.teacher)
        for term in self.extra_terms:
            if hasattr(term, "to"):
                term.to(self.device)
            if hasattr(term, "bind"):  # terms that read the trained model's own parts (maskedit's local auto-encoders)
                term.bind(self.model)
        parameters = list(self.bundle.parameters())
        for term in self.extra_terms:
            if hasattr(term, "parameters"):
                parameters += list(term.parameters())
        self.optimizer = _optimizer(recipe, parameters)
        self.amp_dtype = autocast_dtype(recipe, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        self.step = 0
        self.elapsed = 0.0
        if resume:
            self._load_resume_state()
        self.log = RunLog(self.out_dir, enabled=self.context.is_main, resume_step=self.step if resume else None)
        # rank 0 renders (and caches) a synthetic pool first; the other ranks then read the cache
        if self.context.is_main:
            self.source = make_source(self.task, recipe, show_progress=self.show_progress, device=self.device)
        ddp.barrier(self.context)
        if not self.context.is_main:
            self.source = make_source(self.task, recipe, show_progress=False, device=self.device)

    def _probe_size(self) -> int:
        multiple = max(getattr(self.model, "size_multiple", 32), getattr(self.teacher, "size_multiple", 32))
        return max(multiple, (self.recipe.resolution // multiple) * multiple)

    def _data_card(self) -> dict[str, Any]:
        """What the model was trained on: each source (a mix lists every entry with its weight), and for
        a real-portrait pool its sources with their licences (pool.json), so model cards can say so.
        Worked out once per run (pool.json is read once), then `samples_seen` at each save."""
        if not hasattr(self, "_data_sources"):
            self._data_sources = self._describe_data()
        return {**self._data_sources, "samples_seen": self.step * self.recipe.batch_size}

    def _describe_data(self) -> dict[str, Any]:
        recipe = self.recipe

        def entry(data, weight: float | None = None) -> dict[str, Any]:
            out = {"source": data.source, "reader": data.reader, "root": data.root, "data_seed": data.seed,
                   "pool": data.pool, "crop": data.crop, "pool_file": data.pool_file,
                   "engine_fingerprint": self._engine() if data.source == "synthetic" else None}
            if weight is not None:
                out["weight"] = weight
            if data.augment:
                out["augment"] = list(data.augment)
            if data.reader_options:
                out["reader_options"] = dict(data.reader_options)
            if data.reader == "pool" and data.root:
                summary_path = Path(data.root) / "pool.json"
                if summary_path.is_file():
                    summary = json.loads(summary_path.read_text(encoding="utf-8"))
                    task = (data.reader_options or {}).get("task")
                    out["pool_sources"] = [{"name": s["name"], "licence": s["licence"], "kept": s["kept"]}
                                           for s in summary["sources"] if task is None or task in s["tasks"]]
            return out

        return {"mix": [entry(m, m.weight) for m in recipe.data.mix]} if recipe.data.mix else entry(recipe.data)

    def _engine(self) -> str:
        """The fingerprint of the engine that rendered the training data (a pinned pool may be older)."""
        if self.recipe.data.pool or self.recipe.data.mix:
            return getattr(self.source, "engine", None) or "unknown (pool rendered before fingerprints were recorded)"
        return engine_fingerprint()

    def _macs(self) -> int:
        if not hasattr(self, "_macs_cache"):
            size = self.task.resolution
            self._macs_cache = count_macs(self.model, (1, self.task.in_channels, size, size))
        return self._macs_cache

    # ---- checkpoints -------------------------------------------------------------------------
    def _card(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        recipe, task = self.recipe, self.task
        card: dict[str, Any] = {
            "task": task.id,
            "role": recipe.variant,
            "arch": self.arch,
            "arch_kwargs": self.arch_kwargs,
            "in_channels": task.in_channels,
            "out_channels": task.out_channels,
            "trained_resolution": recipe.resolution,
            "params": count_params(self.model),
            f"macs_at_{task.resolution}": self._macs(),
            "steps": self.step,
            "batch_size": recipe.batch_size,
            "world_size": self.context.world_size,
            "seed": recipe.seed,
            "data": self._data_card(),
            "train_seconds": round(self.elapsed, 1),
            "device": str(self.device),
            "recipe_path": recipe.source_path,
            "recipe": recipe.to_dict(),
            "metrics": metrics or {},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        card.update(self.lineage)
        return card

    def _save(self, name: str, metrics: dict[str, Any] | None = None, with_resume: bool = False) -> Path:
        """Collective: every rank calls it (buffers are averaged); rank 0 writes."""
        ddp.average_buffers(self.bundle, self.context)
        target = self.out_dir / f"{name}.safetensors"
        if self.context.is_main:
            if with_resume:
                # the resume file first: the .safetensors of `last` is then never ahead of it
                state = {
                    "step": self.step,
                    "elapsed": self.elapsed,
                    "bundle": self.bundle.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scaler": self.scaler.state_dict(),
                    "extra_terms": [t.state_dict() for t in self.extra_terms if hasattr(t, "state_dict")],
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                    "recipe": self.recipe.to_dict(),
                    "world_size": self.context.world_size,
                }
                atomic_write(resume_path(target), lambda temp: torch.save(state, temp))
            save_checkpoint(target, self.model, self._card(metrics))
            for term in self.extra_terms:
                if hasattr(term, "save_companion"):  # e.g. a GAN's discriminator, for students to train against
                    term.save_companion(target)
        ddp.barrier(self.context)
        return target

    def _load_resume_state(self) -> None:
        path = resume_path(self.out_dir / "last.safetensors")
        if not path.is_file():
            raise PortraitEdgeError(f"--resume: no resume state in {self.out_dir} (expected {path.name})")
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            state["bundle"], state["optimizer"], state["scaler"], state["step"]
        except Exception as error:  # unpickling garbage raises almost anything
            raise PortraitEdgeError(f"--resume: {path} is corrupt or not a resume file "
                                    f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'unreadable'})") from None
        done = int(state["step"])
        if done > self.recipe.steps:
            raise PortraitEdgeError(f"--resume: the run in {self.out_dir} is at step {done}, past steps="
                                    f"{self.recipe.steps}: raise steps to continue it, or start a new run")
        try:
            self.bundle.load_state_dict(state["bundle"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, KeyError, ValueError) as error:
            raise PortraitEdgeError(f"--resume: {path} does not fit this recipe's model (was the width or "
                                    f"architecture changed?): {_first_mismatch(error)}") from None
        for term, term_state in zip([t for t in self.extra_terms if hasattr(t, "load_state_dict")],
                                    state.get("extra_terms", [])):
            term.load_state_dict(term_state)
        changed = _changed_fields(state.get("recipe", {}), self.recipe.to_dict())
        if changed and self.context.is_main:
            print(f"warning: resuming {self.out_dir} with a recipe that differs from the run's in "
                  f"{', '.join(changed)}: the result will not equal an uninterrupted run", file=sys.stderr)
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step = int(state["step"])
        self.elapsed = float(state.get("elapsed", 0.0))

    # ---- one step ------------------------------------------------------------------------------
    def _losses(self, batch) -> dict[str, torch.Tensor]:
        recipe = self.recipe
        output, adapted = self.wrapped(batch.inputs)
        terms: dict[str, torch.Tensor] = {}
        if recipe.loss.gt:
            for name, value in self.task.loss(output, batch).items():
                terms[name] = recipe.loss.gt * value
        teacher_output = None
        if self.teacher is not None:
            with torch.no_grad():
                if self.pairs:
                    teacher_output, teacher_taps = self.teacher.forward_features(batch.inputs)
                else:
                    teacher_output, teacher_taps = self.teacher(batch.inputs), []
            if recipe.loss.output_distill:
                kind = recipe.loss.output_distill_kind
                terms["kd_output"] = recipe.loss.output_distill * output_distillation(
                    self.task.output_distillation if kind == "auto" else kind, output, teacher_output,
                    recipe.loss.temperature)
            if self.pairs:
                terms["kd_feature"] = recipe.loss.feature_distill * feature_distillation(
                    adapted, [teacher_taps[j] for _, j in self.pairs])
        for term in self.extra_terms:
            terms.update(term.losses(output, teacher_output, batch))
        if not terms:
            raise PortraitEdgeError("the recipe's loss weights are all zero: nothing to train")
        return terms

    def _train_step(self, batch) -> dict[str, float]:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.recipe, self.step)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            terms = self._losses(batch)
            loss = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.recipe.optimizer.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.bundle.parameters(), self.recipe.optimizer.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        for term in self.extra_terms:
            if hasattr(term, "after_step"):
                term.after_step(self.step)
        values = {"loss": loss.detach().float()}
        values.update({name: value.detach().float() for name, value in terms.items()})
        return values

    def _validate(self) -> dict[str, float]:
        """Validation metrics on fixed seeds (never trained on), on rank 0; other ranks wait."""
        metrics: dict[str, float] = {}
        if self.context.is_main and self.recipe.eval.n > 0:
            size = self.recipe.eval.size or self.task.resolution
            metrics = evaluate(self.model, self.task,
                               synthetic_batches(self.task, self.recipe.eval.n, size, self.recipe.eval.batch_size,
                                                 VALIDATION_SEED_BASE),
                               self.device, self.amp_dtype)
            metrics = {"split": "synthetic-validation", "size": size, **metrics}
        ddp.barrier(self.context)
        return metrics

    # ---- the loop ------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        recipe = self.recipe
        bar = tqdm(total=recipe.steps, initial=self.step, desc=f"{recipe.name or recipe.task} {recipe.variant}",
                   unit="step", disable=not self.show_progress, dynamic_ncols=True)
        self.model.train()
        prefetching = Prefetching(self.source, recipe.steps) if recipe.prefetch else None
        try:
            self._loop(prefetching or self.source, bar)
        finally:
            if prefetching is not None:
                prefetching.close()
        bar.close()
        self._save("last", with_resume=True)
        metrics = self._validate()
        if metrics:
            self.log.write("eval", {"step": self.step, **{k: v for k, v in metrics.items()
                                                           if isinstance(v, float) and not k.startswith("iou_")}})
        final = self._save("final", metrics={metrics["split"]: metrics} if metrics else {})
        ddp.shutdown(self.context)
        return TrainResult(final, self.step, self.elapsed, metrics)

    def _loop(self, batches, bar) -> None:
        recipe = self.recipe
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps = time.perf_counter(), 0
        while self.step < recipe.steps:
            t0 = time.perf_counter()
            batch = batches.batch(self.step, self.context.rank, self.context.world_size, recipe.batch_size)
            batch = batch.to(self.device)
            batch.inputs = batch.inputs.contiguous(memory_format=self.memory_format)
            values = self._train_step(batch)
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value
            window_steps += 1
            self.step += 1
            self.elapsed += time.perf_counter() - t0
            if self.step % recipe.log_every == 0 or self.step == recipe.steps:
                names = sorted(sums)
                means = ddp.all_reduce_mean(torch.stack([sums[n] for n in names]) / window_steps, self.context)
                rate = window_steps * recipe.batch_size / max(time.perf_counter() - window_start, 1e-9)
                row = {"step": self.step, "lr": learning_rate(recipe, self.step - 1),
                       **{n: float(v) for n, v in zip(names, means)}, "samples_per_s": rate,
                       "elapsed_s": self.elapsed}
                self.log.write("train", row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", samples_s=f"{rate:.1f}")
                sums, window_start, window_steps = {}, time.perf_counter(), 0
            bar.update(1)
            if recipe.eval.every and self.step % recipe.eval.every == 0 and self.step < recipe.steps:
                ddp.average_buffers(self.bundle, self.context)
                metrics = self._validate()
                if metrics:
                    self.log.write("eval", {"step": self.step, **{k: v for k, v in metrics.items()
                                                                   if isinstance(v, float) and not k.startswith("iou_")}})
            if self.step % recipe.checkpoint_every == 0 and self.step < recipe.steps:
                self._save("last", with_resume=True)


def _first_mismatch(error: Exception) -> str:
    """load_state_dict's many-line message -> its first concrete line (a size mismatch or a missing key)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if line.startswith(("size mismatch", "Missing key", "Unexpected key"))]
    text = (useful or lines or [type(error).__name__])[0]
    return text if len(text) < 300 else text[:297] + "..."


def train(recipe: Recipe, out_dir: str | Path, resume: bool = False, device: str = "auto",
          show_progress: bool = True) -> TrainResult:
    return Trainer(recipe, out_dir, resume=resume, device=device, show_progress=show_progress).run()
