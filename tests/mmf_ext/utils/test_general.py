"""MMF's light helpers in mmf_ext.utils.general."""

import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from mmf_ext.common.registry import registry
from mmf_ext.utils import general


@pytest.fixture
def run_config():
    def register(**sections):
        registry.register("config", OmegaConf.create(sections))

    yield register
    registry.unregister("config")


def test_mmf_root_is_the_framework_package_and_is_cached_in_the_registry():
    root = general.get_mmf_root()
    assert Path(root) == Path(general.__file__).resolve().parents[1] and registry.get("mmf_root") == root


def test_absolute_paths_are_found_as_given_under_user_dir_or_beside_the_root(tmp_path, run_config, monkeypatch):
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "vocab.txt").write_text("a")
    run_config(env={"user_dir": str(tmp_path / "plugin")})
    assert general.get_absolute_path("vocab.txt") == str(tmp_path / "plugin" / "vocab.txt")
    assert general.get_absolute_path("/abs/x") == "/abs/x" and general.get_absolute_path("s3://b/k") == "s3://b/k"
    assert general.get_absolute_path("utils/general.py") == os.path.abspath(general.__file__)  # under the root
    assert general.get_absolute_path("nowhere.txt") == "nowhere.txt"
    assert general.get_absolute_path(["vocab.txt", "nowhere.txt"]) == [
        str(tmp_path / "plugin" / "vocab.txt"),
        "nowhere.txt",
    ]
    with pytest.raises(TypeError):
        general.get_absolute_path(3)


def test_current_device_is_the_cpu_without_cuda_in_use():
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        assert general.get_current_device() == torch.device("cpu")


def test_batch_size_per_process_from_the_run_config(run_config):
    run_config(training={"batch_size": 8})
    assert general.get_batch_size() == 8
    run_config(training={"batch_size": 8, "batch_size_per_device": 3})
    assert general.get_batch_size() == 3


def test_batch_size_without_a_run_config_says_so():
    registry.unregister("config")
    with pytest.raises(RuntimeError, match="needs the run config"):
        general.get_batch_size()


def test_small_helpers():
    assert general.dict_to_string({"loss": torch.tensor(0.5), "acc": 0.25}) == "loss: 0.5000, acc: 0.2500"
    assert general.get_overlap_score("dogs", "dog") == 0.75 and general.get_overlap_score("ab", "cd") == 0.0
    assert general.get_sizes_list(10, 3) == [4, 4, 2] and general.get_sizes_list(7, 5) == [2, 2, 1, 1, 1]
    assert [c.shape[1] for c in general.get_chunks(torch.zeros(2, 10), [4, 4, 2])] == [4, 4, 2]
    assert general.updir("/a/b/c", 2) == "/a"
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model[0].weight.requires_grad_(False)
    assert general.print_model_parameters(model, return_only=True) == (9, 5)
    assert len(general.get_optimizer_parameters(model)) == 3
    assert general.scalarize_dict_values({"a": torch.tensor([1.0, 3.0]), "b": 1})["a"] == torch.tensor(2.0)
    general.assert_iterator_finished(iter([]))
    with pytest.raises(AssertionError):
        general.assert_iterator_finished(iter([1]))


def test_retry_n_retries_then_raises(monkeypatch):
    monkeypatch.setattr(general.time, "sleep", lambda seconds: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("busy")
        return "done"

    assert general.retry_n(2, flaky) == "done" and len(calls) == 3
    with pytest.raises(OSError):
        general.retry_n(1, lambda: (_ for _ in ()).throw(OSError("always")))
