"""The clothing_detector model on tiny generated images: losses, learning, outputs, weights, errors."""

import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.errors import ConfigError
from video2shop.datasets.categories import PAPER_CATEGORIES
from video2shop.models.detector.categories import detector_categories
from video2shop.models.detector.model import ClothingDetectorModel

DEFAULTS = ClothingDetectorModel.config_path()


def make_model(**overrides):
    config = load_yaml(DEFAULTS).model_config.clothing_detector
    config = OmegaConf.merge(config, {"categories": ["Top", "Dress"], "min_size": 64, "max_size": 64, **overrides})
    torch.manual_seed(0)
    model = ClothingDetectorModel(config)
    model.build()
    return model


def scene(seed):
    """A bright 'Top' square on dark noise; its box."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 60, (3, 64, 72), dtype=torch.uint8, generator=generator)
    image[:, 12:44, 20:50] = torch.tensor([220, 60, 60], dtype=torch.uint8)[:, None, None]
    return Sample(image=image, boxes=torch.tensor([[20.0, 12.0, 50.0, 44.0]]), labels=torch.tensor([1]))


def batch(n=2):
    return SampleList([scene(i) for i in range(n)])


def test_training_forward_returns_torchvision_losses_and_gradients():
    model = make_model()
    model.train()
    losses = model(batch())["losses"]
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.detector.roi_heads.box_predictor.cls_score.weight.grad.abs().sum() > 0


def test_a_few_steps_on_one_scene_lower_the_loss():
    model = make_model()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data = batch(2)
    totals = []
    for _ in range(8):
        total = sum(model(data)["losses"].values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(float(total.detach()))
    assert totals[-1] < 0.7 * totals[0]


def test_training_records_the_scale_its_video_frames_were_seen_at():
    model = make_model(min_size=64, max_size=80)
    model.train()
    video = [scene(0), scene(1)]  # 64 x 72: the short side is resized to 64 (the long one to 72 <= 80)
    shop = Sample(image=torch.zeros((3, 40, 100), dtype=torch.uint8), boxes=torch.tensor([[5.0, 5, 30, 30]]))
    shop.labels = torch.tensor([1])
    for sample, kind in ((video[0], "video"), (video[1], "video"), (shop, "shop")):
        sample.kind = kind
    model(SampleList([*video, shop]))
    assert model.frame_scale.sides == [64.0, 64.0]  # shop images are not frames
    wide = Sample(image=torch.zeros((3, 64, 160), dtype=torch.uint8), boxes=torch.tensor([[5.0, 5, 30, 30]]))
    wide.labels, wide.kind = torch.tensor([1]), "video"
    model(SampleList([wide, wide, wide]))  # capped by max_size: 64 x 160 -> 32 x 80
    checkpoint = {}
    model.on_save_checkpoint(checkpoint)
    assert checkpoint["clothing_detector"]["frame_short_side"] == 32.0  # the median of 64, 64, 32, 32, 32
    resumed = make_model(min_size=64, max_size=80)
    resumed.on_load_checkpoint(checkpoint)
    saved = {}
    resumed.on_save_checkpoint(saved)  # nothing trained since: the value it was resumed with
    assert saved["clothing_detector"]["frame_short_side"] == 32.0


def test_evaluation_forward_gives_per_image_predictions_and_aggregation_lists_them():
    model = make_model(score_threshold=0.0)
    model.eval()
    data = batch(3)
    with torch.no_grad():
        output = model(data)
    assert len(output["pred_boxes"]) == 3
    for boxes, scores, labels in zip(output["pred_boxes"], output["pred_scores"], output["pred_labels"]):
        assert boxes.shape == (len(scores), 4) and len(labels) == len(scores)
        assert ((labels >= 1) & (labels <= 2)).all()
        assert (boxes[:, 2] <= 72).all() and (boxes[:, 3] <= 64).all()  # in the input image's pixels
    stacked = {
        k: torch.stack([torch.zeros(2, 4)] * 3) if k == "pred_boxes" else torch.zeros(3, 2)
        for k in ("pred_boxes", "pred_scores", "pred_labels")
    }
    aggregated = model.aggregate_eval_outputs(data, stacked)
    assert len(aggregated["pred_boxes"]) == 3 and aggregated["pred_boxes"][0].shape == (2, 4)
    assert aggregated["category_names"] == ["Top", "Dress"]


def test_num_classes_and_labels_must_agree_with_the_categories():
    with pytest.raises(ConfigError, match="num_classes=5 but there are 2 categories"):
        make_model(num_classes=5)
    model = make_model()
    model.train()
    bad = batch(1)
    bad["labels"] = torch.tensor([[3]])
    with pytest.raises(ConfigError, match="labelled 3 but the detector has classes 1..2"):
        model(bad)


def test_categories_come_from_the_model_then_the_dataset_then_the_paper():
    run = OmegaConf.create(
        {"datasets": "video2shop", "dataset_config": {"video2shop": {"categories": ["A", "B", "C"]}}}
    )
    assert detector_categories(OmegaConf.create({"categories": ["X"]}), run) == ["X"]
    assert detector_categories(OmegaConf.create({"categories": None}), run) == ["A", "B", "C"]
    assert detector_categories(OmegaConf.create({}), None) == list(PAPER_CATEGORIES)


def test_pretrained_weights_load_from_a_local_file_and_a_missing_one_is_a_clear_error(tmp_path, monkeypatch):
    source = make_model()
    path = tmp_path / "detector.pth"
    torch.save(source.detector.state_dict(), path)
    torch.manual_seed(1)
    loaded = make_model(pretrained=str(path), categories=["Top", "Dress", "Bag"])  # another class count
    first = "backbone.body.0.0.weight"
    assert torch.equal(loaded.detector.state_dict()[first], source.detector.state_dict()[first])
    assert loaded.detector.roi_heads.box_predictor.cls_score.out_features == 4  # kept fresh for 3 categories
    with pytest.raises(ConfigError, match="pretrained=.*nope.pth: no such file"):
        make_model(pretrained=str(tmp_path / "nope.pth"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ConfigError, match="pretrained=coco: .* not in the local torch cache"):
        make_model(pretrained="coco", representation_size=1024)
    with pytest.raises(ConfigError, match="pretrained_backbone=imagenet: .* not in the local torch cache"):
        make_model(pretrained_backbone="imagenet")


def test_the_paper_architecture_builds_offline():
    model = make_model(architecture="fasterrcnn_resnet50_fpn")
    model.eval()
    with torch.no_grad():
        assert len(model(batch(1))["pred_boxes"]) == 1
    with pytest.raises(ConfigError, match="architecture='yolo'"):
        make_model(architecture="yolo")


@pytest.mark.parametrize(
    "config, architecture",
    [("detector.yaml", "fasterrcnn_resnet18_fpn"), ("detector_paper.yaml", "fasterrcnn_resnet50_fpn")],
)
def test_project_configs_compose_for_every_video2shop_dataset(config, architecture):
    from mmf_ext.utils.configuration import build_config

    for dataset in ("synthetic_video2shop", "video2shop", "movingfashion"):
        composed = build_config(
            [f"config=projects/video2shop/configs/{config}", "model=clothing_detector", f"dataset={dataset}"]
        )
        assert composed.model_config.clothing_detector.architecture == architecture
        assert composed.dataset_config[dataset].task == "detection"
        assert composed.evaluation.metrics[0].type == "detection_map"
