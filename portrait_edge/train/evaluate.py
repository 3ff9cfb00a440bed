"""Evaluation of a model on the synthetic test split, the validation seeds, or a real dataset."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn
from tqdm import tqdm

from portrait_edge.errors import NotAvailableError, PortraitEdgeError
from portrait_edge.tasks.base import Batch, TaskSpec
from portrait_edge.train.checkpoint import atomic_write
from portrait_edge.train.data import (_compact, _dtype_names, _dtype_template, _expand, engine_fingerprint, render_samples,
                                      stored_samples_path)


def test_seed_base() -> int:
    """First seed of the synthetic test split (exported by the data package; never trained on)."""
    try:
        from portrait_edge.data.pairs import TEST_SEED_BASE
    except ImportError as error:
        raise NotAvailableError("the synthetic data engine (portrait_edge.data.pairs) is not in this install") from error
    return int(TEST_SEED_BASE)


def synthetic_batches(task: TaskSpec, n: int, size: int, batch_size: int, seed_base: int,
                      cache_dir: str | None = None, progress: str | None = None,
                      split_file: str | None = None) -> Iterable[Batch]:
    """Sample i is make_batch(1, seed_base + i). Served from a compact copy (float16 images, as the
    training pools are) so every evaluation sees the same numbers, cached or not. With cache_dir the
    rendered split is kept there (keyed by the engine's fingerprint) and later evaluations skip
    rendering; split_file pins the exact samples (loaded when it exists, whatever the engine version
    now; rendered and saved there otherwise), so checkpoints evaluated hours apart see the same data."""
    expect = {"task": task.id, "size": size, "n": n, "seed_base": seed_base}
    cache, pinned = stored_samples_path(split_file, cache_dir, f"split_{task.id}_s{size}_b{seed_base}_n{n}")
    if cache is not None and cache.is_file():
        try:
            stored = torch.load(cache, weights_only=True)
        except Exception as error:
            if pinned:
                raise PortraitEdgeError(f"cannot read split file {cache}: {str(error).splitlines()[0]}") from None
            cache.unlink(missing_ok=True)
        else:
            meta = stored.get("meta", {})
            mismatched = [f"{k} {meta.get(k)!r} (asked: {v!r})" for k, v in expect.items() if meta.get(k, v) != v]
            if mismatched:
                raise PortraitEdgeError(f"split file {cache} holds other samples: {', '.join(mismatched)}")
            samples = Batch(stored["inputs"], stored["target"], stored["extras"])
            yield from _slices(samples, _dtype_template(stored["dtypes"]), batch_size)
            return
    rendered = render_samples(task, list(range(seed_base, seed_base + n)), size, progress=progress)
    samples, dtypes = _compact(rendered), _dtype_names(rendered)
    del rendered
    if cache is not None:
        payload = {"inputs": samples.inputs, "target": samples.target, "extras": samples.extras, "dtypes": dtypes,
                   "meta": {**expect, "engine": engine_fingerprint()}}
        atomic_write(cache, lambda temp: torch.save(payload, temp))
    yield from _slices(samples, _dtype_template(dtypes), batch_size)


def _slices(samples: Batch, dtypes: Batch, batch_size: int) -> Iterable[Batch]:
    for start in range(0, len(samples), batch_size):
        index = slice(start, start + batch_size)
        part = Batch(samples.inputs[index], samples.target[index], {k: v[index] for k, v in samples.extras.items()})
        yield _expand(part, dtypes)


@torch.no_grad()
def evaluate(model: nn.Module, task: TaskSpec, batches: Iterable[Batch], device: torch.device | str = "cpu",
             autocast_dtype: torch.dtype | None = None, total: int | None = None,
             progress: str | None = None) -> dict[str, float]:
    """The task's metrics of `model` over `batches` (model put in eval mode, then restored)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    accumulator = task.metric_accumulator()
    count = 0
    bar = tqdm(total=total, desc=progress, unit="sample", leave=False, disable=progress is None)
    try:
        for batch in batches:
            batch = batch.to(device)
            batch.inputs = batch.inputs.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                output = model(batch.inputs)
            accumulator.update(task.postprocess(output.float()), batch)
            count += len(batch)
            bar.update(len(batch))
    finally:
        bar.close()
        model.train(was_training)
    result = {k: float(v) for k, v in accumulator.compute().items()}
    result["n"] = count
    return result



def reader_batches(task: TaskSpec, reader: str, root: str, size: int, batch_size: int,
                   limit: int | None = None, options: dict | None = None) -> Iterable[Batch]:
    """Batches of a real dataset through portrait_edge.data.readers (see real_data.py)."""
    from portrait_edge.train.real_data import reader_batches as batches

    return batches(task, reader, root, size, batch_size, limit, options)
