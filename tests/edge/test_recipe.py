"""Export recipes: every task has one; bad recipes are one-line errors."""

import pytest

from portrait_edge.edge.recipe import load_recipe, parse_recipe
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.tasks import task_ids


@pytest.mark.parametrize("task_id", task_ids())
def test_every_task_has_a_recipe(task_id):
    recipe = load_recipe(task_id)
    assert recipe.resolution % 32 == 0
    assert ("litert", "int8") in recipe.variants()
    assert recipe.calibration.samples > 0


def test_bad_recipes_are_rejected():
    with pytest.raises(PortraitEdgeError, match="unknown format"):
        parse_recipe({"task": "parsing", "formats": {"onnx": ["fp32"]}})
    with pytest.raises(PortraitEdgeError, match="no precision"):
        parse_recipe({"task": "parsing", "formats": {"litert": ["int4"]}})
    with pytest.raises(PortraitEdgeError, match="unknown keys"):
        parse_recipe({"task": "parsing", "calibration": {"samplez": 3}})
    with pytest.raises(PortraitEdgeError, match="qat.when"):
        parse_recipe({"task": "parsing", "qat": {"when": "sometimes"}})


def test_recipe_of_another_task_is_refused(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("task: shadow\n")
    with pytest.raises(PortraitEdgeError, match="not 'parsing'"):
        load_recipe("parsing", path)
