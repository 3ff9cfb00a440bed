"""Shared test settings and fixtures.

torch runs on one thread: the machine has 2 cores. The edge fixtures (a tiny parsing student, its recipe
and one session-wide build of every exported variant) serve tests/edge and tests/report; they are lazy,
so other tests pay nothing for them.
"""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "edge"))
import edge_fixtures  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def parsing_task():
    from portrait_edge.tasks import get_task

    return get_task("parsing")


@pytest.fixture(scope="session")
def tiny_recipe():
    return edge_fixtures.tiny_recipe()


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    return edge_fixtures.session_build(tmp_path_factory)


@pytest.fixture(scope="session")
def space_app(tmp_path_factory):
    """The Gradio Space launched locally once per test session (tests/test_space*.py)."""
    pytest.importorskip("gradio")
    pytest.importorskip("mediapipe")
    from portrait_edge.space import CONCURRENCY, build_app

    app = build_app(tmp_path_factory.mktemp("examples"))
    app.queue(default_concurrency_limit=CONCURRENCY)
    app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield app
    app.close()
