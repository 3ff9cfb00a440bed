import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
import edge_fixtures  # noqa: E402


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
