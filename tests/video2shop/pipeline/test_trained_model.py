"""A trained model loads from its checkpoint alone: the IFN's `pretrained` file is not needed again."""

import torch

from mmf_ext.utils.configuration import load_yaml, save_config
from tests import helpers
from video2shop.pipeline.trained_model import load_trained_model


def test_a_model_trained_from_a_pretrained_file_loads_where_that_file_is_gone(tmp_path):
    checkpoint = helpers.save_small_run(tmp_path / "run", tmp_path / "data")
    config = load_yaml(tmp_path / "run" / "config.yaml")
    config.model_config.asymnet.ifn.pretrained = str(tmp_path / "gone" / "ifn_source.ckpt")  # trained from it
    save_config(config, tmp_path / "run")
    trained = load_trained_model(checkpoint)
    expected = torch.load(checkpoint, weights_only=True)["state_dict"]["ifn.fc.0.weight"]
    assert torch.equal(trained.model.ifn.fc[0].weight, expected)
    assert trained.config.model_config.asymnet.ifn.pretrained.endswith("ifn_source.ckpt")  # the run's config as is
