"""What each trajectory follows through a streamed video: whole shots, tracked clothing, or tracked people's regions.

A subject source is fed the video's frames in order (`boxes(index, frame)` -> {key: box on this
frame, None for the whole frame}) and, at the end, lists its `Subject`s (`finish()`): the span and
boxes each key covered and what it is. The search keeps a bounded set of crops per key and makes
each subject one trajectory (pipeline/video_search.py). Every source cuts the video into shots
first (pipeline/shots.py): a track never runs across a cut, empty frames are in no subject, and
shots too short to be real are dropped.

- `WholeShots` (no detector): each shot's whole frame.
- `TrackedSubjects` with a clothing detector: each tracked item.
- `TrackedSubjects` with a person detector and regions: each tracked person's clothing regions
  (pipeline/person_regions.py), and, with `whole_shot_fallback`, the whole frame of a shot in
  which no person was tracked, so a shot the detector misses is still searched.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmf_ext.utils.errors import ConfigError
from video2shop.pipeline.boxes import Box
from video2shop.pipeline.person_regions import Region, regions_from_config
from video2shop.pipeline.settings import plain
from video2shop.pipeline.shots import ShotCutter
from video2shop.pipeline.track_types import Track
from video2shop.pipeline.tracking import MultiObjectTracker

KINDS = ("clothing", "person", "shot")  # what a subject follows: a tracked item, a person's region, a whole shot


@dataclass
class SearchTimings:
    decode_s: float = 0.0
    detect_s: float = 0.0
    track_s: float = 0.0
    score_s: float = 0.0
    frames: int = 0
    detected_frames: int = 0


@dataclass(frozen=True)
class PeopleSettings:
    """`pipeline.persons`: the clothing regions cut from each person track, and what a shot without people gives."""

    regions: tuple[Region, ...]
    whole_shot_fallback: bool = True

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None, where: str = "pipeline.persons") -> PeopleSettings:
        values = dict(plain(node) or {})
        unknown = sorted(set(values) - {"regions", "whole_shot_fallback"})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]} is not a setting here; known: regions, whole_shot_fallback")
        fallback = values.get("whole_shot_fallback", True)
        if not isinstance(fallback, bool):
            raise ConfigError(f"{where}.whole_shot_fallback={fallback!r} is not true or false")
        return cls(tuple(regions_from_config(values.get("regions"), f"{where}.regions")), fallback)


@dataclass
class Subject:
    """One future trajectory: its crop-buffer key, frames and boxes (None: the whole frame), and what it is."""

    key: Hashable
    kind: str  # one of KINDS
    frames: list[int]
    boxes: list[Box]
    shot: int
    category: str | None = None
    score: float = 0.0
    person: int | None = None
    region: str | None = None


class WholeShots:
    """No detector: each shot's whole frame is one subject."""

    def __init__(self, shots: ShotCutter, width: int, height: int) -> None:
        self.shots, self.full = shots, (0.0, 0.0, float(width), float(height))

    def boxes(self, index: int, frame: np.ndarray) -> dict[Hashable, Box | None]:
        shot = self.shots.observe(index, frame)
        return {} if shot is None else {("shot", shot): None}

    def finish(self) -> list[Subject]:
        """One subject per kept shot; a whole-frame subject records its two ends only."""
        return [
            Subject(("shot", s.shot_id), "shot", [s.first, s.last], [self.full, self.full], s.shot_id)
            for s in self.shots.kept()
        ]


class TrackedSubjects:
    """A detector's boxes followed by the KCF tracker within each shot; with `people`, each track's regions."""

    def __init__(
        self,
        detector: Any,
        tracker_config: Any,
        shots: ShotCutter,
        timings: SearchTimings,
        width: int,
        height: int,
        people: PeopleSettings | None = None,
    ) -> None:
        self.detector, self.timings, self.shots, self.people = detector, timings, shots, people
        self.full = (0.0, 0.0, float(width), float(height))
        self.tracker = MultiObjectTracker(tracker_config)
        self.shot: int | None = None  # the shot being tracked
        self.tracks: list[tuple[int, Track]] = []  # (shot, track) of the shots already closed

    def boxes(self, index: int, frame: np.ndarray) -> dict[Hashable, Box | None]:
        """{key: box} of what is followed on this frame: every live track (or its regions), and the whole shot."""
        shot = self.shots.observe(index, frame)
        if shot != self.shot:
            self._close_shot()
            self.shot = shot
        if shot is None:
            return {}
        detections = None
        if self.tracker.wants_detections():
            begin = time.perf_counter()
            detections = self.detector.detect([frame])[0]
            self.timings.detect_s += time.perf_counter() - begin
            self.timings.detected_frames += 1
        begin = time.perf_counter()
        alive = self.tracker.update(index, frame, detections)
        self.timings.track_s += time.perf_counter() - begin
        found: dict[Hashable, Box | None] = {}
        for track_id, box in alive.items():
            if self.people is None:
                found[(shot, track_id)] = box
            else:
                found.update({(shot, track_id, r.name): r.box(box) for r in self.people.regions})
        if self.people is not None and self.people.whole_shot_fallback:
            found[("shot", shot)] = None
        return found

    def _close_shot(self) -> None:
        if self.shot is not None:
            self.tracks.extend((self.shot, track) for track in self.tracker.finish())

    def finish(self) -> list[Subject]:
        """The subjects of the kept shots, in order of their first frame."""
        self._close_shot()
        self.shot = None
        kept = {s.shot_id: s for s in self.shots.kept()}
        tracks = sorted(((shot, t) for shot, t in self.tracks if shot in kept), key=lambda st: (st[1].start, st[0]))
        subjects: list[Subject] = []
        for person, (shot, track) in enumerate(tracks):
            frames, score = list(track.frames), track.mean_score
            if self.people is None:
                boxes = [tuple(b) for b in track.boxes]
                subjects.append(Subject((shot, track.track_id), "clothing", frames, boxes, shot, track.category, score))
                continue
            for region in self.people.regions:
                boxes = [region.box(b) for b in track.boxes]
                key = (shot, track.track_id, region.name)
                subjects.append(Subject(key, "person", frames, boxes, shot, None, score, person, region.name))
        if self.people is not None and self.people.whole_shot_fallback:
            with_people = {shot for shot, _ in tracks}
            for shot in kept.values():
                if shot.shot_id not in with_people:
                    ends = [shot.first, shot.last]
                    subjects.append(Subject(("shot", shot.shot_id), "shot", ends, [self.full] * 2, shot.shot_id))
        return sorted(subjects, key=lambda s: s.frames[0])
