"""`ifn.pretrained`: torchvision's own files from a temporary torch cache, and project checkpoints' IFNs.

Stand-in files hold exactly torchvision's keys and shapes (the torchvision model built with
weights=None, random values) under the file name torchvision downloads to; what the IFN loaded is
compared with what torchvision itself reads from that cache (`Weights.get_state_dict`, which finds
the cached file and downloads nothing).
"""

import shutil

import pytest
import torch
import torchvision.models as tvm
from omegaconf import OmegaConf
from torchvision.models.feature_extraction import create_feature_extractor

from mmf_ext.common.registry import registry
from mmf_ext.utils.build import build_model
from mmf_ext.utils.configuration import build_config, load_yaml
from mmf_ext.utils.errors import ConfigError
from tests.helpers import REPO_ROOT
from video2shop.models.asymnet.ifn import ImageFeatureNetwork
from video2shop.models.detector.torchvision_files import file_name

# backbone -> (torchvision builder, weights, the torchvision node whose output the IFN's backbone gives)
TORCHVISION = {
    "vgg16": (tvm.vgg16, tvm.VGG16_Weights.IMAGENET1K_V1, "features.29"),  # conv5_3's ReLU; SPP replaces pool5
    "resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1, "layer4"),
    "mobilenet_v3_small": (tvm.mobilenet_v3_small, tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1, "features"),
}
CONFIGS = REPO_ROOT / "projects" / "video2shop" / "configs"


def configured_backbones() -> set[str]:
    """Every ifn.backbone a shipped config names."""
    names = set()
    for path in CONFIGS.rglob("*.yaml"):
        for section in (load_yaml(path).get("model_config") or {}).values():
            if section and "ifn" in section and "backbone" in section.ifn:
                names.add(str(section.ifn.backbone))
    return names


def test_every_configured_and_supported_backbone_is_covered_here():
    assert configured_backbones() - {"tiny"} <= set(TORCHVISION)
    assert {"vgg16"} <= configured_backbones()


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """A torch cache holding a stand-in of each backbone's ImageNet file, under torchvision's own name."""
    home = tmp_path_factory.mktemp("torch_home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    for builder, weights, _ in TORCHVISION.values():
        torch.save(builder(weights=None).state_dict(), folder / file_name(weights))
    return home


@pytest.fixture
def cache(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return torch_home / "hub" / "checkpoints"


def test_file_names_are_torchvisions_download_names():
    names = {name: file_name(weights) for name, (_, weights, _) in TORCHVISION.items()}
    assert names == {
        "vgg16": "vgg16-397923af.pth",
        "resnet18": "resnet18-f37072fd.pth",
        "mobilenet_v3_small": "mobilenet_v3_small-047dcff4.pth",
    }


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_imagenet_loads_the_file_torchvision_reads_into_the_backbone(name, cache):
    builder, weights, node = TORCHVISION[name]
    ifn = ImageFeatureNetwork(name, (1, 2), feature_dim=16, pretrained="imagenet").eval()
    expected = weights.get_state_dict(progress=False)  # torchvision reads the cached file: no download
    reference = builder(weights=None)
    reference.load_state_dict(expected)
    extractor = create_feature_extractor(reference.eval(), {node: "out"})
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ifn.backbone(images), extractor(images)["out"])
    for key, tensor in ifn.backbone.state_dict().items():  # every backbone tensor is the file's, by name
        assert torch.equal(tensor, expected[torchvision_key(name, key)]), key


RESNET_CHILDREN = [child for child, _ in tvm.resnet18().named_children()]


def torchvision_key(name, key):
    """The torchvision name of an IFN backbone key: resnet18's backbone lists the model's children in order."""
    if name == "resnet18":
        head, rest = key.split(".", 1)
        return f"{RESNET_CHILDREN[int(head)]}.{rest}"
    return f"features.{key}"


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_a_missing_file_is_one_line_naming_it_and_where_it_goes(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, weights, _ = TORCHVISION[name]
    with pytest.raises(ConfigError) as error:
        ImageFeatureNetwork(name, pretrained="imagenet")
    message = str(error.value)
    assert "\n" not in message and file_name(weights) in message
    assert str(tmp_path / "hub" / "checkpoints") in message and "ifn.pretrained=imagenet" in message


def test_a_file_of_another_backbone_is_one_line(cache, tmp_path, monkeypatch):
    wrong = tmp_path / "home"
    (wrong / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(cache / "resnet18-f37072fd.pth", wrong / "hub" / "checkpoints" / "vgg16-397923af.pth")
    monkeypatch.setenv("TORCH_HOME", str(wrong))
    with pytest.raises(ConfigError) as error:
        ImageFeatureNetwork("vgg16", pretrained="imagenet")
    message = str(error.value)
    assert "\n" not in message and "does not fit VGG" in message and "vgg16-397923af.pth" in message


def test_a_file_with_a_wrong_shape_is_one_line(cache, tmp_path):
    state = torch.load(cache / "resnet18-f37072fd.pth", weights_only=True)
    state["layer1.0.conv1.weight"] = torch.zeros(32, 64, 3, 3)
    torch.save(state, tmp_path / "r18.pth")
    with pytest.raises(ConfigError, match=r"1 tensors of another shape \(layer1\.0\.conv1\.weight") as error:
        ImageFeatureNetwork("resnet18", pretrained=str(tmp_path / "r18.pth"))
    assert "\n" not in str(error.value)


def test_a_torchvision_file_given_by_path_loads_the_same_weights(cache, tmp_path):
    copy = tmp_path / "elsewhere" / "my_resnet.pth"
    copy.parent.mkdir()
    shutil.copy(cache / "resnet18-f37072fd.pth", copy)
    expected = torch.load(copy, weights_only=True)
    ifn = ImageFeatureNetwork("resnet18", pretrained=str(copy))
    assert torch.equal(ifn.backbone[0].weight, expected["conv1.weight"])
    assert torch.equal(ifn.backbone[7][1].bn2.running_var, expected["layer4.1.bn2.running_var"])


def test_files_without_batchnorm_counters_load_as_torchvision_loads_them(cache, tmp_path):
    state = torch.load(cache / "mobilenet_v3_small-047dcff4.pth", weights_only=True)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # saved by PyTorch < 0.4.1
    torch.save(state, tmp_path / "old.pth")
    ifn = ImageFeatureNetwork("mobilenet_v3_small", pretrained=str(tmp_path / "old.pth"))
    assert torch.equal(ifn.backbone[0][1].running_mean, state["features.0.1.running_mean"])


def test_tiny_has_no_imagenet_weights(cache):
    with pytest.raises(ConfigError, match="tiny backbone has no ImageNet weights") as error:
        ImageFeatureNetwork("tiny", pretrained="imagenet")
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="the tiny backbone has none"):
        ImageFeatureNetwork("tiny", pretrained=str(cache / "resnet18-f37072fd.pth"))


def test_the_models_read_ifn_pretrained_through_their_config(cache):
    for name in ("asymnet", "contrastive_softmax"):
        defaults = load_yaml(registry.get_model_class(name).config_path()).model_config[name]
        config = OmegaConf.merge(defaults, {"ifn": {"backbone": "mobilenet_v3_small", "pretrained": "imagenet"}})
        model = registry.get_model_class(name)(config)
        model.build()
        expected = torch.load(cache / "mobilenet_v3_small-047dcff4.pth", weights_only=True)
        assert torch.equal(model.ifn.backbone[0][0].weight, expected["features.0.0.weight"]), name


# -- VGG16 with fc6 / fc7 (the paper's IFN) ------------------------------------------------------
def test_vgg_fc_starts_as_vgg16s_fc7_and_learns_the_other_pyramid_levels(cache):
    ifn = ImageFeatureNetwork("vgg16", (1, 2, 4, 7), 4096, pretrained="imagenet", vgg_fc=True).eval()
    vgg = tvm.vgg16(weights=None)
    vgg.load_state_dict(tvm.VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=False))
    fc6 = ifn.fc[0].weight
    start = 512 * (1 + 4 + 16)
    assert torch.equal(fc6[:, start:], vgg.classifier[0].weight) and not fc6[:, :start].any()
    assert torch.equal(ifn.fc[3].weight, vgg.classifier[3].weight)
    images = torch.rand(1, 3, 224, 224)  # conv5 14x14: the 7x7 level is VGG's pool5
    with torch.no_grad():
        fc7 = vgg.eval().classifier[:5](torch.flatten(vgg.avgpool(vgg.features((images - ifn.mean) / ifn.std)), 1))
        assert torch.allclose(ifn(images), fc7, atol=1e-4, rtol=1e-4)
    assert ifn.feature_dim == 4096


def test_vgg_fc_from_scratch_takes_any_pyramid_and_any_crop_size():
    ifn = ImageFeatureNetwork("vgg16", (1, 2), 4096, vgg_fc=True)
    assert [type(m).__name__ for m in ifn.fc] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout"]
    assert ifn.fc[0].in_features == 512 * 5
    assert ifn(torch.rand(1, 3, 40, 56)).shape == (1, 4096)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backbone": "resnet18", "feature_dim": 4096, "vgg_fc": True}, "set ifn.backbone=vgg16"),
        ({"backbone": "vgg16", "feature_dim": 512, "vgg_fc": True}, "set ifn.feature_dim=4096"),
        (
            {"backbone": "vgg16", "feature_dim": 4096, "vgg_fc": True, "pretrained": "imagenet"},
            "add 7 to ifn.spp_levels",
        ),
        ({"backbone": "tiny", "spp_levels": (2, 2)}, "distinct grid sizes"),
    ],
)
def test_vgg_fc_settings_that_cannot_work_are_one_line(kwargs, message, cache):
    with pytest.raises(ConfigError, match=message) as error:
        ImageFeatureNetwork(**kwargs)
    assert "\n" not in str(error.value)


def test_the_paper_config_uses_vgg16_with_fc6_fc7():
    ifn = load_yaml(CONFIGS / "asymnet_paper.yaml").model_config.asymnet.ifn
    assert ifn.backbone == "vgg16" and ifn.vgg_fc and 7 in ifn.spp_levels and ifn.feature_dim == 4096


# -- project checkpoints ---------------------------------------------------------------------------
SMALL_IFN = ["ifn.feature_dim=16", "ifn.spp_levels=[1,2]"]


def project_checkpoint(tmp_path, model, overlay, *extra):
    """A checkpoint as mmf_run writes it (state_dict, global_step, the run config) of a freshly built model."""
    options = [f"model_config.{model}.{o}" for o in (*SMALL_IFN, *extra)]
    config = build_config([f"config={overlay}", f"model={model}", "dataset=synthetic_video2shop", *options])
    torch.manual_seed(5)
    built = build_model(config)
    path = tmp_path / f"{model}.ckpt"
    container = OmegaConf.to_container(config, resolve=False)
    torch.save({"state_dict": built.state_dict(), "global_step": 3, "config": container}, path)
    return built, path


@pytest.mark.parametrize(
    "model, overlay, ifn_attribute",
    [
        ("asymnet", CONFIGS / "asymnet.yaml", "ifn"),
        ("contrastive_softmax", CONFIGS / "ablations" / "baseline_cs.yaml", "ifn"),
        ("infonce_dual_encoder", CONFIGS / "ablations" / "baseline_infonce.yaml", "video_ifn"),
    ],
)
def test_a_project_checkpoint_gives_its_ifn(model, overlay, ifn_attribute, tmp_path):
    built, path = project_checkpoint(tmp_path, model, overlay)
    ifn = ImageFeatureNetwork("tiny", (1, 2), 16, pretrained=str(path))
    source = getattr(built, ifn_attribute).state_dict()
    assert ifn.state_dict().keys() == source.keys()
    assert all(torch.equal(ifn.state_dict()[k], v) for k, v in source.items())


def test_a_final_pth_and_an_asymnet_config_read_the_same_ifn(tmp_path):
    built, path = project_checkpoint(tmp_path, "contrastive_softmax", CONFIGS / "ablations" / "baseline_cs.yaml")
    final = tmp_path / "contrastive_softmax_final.pth"
    torch.save(built.state_dict(), final)  # mmf_run's <model>_final.pth: the bare state dict
    defaults = load_yaml(registry.get_model_class("asymnet").config_path()).model_config.asymnet
    config = OmegaConf.merge(defaults, {"ifn": {"feature_dim": 16, "spp_levels": [1, 2], "pretrained": str(final)}})
    asymnet = registry.get_model_class("asymnet")(config)
    asymnet.build()
    assert torch.equal(asymnet.ifn.fc[0].weight, built.ifn.fc[0].weight)
    assert torch.equal(asymnet.ifn.backbone[1].running_var, built.ifn.backbone[1].running_var)


def test_a_checkpoint_with_another_ifn_is_one_line_naming_its_settings(tmp_path):
    _, path = project_checkpoint(tmp_path, "asymnet", CONFIGS / "asymnet.yaml")
    with pytest.raises(ConfigError) as error:
        ImageFeatureNetwork("tiny", (1, 2), 32, pretrained=str(path))
    message = str(error.value)
    assert "\n" not in message and "does not fit this IFN" in message
    assert "model asymnet: backbone tiny, feature_dim 16, spp_levels [1, 2], vgg_fc False" in message
    with pytest.raises(ConfigError, match="does not fit this IFN"):
        ImageFeatureNetwork("resnet18", (1, 2), 16, pretrained=str(path))


def test_a_checkpoint_without_an_ifn_is_one_line(tmp_path):
    path = tmp_path / "detector.ckpt"
    torch.save({"state_dict": {"detector.head.weight": torch.zeros(2)}, "config": {"model": "clothing_detector"}}, path)
    with pytest.raises(ConfigError, match="holds no IFN .*model clothing_detector") as error:
        ImageFeatureNetwork("tiny", pretrained=str(path))
    assert "\n" not in str(error.value)
