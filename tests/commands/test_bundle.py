"""`portrait-edge bundle` and `bundle --check` through the CLI."""

import sys
from pathlib import Path

import pytest

from portrait_edge import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
import edge_fixtures  # noqa: E402
from edge_fixtures import one_line_error  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return edge_fixtures.session_build(tmp_path_factory)


def test_bundle_then_check_then_corrupt(built, tmp_path, capsys):
    android, ios = tmp_path / "android_assets", tmp_path / "ios_assets"
    dirs = ["--android-dir", str(android), "--ios-dir", str(ios)]
    assert cli.main(["bundle", "--build-dir", str(built["build"]), *dirs]) == 0
    assert "android: parsing" in capsys.readouterr().out
    assert cli.main(["bundle", "--check", *dirs]) == 0
    assert "all checksums match" in capsys.readouterr().out
    pte = android / "parsing" / "parsing_int8.pte"
    pte.write_bytes(pte.read_bytes() + b"\0")
    assert cli.main(["bundle", "--check", *dirs]) == 2
    assert "parsing_int8.pte: checksum mismatch" in one_line_error(capsys)


def test_check_without_bundle(tmp_path, capsys):
    assert cli.main(["bundle", "--check", "--android-dir", str(tmp_path / "a"), "--ios-dir", str(tmp_path / "i")]) == 2
    assert "does not exist" in one_line_error(capsys)
