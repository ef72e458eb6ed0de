"""Video2shop datasets served for detection: full frames at tracklet boxes and shop images with boxes."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.errors import ConfigError
from video2shop.datasets.categories import PAPER_CATEGORIES
from video2shop.datasets.manifest import ManifestError


def detection_config(name, data_dir, cache_dir, **detection):
    builder = registry.get_builder_class(name)()
    raw = load_yaml(builder.config_path()).dataset_config[name]
    return builder, OmegaConf.merge(
        raw, {"data_dir": str(data_dir), "cache_dir": str(cache_dir), "task": "detection", "detection": detection}
    )


def red_centroid_x(image):
    """x centre of the red square that tests/conftest.py's moving_video draws."""
    red = (image[0].int() > 140) & (image[1].int() < 90) & (image[2].int() < 90)
    return float(torch.nonzero(red)[:, 1].float().mean())


def test_synthetic_frames_and_shop_images_carry_their_boxes_and_category_labels(synthetic_dir, tmp_path):
    builder, config = detection_config(
        "video2shop", synthetic_dir, tmp_path, frames_per_video=3, eval_frames_per_video=2
    )
    train = builder.load(config, "train")
    manifest = json.loads((synthetic_dir / "train.json").read_text())
    videos = sum(len(e["video_paths"]) for e in manifest.values())
    assert sum(i.kind == "video" for i in train.images) == 3 * videos
    assert sum(i.kind == "shop" for i in train.images) == len(manifest)
    for index in (0, len(train) - 1):
        item = train.images[index]
        entry = manifest[
            item.image_id.split("@")[0].rsplit("_", 1)[0] if item.kind == "video" else item.image_id.split("/")[0]
        ]
        label = PAPER_CATEGORIES.index(entry["category"]) + 1
        if item.kind == "video":
            video = next(v for v in entry["video_paths"] if v.endswith(item.path.name))
            expected = entry["tracklets"][entry["video_paths"].index(video)][str(item.frame)]
        else:
            expected = entry["shop_boxes"][0]
        assert list(item.boxes[0]) == expected and item.labels == (label,)
    train.augment = False
    sample = train[0]
    assert sample.image.dtype == torch.uint8 and sample.image.shape == (3, 64, 64)  # the whole frame, not a crop
    assert sample.boxes.dtype == torch.float32 and sample.boxes.shape == (1, 4) and sample.labels.dtype == torch.int64
    test = builder.load(config, "test")
    assert sum(i.kind == "video" for i in test.images) == 2 * len(json.loads((synthetic_dir / "test.json").read_text()))


def test_a_decoded_frame_shows_the_object_where_its_box_says(movingfashion_dir, tmp_path):
    manifest = json.loads((movingfashion_dir / "test.json").read_text())
    manifest["s1"]["category"], manifest["s2"]["category"], manifest["s3"]["category"] = "Dress", "Dress", "Top"
    (movingfashion_dir / "test.json").write_text(json.dumps(manifest))
    builder, config = detection_config("video2shop", movingfashion_dir, tmp_path, eval_frames_per_video=None)
    test = builder.load(config, "test")
    frames = [i for i in test.images if i.kind == "video"]
    assert {i.frame for i in frames} == {0, 3, 6, 9}  # every annotated frame
    shared = [i for i in frames if i.path.name == "s2.mp4"]
    assert shared and all(sorted(i.labels) == [2, 3] for i in shared)  # both products' boxes: Dress + 1, Top + 1
    for index, item in enumerate(test.images):
        if item.kind == "video" and item.frame == 9:
            sample = test[index]
            box = sample.boxes[0].tolist()
            assert abs(red_centroid_x(sample.image) - (box[0] + box[2] - 1) / 2) <= 1.0
            assert sample.image_id == f"{item.path.stem}@9" and sample.kind == "video"


def test_training_flips_move_the_boxes_with_the_pixels(synthetic_dir, tmp_path):
    builder, config = detection_config("video2shop", synthetic_dir, tmp_path, frames_per_video=1)
    train = builder.load(config, "train")
    torch.manual_seed(0)
    plain = train.images[0]
    flips = 0
    for _ in range(8):
        sample = train[0]
        box = sample.boxes[0].tolist()
        width = sample.image.shape[-1]
        if box[0] != plain.boxes[0][0]:
            flips += 1
            assert box == pytest.approx(
                [width - plain.boxes[0][2], plain.boxes[0][1], width - plain.boxes[0][0], plain.boxes[0][3]]
            )
    assert 0 < flips < 8


def test_without_categories_or_with_an_unknown_task_the_error_names_the_fix(movingfashion_dir, tmp_path):
    builder, config = detection_config("movingfashion", movingfashion_dir, tmp_path)
    with pytest.raises(ManifestError, match="no boxes to detect.*category"):
        builder.load(config, "train")
    config.task = "segmentation"
    with pytest.raises(ConfigError, match="dataset_config.movingfashion.task='segmentation'"):
        builder.load(config, "train")


def test_predictions_are_rows_per_box_with_category_names(synthetic_dir, tmp_path):
    from mmf_ext.common.sample import SampleList

    builder, config = detection_config("video2shop", synthetic_dir, tmp_path)
    test = builder.load(config, "test")
    samples = SampleList({"image_id": ["a@0", "b"], "kind": ["video", "shop"]})
    output = {
        "pred_boxes": [torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.zeros(0, 4)],
        "pred_scores": [torch.tensor([0.7]), torch.zeros(0)],
        "pred_labels": [torch.tensor([2]), torch.zeros(0, dtype=torch.int64)],
        "category_names": list(PAPER_CATEGORIES),
    }
    rows = test.format_for_prediction(samples, output)
    assert rows == [
        {"image_id": "a@0", "kind": "video", "box": [1.0, 2.0, 3.0, 4.0], "score": 0.7, "label": 1, "category": "Dress"}
    ]
