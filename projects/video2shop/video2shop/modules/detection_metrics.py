"""COCO-style detection mAP (torchmetrics' MeanAveragePrecision, pycocotools underneath).

Reads the split's gathered predictions (`pred_boxes`, `pred_scores`, `pred_labels`, one entry
per image, labels 1..N) and the dataset's targets (`boxes`, `labels`). Reports map (IoU
0.50:0.95), map_50, map_75 and mar_100 over all images, the same for video frames and shop images
apart (`video/map`, `shop/map`, ...) when the dataset tells them apart by `kind`, the same with
every box as one class (`agnostic/map`, ...: how well items are found, whatever their category;
what tracking and search need), and writes a per-category table to
`reports/<split>_detection.{md,json}`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torchmetrics.detection import MeanAveragePrecision

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.modules.metrics import BaseMetric
from mmf_ext.utils.file_io import atomic_write_text

SUMMARY_KEYS = ("map", "map_50", "map_75", "mar_100")


def per_image_list(value: Any) -> list[Any]:
    """Per-image values as a list: gathering stacks them into one tensor when all shapes agree."""
    if value is None:
        return []
    if isinstance(value, torch.Tensor):
        return list(value.unbind(0))
    return list(value)


def coco_map(
    predictions: list[dict[str, torch.Tensor]], targets: list[dict[str, torch.Tensor]], class_metrics: bool = False
) -> dict[str, Any]:
    """torchmetrics' COCO evaluation of xyxy boxes; -1 entries mean 'no ground truth for this'."""
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=class_metrics)
    metric.update(predictions, targets)
    return metric.compute()


@registry.register_metric("detection_map")
class DetectionMAP(BaseMetric):
    flat_result_keys = True  # reported as <split>/<dataset>/map, .../agnostic/map_50, ...

    def __init__(
        self,
        name: str = "detection_map",
        per_kind: bool = True,
        class_metrics: bool = True,
        class_agnostic: bool = True,
    ) -> None:
        super().__init__(name, per_kind=per_kind, class_metrics=class_metrics, class_agnostic=class_agnostic)
        self.per_kind = bool(per_kind)
        self.class_metrics = bool(class_metrics)
        self.class_agnostic = bool(class_agnostic)

    def calculate(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.calculate_with_report(sample_list, model_output)[0]

    def reported_names(self) -> list[str]:
        """Overall names; per-kind and class-agnostic ones add a `<kind>/` or `agnostic/` prefix."""
        return list(SUMMARY_KEYS)

    def calculate_with_report(
        self, sample_list: SampleList, model_output: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        boxes, labels = per_image_list(sample_list.get("boxes")), per_image_list(sample_list.get("labels"))
        predictions = [
            {"boxes": b.reshape(-1, 4).float(), "scores": s.reshape(-1).float(), "labels": c.reshape(-1).long()}
            for b, s, c in zip(*(per_image_list(model_output[k]) for k in ("pred_boxes", "pred_scores", "pred_labels")))
        ]
        targets = [{"boxes": b.reshape(-1, 4).float(), "labels": c.reshape(-1).long()} for b, c in zip(boxes, labels)]
        if len(predictions) != len(targets):
            raise RuntimeError(f"detection_map: {len(predictions)} predictions for {len(targets)} images")
        overall = coco_map(predictions, targets, self.class_metrics)
        result = {key: overall[key].double() for key in SUMMARY_KEYS}
        kinds = per_image_list(sample_list.get("kind"))
        by_kind: dict[str, dict[str, float]] = {}
        if self.per_kind and kinds and len(set(kinds)) > 1:
            for kind in sorted(set(kinds)):
                rows = [i for i, k in enumerate(kinds) if k == kind]
                values = coco_map([predictions[i] for i in rows], [targets[i] for i in rows])
                by_kind[kind] = {key: float(values[key]) for key in SUMMARY_KEYS}
                for key in SUMMARY_KEYS:
                    result[f"{kind}/{key}"] = torch.tensor(by_kind[kind][key], dtype=torch.float64)
        if self.class_agnostic:
            one_class = [{**p, "labels": torch.ones_like(p["labels"])} for p in predictions]
            values = coco_map(one_class, [{**t, "labels": torch.ones_like(t["labels"])} for t in targets])
            by_kind["agnostic"] = {key: float(values[key]) for key in SUMMARY_KEYS}
            for key in SUMMARY_KEYS:
                result[f"agnostic/{key}"] = torch.tensor(by_kind["agnostic"][key], dtype=torch.float64)
        names = list(model_output.get("category_names") or [])
        return result, self._report(overall, by_kind, names, len(targets))

    def _report(
        self, overall: dict[str, Any], by_kind: dict[str, dict[str, float]], names: list[str], images: int
    ) -> dict[str, Any]:
        report: dict[str, Any] = {
            "images": images,
            "overall": {k: float(overall[k]) for k in SUMMARY_KEYS},
            "kinds": by_kind,
            "categories": {},
        }
        if self.class_metrics and "classes" in overall:
            classes = overall["classes"].reshape(-1).tolist()
            per_class = overall["map_per_class"].reshape(-1).tolist()
            for label, value in zip(classes, per_class):
                if value < 0:
                    continue  # predicted but absent from the ground truth: no AP to report
                name = names[label - 1] if 0 < label <= len(names) else f"class {label}"
                report["categories"][name] = float(value)
        return report

    def write_report(
        self, report: dict[str, Any] | None, split: str, dataset_name: str, reports_dir: Path
    ) -> str | None:
        if report is None:
            return None

        def cell(value: float) -> str:
            return "n/a" if value < 0 or math.isnan(value) else f"{100 * value:.1f}"

        lines = [
            f"{split} detection on {dataset_name} ({report['images']} images), COCO AP in % "
            "(agnostic: every box one class)",
            "",
            "| images | map | map_50 | map_75 | mar_100 |",
            "| --- | --- | --- | --- | --- |",
            "| all | " + " | ".join(cell(report["overall"][k]) for k in SUMMARY_KEYS) + " |",
        ]
        for kind, values in report["kinds"].items():
            lines.append(f"| {kind} | " + " | ".join(cell(values[k]) for k in SUMMARY_KEYS) + " |")
        if report["categories"]:
            lines += ["", "| category | AP |", "| --- | --- |"]
            lines += [f"| {name} | {cell(value)} |" for name, value in report["categories"].items()]
        text = "\n".join(lines) + "\n"
        reports_dir = Path(reports_dir)
        md = atomic_write_text(reports_dir / f"{split}_detection.md", text)
        js = atomic_write_text(reports_dir / f"{split}_detection.json", json.dumps(report, indent=2))
        return f"{text}reports: {md}, {js}"
