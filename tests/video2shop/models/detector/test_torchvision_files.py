"""The clothing detector's `pretrained: coco` and `pretrained_backbone: imagenet` read torchvision's own files.

Stand-ins with exactly torchvision's names, keys and shapes (random values) are written into a
temporary TORCH_HOME and loaded through the model's real code path (torchvision reads them from the
cache), for every detector architecture the configs name.
"""

import pytest
import torch
from torchvision.models import mobilenet_v3_large, resnet18, resnet50
from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn, fasterrcnn_resnet50_fpn

from mmf_ext.utils.configuration import build_config, load_yaml
from mmf_ext.utils.errors import ConfigError
from tests.helpers import write_torchvision_file
from tests.video2shop.models.detector.test_detector_model import DEFAULTS, make_model
from video2shop.models.detector.factory import ARCHITECTURES
from video2shop.models.detector.torchvision_files import cached_file

BUILDERS = {
    "fasterrcnn_mobilenet_v3_large_fpn": fasterrcnn_mobilenet_v3_large_fpn,
    "fasterrcnn_resnet50_fpn": fasterrcnn_resnet50_fpn,
    "resnet18": resnet18,
    "mobilenet_v3_large": mobilenet_v3_large,
    "resnet50": resnet50,
}
# the backbone's first convolution: its name in the detector, and in torchvision's ImageNet file
FIRST_CONV = {
    "fasterrcnn_resnet18_fpn": ("backbone.body.conv1.weight", "conv1.weight"),
    "fasterrcnn_mobilenet_v3_large_fpn": ("backbone.body.0.0.weight", "features.0.0.weight"),
    "fasterrcnn_resnet50_fpn": ("backbone.body.conv1.weight", "conv1.weight"),
}
CONFIG_ARCHITECTURES = [  # the defaults', configs/detector.yaml's and configs/detector_paper.yaml's
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_resnet18_fpn",
    "fasterrcnn_resnet50_fpn",
]


@pytest.fixture
def cache(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return torch_home


def test_the_configs_name_these_architectures():
    named = [load_yaml(DEFAULTS).model_config.clothing_detector.architecture]
    for config in ("detector.yaml", "detector_paper.yaml"):
        composed = build_config(
            [f"config=projects/video2shop/configs/{config}", "model=clothing_detector", "dataset=synthetic_video2shop"]
        )
        named.append(composed.model_config.clothing_detector.architecture)
    assert named == CONFIG_ARCHITECTURES


@pytest.mark.parametrize("architecture", [a for a in CONFIG_ARCHITECTURES if ARCHITECTURES[a][1] is not None])
def test_pretrained_coco_loads_torchvisions_coco_file_and_keeps_a_fresh_head(cache, architecture):
    weights = ARCHITECTURES[architecture][1]
    path = write_torchvision_file(cache, weights, BUILDERS[architecture])
    assert path == cached_file(weights) and path.name == weights.url.rsplit("/", 1)[1]
    model = make_model(architecture=architecture, pretrained="coco", representation_size=1024)
    saved = torch.load(path, weights_only=True)
    own = model.detector.state_dict()
    heads = ("roi_heads.box_predictor.",)  # our categories: a new predictor
    shared = [k for k in saved if not k.startswith(heads)]
    assert len(shared) > 100 and all(torch.equal(own[k], saved[k]) for k in shared)
    assert model.detector.roi_heads.box_predictor.cls_score.out_features == 3  # two categories + background


@pytest.mark.parametrize("architecture", CONFIG_ARCHITECTURES)
def test_pretrained_backbone_imagenet_loads_torchvisions_imagenet_file(cache, architecture):
    weights = ARCHITECTURES[architecture][2]
    name = weights.url.rsplit("/", 1)[1].split("-")[0]  # resnet18, mobilenet_v3_large, resnet50
    path = write_torchvision_file(cache, weights, BUILDERS[name])
    model = make_model(architecture=architecture, pretrained_backbone="imagenet")
    saved = torch.load(path, weights_only=True)
    ours, theirs = FIRST_CONV[architecture]
    assert torch.equal(model.detector.state_dict()[ours], saved[theirs])


def test_a_missing_file_names_it_and_where_it_goes(cache):
    weights = ARCHITECTURES["fasterrcnn_resnet50_fpn"][1]
    cached_file(weights).unlink(missing_ok=True)
    with pytest.raises(ConfigError) as error:
        make_model(architecture="fasterrcnn_resnet50_fpn", pretrained="coco", representation_size=1024)
    text = str(error.value)
    assert f"pretrained=coco: {cached_file(weights)} is not in the local torch cache" in text and "\n" not in text
    assert f"copy {cached_file(weights).name} there (torchvision's file from {weights.url})" in text
