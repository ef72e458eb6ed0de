"""mmf_ext.utils.build.build_model on the plugin's models: one factory, checkpoints that describe themselves."""

import shutil

import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.utils.build import build_model, checkpoint_run_config, find_run_config
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.errors import UserError
from tests.helpers import save_small_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    checkpoint = save_small_run(root / "save", root / "data")
    return checkpoint, load_yaml(checkpoint.parent / "config.yaml")


def with_config(source, target, config):
    """`source` as a self-describing checkpoint at `target`: its run config stored under "config"."""
    state = torch.load(source, map_location="cpu", weights_only=True)
    state["config"] = OmegaConf.to_container(config, resolve=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, target)
    return target


def test_a_run_config_builds_the_registered_model_as_the_trainer_does(run_dir):
    _, config = run_dir
    torch.manual_seed(0)
    model = build_model(config)
    torch.manual_seed(0)
    by_hand = registry.get_model_class("asymnet")(config.model_config.asymnet)
    by_hand.build()
    assert type(model) is type(by_hand) and model.config is config.model_config.asymnet and model.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), by_hand.state_dict().values()))


def test_a_checkpoint_finds_its_run_config_beside_it_one_folder_up_or_inside_it(run_dir, tmp_path):
    checkpoint, config = run_dir
    expected = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    nested = tmp_path / "save" / "models" / "model_4.ckpt"
    nested.parent.mkdir(parents=True)
    shutil.copy(checkpoint, nested)
    shutil.copy(checkpoint.parent / "config.yaml", nested.parent.parent / "config.yaml")
    assert find_run_config(nested) == nested.parent.parent / "config.yaml"
    lone = with_config(checkpoint, tmp_path / "lone" / "model.ckpt", config)
    for path in (checkpoint, nested, lone):
        model = build_model(None, path, device="cpu")
        assert not model.training and model.config.model == "asymnet"
        assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    assert checkpoint_run_config(lone).dataset_config.synthetic_video2shop.image_size == 32


def test_a_checkpoint_without_a_run_config_or_of_another_model_is_one_clear_line(run_dir, tmp_path):
    checkpoint, config = run_dir
    lone = tmp_path / "lone.ckpt"
    shutil.copy(checkpoint, lone)
    with pytest.raises(UserError, match="no config.yaml beside it or one folder up") as error:
        build_model(None, lone)
    assert "\n" not in str(error.value)
    wider = OmegaConf.merge(config, {"model_config": {"asymnet": {"ssn": {"hidden": 24}}}})
    with pytest.raises(UserError, match="does not fit model AsymNet") as error:
        build_model(wider, checkpoint)
    assert "\n" not in str(error.value) and str(checkpoint) in str(error.value)
