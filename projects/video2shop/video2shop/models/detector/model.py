"""The registered `clothing_detector`: a torchvision Faster R-CNN with one class per category.

Trained by `mmf_run` on any video2shop-format dataset served with `task: detection` (video frames
at tracklet boxes, shop images with their shop boxes). Training returns torchvision's four losses;
evaluation returns each image's boxes, scores and labels, which the framework gathers over ranks
and hands, once per split, to the `detection_map` metric (COCO mAP through torchmetrics).
"""

from __future__ import annotations

from typing import Any

import torch

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.models.base_model import BaseModel
from mmf_ext.utils.configuration import get_global_config
from mmf_ext.utils.errors import ConfigError
from video2shop.models.detector.categories import detector_categories
from video2shop.models.detector.factory import build_faster_rcnn
from video2shop.models.detector.frame_scale import FrameScaleRecord
from video2shop.modules.detection_metrics import per_image_list as as_list
from video2shop.paths import model_defaults

PREDICTION_KEYS = ("pred_boxes", "pred_scores", "pred_labels")


@registry.register_model("clothing_detector")
class ClothingDetectorModel(BaseModel):
    @classmethod
    def config_path(cls) -> str:
        return model_defaults("clothing_detector")

    def build(self) -> None:
        c = self.config
        self.categories = detector_categories(c, get_global_config())
        num_classes = len(self.categories) + 1
        if c.num_classes is not None and int(c.num_classes) != num_classes:
            raise ConfigError(
                f"model_config.clothing_detector.num_classes={c.num_classes} but there are "
                f"{len(self.categories)} categories ({', '.join(self.categories[:3])}...) plus background = "
                f"{num_classes}; set num_classes=null"
            )
        self.frame_scale = FrameScaleRecord(float(c.min_size), float(c.max_size))
        rpn = c.rpn
        self.detector = build_faster_rcnn(
            str(c.architecture),
            num_classes,
            representation_size=int(c.representation_size),
            pretrained=c.pretrained,
            pretrained_backbone=c.pretrained_backbone,
            trainable_backbone_layers=c.trainable_backbone_layers,
            roi_sampling_ratio=int(c.roi_sampling_ratio),
            score=str(c.score),
            min_size=int(c.min_size),
            max_size=int(c.max_size),
            box_score_thresh=float(c.score_threshold),
            box_nms_thresh=float(c.nms),
            box_detections_per_img=int(c.detections_per_image),
            box_batch_size_per_image=int(c.box_batch_size_per_image),
            rpn_pre_nms_top_n_train=int(rpn.pre_nms_top_n_train),
            rpn_post_nms_top_n_train=int(rpn.post_nms_top_n_train),
            rpn_pre_nms_top_n_test=int(rpn.pre_nms_top_n_test),
            rpn_post_nms_top_n_test=int(rpn.post_nms_top_n_test),
        )

    # -- inputs -----------------------------------------------------------------------------
    def _images(self, sample_list: SampleList) -> list[torch.Tensor]:
        """uint8 [3, H, W] images (sizes may differ) as float [0, 1] tensors on this device."""
        images = []
        for image in as_list(sample_list["image"]):
            image = image.to(self.device)
            images.append(image.float().div_(255.0) if image.dtype == torch.uint8 else image.float())
        return images

    def _targets(self, sample_list: SampleList) -> list[dict[str, torch.Tensor]]:
        targets = []
        num_classes = len(self.categories) + 1
        for boxes, labels in zip(as_list(sample_list["boxes"]), as_list(sample_list["labels"])):
            labels = labels.to(self.device, torch.int64).reshape(-1)
            if len(labels) and (int(labels.min()) < 1 or int(labels.max()) >= num_classes):
                raise ConfigError(
                    f"a box is labelled {int(labels.max())} but the detector has classes 1..{num_classes - 1} "
                    f"({len(self.categories)} categories); give the model and dataset the same `categories` list"
                )
            targets.append({"boxes": boxes.to(self.device, torch.float32).reshape(-1, 4), "labels": labels})
        return targets

    # -- MMF contract -----------------------------------------------------------------------
    def forward(self, sample_list: SampleList) -> dict[str, Any]:
        images = self._images(sample_list)
        if self.training:
            if "boxes" not in sample_list:
                raise ConfigError(
                    "clothing_detector trains on boxes; serve the dataset with dataset_config.<name>.task=detection"
                )
            self.frame_scale.observe(images, sample_list.get("kind"))
            return {"losses": self.detector(images, self._targets(sample_list))}
        detections = self.detector(images)
        return {
            "pred_boxes": [d["boxes"] for d in detections],
            "pred_scores": [d["scores"] for d in detections],
            "pred_labels": [d["labels"] for d in detections],
        }

    def aggregate_eval_outputs(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, Any]:
        """Per-image predictions of the whole split as lists, plus the category names for reports."""
        output = {
            key: [t.reshape(-1, 4) if key == "pred_boxes" else t.reshape(-1) for t in as_list(model_output.get(key))]
            for key in PREDICTION_KEYS
        }
        output["category_names"] = list(self.categories)
        return output

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The categories and the scale training frames were seen at (the pipeline detects at that scale)."""
        checkpoint["clothing_detector"] = {"categories": list(self.categories)}
        side = self.frame_scale.value()
        if side is not None:
            checkpoint["clothing_detector"]["frame_short_side"] = round(float(side), 2)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.frame_scale.loaded = (checkpoint.get("clothing_detector") or {}).get("frame_short_side")
