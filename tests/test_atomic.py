import os

import pytest

from portrait_edge.atomic import atomic_path, write_text_atomic


def test_success_replaces_the_target_with_normal_permissions(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_error_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
