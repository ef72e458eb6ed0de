"""Multi-object tracking of clothing in a video stream: KCF between detections (paper Sec. 5).

Fed one frame at a time (frames are never stored), the tracker follows every item with its own
KCF filter. Every `redetect_interval`-th frame the caller runs the detector (`wants_detections`)
and passes its detections: each is matched to a live track by IoU (greedy, `match_iou`), and a
match corrects the track's box and restarts its filter there, so KCF drift never accumulates for
long. Unmatched detections start new tracks. A track ends when KCF loses it, or when
`max_missed` re-detections in a row find nothing for it. `finish()` returns the tracks that are
long enough, with duplicates removed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from video2shop.pipeline.boxes import Box, box_size, clip_box, greedy_match, iou_matrix
from video2shop.pipeline.detection import Detection
from video2shop.pipeline.kcf import KCFTracker, kcf_params
from video2shop.pipeline.track_filters import drop_short, remove_duplicates
from video2shop.pipeline.track_types import Track, TrackerConfig


def usable_detections(
    detections: Sequence[Detection], config: TrackerConfig, width: int, height: int
) -> list[Detection]:
    """The detections the tracker acts on: scored at least `min_detection_score`, clipped to the frame,
    at least `min_box_size` wide and high; best score first (a photo's boxes are chosen the same way)."""
    usable = []
    for detection in detections:
        if detection.score < config.min_detection_score:
            continue
        box = clip_box(detection.box, width, height)
        if min(box_size(box)) < config.min_box_size:
            continue
        if box != tuple(detection.box):
            detection = Detection(box, detection.score, detection.label, detection.category)
        usable.append(detection)
    return sorted(usable, key=lambda d: -d.score)


def already_taken(detection: Detection, taken: Sequence[tuple[Box, int]], config: TrackerConfig) -> bool:
    """Whether a detection is a second one of an item already followed ((box, label) pairs): it overlaps one
    by `match_iou` or more (say, under another category); with class_aware only one of its own category counts."""
    same = [box for box, label in taken if not config.class_aware or label in (-1, detection.label)]
    return bool(same) and float(iou_matrix([detection.box], same).max()) >= config.match_iou


@dataclass
class _LiveTrack:
    track: Track
    kcf: KCFTracker
    missed: int = 0
    confirmed_length: int = 0  # frames up to and including the last detection match
    votes: dict[tuple[int, str | None], float] = field(default_factory=lambda: defaultdict(float))

    def add(self, frame: int, box: Box, detection: Detection | None) -> None:
        self.track.frames.append(frame)
        self.track.boxes.append(box)
        self.track.detection_scores.append(None if detection is None else float(detection.score))
        if detection is not None:
            self.votes[(int(detection.label), detection.category)] += float(detection.score)
            self.confirmed_length = len(self.track.frames)
            self.missed = 0

    def vote(self) -> tuple[int, str | None]:
        """(label, category) with the largest summed detection score."""
        return max(self.votes.items(), key=lambda item: item[1])[0] if self.votes else (-1, None)


class MultiObjectTracker:
    """Stream tracker: `update()` each frame in order, then `finish()` for the tracks."""

    def __init__(self, config: TrackerConfig | Mapping[str, Any] | None = None) -> None:
        self.config = config if isinstance(config, TrackerConfig) else TrackerConfig.from_config(config)
        self._params = kcf_params(self.config.kcf)
        self._reset()

    def _reset(self) -> None:
        self._live: list[_LiveTrack] = []
        self._finished: list[_LiveTrack] = []
        self._next_id = 0
        self._fed = 0
        self._last_frame: int | None = None

    # -- the stream -------------------------------------------------------------------------
    def wants_detections(self) -> bool:
        """True when the next frame fed is a re-detection frame (the first, then every N-th)."""
        return self._fed % self.config.redetect_interval == 0

    def update(
        self, frame_index: int, frame_rgb: np.ndarray, detections: Sequence[Detection] | None = None
    ) -> dict[int, Box]:
        """Advance every track to this frame; returns {track_id: box} of the tracks alive on it.

        `detections` (None when the detector did not run on this frame) correct and start tracks.
        """
        if self._last_frame is not None and frame_index <= self._last_frame:
            raise ValueError(f"frame {frame_index} fed after frame {self._last_frame}; feed frames in increasing order")
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise ValueError(
                f"frame {frame_index}: expected an RGB uint8 array [H, W, 3], got {frame_rgb.dtype} {frame_rgb.shape}"
            )
        self._last_frame = frame_index
        self._fed += 1
        height, width = frame_rgb.shape[:2]
        frame_bgr = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)  # OpenCV's trackers read BGR
        followed = self._follow(frame_bgr, width, height)
        if detections is None:
            self._keep_followed(frame_index, followed)
        else:
            usable = self._usable(detections, width, height)
            pairs = self._match(followed, usable)
            self._correct(frame_index, frame_bgr, followed, usable, pairs)
            self._start_unmatched(frame_index, frame_bgr, usable, set(pairs.values()))
        return self._alive_boxes(frame_index)

    def finish(self) -> list[Track]:
        """End every live track; the tracks of at least `min_length` frames, duplicates removed.

        The tracker is reset afterwards and can take a new stream.
        """
        for live in list(self._live):
            self._end(live, "stream_end")
        tracks = []
        for live in self._finished:
            live.track.label, live.track.category = live.vote()
            tracks.append(live.track)
        tracks = drop_short(tracks, self.config.min_length)
        tracks = remove_duplicates(tracks, self.config.duplicate_iou)
        self._reset()
        return tracks

    # -- internals --------------------------------------------------------------------------
    def _follow(self, frame_bgr: np.ndarray, width: int, height: int) -> list[tuple[_LiveTrack, bool, Box]]:
        """Each live track's KCF step: (track, found, its box on this frame, or its last box when lost)."""
        followed: list[tuple[_LiveTrack, bool, Box]] = []
        for live in self._live:
            found, box = live.kcf.update(frame_bgr)
            box = clip_box(box, width, height)
            found = found and min(box_size(box)) >= 1.0
            followed.append((live, found, box if found else live.track.boxes[-1]))
        return followed

    def _keep_followed(self, frame_index: int, followed: list[tuple[_LiveTrack, bool, Box]]) -> None:
        """A frame without detections: tracks KCF still finds go on, the others end as lost."""
        self._live = []
        for live, found, box in followed:
            if found:
                live.add(frame_index, box, None)
                self._live.append(live)
            else:
                self._end(live, "lost")

    def _match(self, followed: list[tuple[_LiveTrack, bool, Box]], usable: list[Detection]) -> dict[int, int]:
        """{row of a followed track: column of the detection that corrects it}, greedy by IoU."""
        iou = iou_matrix([box for _, _, box in followed], [d.box for d in usable])
        if self.config.class_aware and iou.numel():
            for row, (live, _, _) in enumerate(followed):
                label = live.vote()[0]
                for column, detection in enumerate(usable):
                    if label >= 0 and detection.label != label:
                        iou[row, column] = 0.0
        return dict(greedy_match(iou, self.config.match_iou))

    def _correct(
        self,
        frame_index: int,
        frame_bgr: np.ndarray,
        followed: list[tuple[_LiveTrack, bool, Box]],
        usable: list[Detection],
        pairs: dict[int, int],
    ) -> None:
        """A re-detection frame: matched tracks restart on their detection, unmatched ones count a miss."""
        self._live = []
        for row, (live, found, box) in enumerate(followed):
            if row in pairs:  # corrected by a detection: the filter restarts on the detected box
                detection = usable[pairs[row]]
                live.kcf.init(frame_bgr, detection.box)
                live.add(frame_index, detection.box, detection)
                self._live.append(live)
            elif not found:
                self._end(live, "lost")
            else:
                live.missed += 1
                live.add(frame_index, box, None)
                if live.missed >= self.config.max_missed:
                    self._end(live, "missed")
                else:
                    self._live.append(live)

    def _start_unmatched(
        self, frame_index: int, frame_bgr: np.ndarray, usable: list[Detection], matched: set[int]
    ) -> None:
        """New tracks for detections that matched no track and do not overlap one of the same item."""
        current = [(live.track.boxes[-1], live.vote()[0]) for live in self._live]
        for column, detection in enumerate(usable):
            if column in matched:
                continue
            if already_taken(detection, current, self.config):
                continue
            self._start(frame_index, frame_bgr, detection)
            current.append((detection.box, detection.label))

    def _usable(self, detections: Sequence[Detection], width: int, height: int) -> list[Detection]:
        return usable_detections(detections, self.config, width, height)

    def _start(self, frame_index: int, frame_bgr: np.ndarray, detection: Detection) -> None:
        kcf = KCFTracker(self._params, self.config.kcf_box_size)
        kcf.init(frame_bgr, detection.box)
        live = _LiveTrack(Track(self._next_id), kcf)
        self._next_id += 1
        live.add(frame_index, detection.box, detection)
        self._live.append(live)

    def _end(self, live: _LiveTrack, reason: str) -> None:
        track = live.track
        if reason == "missed" and self.config.trim_unconfirmed_tail:
            keep = live.confirmed_length  # nothing vouches for the frames after the last match
            del track.frames[keep:], track.boxes[keep:], track.detection_scores[keep:]
        track.end_reason = reason
        live.kcf = None  # type: ignore[assignment]  # the filter's memory is no longer needed
        self._finished.append(live)

    def _alive_boxes(self, frame_index: int) -> dict[int, Box]:
        return {
            live.track.track_id: live.track.boxes[-1] for live in self._live if live.track.frames[-1] == frame_index
        }
