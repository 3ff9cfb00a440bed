"""Where training batches come from, as a pure function of (step, rank): a killed run that resumes at
step s draws exactly the batches it would have drawn, and N ranks together draw the same global batch
one process would (rank r takes samples r*b .. (r+1)*b-1 of the global batch, b = batch / ranks).

- SyntheticStream: every sample is a fresh render of the synthetic engine, seeded by its global index.
- synthetic_pool: N samples rendered once (kept in a cache file between runs), drawn in a fresh
  shuffled order every epoch; far cheaper when rendering is slower than a training step.
- ReaderSource: samples of a real dataset (portrait_edge.data.readers), read lazily, shuffled per epoch.

Seeds (the engine's samples depend only on (seed, index in the batch)): a streamed training sample g
of data seed d is make_batch(1, d * TRAIN_SEEDS_PER_DATA_SEED + g); a pool is rendered in chunks of
POOL_CHUNK, chunk c being make_batch(POOL_CHUNK, d * TRAIN_SEEDS_PER_DATA_SEED + c). Recipes keep
every training seed below the synthetic test split's (portrait_edge.data.pairs.TEST_SEED_BASE, 10^7:
test sample i is make_batch(1, TEST_SEED_BASE + i)); validation sample i is
make_batch(1, VALIDATION_SEED_BASE + i). The three sets never share a sample.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.tasks.base import Batch, TaskSpec

TRAIN_SEEDS_PER_DATA_SEED = 1_000_000
TRAIN_SEED_LIMIT = 10_000_000  # = portrait_edge.data.pairs.TEST_SEED_BASE; checked in recipe validation
VALIDATION_SEED_BASE = 900_000_000


class BatchSource(Protocol):
    def batch(self, step: int, rank: int, world_size: int, global_batch: int) -> Batch: ...


def collate(samples: list[Batch]) -> Batch:
    return Batch(
        torch.cat([s.inputs for s in samples]),
        torch.cat([s.target for s in samples]),
        {key: torch.cat([s.extras[key] for s in samples]) for key in samples[0].extras},
    )


def sample_of(batch: Batch, i: int) -> Batch:
    """Sample i of a batch, as a batch of one."""
    return Batch(batch.inputs[i: i + 1], batch.target[i: i + 1], {k: v[i: i + 1] for k, v in batch.extras.items()})


def render_samples(task: TaskSpec, seeds: list[int], size: int, progress: str | None = None,
                   device: torch.device | str = "cpu") -> Batch:
    """One synthetic sample per seed (make_batch(1, seed)), so a sample never depends on its batch."""
    iterator = tqdm(seeds, desc=progress, unit="sample", leave=False) if progress else seeds
    return collate([task.make_batch(1, seed=int(seed), size=size, device=device) for seed in iterator])


POOL_CHUNK = 16


def render_pool(task: TaskSpec, n: int, size: int, seed_base: int, show_progress: bool = True,
                device: torch.device | str = "cpu") -> tuple[Batch, dict]:
    """n samples rendered in batches of POOL_CHUNK (batch c has seed seed_base + c; the engine's
    samples depend only on (seed, index in batch), so the pool is the same however it is split).
    Rendered on `device` (the engine runs on CUDA too), kept on the CPU. Returns the compacted samples
    (float16 / int16, see _compact) and the original dtypes."""
    chunks, dtypes = [], None
    bar = tqdm(total=n, desc=f"rendering {task.id} pool", unit="sample", leave=False, disable=not show_progress)
    for c, start in enumerate(range(0, n, POOL_CHUNK)):
        chunk = task.make_batch(min(POOL_CHUNK, n - start), seed=seed_base + c, size=size, device=device).to("cpu")
        dtypes = dtypes or _dtype_names(chunk)
        chunks.append(_compact(chunk))  # compact as we go: the full-precision pool would be 2.5x larger
        bar.update(len(chunk))
    bar.close()
    return collate(chunks), dtypes


def rank_slice(step: int, rank: int, world_size: int, global_batch: int) -> range:
    """Global positions in the data stream of this rank's share of step `step`'s batch."""
    if global_batch % world_size:
        raise PortraitEdgeError(f"batch_size {global_batch} is not divisible by the {world_size} ranks")
    per_rank = global_batch // world_size
    start = step * global_batch + rank * per_rank
    return range(start, start + per_rank)


class SyntheticStream:
    """Fresh renders, made on `device` (the engine runs on CUDA too, so a GPU run renders its own data)."""

    def __init__(self, task: TaskSpec, size: int, data_seed: int, device: torch.device | str = "cpu") -> None:
        self.task, self.size, self.device = task, size, device
        self.base = data_seed * TRAIN_SEEDS_PER_DATA_SEED

    def draw(self, positions) -> Batch:
        return render_samples(self.task, [self.base + g for g in positions], self.size, device=self.device)

    def batch(self, step: int, rank: int, world_size: int, global_batch: int) -> Batch:
        return self.draw(rank_slice(step, rank, world_size, global_batch))


def _compact(batch: Batch) -> Batch:
    """float tensors -> float16, integer label maps -> int16 (a 2000-sample pool at 256 is ~1 GB)."""
    def shrink(t: torch.Tensor) -> torch.Tensor:
        if t.is_floating_point():
            return t.half()
        if t.dtype == torch.int64 and t.numel() and int(t.max()) < 2 ** 15 and int(t.min()) >= -2 ** 15:
            return t.short()
        return t
    return Batch(shrink(batch.inputs), shrink(batch.target), {k: shrink(v) for k, v in batch.extras.items()})


def _expand(batch: Batch, like: Batch) -> Batch:
    return Batch(batch.inputs.to(like.inputs.dtype), batch.target.to(like.target.dtype),
                 {k: v.to(like.extras[k].dtype) for k, v in batch.extras.items()})


def _dtype_names(batch: Batch) -> dict:
    name = lambda t: str(t.dtype).removeprefix("torch.")  # noqa: E731
    return {"inputs": name(batch.inputs), "target": name(batch.target),
            "extras": {k: name(v) for k, v in batch.extras.items()}}


def _dtype_template(names: dict) -> Batch:
    """Empty tensors carrying the original dtypes of a compacted pool."""
    empty = lambda n: torch.zeros(0, dtype=getattr(torch, n))  # noqa: E731
    return Batch(empty(names["inputs"]), empty(names["target"]), {k: empty(n) for k, n in names["extras"].items()})


def engine_fingerprint() -> str:
    """Hash of the data package's sources: a pool cached by an older engine is not reused."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1] / "data"
    for path in sorted(root.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class ShuffledIndex:
    """Positions in the data stream -> sample indices: a new shuffled order of the n samples every
    epoch, seeded by (data seed, epoch), so the order is the same after a resume."""

    def __init__(self, n: int, data_seed: int) -> None:
        self.n, self.data_seed = n, data_seed
        self._orders: dict[int, torch.Tensor] = {}

    def __call__(self, positions: range) -> torch.Tensor:
        picked = []
        for p in positions:
            epoch = p // self.n
            if epoch not in self._orders:
                generator = torch.Generator().manual_seed(self.data_seed * 1_000_003 + epoch)
                self._orders = {epoch: torch.randperm(self.n, generator=generator)}
            picked.append(int(self._orders[epoch][p % self.n]))
        return torch.tensor(picked, dtype=torch.int64)


class IndexedPool:
    """Fixed samples held in memory (compacted), drawn in a new shuffled order each epoch."""

    def __init__(self, samples: Batch, dtypes: Batch, data_seed: int) -> None:
        self.samples, self.dtypes = samples, dtypes
        self.index = ShuffledIndex(len(samples), data_seed)
        self.engine: str | None = None  # fingerprint of the engine that rendered the samples, when known

    def __len__(self) -> int:
        return len(self.samples)

    def batch(self, step: int, rank: int, world_size: int, global_batch: int) -> Batch:
        return self.draw(rank_slice(step, rank, world_size, global_batch))

    def draw(self, positions) -> Batch:
        index = self.index(positions)
        picked = Batch(self.samples.inputs[index], self.samples.target[index],
                       {k: v[index] for k, v in self.samples.extras.items()})
        return _expand(picked, self.dtypes)


class ReaderSource:
    """A real dataset read lazily: each batch loads its samples from disk (nothing held in memory)."""

    def __init__(self, task: TaskSpec, reader: str, root: str, size: int, data_seed: int,
                 options: dict | None = None) -> None:
        from portrait_edge.train.real_data import open_dataset

        self.task, self.size = task, size
        self.dataset = open_dataset(reader, root, size, options)
        if len(self.dataset) == 0:
            raise PortraitEdgeError(f"dataset {root} ({reader}) has no samples")
        self.index = ShuffledIndex(len(self.dataset), data_seed)

    def batch(self, step: int, rank: int, world_size: int, global_batch: int) -> Batch:
        return self.draw(rank_slice(step, rank, world_size, global_batch))

    def draw(self, positions) -> Batch:
        from portrait_edge.train.real_data import batch_from_samples

        index = self.index(positions)
        return batch_from_samples(self.task, [self.dataset[int(i)] for i in index], self.size)


def _load_pool(path: Path, expect: dict, data_seed: int) -> IndexedPool:
    stored = torch.load(path, weights_only=True)
    meta = stored.get("meta", {})
    mismatched = [f"{k} {meta.get(k)!r} (recipe: {v!r})" for k, v in expect.items() if meta.get(k, v) != v]
    if mismatched:
        raise PortraitEdgeError(f"pool file {path} does not match the recipe: {', '.join(mismatched)}")
    samples = Batch(stored["inputs"], stored["target"], stored["extras"])
    pool = IndexedPool(samples, _dtype_template(stored["dtypes"]), data_seed)
    pool.engine = meta.get("engine")
    return pool


def stored_samples_path(pinned_file: str | None, cache_dir: str | None, stem: str) -> tuple[Path | None, bool]:
    """Where rendered samples are kept, and whether that file is pinned: a pinned file is used whatever
    engine rendered it; a cache file carries the engine's fingerprint, so a changed engine renders anew."""
    if pinned_file:
        return Path(pinned_file), True
    if cache_dir:
        return Path(cache_dir) / f"{stem}_{engine_fingerprint()}.pt", False
    return None, False


def synthetic_pool(task: TaskSpec, size: int, data_seed: int, n: int, cache_dir: str | None,
                   show_progress: bool = True, pool_file: str | None = None,
                   device: torch.device | str = "cpu") -> IndexedPool:
    """A pool of n rendered samples. pool_file pins the exact samples: loaded from there when the file
    exists (whatever the engine version now), else rendered and saved there. Otherwise the pool is
    cached in cache_dir under a name with the engine's fingerprint, so a changed engine renders anew."""
    expect = {"task": task.id, "size": size, "n": n, "data_seed": data_seed, "chunk": POOL_CHUNK}
    cache, pinned = stored_samples_path(pool_file, cache_dir, f"{task.id}_s{size}_d{data_seed}_n{n}_c{POOL_CHUNK}")
    if cache is not None and cache.is_file():
        try:
            return _load_pool(cache, expect, data_seed)
        except PortraitEdgeError:
            raise
        except Exception as error:  # unreadable: a pinned file is an error, a cache is rendered again
            if pinned:
                raise PortraitEdgeError(f"cannot read pool file {cache}: {str(error).splitlines()[0]}") from None
    compact, names = render_pool(task, n, size, data_seed * TRAIN_SEEDS_PER_DATA_SEED, show_progress, device)
    if cache is not None:
        from portrait_edge.train.checkpoint import atomic_write

        payload = {"inputs": compact.inputs, "target": compact.target, "extras": compact.extras, "dtypes": names,
                   "meta": {**expect, "engine": engine_fingerprint()}}
        atomic_write(cache, lambda temp: torch.save(payload, temp))
        if not pinned:
            stem = cache.name.rsplit("_", 1)[0]
            for stale in cache.parent.glob(f"{stem}_*.pt"):  # the same pool rendered by an older engine
                if stale != cache:
                    stale.unlink(missing_ok=True)
    pool = IndexedPool(compact, _dtype_template(names), data_seed)
    pool.engine = engine_fingerprint()
    return pool


def crop_batch(batch: Batch, positions: range, crop: int, data_seed: int) -> Batch:
    """A crop x crop window of each sample, at an offset drawn from (data seed, stream position);
    every tensor whose last two dimensions are the image's is cropped the same way."""
    height, width = batch.inputs.shape[-2:]
    crops: dict[str, list[torch.Tensor]] = {}
    named = {"inputs": batch.inputs, "target": batch.target, **{f"extra:{k}": v for k, v in batch.extras.items()}}
    for i, position in enumerate(positions):
        generator = torch.Generator().manual_seed(data_seed * 7_919 + position * 2 + 1)
        top = int(torch.randint(0, height - crop + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - crop + 1, (1,), generator=generator))
        for name, tensor in named.items():
            if tensor.dim() >= 3 and tuple(tensor.shape[-2:]) == (height, width):
                tensor = tensor[i: i + 1, ..., top: top + crop, left: left + crop]
            else:
                tensor = tensor[i: i + 1]
            crops.setdefault(name, []).append(tensor)
    joined = {name: torch.cat(parts) for name, parts in crops.items()}
    return Batch(joined.pop("inputs"), joined.pop("target"), {k[len("extra:"):]: v for k, v in joined.items()})


class CroppedSource:
    def __init__(self, source: BatchSource, crop: int, data_seed: int) -> None:
        self.source, self.crop, self.data_seed = source, crop, data_seed
        self.engine = getattr(source, "engine", None)

    def batch(self, step: int, rank: int, world_size: int, global_batch: int) -> Batch:
        return self.draw(rank_slice(step, rank, world_size, global_batch))

    def draw(self, positions) -> Batch:
        return crop_batch(self.source.draw(positions), positions, self.crop, self.data_seed)


class AugmentedSource:
    """Per-sample augmentation (recipe `augment`), drawn from (data seed, stream position)."""

    def __init__(self, source, task: TaskSpec, augment: list[str], data_seed: int) -> None:
        self.source, self.task, self.augment, self.data_seed = source, task, list(augment), data_seed
        self.engine = getattr(source, "engine", None)

    def batch(self, step: int, rank: int, world_size: int, global_batch: int) -> Batch:
        return self.draw(rank_slice(step, rank, world_size, global_batch))

    def draw(self, positions) -> Batch:
        from portrait_edge.train.augment import augment_sample

        batch = self.source.draw(positions)
        parts = []
        for i, position in enumerate(positions):
            sample = sample_of(batch, i)
            generator = torch.Generator().manual_seed(self.data_seed * 104_729 + int(position) * 2 + 1)
            parts.append(augment_sample(self.task, sample, self.augment, generator))
        return collate(parts)


class MixedSource:
    """Several sources mixed by weight: stream position p is drawn from source k with probability
    weight_k / sum(weights), decided by (data seed, p) alone, so a resumed run draws the same batches."""

    def __init__(self, components: list[tuple[float, object]], data_seed: int) -> None:
        total = sum(w for w, _ in components)
        self.bounds = torch.tensor([w / total for w, _ in components]).cumsum(0)
        self.sources = [s for _, s in components]
        self.data_seed = data_seed
        engines = [getattr(s, "engine", None) for s in self.sources]
        self.engine = next((e for e in engines if e), None)

    def choose(self, position: int) -> int:
        generator = torch.Generator().manual_seed(self.data_seed * 15_485_863 + int(position))
        u = float(torch.rand((), generator=generator))
        return min(int((self.bounds <= u).sum()), len(self.sources) - 1)

    def batch(self, step: int, rank: int, world_size: int, global_batch: int) -> Batch:
        return self.draw(rank_slice(step, rank, world_size, global_batch))

    def draw(self, positions) -> Batch:
        positions = list(positions)
        chosen = [self.choose(p) for p in positions]
        parts: list[tuple[int, Batch]] = []
        for k, source in enumerate(self.sources):
            mine = [(i, p) for i, (p, c) in enumerate(zip(positions, chosen)) if c == k]
            if mine:
                got = source.draw([p for _, p in mine])
                parts.extend((i, sample_of(got, j)) for j, (i, _) in enumerate(mine))
        parts.sort(key=lambda item: item[0])
        return collate([b for _, b in parts])


def _single_source(task: TaskSpec, data, resolution: int, show_progress: bool, device) -> BatchSource:
    source: BatchSource
    if data.source == "reader":
        source = ReaderSource(task, data.reader, data.root, resolution, data.seed, data.reader_options)
    elif data.pool > 0:
        source = synthetic_pool(task, resolution, data.seed, data.pool, data.cache_dir, show_progress,
                                data.pool_file, device)
    else:
        source = SyntheticStream(task, resolution, data.seed, device)
    if data.augment:
        source = AugmentedSource(source, task, data.augment, data.seed)
    if data.crop and data.crop < resolution:
        source = CroppedSource(source, data.crop, data.seed)
    return source


def make_source(task: TaskSpec, recipe, show_progress: bool = True, device: torch.device | str = "cpu") -> BatchSource:
    data = recipe.data
    if data.mix:
        return MixedSource([(entry.weight, _single_source(task, entry, recipe.resolution, show_progress, device))
                            for entry in data.mix], data.seed)
    return _single_source(task, data, recipe.resolution, show_progress, device)


class Prefetching:
    """Loads the next step's batch in a background thread while this step trains.

    A batch depends only on (step, rank, world size, batch size), so prefetching changes no result; it
    overlaps reading and decoding photos (which release the GIL) and rendering with the training step,
    keeping both cores busy. Only the background thread ever calls the wrapped source.
    """

    def __init__(self, source: BatchSource, steps: int | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.source, self.steps = source, steps
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="batch-prefetch")
        self.pending: tuple[tuple, object] | None = None

    def batch(self, step: int, rank: int, world_size: int, global_batch: int) -> Batch:
        key = (step, rank, world_size, global_batch)
        if self.pending is None or self.pending[0] != key:
            if self.pending is not None and not self.pending[1].cancel():
                self.pending[1].exception()  # running: wait, so the source is never called from two threads
            self.pending = (key, self.executor.submit(self.source.batch, *key))
        batch = self.pending[1].result()
        self.pending = None
        if self.steps is None or step + 1 < self.steps:
            following = (step + 1, rank, world_size, global_batch)
            self.pending = (following, self.executor.submit(self.source.batch, *following))
        return batch

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.pending = None
