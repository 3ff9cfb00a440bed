"""The real thing (slow): the shipped parsing student converted at 256x256, verified on the synthetic
test split, and benchmarked against the shipped teacher."""

import pytest

from portrait_edge.edge.models import has_shipped

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not has_shipped("parsing", "student"), reason="no shipped parsing student checkpoint")]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from portrait_edge.edge.pipeline import make_job

    job = make_job("parsing", tmp_path_factory.mktemp("full") / "build", use_teacher=has_shipped("parsing", "teacher"))
    job.export()
    return job


def test_fp32_files_match_and_int8_stays_within_tolerance(job):
    result = job.verify()
    rows = {r["variant"]: r for r in result["rows"]}
    for variant in ("executorch_fp32", "litert_fp32"):
        assert rows[variant]["vs_fp32"]["label_agreement"] >= 0.999, rows[variant]
    tolerance = job.recipe.tolerances.int8_max_drop * job.recipe.tolerances.int8_drop_unit
    for variant in ("executorch_int8", "litert_int8"):
        assert rows[variant]["drop"] <= tolerance, rows[variant]
    assert all(all(rows[f"coreml_{p}"]["program_checks"].values()) for p in ("fp16", "int8w", "pal6"))


def test_int8_litert_is_the_fastest_runnable_variant(job):
    result = job.bench(threads=(2,), memory=False)
    latency = {r["variant"]: r["latency"]["2"]["median_ms"] for r in result["rows"] if r["latency"]}
    assert latency["litert_int8"] < latency["pytorch_fp32"]
    if "teacher_pytorch_fp32" in latency:
        assert latency["teacher_pytorch_fp32"] / latency["litert_int8"] > 10
