"""Person detectors that exist offline: OpenCV's HOG on drawn people, torchvision's COCO files in their real layout."""

import cv2
import numpy as np
import pytest
import torch

from mmf_ext.utils.errors import ConfigError
from tests.helpers import draw_person, room, write_torchvision_file
from video2shop.models.detector.torchvision_files import cached_file
from video2shop.pipeline.boxes import iou_matrix
from video2shop.pipeline.config import load_pipeline_config, person_detector_settings
from video2shop.pipeline.detector_choice import build_person_detector, choose_detector
from video2shop.pipeline.person_detectors import (
    COCO_DETECTORS,
    CocoPersonDetector,
    HogPersonDetector,
    PersonDetectorSettings,
)


@pytest.fixture
def cache(torch_home, monkeypatch):
    """$TORCH_HOME pointing at the module's cache of stand-in files; returns a writer of one."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return lambda name: write_torchvision_file(torch_home, COCO_DETECTORS[name][1], COCO_DETECTORS[name][0])


def two_people(seed=0):
    frame = room(360, 640, (150, 140, 120), seed)
    boxes = [
        draw_person(frame, 200, 50, 150, 0.4, (200, 40, 40), (40, 40, 150)),
        draw_person(frame, 450, 70, 150, 1.4, (40, 150, 40), (70, 70, 70)),
    ]
    return frame, boxes


def test_hog_finds_the_people_in_a_frame_with_boxes_round_them():
    detector = HogPersonDetector(person_detector_settings(load_pipeline_config()))
    for seed in range(3):
        frame, boxes = two_people(seed)
        found = detector.detect([frame])[0]
        assert len(found) == 2 and all(d.category == "person" and d.label == 0 and 0.5 < d.score < 1 for d in found)
        iou = iou_matrix([d.box for d in found], boxes)
        assert float(iou.max(0).values.min()) > 0.55  # each person's box found (HOG's window border trimmed)
    large = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)  # HOG sees it at 640: boxes scaled back
    found = detector.detect([large])[0]
    iou = iou_matrix([d.box for d in found], [[2 * v for v in box] for box in boxes])
    assert len(found) == 2 and float(iou.max(0).values.min()) > 0.55
    assert detector.detect([room(100, 60, (150, 140, 120), 0)]) == [[]]  # smaller than HOG's window
    with pytest.raises(ValueError, match="frame 0: expected an RGB uint8 array"):
        detector.detect([frame.astype(np.float32)])


@pytest.mark.parametrize("name", list(COCO_DETECTORS))
def test_every_coco_detector_loads_torchvisions_file_from_the_torch_cache(cache, torch_home, name):
    path = cache(name)
    assert path == cached_file(COCO_DETECTORS[name][1]) == torch_home / "hub" / "checkpoints" / path.name
    choice = choose_detector(f"coco:{name}", None, PersonDetectorSettings())
    assert (choice.kind, choice.path, choice.architecture) == ("coco", path, name)
    detector = build_person_detector(choice, PersonDetectorSettings(), "cpu")
    saved = torch.load(path, weights_only=True)
    own = detector.model.state_dict()
    assert set(saved) == set(own)  # exactly torchvision's keys, every one loaded with its value
    assert all(torch.equal(own[k], v) for k, v in saved.items())
    assert detector.person_label == 1 and detector.description == f"coco {name} ({path})"


def test_a_file_outside_the_cache_loads_by_its_torchvision_name_and_a_wrong_file_is_one_line(cache, tmp_path):
    source = cache("fasterrcnn_mobilenet_v3_large_320_fpn")
    elsewhere = tmp_path / "weights" / source.name
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(source.read_bytes())
    choice = choose_detector(str(elsewhere), None, PersonDetectorSettings())
    assert (choice.kind, choice.architecture, choice.path) == (
        "coco",
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        elsewhere,
    )
    detector = build_person_detector(choice, PersonDetectorSettings(), "cpu")
    saved = torch.load(elsewhere, weights_only=True)
    own = detector.model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in saved.items())
    wrong = tmp_path / "other" / source.name  # another network's file under this name
    wrong.parent.mkdir()
    wrong.write_bytes(cache("ssdlite320_mobilenet_v3_large").read_bytes())
    with pytest.raises(ConfigError, match=f"--detector {wrong}: {wrong} does not fit FasterRCNN: .*torchvision's file"):
        build_person_detector(
            choose_detector(str(wrong), None, PersonDetectorSettings()), PersonDetectorSettings(), "cpu"
        )
    broken = cached_file(COCO_DETECTORS["fasterrcnn_resnet50_fpn"][1])
    broken.write_bytes(b"not a torch file")
    choice = choose_detector("coco:fasterrcnn_resnet50_fpn", None, PersonDetectorSettings())
    with pytest.raises(ConfigError, match="is not torchvision's fasterrcnn_resnet50_fpn file") as error:
        build_person_detector(choice, PersonDetectorSettings(), "cpu")
    assert "\n" not in str(error.value)
    broken.unlink()


class FixedOutputs(torch.nn.Module):
    """Stands for a COCO network: the same detections for every image (the person filter is under test)."""

    def forward(self, images):
        boxes = torch.tensor([[1.0, 2.0, 30.0, 60.0], [5.0, 5.0, 20.0, 20.0], [0.0, 0.0, 10.0, 40.0]])
        return [{"boxes": boxes, "scores": torch.tensor([0.9, 0.95, 0.3]), "labels": torch.tensor([1, 3, 1])}] * len(
            images
        )


def test_only_cocos_person_class_above_the_threshold_is_kept_and_ssdlite_runs_on_a_frame(cache):
    cache("ssdlite320_mobilenet_v3_large")
    settings = PersonDetectorSettings(score_threshold=0.5)
    detector = build_person_detector(choose_detector("coco:ssdlite", None, settings), settings, "cpu")
    frame = two_people()[0]
    (found,) = detector.detect([frame])  # the real network on a real frame (random weights: any people)
    assert all(d.category == "person" and d.score >= 0.5 for d in found)
    detector.model = FixedOutputs()
    (found,) = detector.detect([frame])
    assert [(d.box, d.label, d.category) for d in found] == [((1.0, 2.0, 30.0, 60.0), 0, "person")]
    assert found[0].score == pytest.approx(0.9)


def test_frame_short_side_sets_the_networks_scale_but_not_ssds(cache):
    cache("fasterrcnn_mobilenet_v3_large_fpn")
    settings = PersonDetectorSettings(frame_short_side=400)
    detector = CocoPersonDetector(
        "fasterrcnn_mobilenet_v3_large_fpn",
        cached_file(COCO_DETECTORS["fasterrcnn_mobilenet_v3_large_fpn"][1]),
        settings,
    )
    assert detector.model.transform.min_size == (400,) and detector.model.transform.max_size == round(1333 * 400 / 800)


def test_person_detector_settings_are_checked_in_one_line():
    for override, message in [
        ("pipeline.person_detector.coco_order=[yolo]", "coco_order: 'yolo' is not a COCO detector; choose fasterrcnn"),
        ("pipeline.person_detector.score_threshold=2", "pipeline.person_detector.score_threshold=2.0 is out of range"),
        ("pipeline.person_detector.hog.win_stride=5", "pipeline.person_detector.hog.win_stride=5 is out of range"),
        ("pipeline.person_detector.hog.person_box=[0,0,1]", "pipeline.person_detector.hog.person_box=\\[0, 0, 1\\]"),
        ("pipeline.person_detector.frame_short_side=10", "frame_short_side=10 is out of range; it must be null or"),
    ]:
        with pytest.raises(ConfigError, match=message) as error:
            person_detector_settings(load_pipeline_config(None, [override]))
        assert "\n" not in str(error.value)
