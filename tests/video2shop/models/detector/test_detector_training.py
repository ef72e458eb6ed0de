"""clothing_detector through mmf_run on generated video2shop data, then loaded by the pipeline."""

import json

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from mmf_cli.predict import predict
from mmf_cli.run import run
from mmf_ext.utils.errors import UserError
from tests.helpers import last_run
from video2shop.datasets.categories import PAPER_CATEGORIES
from video2shop.pipeline.detection import ClothingDetector, Detection
from video2shop.video.reader import read_frames

CONFIG = "projects/video2shop/configs/detector.yaml"


def options(synthetic_dir, save_dir):
    return [
        f"config={CONFIG}",
        "model=clothing_detector",
        "dataset=video2shop",
        f"dataset_config.video2shop.data_dir={synthetic_dir}",
        f"env.save_dir={save_dir}",
        f"env.cache_dir={save_dir.parent / 'cache'}",
        "dataset_config.video2shop.detection.frames_per_video=2",
        "dataset_config.video2shop.detection.eval_frames_per_video=1",
        "training.max_updates=4",
        "training.batch_size=4",
        "training.num_workers=0",
        "training.evaluation_interval=4",
        "training.checkpoint_interval=4",
        "training.log_interval=2",
        "training.progress_bar=false",
        "evaluation.batch_size=8",
        "model_config.clothing_detector.min_size=64",
        "model_config.clothing_detector.max_size=64",
    ]


@pytest.fixture(scope="module")
def trained(synthetic_dir, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("detector") / "save"
    return save_dir, run(options(synthetic_dir, save_dir))


def test_mmf_run_trains_the_detector_and_reports_coco_map(trained):
    save_dir, results = trained
    test = results["test"]
    for key in ("map", "map_50", "map_75", "mar_100", "video/map", "shop/map"):
        assert 0.0 <= test[f"test/video2shop/{key}"] <= 1.0
    assert (save_dir / "current.ckpt").is_file() and (save_dir / "config.yaml").is_file()
    report = (save_dir / "reports" / "test_detection.md").read_text()
    assert "| all |" in report and "| video |" in report
    checkpoint = torch.load(save_dir / "current.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["clothing_detector"]["categories"] == list(PAPER_CATEGORIES)
    assert checkpoint["global_step"] == 4


def test_the_pipeline_detector_loads_the_checkpoint_and_returns_detections(trained, synthetic_dir):
    save_dir, _ = trained
    detector = ClothingDetector.from_save_dir(save_dir, batch_size=2, score_threshold=0.0)
    assert detector.categories == list(PAPER_CATEGORIES) and detector.device.type in ("cpu", "cuda")
    video = sorted((synthetic_dir / "videos").glob("*.mp4"))[0]
    frames, _ = read_frames(video, [0, 3, 6])
    shop = np.zeros((48, 40, 3), np.uint8)
    results = detector.detect([*frames, shop])
    assert len(results) == 4 and any(results)
    for frame, detections in zip([*frames, shop], results):
        height, width = frame.shape[:2]
        for d in detections:
            assert isinstance(d, Detection) and 0.0 <= d.score <= 1.0
            assert 0 <= d.box[0] < d.box[2] <= width and 0 <= d.box[1] < d.box[3] <= height
            assert 0 <= d.label < len(PAPER_CATEGORIES) and d.category == PAPER_CATEGORIES[d.label]
        assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)
    with pytest.raises(ValueError, match="frame 0: expected an RGB uint8"):
        detector.detect([frames[0].astype(np.float32)])


def upscaled(frame, k):
    return np.ascontiguousarray(np.repeat(np.repeat(frame, k, 0), k, 1))


def matched(boxes, others, scale):
    """Whether every box has one among `others` (brought back by `scale`) with IoU above 0.9."""
    back = torch.tensor([d.box for d in others]) / scale
    return bool((box_iou(torch.tensor([d.box for d in boxes]), back).max(1).values > 0.9).all())


def test_the_detector_sees_frames_of_any_size_at_the_scale_it_was_trained_at(trained, synthetic_dir, tmp_path):
    save_dir, _ = trained
    state = torch.load(save_dir / "current.ckpt", map_location="cpu", weights_only=True)
    assert state["clothing_detector"]["frame_short_side"] == 64  # the 64x64 training frames, as the network saw them
    detector = ClothingDetector(save_dir / "current.ckpt", device="cpu", score_threshold=0.0)
    seen = []
    detector.detector.transform.register_forward_hook(lambda module, inputs, output: seen.extend(output[0].image_sizes))
    video = sorted((synthetic_dir / "videos").glob("*.mp4"))[0]
    frame = read_frames(video, [3])[0][0]
    wide = np.random.default_rng(0).integers(0, 255, (64, 114, 3), dtype=np.uint8)  # 16:9, the frame in its middle
    wide[:, 25:89] = frame
    frames = [frame, upscaled(frame, 2), upscaled(frame, 4), wide, upscaled(wide, 2), upscaled(wide, 4), wide[:, :40]]
    results = detector.detect(frames)
    # every frame reaches the network with the trained short side, whatever its size or shape (a 16:9 frame
    # capped by the training config's max_size=64 would shrink to 36x64, its clothing to 56% of the trained size)
    assert [tuple(size) for size in seen] == [(64, 64)] * 3 + [(64, 114)] * 3 + [(102, 64)]
    for base, k in ((0, 2), (0, 4), (3, 2), (3, 4)):
        top = results[base][:5]
        assert len(top) == 5 and matched(top, results[base + k // 2], k)  # boxes scale with the frame
    assert all(0 <= d.box[0] < d.box[2] <= 456 and 0 <= d.box[1] < d.box[3] <= 256 for d in results[5])
    del state["clothing_detector"]["frame_short_side"]  # an older checkpoint: min(min_size, max_size) of its config
    torch.save(state, tmp_path / "old.ckpt")
    assert ClothingDetector(tmp_path / "old.ckpt", device="cpu").frame_short_side == 64
    finer = ClothingDetector(save_dir / "current.ckpt", device="cpu", frame_short_side=128)
    seen.clear()
    finer.detector.transform.register_forward_hook(lambda module, inputs, output: seen.extend(output[0].image_sizes))
    finer.detect([wide])
    assert [tuple(size) for size in seen] == [(128, 228)]


def test_a_non_detector_checkpoint_or_missing_run_is_a_clear_error(trained, tmp_path):
    save_dir, _ = trained
    with pytest.raises(UserError, match="no best.ckpt or current.ckpt"):
        ClothingDetector.from_save_dir(tmp_path)
    lone = tmp_path / "lone" / "model.ckpt"
    lone.parent.mkdir()
    state = torch.load(save_dir / "current.ckpt", map_location="cpu", weights_only=True)
    assert state["config"]["model"] == "clothing_detector"  # mmf_run's checkpoints carry their run config
    torch.save(state, lone)
    assert ClothingDetector(lone, device="cpu").categories == list(PAPER_CATEGORIES)  # no config.yaml near it
    del state["config"]  # an older checkpoint: its config.yaml must be beside it
    torch.save(state, lone)
    with pytest.raises(UserError, match="no config.yaml beside it"):
        ClothingDetector(lone)


def test_mmf_predict_writes_one_row_per_detected_box(trained, synthetic_dir):
    save_dir, _ = trained
    predict(
        options(synthetic_dir, save_dir)
        + [f"checkpoint.resume_file={save_dir / 'current.ckpt'}", "model_config.clothing_detector.score_threshold=0.0"]
    )
    rows = json.loads((last_run(save_dir, "predict") / "reports" / "video2shop_test_predictions.json").read_text())
    assert rows and {"image_id", "kind", "box", "score", "label", "category"} == set(rows[0])
    assert {row["kind"] for row in rows} == {"video", "shop"}
    assert all(row["category"] == PAPER_CATEGORIES[row["label"]] for row in rows)


def test_video2shop_search_runs_with_the_trained_detector_checkpoint(trained, synthetic_dir, tmp_path):
    from tests.helpers import save_small_run
    from video2shop.cli.main import main

    save_dir, _ = trained
    asymnet = save_small_run(tmp_path / "asymnet", tmp_path / "data")
    assert (
        main(
            [
                "index",
                "--images",
                str(synthetic_dir / "test.json"),
                "--checkpoint",
                str(asymnet),
                "--out",
                str(tmp_path / "gallery"),
            ]
        )
        == 0
    )
    products = set(json.loads((synthetic_dir / "test.json").read_text()))
    video = synthetic_dir / json.loads((synthetic_dir / "test.json").read_text())[sorted(products)[0]]["video_paths"][0]
    # four updates do not make a confident detector: accept its every box so the whole path runs
    code = main(
        [
            "search",
            str(video),
            "--gallery",
            str(tmp_path / "gallery"),
            "--checkpoint",
            str(asymnet),
            "--detector",
            str(save_dir / "current.ckpt"),
            "--topk",
            "3",
            "--out",
            str(tmp_path / "r.json"),
            "pipeline.tracker.min_detection_score=0.0",
            "pipeline.tracker.min_length=1",
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["detector"] == str(save_dir / "current.ckpt") and result["trajectories"]
    for trajectory in result["trajectories"]:
        assert trajectory["category"] in PAPER_CATEGORIES
        assert {hit["product_id"] for hit in trajectory["topk"]} <= products and len(trajectory["topk"]) == min(
            3, len(products)
        )
