"""Which accelerator the encoding commands use: none in one process, and a clear error for a `--device` that a
multi-process launch cannot honour (the two-process runs themselves: tests/scripts/test_distributed_encoding.py)."""

from __future__ import annotations

import pytest

from babelclip.trainers.cli import search
from babelclip.trainers.evaluation.encoding import is_writing_process, launched_accelerator


def test_one_process_has_no_accelerator_and_writes(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert launched_accelerator() is None and launched_accelerator("cuda:1") is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert launched_accelerator("cpu") is None
    assert is_writing_process(None)


def test_a_launch_refuses_a_device_of_its_own(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"--device cuda:1 does not fit a multi-process launch.*drop --device"):
        launched_accelerator("cuda:1")
    argv = ["encode", "--model", str(tmp_path / "student"), "--dataset", "embedded", "--device", "cuda:1"]
    assert search.main([*argv, "--output", str(tmp_path / "gallery")]) == 2
    assert "does not fit a multi-process launch" in capsys.readouterr().err
    assert not (tmp_path / "gallery").exists()
