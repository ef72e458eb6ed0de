"""replace_dir swaps a finished folder in: the old one goes only after the new one is in place."""

import pytest

from mmf_ext.utils import file_io


def test_replace_dir_puts_the_new_folder_in_place_and_removes_the_old(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a.txt").write_text("new")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("old")
    file_io.replace_dir(tmp_path / "new", tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    (tmp_path / "first").mkdir()
    file_io.replace_dir(tmp_path / "first", tmp_path / "fresh")  # nothing there before
    assert (tmp_path / "fresh").is_dir() and not (tmp_path / "first").exists()


def test_a_failed_swap_keeps_the_old_folder_beside(tmp_path, monkeypatch):
    (tmp_path / "new").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("old")
    real = file_io.os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError("disk gone")
        real(src, dst)

    monkeypatch.setattr(file_io.os, "replace", second_fails)
    with pytest.raises(OSError):
        file_io.replace_dir(tmp_path / "new", tmp_path / "out")
    (old,) = tmp_path.glob(".out.old.*")
    assert (old / "a.txt").read_text() == "old"
