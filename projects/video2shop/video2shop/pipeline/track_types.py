"""What the tracker hands on: one finished track of one clothing item, and its settings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mmf_ext.utils.errors import ConfigError
from video2shop.pipeline.boxes import Box

END_REASONS = ("lost", "missed", "stream_end")


@dataclass
class Track:
    """One object over consecutive fed frames: a box per frame, detection scores where confirmed.

    `detection_scores[i]` is the score of the detection that confirmed (and corrected) the box at
    `frames[i]`, or None where only KCF followed it. `label` is a category index (-1 unknown),
    voted over the track's detections; `end_reason` is one of END_REASONS.
    """

    track_id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    detection_scores: list[float | None] = field(default_factory=list)
    label: int = -1
    category: str | None = None
    end_reason: str = "stream_end"

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def start(self) -> int:
        return self.frames[0]

    @property
    def end(self) -> int:
        return self.frames[-1]

    @property
    def mean_score(self) -> float:
        """Mean detection score over the confirmed frames (0 when none)."""
        scores = [s for s in self.detection_scores if s is not None]
        return sum(scores) / len(scores) if scores else 0.0

    def box_at(self, frame: int) -> Box | None:
        try:
            return self.boxes[self.frames.index(frame)]
        except ValueError:
            return None


@dataclass
class TrackerConfig:
    """Every tracking parameter (`pipeline.tracker` in video2shop/configs/pipeline/defaults.yaml)."""

    redetect_interval: int = 5  # run the detector on every N-th fed frame (the first included)
    match_iou: float = 0.3  # a detection corrects a track when their IoU is at least this
    max_missed: int = 2  # end a track after this many re-detections in a row without a match
    min_length: int = 8  # drop finished tracks with fewer frames
    duplicate_iou: float = 0.5  # tracks sharing frames with a mean IoU above this are duplicates
    min_detection_score: float = 0.5  # detections below this score are ignored
    min_box_size: float = 4.0  # detections narrower or lower than this (pixels) are ignored
    class_aware: bool = False  # match detections only to tracks of the same category
    trim_unconfirmed_tail: bool = True  # a track ended by misses loses its frames after the last match
    kcf_box_size: int = 64  # KCF runs on the frame scaled so a box's longer side is at most this (0: full size)
    kcf: dict[str, Any] = field(default_factory=dict)  # cv2.TrackerKCF_Params fields, e.g. detect_thresh

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | DictConfig | None, where: str = "pipeline.tracker") -> TrackerConfig:
        """From a config mapping; unknown keys and out-of-range values are one-line ConfigErrors."""
        if node is None:
            return cls().validated(where)
        values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]} is not a tracker setting; known: {', '.join(sorted(known))}")
        kwargs = {}
        for f in fields(cls):
            if f.name in values and values[f.name] is not None:
                value = values[f.name]
                if f.name == "kcf":
                    kwargs[f.name] = dict(value)
                    continue
                caster = {"int": int, "float": float, "bool": bool}[str(f.type)]
                try:
                    if caster is bool and not isinstance(value, bool):
                        raise TypeError
                    kwargs[f.name] = caster(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"{where}.{f.name}={value!r} is not a valid {f.type}") from None
        return cls(**kwargs).validated(where)

    def validated(self, where: str = "pipeline.tracker") -> TrackerConfig:
        checks = [
            ("redetect_interval", self.redetect_interval >= 1, "at least 1"),
            ("match_iou", 0.0 < self.match_iou <= 1.0, "in (0, 1]"),
            ("max_missed", self.max_missed >= 1, "at least 1"),
            ("min_length", self.min_length >= 1, "at least 1"),
            ("kcf_box_size", self.kcf_box_size == 0 or self.kcf_box_size >= 8, "0 (full size) or at least 8"),
            ("duplicate_iou", 0.0 < self.duplicate_iou <= 1.0, "in (0, 1]"),
            ("min_detection_score", 0.0 <= self.min_detection_score <= 1.0, "in [0, 1]"),
            ("min_box_size", self.min_box_size >= 1.0 and math.isfinite(self.min_box_size), "at least 1"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ConfigError(f"{where}.{name}={getattr(self, name)!r} is out of range; it must be {rule}")
        return self
