"""Recipes: the shipped YAML files parse, bad recipes give one-line errors naming the problem."""

from pathlib import Path

import pytest

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.train.recipe import load_recipe, recipe_from_dict

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "training").rglob("*.yaml"))


def test_there_are_shipped_recipes():
    names = {p.relative_to(ROOT / "training").as_posix() for p in SHIPPED}
    assert {"parsing/teacher.cpu-quick.yaml", "parsing/student-distill.cpu-quick.yaml",
            "parsing/student-scratch.cpu-quick.yaml", "parsing/teacher.gpu-full.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT / "training").as_posix())
def test_shipped_recipe_is_valid(path):
    recipe = load_recipe(path)
    assert recipe.profile in path.name
    assert recipe.resolution % 32 == 0
    if recipe.distilling:
        assert recipe.role == "student" and recipe.variant == "student"


def test_defaults_and_variant():
    recipe = recipe_from_dict({"task": "parsing", "role": "student", "optimizer": {"lr": "1e-3"}})
    assert recipe.optimizer.lr == pytest.approx(1e-3)  # YAML reads 1e-3 as a string
    assert recipe.variant == "student_scratch"
    distilled = recipe_from_dict({"task": "parsing", "role": "student", "distill": {"teacher": "t.safetensors"},
                                  "loss": {"output_distill": 1.0}})
    assert distilled.variant == "student"


@pytest.mark.parametrize("values,message", [
    ({"role": "teacher"}, "missing required field 'task'"),
    ({"task": "nope", "role": "teacher"}, "unknown task"),
    ({"task": "parsing", "role": "boss"}, "role must be"),
    ({"task": "parsing", "role": "teacher", "stepz": 3}, "unknown field"),
    ({"task": "parsing", "role": "teacher", "optimizer": {"lr": "fast"}}, "lr must be a number"),
    ({"task": "parsing", "role": "teacher", "steps": 0}, "steps must be positive"),
    ({"task": "parsing", "role": "student", "loss": {"output_distill": 1}}, "need distill.teacher"),
    ({"task": "parsing", "role": "teacher", "distill": {"teacher": "x"}}, "teacher recipe cannot"),
    ({"task": "parsing", "role": "teacher", "data": {"source": "reader"}}, "needs data.reader"),
    ({"task": "parsing", "role": "teacher", "optimizer": 3}, "must be a mapping"),
    ({"task": "parsing", "role": "teacher", "data": {"seed": 9}, "steps": 200_000, "batch_size": 8},
     "test split's seeds"),
])
def test_bad_recipes(values, message):
    with pytest.raises(PortraitEdgeError, match=message) as info:
        recipe_from_dict(values)
    assert "\n" not in str(info.value)


def test_overrides_and_bad_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("task: parsing\nrole: teacher\nsteps: 5\n")
    recipe = load_recipe(path, {"steps": 7, "optimizer.lr": 0.5})
    assert (recipe.steps, recipe.optimizer.lr, recipe.name) == (7, 0.5, "r")
    path.write_text("task: [parsing\n")
    with pytest.raises(PortraitEdgeError, match="not valid YAML"):
        load_recipe(path)
    with pytest.raises(PortraitEdgeError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")


def test_a_mix_of_sources_is_validated_entry_by_entry():
    import pytest

    from portrait_edge.errors import PortraitEdgeError
    from portrait_edge.train.recipe import DataSection, recipe_from_dict

    base = {"task": "parsing", "role": "teacher", "steps": 10}
    recipe = recipe_from_dict({**base, "data": {"mix": [
        {"weight": 2, "source": "synthetic", "pool": 8, "augment": ["colour"]},
        {"weight": 1, "source": "reader", "reader": "pool", "root": "/x", "reader_options": {"split": "train"}}]}})
    assert all(isinstance(m, DataSection) for m in recipe.data.mix)
    assert recipe.data.mix[0].weight == 2.0 and recipe.data.mix[1].reader_options == {"split": "train"}
    for bad, match in (({"weight": 0}, "weight must be positive"), ({"augment": ["spin"]}, "unknown spin"),
                       ({"source": "reader"}, "needs data.mix\\[0\\].reader"), ({"colour": 1}, "unknown field")):
        with pytest.raises(PortraitEdgeError, match=match):
            recipe_from_dict({**base, "data": {"mix": [bad]}})
