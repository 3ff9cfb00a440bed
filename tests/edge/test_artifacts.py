"""Paths recorded in manifests that travel with bundles and reports."""

from pathlib import Path

import portrait_edge
from portrait_edge.edge.artifacts import portable_path


def test_shipped_weights_are_named_relative_to_the_package_folder():
    weights = Path(portrait_edge.__file__).parent / "weights" / "parsing_student.safetensors"
    assert portable_path(weights) == "portrait_edge/weights/parsing_student.safetensors"


def test_paths_never_leak_the_building_machine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert portable_path(tmp_path / "runs" / "final.safetensors") == "runs/final.safetensors"
    monkeypatch.chdir(Path(portrait_edge.__file__).parent)  # tmp_path is now outside both bases
    assert portable_path(tmp_path / "final.safetensors") == "final.safetensors"


def test_the_export_manifest_records_a_relative_source(built):
    assert not Path(built["export"]["source"]["path"]).is_absolute()
