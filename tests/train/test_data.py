"""Batch sources: deterministic in (step, rank); N ranks together draw one process's global batch."""

import torch

from portrait_edge.tasks import get_task
from portrait_edge.train.data import SyntheticStream, crop_batch, rank_slice, synthetic_pool


def test_rank_slices_tile_the_global_batch():
    assert list(rank_slice(3, 0, 1, 8)) == list(range(24, 32))
    assert list(rank_slice(3, 0, 2, 8)) + list(rank_slice(3, 1, 2, 8)) == list(range(24, 32))


def test_two_ranks_draw_what_one_process_draws(fake_engine):
    task = get_task("parsing")
    for source in (SyntheticStream(task, 32, data_seed=1), synthetic_pool(task, 32, 1, n=12, cache_dir=None,
                                                                          show_progress=False)):
        for step in (0, 2):  # step 2 crosses the pool's first epoch (12 samples, batches of 4)
            whole = source.batch(step, 0, 1, 4)
            halves = [source.batch(step, rank, 2, 4) for rank in (0, 1)]
            assert torch.equal(whole.inputs, torch.cat([h.inputs for h in halves]))
            assert torch.equal(whole.target, torch.cat([h.target for h in halves]))
            assert torch.equal(whole.inputs, source.batch(step, 0, 1, 4).inputs)  # deterministic
        assert not torch.equal(source.batch(0, 0, 1, 4).inputs, source.batch(1, 0, 1, 4).inputs)


def test_pool_visits_every_sample_once_per_epoch(fake_engine):
    pool = synthetic_pool(get_task("parsing"), 32, 0, n=8, cache_dir=None, show_progress=False)
    assert pool.batch(0, 0, 1, 8).target.dtype == torch.int64  # stored compact, served as the original dtype
    epoch = pool.index(range(0, 8))
    assert sorted(epoch.tolist()) == list(range(8))
    assert not torch.equal(epoch, pool.index(range(8, 16)))


def test_pool_cache_is_reused(tmp_path, fake_engine):
    task = get_task("parsing")
    first = synthetic_pool(task, 32, 0, n=4, cache_dir=str(tmp_path), show_progress=False)
    assert len(list(tmp_path.glob("parsing_s32_d0_n4_c16_*.pt"))) == 1
    second = synthetic_pool(task, 32, 0, n=4, cache_dir=str(tmp_path), show_progress=False)
    assert torch.equal(first.samples.inputs, second.samples.inputs)


def test_crop_cuts_inputs_target_and_masks_alike():
    inputs = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    from portrait_edge.tasks.base import Batch

    batch = Batch(inputs, inputs[:, 0].long(), {"mask": inputs[:, :1] * 2, "scalar": torch.ones(2, 1)})
    cropped = crop_batch(batch, range(10, 12), 4, data_seed=0)
    assert cropped.inputs.shape == (2, 3, 4, 4) and cropped.target.shape == (2, 4, 4)
    assert torch.equal(cropped.target, cropped.inputs[:, 0].long())
    assert torch.equal(cropped.extras["mask"], cropped.inputs[:, :1] * 2)
    assert cropped.extras["scalar"].shape == (2, 1)
    assert torch.equal(crop_batch(batch, range(10, 12), 4, 0).inputs, cropped.inputs)


def test_evaluation_split_is_the_same_cached_or_not(tmp_path, fake_engine):
    from portrait_edge.train.evaluate import synthetic_batches

    task = get_task("parsing")
    plain = list(synthetic_batches(task, 5, 32, 2, seed_base=100))
    first = list(synthetic_batches(task, 5, 32, 2, seed_base=100, cache_dir=str(tmp_path)))
    again = list(synthetic_batches(task, 5, 32, 2, seed_base=100, cache_dir=str(tmp_path)))
    assert [len(b) for b in plain] == [2, 2, 1]
    assert len(list(tmp_path.glob("split_parsing_s32_b100_n5_*.pt"))) == 1
    for a, b, c in zip(plain, first, again):
        assert torch.equal(a.inputs, b.inputs) and torch.equal(b.inputs, c.inputs)
        assert torch.equal(a.target, c.target) and c.target.dtype == torch.int64
    # sample i is make_batch(1, seed_base + i), whatever the batch size
    single = task.make_batch(1, seed=103, size=32)
    assert torch.allclose(plain[1].inputs[1], single.inputs[0], atol=1e-3)


def test_pinned_pool_file_is_reused_and_checked(tmp_path, fake_engine, monkeypatch):
    import pytest

    import portrait_edge.train.data as data
    from portrait_edge.errors import PortraitEdgeError

    task = get_task("parsing")
    pinned = tmp_path / "pool.pt"
    first = synthetic_pool(task, 32, 0, n=4, cache_dir=None, show_progress=False, pool_file=str(pinned))
    assert pinned.is_file()
    monkeypatch.setattr(data, "engine_fingerprint", lambda: "another-engine")  # the engine changed since
    again = synthetic_pool(task, 32, 0, n=4, cache_dir=None, show_progress=False, pool_file=str(pinned))
    assert torch.equal(first.samples.inputs, again.samples.inputs)
    with pytest.raises(PortraitEdgeError, match="does not match the recipe: n 4"):
        synthetic_pool(task, 32, 0, n=8, cache_dir=None, show_progress=False, pool_file=str(pinned))


def test_pinned_split_file(tmp_path, fake_engine, monkeypatch):
    import pytest

    import portrait_edge.train.evaluate as evaluate
    from portrait_edge.errors import PortraitEdgeError

    task = get_task("parsing")
    pinned = str(tmp_path / "split.pt")
    first = list(evaluate.synthetic_batches(task, 3, 32, 2, seed_base=7, split_file=pinned))
    monkeypatch.setattr(evaluate, "render_samples", lambda *a, **k: pytest.fail("rendered again"))
    again = list(evaluate.synthetic_batches(task, 3, 32, 2, seed_base=7, split_file=pinned))
    assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(first, again))
    with pytest.raises(PortraitEdgeError, match="holds other samples: n 3"):
        list(evaluate.synthetic_batches(task, 4, 32, 2, seed_base=7, split_file=pinned))


def test_prefetching_returns_what_the_source_returns_and_loads_ahead_in_one_thread():
    import threading

    from portrait_edge.train.data import Prefetching

    calls, threads = [], set()

    class Source:
        def batch(self, step, rank, world_size, global_batch):
            calls.append(step)
            threads.add(threading.get_ident())
            return ("batch", step, rank, world_size, global_batch)

    batches = Prefetching(Source(), steps=4)
    assert [batches.batch(s, 0, 1, 8) for s in (0, 1, 2)] == [("batch", s, 0, 1, 8) for s in (0, 1, 2)]
    batches.pending[1].result()
    assert calls == [0, 1, 2, 3]  # step 3 loaded while step 2 trained
    assert batches.batch(0, 0, 1, 8) == ("batch", 0, 0, 1, 8)  # a jump back (resume) is not served stale
    assert batches.batch(3, 0, 1, 8)[1] == 3 and calls[-1] == 3  # the last step prefetches nothing
    batches.close()
    assert threads and threading.get_ident() not in threads
