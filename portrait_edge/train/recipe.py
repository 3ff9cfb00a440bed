"""Training recipes: YAML files in training/<task>/ describing one run (data, not code).

A recipe names the task, the role (teacher | student), optionally the architecture (default: the
task's ModelConfig for the role), the data, resolution, steps, batch size, optimiser and schedule,
loss weights, the teacher checkpoint to distil from, and a scale profile (cpu-quick | gpu-full).
Every task plugs in through its TaskSpec; there is no per-task training script. See
training/README.md for every field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from portrait_edge.errors import PortraitEdgeError

ROLES = ("teacher", "student")
PROFILES = ("cpu-quick", "gpu-full", "test")
AMP_MODES = ("auto", "off", "bf16", "fp16")
DATA_SOURCES = ("synthetic", "reader")
# flip: horizontal, through the task's hflip (parsing swaps left/right classes); brighten_darken: gain
# 0.6..1.4 (seed 001); colour: per-channel gain and gamma; degrade: blur, noise, JPEG-like blockiness off.
AUGMENTATIONS = ("flip", "brighten_darken", "colour", "degrade")


@dataclass
class ModelSection:
    arch: str | None = None  # None: the TaskSpec's ModelConfig for the role
    kwargs: dict[str, Any] = field(default_factory=dict)  # merged over the ModelConfig's kwargs
    init: str | None = None  # a checkpoint of the same arch to start from (fine-tuning); None: random init


@dataclass
class DataSection:
    source: str = "synthetic"  # synthetic | reader
    reader: str | None = None  # a name in portrait_edge.data.readers when source = reader
    root: str | None = None  # the dataset folder for a reader
    seed: int = 0  # data seed 0..9: selects which synthetic samples are drawn (see train/data.py)
    pool: int = 0  # 0: a fresh synthetic sample for every draw; N: render N once and cycle (shuffled)
    crop: int = 0  # 0: whole samples; N: a random N x N window of each sample (train at the full-size
    #                scale for the compute of a smaller image)
    cache_dir: str | None = "runs/cache"  # where a rendered pool is kept between runs (None: not kept)
    pool_file: str | None = None  # pin a pool: load these exact samples (rendered and saved here when missing)
    reader_options: dict[str, Any] = field(default_factory=dict)  # passed to the reader (pool: split, labels)
    augment: list[str] = field(default_factory=list)  # any of AUGMENTATIONS, applied per sample
    weight: float = 1.0  # this source's share of each batch, when it is one entry of `mix`
    mix: list[Any] = field(default_factory=list)  # several sources mixed by weight: each a data section


@dataclass
class OptimizerSection:
    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"  # cosine | constant (both after a linear warm-up)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.02  # the cosine ends at lr * min_lr_ratio
    grad_clip: float = 1.0  # max global grad norm; 0 disables


@dataclass
class LossSection:
    gt: float = 1.0  # weight of the task's ground-truth losses (TaskSpec.loss)
    output_distill: float = 0.0  # KL (label maps) or L1 (images, normals) to the teacher's output
    output_distill_kind: str = "auto"  # auto (the task's: kl or l1) | kl | cwd (channel-wise, label maps) | l1
    feature_distill: float = 0.0  # adapted student taps vs teacher taps
    temperature: float = 2.0  # KL temperature for label maps
    perceptual: float = 0.0  # feature loss to the target through a frozen backbone (image tasks that define it)
    perceptual_backbone: str | None = None  # a checkpoint of this project (an RGB encoder-decoder) or vgg19
    local: float = 0.0  # component auto-encoders' reconstruction (models with local_reconstruction: maskedit teacher)
    parsing: float = 0.0  # cross-entropy of a frozen parsing model on the output vs the target mask (maskedit)
    parsing_model: str | None = None  # that parsing checkpoint


@dataclass
class DistillSection:
    teacher: str | None = None  # teacher checkpoint (.safetensors with its .json card)
    feature_taps: int = 0  # how many taps to pair, from the fine end; 0 = all that both models have


@dataclass
class AdversarialSection:
    """pix2pixHD's GAN terms (portrait_edge.train.adversarial), for image tasks; off while weight is 0."""
    weight: float = 0.0  # LSGAN generator loss
    feature_matching: float = 10.0  # discriminator feature-matching loss (lambda 10 in pix2pixHD)
    num_scales: int = 3  # PatchGANs at 100 / 50 / 25 % of the image
    width: int = 64
    layers: int = 3
    lr: float = 2.0e-4  # the discriminator's own Adam (betas 0.5, 0.999)
    init: str | None = None  # start from a run's discriminator (a checkpoint path: its .discriminator.safetensors)


@dataclass
class EvalSection:
    every: int = 0  # evaluate every N steps on the validation seeds (0: only at the end)
    n: int = 32  # samples for the periodic and the final evaluation
    size: int | None = None  # resolution of evaluation; default the task's resolution (256)
    batch_size: int = 8


@dataclass
class Recipe:
    task: str
    role: str
    profile: str = "cpu-quick"
    name: str | None = None  # run name; default the recipe file's stem
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    resolution: int = 128
    steps: int = 1000
    batch_size: int = 8  # global batch: split across DDP ranks
    seed: int = 0  # model init seed
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    loss: LossSection = field(default_factory=LossSection)
    distill: DistillSection = field(default_factory=DistillSection)
    adversarial: AdversarialSection = field(default_factory=AdversarialSection)
    eval: EvalSection = field(default_factory=EvalSection)
    amp: str = "auto"  # auto: bf16 on CUDA when supported, else fp16 + GradScaler; off on CPU
    checkpoint_every: int = 100
    log_every: int = 10
    threads: int = 0  # torch CPU threads (0: leave torch's default)
    channels_last: bool = True  # NHWC memory layout: ~5x faster depthwise convs on CPU, faster AMP on GPU
    # load the next batch in a background thread: for GPU machines, where the CPU idles during a step; on
    # a 2-core CPU it is slower (0.51 vs 0.33 s/step for teacher-mix: benchmarks/data_loading.py)
    prefetch: bool = False
    ship_dtype: str = "float32"  # dtype of the weights installed by --ship (float16 keeps teachers lean)
    source_path: str | None = None  # where the recipe was read from (filled in by load_recipe)

    @property
    def distilling(self) -> bool:
        return self.distill.teacher is not None

    @property
    def variant(self) -> str:
        """teacher | student (distilled) | student_scratch: the name shipped weights get."""
        if self.role == "teacher":
            return "teacher"
        return "student" if self.distilling else "student_scratch"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["optimizer"]["betas"] = list(self.optimizer.betas)
        return data

    def _validate_data(self, data: DataSection, where: str, bad) -> None:
        if data.source not in DATA_SOURCES:
            raise bad(f"{where}.source must be one of {', '.join(DATA_SOURCES)}, not {data.source!r}")
        if data.source == "reader" and not (data.reader and data.root):
            raise bad(f"{where}.source 'reader' needs {where}.reader (a reader name) and {where}.root (its folder)")
        if data.pool_file and not data.pool:
            raise bad(f"{where}.pool_file needs {where}.pool (the number of samples in the pool)")
        if data.crop and (data.crop > self.resolution or data.crop < 0):
            raise bad(f"{where}.crop {data.crop} must be between 1 and the resolution {self.resolution}")
        unknown = [a for a in data.augment if a not in AUGMENTATIONS]
        if unknown:
            raise bad(f"{where}.augment: unknown {', '.join(map(str, unknown))} (known: {', '.join(AUGMENTATIONS)})")
        from portrait_edge.train.data import TRAIN_SEED_LIMIT, TRAIN_SEEDS_PER_DATA_SEED

        drawn = data.pool or int(self.steps) * int(self.batch_size)
        if data.source == "synthetic" and (
                data.seed < 0 or data.seed * TRAIN_SEEDS_PER_DATA_SEED + drawn > TRAIN_SEED_LIMIT):
            raise bad(f"{where}.seed {data.seed} with {drawn} samples would reach the test split's seeds "
                      f"({TRAIN_SEED_LIMIT} and up); use seed 0..{TRAIN_SEED_LIMIT // TRAIN_SEEDS_PER_DATA_SEED - 1}"
                      " and fewer samples, or a pool")

    def validate(self) -> None:
        def bad(message: str) -> PortraitEdgeError:
            where = f" in {self.source_path}" if self.source_path else ""
            return PortraitEdgeError(f"bad recipe{where}: {message}")

        from portrait_edge.tasks import task_ids

        if self.task not in task_ids():
            raise bad(f"unknown task {self.task!r} (known: {', '.join(task_ids())})")
        if self.role not in ROLES:
            raise bad(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if self.profile not in PROFILES:
            raise bad(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        if self.amp not in AMP_MODES:
            raise bad(f"amp must be one of {', '.join(AMP_MODES)}, not {self.amp!r}")
        if self.data.mix:
            for number, entry in enumerate(self.data.mix):
                if entry.mix:
                    raise bad(f"data.mix[{number}] cannot itself have a mix")
                if entry.weight <= 0:
                    raise bad(f"data.mix[{number}].weight must be positive, got {entry.weight}")
                self._validate_data(entry, f"data.mix[{number}]", bad)
        else:
            self._validate_data(self.data, "data", bad)
        for name in ("steps", "batch_size", "resolution", "checkpoint_every", "log_every"):
            if int(getattr(self, name)) <= 0:
                raise bad(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("channels_last", "prefetch"):
            if not isinstance(getattr(self, name), bool):
                raise bad(f"{name} must be true or false, not {getattr(self, name)!r}")
        if self.optimizer.name not in ("adamw", "adam", "sgd"):
            raise bad(f"optimizer.name must be adamw, adam or sgd, not {self.optimizer.name!r}")
        if self.optimizer.schedule not in ("cosine", "constant"):
            raise bad(f"optimizer.schedule must be cosine or constant, not {self.optimizer.schedule!r}")
        if self.optimizer.lr <= 0:
            raise bad(f"optimizer.lr must be positive, got {self.optimizer.lr}")
        if self.role == "teacher" and self.distilling:
            raise bad("a teacher recipe cannot have distill.teacher")
        if (self.loss.output_distill or self.loss.feature_distill) and not self.distilling:
            raise bad("loss.output_distill / loss.feature_distill need distill.teacher (a teacher checkpoint)")
        if self.loss.output_distill_kind not in ("auto", "kl", "cwd", "l1"):
            raise bad(f"loss.output_distill_kind must be auto, kl, cwd or l1, not {self.loss.output_distill_kind!r}")
        if self.loss.perceptual and not self.loss.perceptual_backbone:
            raise bad("loss.perceptual needs loss.perceptual_backbone (a checkpoint path or vgg19)")
        if self.adversarial.weight < 0 or self.adversarial.num_scales < 1:
            raise bad("adversarial.weight must be >= 0 and adversarial.num_scales >= 1")
        if self.adversarial.init and not self.adversarial.weight:
            raise bad("adversarial.init needs adversarial.weight > 0 (the discriminator is only used by the GAN loss)")
        if self.loss.temperature <= 0:
            raise bad(f"loss.temperature must be positive, got {self.loss.temperature}")
        if self.ship_dtype not in ("float32", "float16", "bfloat16"):
            raise bad(f"ship_dtype must be float32, float16 or bfloat16, not {self.ship_dtype!r}")


def _build(cls: type, values: Any, where: str) -> Any:
    """A dataclass from a mapping, rejecting unknown keys with the field's dotted name."""
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise PortraitEdgeError(f"bad recipe: '{where}' must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise PortraitEdgeError(f"bad recipe: unknown field(s) {', '.join(prefix + u for u in unknown)} "
                                f"(known: {', '.join(fields)})")
    kwargs = {}
    for name, value in values.items():
        section = _SECTIONS.get(name) if cls is Recipe else None
        if section is not None:
            kwargs[name] = _build(section, value, name)
        elif cls is DataSection and name == "mix":
            if not isinstance(value, list):
                raise PortraitEdgeError(f"bad recipe: '{where}.mix' must be a list of data sections")
            kwargs[name] = [_build(DataSection, entry, f"{where}.mix[{i}]") for i, entry in enumerate(value)]
        elif name == "betas":
            kwargs[name] = tuple(float(b) for b in value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as error:  # missing required fields
        raise PortraitEdgeError(f"bad recipe: {error}") from None


_SECTIONS = {"model": ModelSection, "data": DataSection, "optimizer": OptimizerSection, "loss": LossSection,
             "distill": DistillSection, "adversarial": AdversarialSection, "eval": EvalSection}


def recipe_from_dict(values: dict[str, Any], source_path: str | None = None) -> Recipe:
    if not isinstance(values, dict):
        raise PortraitEdgeError(f"bad recipe{f' in {source_path}' if source_path else ''}: expected a mapping")
    for required in ("task", "role"):
        if required not in values:
            raise PortraitEdgeError(f"bad recipe{f' in {source_path}' if source_path else ''}: "
                                    f"missing required field {required!r}")
    values = {k: v for k, v in values.items() if k != "source_path"}
    recipe = _build(Recipe, values, "")
    recipe.source_path = source_path
    _coerce_numbers(recipe)
    recipe.validate()
    return recipe


def _coerce_numbers(recipe: Recipe) -> None:
    """YAML reads 1e-3 as a string; make numeric fields numbers, with a clear error when they are not."""
    for section in (recipe, recipe.optimizer, recipe.loss, recipe.eval, recipe.data, *recipe.data.mix, recipe.distill,
                    recipe.adversarial):
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            if kind in ("int", "float") and not isinstance(value, bool):
                try:
                    number = float(value)
                    if kind == "int" and number != int(number):  # 40.5 steps is a typo, not 40
                        raise PortraitEdgeError(f"bad recipe: {f.name} must be a whole number, got {value!r}")
                    setattr(section, f.name, int(number) if kind == "int" else number)
                except (TypeError, ValueError, OverflowError):
                    raise PortraitEdgeError(f"bad recipe: {f.name} must be a number, got {value!r}") from None


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Reads and validates a recipe; `overrides` maps dotted names to values (e.g. {"steps": 10})."""
    path = Path(path)
    if not path.is_file():
        raise PortraitEdgeError(f"recipe not found: {path}")
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PortraitEdgeError(f"bad recipe {path}: not valid YAML ({first_line})") from None
    if not isinstance(values, dict):
        raise PortraitEdgeError(f"bad recipe {path}: expected a mapping of fields, got {type(values).__name__}")
    for dotted, value in (overrides or {}).items():
        target = values
        *parents, leaf = dotted.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise PortraitEdgeError(f"bad override {dotted}: {parent} is not a section")
        target[leaf] = value
    recipe = recipe_from_dict(values, source_path=str(path))
    if recipe.name is None:
        recipe.name = path.name.removesuffix(".yaml").removesuffix(".yml")
    return recipe
