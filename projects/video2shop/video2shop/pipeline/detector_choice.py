"""Which detector a video search uses: `--detector` as given, or the best one available.

`--detector` takes a clothing_detector checkpoint, `coco` (torchvision's COCO person detector from
the torch cache; `coco:<architecture>` or a prefix of one, e.g. `coco:retinanet`, picks which),
a torchvision COCO file by path (recognised by torchvision's file name), `hog` (OpenCV's people
detector, no file needed) or `none` (each shot's whole frame is one trajectory). Without it the
best available is used: the clothing detector of `pipeline.detector.checkpoint`, else a COCO
detector whose file is cached (`pipeline.person_detector.coco_order`), else none (one trajectory per
shot: with no weights at all, shots are more dependable than HOG's boxes on footage of people seen
close or cut by the frame; HOG is there by name); the choice and why are said in one line and
recorded in the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mmf_ext.utils.errors import UserError
from video2shop.models.detector.torchvision_files import cache_dir, cached_file, file_name, missing_file_message
from video2shop.pipeline.person_detectors import (
    COCO_DETECTORS,
    CocoPersonDetector,
    HogPersonDetector,
    PersonDetectorSettings,
    architecture_of_file,
    coco_weights,
)

CLOTHING, COCO, HOG, NONE = "clothing", "coco", "hog", "none"
KINDS = (CLOTHING, COCO, HOG, NONE)


@dataclass(frozen=True)
class DetectorChoice:
    """The detector a search uses: its kind (KINDS), its file (clothing checkpoint or COCO file), and why."""

    kind: str
    path: Path | None = None
    architecture: str | None = None  # the COCO detector's
    note: str | None = None  # why it was picked, when it was not named

    @property
    def label(self) -> str | None:
        """What the results' `detector` says: the file used, `hog`, or None (no detector)."""
        if self.kind == HOG:
            return HOG
        return None if self.path is None else str(self.path)

    @property
    def description(self) -> str:
        """One phrase for people (the report, the note printed)."""
        if self.kind == CLOTHING:
            return f"clothing detector {self.path}"
        if self.kind == COCO:
            return f"COCO person detector {self.architecture} ({self.path})"
        if self.kind == HOG:
            return "OpenCV's HOG people detector"
        return "none: each shot's whole frame is one trajectory"


def _cached_coco(settings: PersonDetectorSettings) -> str | None:
    """The first COCO detector of `coco_order` whose torchvision file is in the torch cache."""
    return next((name for name in settings.coco_order if cached_file(coco_weights(name)).is_file()), None)


def _configured_weights(settings: PersonDetectorSettings, architecture: str | None, label: str) -> DetectorChoice:
    """`pipeline.person_detector.weights`: the COCO file kept elsewhere, for `architecture` (else its file name's)."""
    path = Path(str(settings.weights)).expanduser()
    where = f"pipeline.person_detector.weights={settings.weights}"
    if not path.is_file():
        raise UserError(f"{where}: no such file; give torchvision's COCO detector file, or null to use the torch cache")
    architecture = architecture or architecture_of_file(path)
    if architecture is None:
        raise UserError(
            f"{where}: not one of torchvision's COCO file names, so its network is unknown; name it with "
            f"{label}:<architecture> ({', '.join(COCO_DETECTORS)})"
        )
    return DetectorChoice(COCO, path, architecture)


def _architecture(name: str, settings: PersonDetectorSettings, label: str) -> str:
    """A COCO detector named exactly, or the first of coco_order (then of all) starting with `name`."""
    if name in COCO_DETECTORS:
        return name
    ordered = [*settings.coco_order, *(n for n in COCO_DETECTORS if n not in settings.coco_order)]
    found = next((n for n in ordered if n.startswith(name)), None)
    if found is None:
        raise UserError(f"{label}: {name!r} is no torchvision COCO detector; choose one of {', '.join(COCO_DETECTORS)}")
    return found


def _coco(value: str, settings: PersonDetectorSettings, label: str) -> DetectorChoice:
    """`coco` or `coco:<architecture>`: the file from pipeline.person_detector.weights or the torch cache."""
    asked = value.partition(":")[2].strip()
    architecture = _architecture(asked, settings, label) if asked else None
    if settings.weights is not None:
        return _configured_weights(settings, architecture, COCO)
    if architecture is None:
        architecture = _cached_coco(settings)
        if architecture is None:
            names = ", ".join(file_name(coco_weights(n)) for n in settings.coco_order)
            raise UserError(
                f"{label}: no torchvision COCO detector file in the torch cache {cache_dir()} and nothing is "
                f"downloaded at run time; copy one there ({names}), give its path as --detector PATH, or use "
                "--detector hog (no file needed)"
            )
    weights = coco_weights(architecture)
    if not cached_file(weights).is_file():
        raise UserError(missing_file_message(weights, label, "give its path as --detector PATH, or use --detector hog"))
    return DetectorChoice(COCO, cached_file(weights), architecture)


def choose_detector(
    value: str | None, clothing_checkpoint: str | None, settings: PersonDetectorSettings
) -> DetectorChoice:
    """The detector for `--detector value` (None: the best available; see the module's docstring)."""
    if value is None:
        return _default(clothing_checkpoint, settings)
    label = f"--detector {value}"
    keyword = value.strip().lower()
    if keyword == NONE:
        return DetectorChoice(NONE)
    if keyword == HOG:
        return DetectorChoice(HOG)
    if keyword == COCO or keyword.startswith(f"{COCO}:"):
        return _coco(value.strip(), settings, label)
    path = Path(value).expanduser()
    architecture = architecture_of_file(path) if path.is_file() else None
    if architecture is not None:
        return DetectorChoice(COCO, path, architecture)
    return DetectorChoice(CLOTHING, Path(value))


def _default(clothing_checkpoint: str | None, settings: PersonDetectorSettings) -> DetectorChoice:
    if clothing_checkpoint:
        return DetectorChoice(CLOTHING, Path(str(clothing_checkpoint)), note="pipeline.detector.checkpoint")
    if settings.weights is not None:
        choice = _configured_weights(settings, None, COCO)
        return DetectorChoice(COCO, choice.path, choice.architecture, "pipeline.person_detector.weights")
    architecture = _cached_coco(settings)
    if architecture is not None:
        note = "no --detector: the best COCO person detector in the torch cache"
        return DetectorChoice(COCO, cached_file(coco_weights(architecture)), architecture, note)
    best = file_name(coco_weights(settings.coco_order[0]))
    note = (
        f"no --detector, no clothing detector (pipeline.detector.checkpoint) and no torchvision COCO detector file "
        f"in {cache_dir()}: each shot's whole frame is one trajectory; copy {best} there to follow people's "
        "clothing regions, or give --detector hog (OpenCV's people detector, no file needed)"
    )
    return DetectorChoice(NONE, note=note)


def build_person_detector(
    choice: DetectorChoice, settings: PersonDetectorSettings, device: str | torch.device
) -> CocoPersonDetector | HogPersonDetector:
    """The person detector of a `coco` or `hog` choice."""
    if choice.kind == COCO:
        assert choice.path is not None and choice.architecture is not None
        label = f"--detector {choice.path}" if choice.note is None else f"--detector coco ({choice.note})"
        return CocoPersonDetector(choice.architecture, choice.path, settings, device, label)
    if choice.kind == HOG:
        return HogPersonDetector(settings)
    raise ValueError(f"{choice.kind} is not a person detector")
