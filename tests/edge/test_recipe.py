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


def test_more_resolutions_build_in_their_own_folders(tmp_path):
    from portrait_edge.edge.artifacts import EXPORT_JSON
    from portrait_edge.edge.pipeline import built_task_dirs, make_job
    from portrait_edge.edge.recipe import parse_recipe

    recipe = parse_recipe({"task": "retouch", "resolution": 256, "more_resolutions": [512]})
    assert recipe.resolutions() == [256, 512]
    for bad in ([500], "512", [0]):
        with pytest.raises(PortraitEdgeError, match="more_resolutions"):
            parse_recipe({"task": "retouch", "more_resolutions": bad})
    assert make_job("parsing", tmp_path).dir == tmp_path / "parsing"
    assert make_job("parsing", tmp_path, resolution=256).dir == tmp_path / "parsing"  # the recipe's own size
    job = make_job("parsing", tmp_path, resolution=512)
    assert job.dir == tmp_path / "parsing_512" and job.recipe.resolution == 512
    for name in ("parsing_512", "parsing", "parsing_1024", "parsing_x", "normals"):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / EXPORT_JSON).write_text("{}")
    assert [p.name for p in built_task_dirs(tmp_path)] == ["normals", "parsing", "parsing_512", "parsing_1024"]


def test_more_resolutions_leave_the_export_fingerprint_alone():
    """Adding a size builds another target; the files of the recipe's own size stay current."""
    from portrait_edge.edge.recipe import parse_recipe

    plain = parse_recipe({"task": "retouch", "resolution": 256})
    more = parse_recipe({"task": "retouch", "resolution": 256, "more_resolutions": [512]})
    assert plain.export_fingerprint() == more.export_fingerprint()
    assert plain.export_fingerprint() != plain.with_overrides(resolution=512).export_fingerprint()
