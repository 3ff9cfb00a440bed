"""Export recipes: convert/<task>.yaml read into an EdgeRecipe.

A recipe is data: which formats and precisions a task ships, how int8 is calibrated, when
quantization-aware fine-tuning runs, the parity and accuracy tolerances, and the benchmark settings.
A new task gets a new YAML file, not new code. See convert/README.md for every key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from portrait_edge.edge.artifacts import REPO_ROOT
from portrait_edge.errors import PortraitEdgeError

RECIPE_DIR = REPO_ROOT / "convert"

# format -> precisions it knows, in report order
KNOWN_PRECISIONS: dict[str, tuple[str, ...]] = {
    "executorch": ("fp32", "int8"),
    "litert": ("fp32", "fp16", "int8"),
    "coreml": ("fp16", "int8w", "pal6"),
}
EXTENSIONS = {"executorch": ".pte", "litert": ".tflite", "coreml": ".mlpackage"}


@dataclass
class Calibration:
    samples: int = 64      # pairs used to calibrate int8 activation ranges
    batch: int = 8
    seed: int = 7_100_000  # first seed of the calibration split (disjoint from train and test seeds)


@dataclass
class TestSplit:
    samples: int = 32
    batch: int = 8


@dataclass
class QAT:
    when: str = "over_tolerance"  # never | over_tolerance | always
    steps: int = 200
    batch: int = 4
    resolution: int = 128         # fine-tuning renders at this size (4x cheaper than 256); converted at the export resolution
    lr: float = 1e-4
    seed: int = 7_200_000         # first seed of the QAT fine-tuning data


@dataclass
class Tolerances:
    fp32_psnr_db: float = 60.0          # fp32 files vs the PyTorch student, image-like outputs
    fp32_label_agreement: float = 0.999  # fp32 files vs the PyTorch student, label maps
    int8_max_drop: float = 1.0          # allowed drop of the primary metric, in `int8_drop_unit`
    int8_drop_unit: float = 0.01        # the metric value of one unit of int8_max_drop (0.01 = 1 point of a [0, 1] metric)


@dataclass
class Bench:
    threads: tuple[int, ...] = (1, 2)
    warmup: int = 5
    repeats: int = 30
    max_seconds_per_variant: float = 6.0  # slow variants (the teacher) get fewer repeats, never fewer than 3


@dataclass
class EdgeRecipe:
    task: str
    resolution: int = 256
    more_resolutions: tuple[int, ...] = ()  # also exported, verified, benchmarked and bundled at these sizes
    formats: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(KNOWN_PRECISIONS))
    calibration: Calibration = field(default_factory=Calibration)
    test: TestSplit = field(default_factory=TestSplit)
    qat: QAT = field(default_factory=QAT)
    tolerances: Tolerances = field(default_factory=Tolerances)
    bench: Bench = field(default_factory=Bench)
    per_channel: bool = True
    int8_float_modules: tuple[str, ...] = ()  # student modules left in fp32 in the PT2E int8 program
    litert_int8_float: tuple[str, ...] = ()   # student modules (and "output": the tensor it returns) left in float
    #                                           in the LiteRT int8 file (ai_edge_quantizer no_quantize by tensor name)
    coreml_weight_threshold: int = 512       # tensors with fewer elements stay fp16 in Core ML
    coreml_minimum_target: str = "iOS17"
    bundle_android: tuple[str, ...] = ("litert_int8", "litert_fp32", "executorch_int8", "executorch_fp32")
    bundle_ios: tuple[str, ...] = ("coreml_fp16", "coreml_pal6")

    def resolutions(self) -> list[int]:
        """Every input size the task is built at: the main one first."""
        return [self.resolution, *(r for r in self.more_resolutions if r != self.resolution)]

    def variants(self) -> list[tuple[str, str]]:
        """(format, precision) pairs in report order."""
        return [(fmt, precision) for fmt in KNOWN_PRECISIONS if fmt in self.formats
                for precision in KNOWN_PRECISIONS[fmt] if precision in self.formats[fmt]]

    def export_fingerprint(self) -> str:
        """Changes whenever a key that shapes the exported files changes (not bench or bundle keys):
        recorded in export.json so that `report --all` re-exports after a recipe edit."""
        import hashlib
        import json

        # more_resolutions names other targets; each target's own resolution is in the key
        keys = {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("bench", "bundle_android", "bundle_ios", "more_resolutions")}
        if not self.litert_int8_float:  # added later: recipes without it keep their fingerprint
            keys.pop("litert_int8_float")
        return hashlib.sha256(json.dumps(keys, sort_keys=True, default=list).encode()).hexdigest()[:16]

    def with_overrides(self, **changes: Any) -> "EdgeRecipe":
        return dataclasses.replace(self, **changes)


def _section(cls, data: Any, where: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise PortraitEdgeError(f"{where}: must be a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise PortraitEdgeError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(names)})")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


def parse_recipe(data: dict[str, Any], where: str = "recipe") -> EdgeRecipe:
    if not isinstance(data, dict) or "task" not in data:
        raise PortraitEdgeError(f"{where}: must be a mapping with a 'task' key")
    data = dict(data)
    formats_raw = data.pop("formats", None)
    formats: dict[str, tuple[str, ...]] = dict(KNOWN_PRECISIONS)
    if formats_raw is not None:
        formats = {}
        for fmt, precisions in formats_raw.items():
            if fmt not in KNOWN_PRECISIONS:
                raise PortraitEdgeError(f"{where}: unknown format {fmt!r} (known: {', '.join(KNOWN_PRECISIONS)})")
            bad = [p for p in precisions or () if p not in KNOWN_PRECISIONS[fmt]]
            if bad:
                raise PortraitEdgeError(f"{where}: {fmt} has no precision {bad[0]!r} "
                                        f"(known: {', '.join(KNOWN_PRECISIONS[fmt])})")
            formats[fmt] = tuple(precisions or ())
    sections = {"calibration": Calibration, "test": TestSplit, "qat": QAT, "tolerances": Tolerances, "bench": Bench}
    kwargs: dict[str, Any] = {"formats": formats}
    for key, cls in sections.items():
        kwargs[key] = _section(cls, data.pop(key, None), f"{where}: {key}")
    for key in ("int8_float_modules", "litert_int8_float"):
        names = data.pop(key, None) or []
        if not isinstance(names, list) or not all(isinstance(m, str) and m for m in names):
            raise PortraitEdgeError(f"{where}: {key} must be a list of module names (e.g. [encoder.stem])")
        kwargs[key] = tuple(names)
    bundle = data.pop("bundle", None) or {}
    if "android" in bundle:
        kwargs["bundle_android"] = tuple(bundle["android"])
    if "ios" in bundle:
        kwargs["bundle_ios"] = tuple(bundle["ios"])
    known = {f.name for f in dataclasses.fields(EdgeRecipe)} - set(sections) - {"formats", "bundle_android", "bundle_ios",
                                                                               "int8_float_modules", "litert_int8_float"}
    unknown = set(data) - known
    if unknown:
        raise PortraitEdgeError(f"{where}: unknown keys {sorted(unknown)}")
    if "more_resolutions" in data:
        sizes = data.pop("more_resolutions") or []
        if not isinstance(sizes, list) or not all(isinstance(r, int) and r > 0 and r % 32 == 0 for r in sizes):
            raise PortraitEdgeError(f"{where}: more_resolutions must be a list of sizes that are multiples of 32")
        kwargs["more_resolutions"] = tuple(sizes)
    recipe = EdgeRecipe(**data, **kwargs)
    if recipe.qat.when not in ("never", "over_tolerance", "always"):
        raise PortraitEdgeError(f"{where}: qat.when must be never, over_tolerance or always")
    return recipe


def load_recipe(task_id: str, path: Path | str | None = None) -> EdgeRecipe:
    """The recipe of a task: `path` if given, else convert/<task_id>.yaml."""
    path = Path(path) if path is not None else RECIPE_DIR / f"{task_id}.yaml"
    if not path.is_file():
        raise PortraitEdgeError(f"no export recipe for task {task_id!r}: {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise PortraitEdgeError(f"{path} is not valid YAML ({str(error).splitlines()[0]})") from None
    recipe = parse_recipe(data, where=str(path))
    if recipe.task != task_id:
        raise PortraitEdgeError(f"{path} is the recipe of task {recipe.task!r}, not {task_id!r}")
    return recipe
