"""Training tests run on fake_data.py's tiny stand-in for the synthetic engine."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_data  # noqa: E402


@pytest.fixture
def fake_engine(monkeypatch):
    monkeypatch.setattr(fake_data.TaskSpec, "make_batch", fake_data.fake_make_batch)
    import portrait_edge.train.evaluate as evaluate

    monkeypatch.setattr(evaluate, "test_seed_base", lambda: fake_data.TEST_SEED_BASE)
    yield
