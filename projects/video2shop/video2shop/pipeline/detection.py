"""Clothing detection for the pipeline: a trained `clothing_detector` run on raw RGB frames.

`ClothingDetector` loads what `mmf_run` saved (a weights-only checkpoint and the run's
config.yaml beside it), so inference builds exactly the network that was trained, with the same
category list, and never needs the training data or pretrained files again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.utils.errors import ConfigError, UserError

MODEL_NAME = "clothing_detector"


@dataclass(frozen=True)
class Detection:
    """One detected item: box (x1, y1, x2, y2) in pixels, score, category index and name."""

    box: tuple[float, float, float, float]
    score: float
    label: int
    category: str | None = None


def _run_config(checkpoint: Path, config: str | os.PathLike | DictConfig | None) -> DictConfig:
    """The training run's config: given, or config.yaml beside the checkpoint (or one level up)."""
    if isinstance(config, DictConfig):
        return config
    if config is not None:
        path = Path(config).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: config file not found; give the training run's config.yaml")
        return OmegaConf.load(path)
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        if (folder / "config.yaml").is_file():
            return OmegaConf.load(folder / "config.yaml")
    raise UserError(f"{checkpoint}: no config.yaml beside it or one folder up; pass the training run's config.yaml")


class ClothingDetector:
    """Batched inference of a `clothing_detector` checkpoint on CPU or CUDA."""

    def __init__(self, checkpoint: str | os.PathLike, config: str | os.PathLike | DictConfig | None = None,
                 device: str | torch.device | None = None, batch_size: int = 8, score_threshold: float | None = None) -> None:
        from video2shop.models.detector.categories import detector_categories
        from video2shop.models.detector.model import ClothingDetectorModel
        from mmf_ext.utils.checkpoint import load_checkpoint_file

        checkpoint = Path(checkpoint).expanduser()
        state = load_checkpoint_file(checkpoint)
        run_config = _run_config(checkpoint, config)
        if run_config.get("model") not in (None, MODEL_NAME) or MODEL_NAME not in (run_config.get("model_config") or {}):
            raise UserError(f"{checkpoint}: its run trained model {run_config.get('model')!r}, not {MODEL_NAME}; "
                            "give a clothing_detector checkpoint")
        model_config = OmegaConf.create(OmegaConf.to_container(run_config.model_config[MODEL_NAME], resolve=True))
        saved = (state.get(MODEL_NAME) or {}).get("categories")
        model_config.categories = list(saved) if saved else detector_categories(model_config, run_config)
        model_config.num_classes = None
        model_config.pretrained = None  # the checkpoint holds every weight
        model_config.pretrained_backbone = None
        model = ClothingDetectorModel(model_config)
        model.build()
        weights = state.get("state_dict")
        if not isinstance(weights, dict):
            raise UserError(f"{checkpoint}: holds no state_dict; give a checkpoint written by mmf_run")
        result = model.load_state_dict(weights, strict=False)
        if result.missing_keys:
            raise UserError(f"{checkpoint}: does not fit this detector ({len(result.missing_keys)} missing weights, "
                            f"e.g. {result.missing_keys[0]}); was it trained with this config.yaml?")
        if batch_size < 1:
            raise ConfigError(f"pipeline.detector.batch_size={batch_size}: must be at least 1")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.detector = model.detector.to(self.device).eval()
        if score_threshold is not None:
            self.detector.roi_heads.score_thresh = float(score_threshold)
        self.categories: list[str] = list(model.categories)
        self.batch_size = int(batch_size)

    @classmethod
    def from_save_dir(cls, save_dir: str | os.PathLike, **options: Any) -> "ClothingDetector":
        """The detector of an mmf_run save dir: best.ckpt when validation chose one, else current.ckpt."""
        save_dir = Path(save_dir).expanduser()
        for name in ("best.ckpt", "current.ckpt"):
            if (save_dir / name).is_file():
                return cls(save_dir / name, **options)
        raise UserError(f"{save_dir}: no best.ckpt or current.ckpt; train with mmf_run model=clothing_detector first")

    @torch.inference_mode()
    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections per frame (RGB uint8 [H, W, 3] arrays, any sizes), best score first."""
        results: list[list[Detection]] = []
        for start in range(0, len(frames), self.batch_size):
            batch = []
            for i, frame in enumerate(frames[start : start + self.batch_size], start):
                if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                    raise ValueError(f"frame {i}: expected an RGB uint8 array [H, W, 3], got "
                                     f"{getattr(frame, 'dtype', type(frame))} {getattr(frame, 'shape', '')}")
                tensor = torch.from_numpy(np.require(frame, requirements=["C", "W"])).permute(2, 0, 1)  # copies read-only arrays
                batch.append(tensor.to(self.device).float().div_(255.0))
            for output in self.detector(batch):
                results.append([
                    Detection(tuple(float(v) for v in box), float(score), int(label) - 1,
                              self.categories[int(label) - 1] if 0 < int(label) <= len(self.categories) else None)
                    for box, score, label in zip(output["boxes"].cpu().tolist(), output["scores"].cpu().tolist(),
                                                 output["labels"].cpu().tolist())
                ])
        return results
