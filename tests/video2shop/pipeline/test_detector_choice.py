"""Which detector a search uses: as named by --detector, or the best available, and the one-line messages."""

from pathlib import Path

import pytest

from mmf_ext.utils.errors import UserError
from video2shop.models.detector.torchvision_files import cached_file, file_name
from video2shop.pipeline.config import load_pipeline_config, person_detector_settings
from video2shop.pipeline.detector_choice import DetectorChoice, choose_detector
from video2shop.pipeline.person_detectors import COCO_DETECTORS, PersonDetectorSettings, coco_weights

SETTINGS = PersonDetectorSettings()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty torch cache; returns a function that puts a (dummy) file of torchvision's name in it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def put(name):
        path = cached_file(coco_weights(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")  # choosing only looks for the file; loading it is test_person_detectors'
        return path

    return put


def test_the_default_is_the_best_available_clothing_then_coco_then_shots(cache, tmp_path):
    shots = choose_detector(None, None, SETTINGS)  # no weights at all: one trajectory per shot
    assert (shots.kind, shots.label, shots.path) == ("none", None, None)
    best = file_name(coco_weights("fasterrcnn_resnet50_fpn_v2"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    assert f"no torchvision COCO detector file in {folder}: each shot's whole frame is one trajectory" in shots.note
    assert f"copy {best} there" in shots.note and "--detector hog" in shots.note and "\n" not in shots.note
    retinanet = cache("retinanet_resnet50_fpn")
    cache("ssdlite320_mobilenet_v3_large")
    coco = choose_detector(None, None, SETTINGS)  # the first of coco_order that is cached
    assert (coco.kind, coco.architecture, coco.path, coco.label) == (
        "coco",
        "retinanet_resnet50_fpn",
        retinanet,
        str(retinanet),
    )
    assert "best COCO person detector in the torch cache" in coco.note
    order = PersonDetectorSettings(coco_order=["ssdlite320_mobilenet_v3_large", "retinanet_resnet50_fpn"])
    assert choose_detector(None, None, order).architecture == "ssdlite320_mobilenet_v3_large"
    clothing = choose_detector(None, "save/detector/best.ckpt", SETTINGS)  # pipeline.detector.checkpoint
    assert (clothing.kind, clothing.label) == ("clothing", "save/detector/best.ckpt")


def test_named_detectors(cache, tmp_path):
    assert choose_detector("none", None, SETTINGS) == DetectorChoice("none")
    assert choose_detector("HOG", "ignored.ckpt", SETTINGS) == DetectorChoice("hog")
    assert choose_detector("save/d.ckpt", None, SETTINGS) == DetectorChoice("clothing", Path("save/d.ckpt"))
    v2 = cache("retinanet_resnet50_fpn_v2")
    assert choose_detector("coco:retinanet", None, SETTINGS).path == v2  # a prefix: the first of coco_order
    assert choose_detector("coco", None, SETTINGS).architecture == "retinanet_resnet50_fpn_v2"
    elsewhere = tmp_path / file_name(coco_weights("ssdlite320_mobilenet_v3_large"))
    elsewhere.write_bytes(b"x")
    assert choose_detector(str(elsewhere), None, SETTINGS) == DetectorChoice(
        "coco", elsewhere, "ssdlite320_mobilenet_v3_large"
    )
    kept = PersonDetectorSettings(weights=str(elsewhere))  # pipeline.person_detector.weights
    assert choose_detector("coco", None, kept).path == elsewhere
    assert choose_detector(None, None, kept).architecture == "ssdlite320_mobilenet_v3_large"


@pytest.mark.parametrize(
    "value, settings, message",
    [
        ("coco", SETTINGS, "--detector coco: no torchvision COCO detector file in the torch cache {cache}"),
        ("coco", SETTINGS, "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth, retinanet_resnet50_fpn_v2_coco-5905b1c5.pth"),
        ("coco", SETTINGS, "give its path as --detector PATH, or use --detector hog (no file needed)"),
        (
            "coco:fasterrcnn_resnet50_fpn",
            SETTINGS,
            "--detector coco:fasterrcnn_resnet50_fpn: {cache}/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth is not in the "
            "local torch cache and nothing is downloaded at run time; copy fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
        ),
        ("coco:yolo", SETTINGS, "--detector coco:yolo: 'yolo' is no torchvision COCO detector; choose one of"),
        (
            "coco",
            PersonDetectorSettings(weights="/nowhere/x.pth"),
            "pipeline.person_detector.weights=/nowhere/x.pth: no such file",
        ),
    ],
)
def test_a_detector_that_cannot_be_had_is_one_line_saying_what_to_do(cache, tmp_path, value, settings, message):
    with pytest.raises(UserError) as error:
        choose_detector(value, None, settings)
    text = str(error.value)
    assert message.format(cache=tmp_path / "torch" / "hub" / "checkpoints") in text and "\n" not in text


def test_a_weights_file_of_another_name_needs_its_architecture_named(cache, tmp_path):
    renamed = tmp_path / "people.pth"
    renamed.write_bytes(b"x")
    settings = PersonDetectorSettings(weights=str(renamed))
    with pytest.raises(UserError, match="not one of torchvision's COCO file names, so its network is unknown; name it"):
        choose_detector("coco", None, settings)
    assert choose_detector("coco:ssdlite", None, settings) == DetectorChoice(
        "coco", renamed, "ssdlite320_mobilenet_v3_large"
    )
    defaults = person_detector_settings(load_pipeline_config())
    assert defaults == SETTINGS and defaults.coco_order == list(COCO_DETECTORS)  # the yaml names every detector
