"""People in frames, with detectors a user has offline: torchvision's COCO detectors, or OpenCV's HOG.

A clothing detector trained on our synthetic frames has never seen real footage, but most users
already hold torchvision's COCO-pretrained detectors in their torch cache, and OpenCV ships a HOG
people detector (Dalal and Triggs) that needs no file at all. Both find people; the pipeline then
tracks each person and cuts clothing regions from the track (pipeline/person_regions.py). Both
return the clothing detector's `Detection`s (label 0, category "person"), so the tracker is the same.

COCO files are torchvision's own (`<Weights>.url`'s file name). One in the torch cache is built and
loaded by torchvision itself (`builder(weights=...)`: the exact network it makes for those weights,
frozen BatchNorm included). One elsewhere is loaded, every key and shape checked, into the same
builder's network made without weights (models/detector/torchvision_files.py), which differs only
in running BatchNorm in eval mode with its epsilon (1e-5; torchvision zeroes it for the v1 ResNet-50
files): copy the file into the cache, or point TORCH_HOME at its folder's parent, for torchvision's
exact network. Only COCO's `person` class is kept.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torchvision.models import detection

from mmf_ext.utils.errors import ConfigError
from video2shop.models.detector.torchvision_files import cached_file, file_name, load_torchvision_state
from video2shop.pipeline.detection import Detection
from video2shop.pipeline.settings import plain, require, settings_from_config

PERSON = "person"

# torchvision's COCO detectors: name -> (builder, weights); the name is the builder's
COCO_DETECTORS: dict[str, tuple[Callable[..., nn.Module], Any]] = {
    "fasterrcnn_resnet50_fpn_v2": (
        detection.fasterrcnn_resnet50_fpn_v2,
        detection.FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
    ),
    "retinanet_resnet50_fpn_v2": (
        detection.retinanet_resnet50_fpn_v2,
        detection.RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1,
    ),
    "fasterrcnn_resnet50_fpn": (detection.fasterrcnn_resnet50_fpn, detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1),
    "retinanet_resnet50_fpn": (detection.retinanet_resnet50_fpn, detection.RetinaNet_ResNet50_FPN_Weights.COCO_V1),
    "fasterrcnn_mobilenet_v3_large_fpn": (
        detection.fasterrcnn_mobilenet_v3_large_fpn,
        detection.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1,
    ),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (
        detection.fasterrcnn_mobilenet_v3_large_320_fpn,
        detection.FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1,
    ),
    "ssdlite320_mobilenet_v3_large": (
        detection.ssdlite320_mobilenet_v3_large,
        detection.SSDLite320_MobileNet_V3_Large_Weights.COCO_V1,
    ),
}
FIXED_SIZE = ("ssdlite320_mobilenet_v3_large",)  # SSD resizes every frame to its fixed input size


def coco_weights(architecture: str) -> Any:
    return COCO_DETECTORS[architecture][1]


def architecture_of_file(path: Path) -> str | None:
    """The COCO detector whose torchvision file has this file name, if any."""
    for name, (_, weights) in COCO_DETECTORS.items():
        if file_name(weights) == path.name:
            return name
    return None


@dataclass(frozen=True)
class HogSettings:
    """`pipeline.person_detector.hog`."""

    frame_side: int = 640
    hit_threshold: float = 0.0
    win_stride: int = 8
    scale: float = 1.05
    group_threshold: int = 2
    person_box: list[float] = field(default_factory=lambda: [0.2, 0.125, 0.8, 0.875])


@dataclass(frozen=True)
class PersonDetectorSettings:
    """`pipeline.person_detector` (video2shop/configs/pipeline/defaults.yaml says what each does)."""

    coco_order: list[str] = field(default_factory=lambda: list(COCO_DETECTORS))
    weights: str | None = None
    score_threshold: float = 0.5
    frame_short_side: int | None = None
    hog: HogSettings = field(default_factory=HogSettings)

    @classmethod
    def from_config(
        cls, node: Mapping[str, Any] | None, where: str = "pipeline.person_detector"
    ) -> PersonDetectorSettings:
        values = dict(plain(node) or {})
        hog = _hog_settings(values.pop("hog", None), f"{where}.hog")
        settings = settings_from_config(cls, values, where)
        order = settings.coco_order
        if not isinstance(order, list) or not order:
            raise ConfigError(f"{where}.coco_order={order!r}: give a list of {', '.join(COCO_DETECTORS)}")
        for name in order:
            if name not in COCO_DETECTORS:
                choices = ", ".join(COCO_DETECTORS)
                raise ConfigError(f"{where}.coco_order: {name!r} is not a COCO detector; choose {choices}")
        short = settings.frame_short_side
        require(
            where,
            [
                ("score_threshold", settings.score_threshold, 0.0 <= settings.score_threshold <= 1.0, "in [0, 1]"),
                ("frame_short_side", short, short is None or short >= 64, "null or at least 64"),
            ],
        )
        return PersonDetectorSettings(list(order), settings.weights, settings.score_threshold, short, hog)


def _hog_settings(node: Any, where: str) -> HogSettings:
    hog = settings_from_config(HogSettings, node, where)
    box = hog.person_box
    good_box = (
        isinstance(box, list)
        and len(box) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
        and 0.0 <= box[0] < box[2] <= 1.0
        and 0.0 <= box[1] < box[3] <= 1.0
    )
    require(
        where,
        [
            ("frame_side", hog.frame_side, hog.frame_side >= 128, "at least 128 (HOG's window is 64x128)"),
            ("win_stride", hog.win_stride, hog.win_stride >= 8 and hog.win_stride % 8 == 0, "a multiple of 8"),
            ("scale", hog.scale, hog.scale > 1.0, "above 1"),
            ("group_threshold", hog.group_threshold, hog.group_threshold >= 0, "at least 0"),
            ("person_box", box, good_box, "[left, top, right, bottom] fractions of HOG's window"),
        ],
    )
    return HogSettings(
        hog.frame_side, hog.hit_threshold, hog.win_stride, hog.scale, hog.group_threshold, [float(v) for v in box]
    )


def _check_frame(index: int, frame: Any) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"frame {index}: expected an RGB uint8 array [H, W, 3], got "
            f"{getattr(frame, 'dtype', type(frame))} {getattr(frame, 'shape', '')}"
        )


class CocoPersonDetector:
    """People found by one of torchvision's COCO detectors, loaded from its torchvision file."""

    kind = "coco"

    def __init__(
        self,
        architecture: str,
        path: Path,
        settings: PersonDetectorSettings | None = None,
        device: str | torch.device = "cpu",
        label: str = "--detector coco",
    ) -> None:
        settings = settings or PersonDetectorSettings()
        if architecture not in COCO_DETECTORS:
            raise ConfigError(f"{label}: {architecture!r} is not a COCO detector; choose {', '.join(COCO_DETECTORS)}")
        builder, weights = COCO_DETECTORS[architecture]
        categories = list(weights.meta["categories"])
        self.architecture, self.path = architecture, Path(path)
        self.person_label = categories.index(PERSON)  # COCO's person is class 1
        if self.path.resolve() == cached_file(weights).resolve():
            try:
                model = builder(weights=weights)  # torchvision reads its cached file itself
            except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
                first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
                raise ConfigError(f"{label}: {self.path} is not torchvision's {architecture} file ({first})") from None
        else:
            model = builder(weights=None, weights_backbone=None, num_classes=len(categories))
            load_torchvision_state(model, self.path, label)
        if settings.frame_short_side is not None and architecture not in FIXED_SIZE:
            short, transform = int(settings.frame_short_side), model.transform
            transform.max_size = round(transform.max_size * short / transform.min_size[0])  # the same aspect cap
            transform.min_size = (short,)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.score_threshold = float(settings.score_threshold)
        self.description = f"coco {architecture} ({self.path})"

    @torch.inference_mode()
    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """The people on each RGB uint8 [H, W, 3] frame, best score first."""
        batch = []
        for index, frame in enumerate(frames):
            _check_frame(index, frame)
            tensor = torch.from_numpy(np.require(frame, requirements=["C", "W"])).permute(2, 0, 1)
            batch.append(tensor.to(self.device).float().div_(255.0))
        found = []
        for output in self.model(batch) if batch else []:
            people = [
                Detection(tuple(float(v) for v in box), float(score), 0, PERSON)
                for box, score, label in zip(
                    output["boxes"].cpu().tolist(), output["scores"].cpu().tolist(), output["labels"].cpu().tolist()
                )
                if int(label) == self.person_label and float(score) >= self.score_threshold
            ]
            found.append(sorted(people, key=lambda d: -d.score))
        return found


class HogPersonDetector:
    """People found by OpenCV's built-in HOG + linear SVM detector (cv2.HOGDescriptor_getDefaultPeopleDetector).

    It needs no file and runs anywhere; it finds upright, mostly whole people of at least 64x128
    pixels (after the frame is scaled to `hog.frame_side`), so it misses people cut by the frame's
    edge or sitting. Its windows hold the person with a border (`hog.person_box` trims it), and
    its score is the sigmoid of the SVM margin (0.5 at `hit_threshold` 0).
    """

    kind = "hog"
    description = "hog (OpenCV's default people detector)"

    def __init__(self, settings: PersonDetectorSettings | None = None) -> None:
        settings = settings or PersonDetectorSettings()
        self.settings = settings.hog
        self.score_threshold = float(settings.score_threshold)
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """The people on each RGB uint8 [H, W, 3] frame, best score first."""
        found = []
        for index, frame in enumerate(frames):
            _check_frame(index, frame)
            found.append(self._people(frame))
        return found

    def _people(self, frame: np.ndarray) -> list[Detection]:
        s = self.settings
        height, width = frame.shape[:2]
        scale = min(1.0, s.frame_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        if frame.shape[0] < 128 or frame.shape[1] < 64:  # smaller than HOG's one window
            return []
        stride = (s.win_stride, s.win_stride)
        rects, weights = self.hog.detectMultiScale(
            frame,
            hitThreshold=s.hit_threshold,
            winStride=stride,
            padding=stride,
            scale=s.scale,
            groupThreshold=s.group_threshold,
        )
        left, top, right, bottom = s.person_box
        people = []
        for (x, y, w, h), weight in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1)):
            score = 1.0 / (1.0 + math.exp(-float(weight)))
            if score < self.score_threshold:
                continue
            box = (x + left * w, y + top * h, x + right * w, y + bottom * h)
            box = (
                max(0.0, box[0] / scale),
                max(0.0, box[1] / scale),
                min(float(width), box[2] / scale),
                min(float(height), box[3] / scale),
            )
            people.append(Detection(box, score, 0, PERSON))
        return sorted(people, key=lambda d: -d.score)
