"""The builders on generated data: synthetic, a hand-made MovingFashion folder, and hostile manifests."""

import json

import pytest
import torch

from tests import helpers
from video2shop.datasets.categories import PAPER_CATEGORIES
from video2shop.datasets.manifest import ManifestError


def dataset_config(name, data_dir, cache_dir, **overrides):
    """The shared helper's small config, with augmentation left as the builder's default (on)."""
    return helpers.dataset_config(name, data_dir, cache_dir, **{"augment": True, **overrides})


def test_synthetic_dataset_is_split_by_product_with_the_paper_categories(synthetic_dir):
    manifests = {s: json.loads((synthetic_dir / f"{s}.json").read_text()) for s in ("train", "val", "test")}
    assert not set(manifests["train"]) & set(manifests["test"]) and not set(manifests["val"]) & set(manifests["test"])
    entries = [e for m in manifests.values() for e in m.values()]
    assert {e["category"] for e in entries} <= set(PAPER_CATEGORIES)
    assert {e["source"] for e in entries} <= {1, 2}
    assert all(len(e["tracklets"]) == len(e["video_paths"]) and e["shop_boxes"] for e in entries)


def test_synthetic_generation_is_deterministic(tmp_path):
    from video2shop.datasets.synthetic import generate

    a, b = (
        generate(tmp_path / "a", products=4, seed=9, frames=4, video_size=32, image_size=32),
        generate(tmp_path / "b", products=4, seed=9, frames=4, video_size=32, image_size=32),
    )
    assert (a / "train.json").read_text() == (b / "train.json").read_text()
    assert (a / "imgs" / "p00000.png").read_bytes() == (b / "imgs" / "p00000.png").read_bytes()


def test_training_items_hold_a_trajectory_and_2s_shop_images(synthetic_dir, tmp_path):
    builder, config = dataset_config("video2shop", synthetic_dir, tmp_path)
    dataset = builder.load(config, "train")
    item = dataset[0]
    assert item.video.shape == (4, 3, 32, 32) and item.video.dtype == torch.uint8
    assert item.images.shape == (4, 3, 32, 32)
    assert item.labels.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert 0 <= item.category < 14


def test_evaluation_split_lists_queries_then_the_gallery(synthetic_dir, tmp_path):
    builder, config = dataset_config("video2shop", synthetic_dir, tmp_path)
    dataset = builder.load(config, "test")
    test_products = json.loads((synthetic_dir / "test.json").read_text())
    assert len(dataset.queries) == len(test_products) and len(dataset.gallery) == len(test_products)
    first, last = dataset[0], dataset[len(dataset) - 1]
    assert first.is_query and first.video.shape == (4, 3, 32, 32) and first.target_ids[0] in test_products
    assert not last.is_query and last.image.shape == (3, 32, 32) and last.gallery_id in test_products


def test_synthetic_builder_generates_once_into_the_data_dir(tmp_path):
    builder, config = dataset_config(
        "synthetic_video2shop", tmp_path / "data" / "syn", tmp_path / "cache", products=6, video_frames=6
    )
    builder.build(config, "train")
    stamp = (tmp_path / "data" / "syn" / "train.json").stat().st_mtime_ns
    builder.build(config, "test")
    assert (tmp_path / "data" / "syn" / "train.json").stat().st_mtime_ns == stamp
    assert len(builder.load(config, "val")) > 0


def test_synthetic_builder_regenerates_a_dataset_made_otherwise_and_refuses_a_foreign_folder(tmp_path):
    from video2shop.datasets.synthetic import read_stamp

    root = tmp_path / "data" / "syn"
    builder, config = dataset_config("synthetic_video2shop", root, tmp_path / "cache", products=6, video_frames=6)
    builder.build(config, "train")
    config.video_frames = 5  # not in the folder's name: only the stamp tells
    builder.build(config, "train")
    assert read_stamp(root)["params"]["frames"] == 5
    mine = tmp_path / "mine"
    (mine / "imgs").mkdir(parents=True)
    config.data_dir = str(mine)
    with pytest.raises(ManifestError, match="mine: exists but was not written by the synthetic generator"):
        builder.build(config, "train")
    assert (mine / "imgs").is_dir()


def test_movingfashion_folder_loads_and_keeps_every_answer_of_a_shared_video(movingfashion_dir, tmp_path):
    builder, config = dataset_config("movingfashion", movingfashion_dir, tmp_path)
    train = builder.load(config, "train")
    assert len(train) == 3 and train[0].category == -1
    test = builder.load(config, "test")
    assert len(test.queries) == 2  # s2 and s3 share one video
    shared = next(q for q in test.queries if len(q["targets"]) == 2)
    assert sorted(shared["targets"]) == ["s2", "s3"]
    assert len(test.gallery) == 3


@pytest.mark.parametrize(
    "path, message", [("../../etc/passwd", "escapes the data directory"), ("/etc/passwd", "absolute path")]
)
def test_paths_escaping_the_data_directory_are_rejected(movingfashion_dir, tmp_path, path, message):
    manifest = json.loads((movingfashion_dir / "train.json").read_text())
    manifest["t1"]["img_path"] = path
    (movingfashion_dir / "train.json").write_text(json.dumps(manifest))
    builder, config = dataset_config("movingfashion", movingfashion_dir, tmp_path)
    with pytest.raises(ManifestError, match=message):
        builder.load(config, "train")


def test_malformed_json_reports_line_and_column(movingfashion_dir, tmp_path):
    (movingfashion_dir / "train.json").write_text('{\n  "t1": {"img_path": "imgs/t1.jpg",,}\n}')
    builder, config = dataset_config("movingfashion", movingfashion_dir, tmp_path)
    with pytest.raises(ManifestError, match=r"train.json: malformed JSON at line 2 column \d+"):
        builder.load(config, "train")


def test_bad_boxes_and_missing_files_are_reported(movingfashion_dir, tmp_path):
    builder, config = dataset_config("movingfashion", movingfashion_dir, tmp_path)
    manifest = json.loads((movingfashion_dir / "train.json").read_text())
    manifest["t1"]["tracklets"] = [{"0": [10, 10, 5, 20]}]
    (movingfashion_dir / "train.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="box .* is empty"):
        builder.load(config, "train")
    manifest["t1"]["tracklets"] = []
    (movingfashion_dir / "train.json").write_text(json.dumps(manifest))
    (movingfashion_dir / "imgs" / "t2.jpg").unlink()
    with pytest.raises(ManifestError, match="missing shop image"):
        builder.load(config, "train")


def test_category_filter_keeps_one_category_and_rejects_unknown_ones(movingfashion_dir, tmp_path):
    manifest = json.loads((movingfashion_dir / "train.json").read_text())
    for pid, category in (("t1", "Dress"), ("t2", "Dress"), ("t3", "Top")):
        manifest[pid]["category"] = category
    (movingfashion_dir / "train.json").write_text(json.dumps(manifest))
    builder, config = dataset_config("video2shop", movingfashion_dir, tmp_path, category_filter="Dress")
    train = builder.load(config, "train")
    assert sorted(pid for pid, _, _ in train.items) == ["t1", "t2"]
    builder, config = dataset_config("video2shop", movingfashion_dir, tmp_path, category_filter="Spacesuit")
    with pytest.raises(ManifestError, match="category_filter='Spacesuit': no such category"):
        builder.load(config, "train")
    builder, config = dataset_config("video2shop", movingfashion_dir, tmp_path, category_filter="Top")
    with pytest.raises(ManifestError, match="at least two products"):
        builder.load(config, "train")


def test_workers_reading_the_frame_cache_leave_their_cpus_to_the_model(synthetic_dir, tmp_path):
    from mmf_ext.datasets.base_dataset_builder import BaseDatasetBuilder
    from mmf_ext.utils.threads import CpuBudget, thread_plan
    from video2shop.datasets.builder import CACHED_WORKER_CPU_SHARE

    def share(cache_dir=tmp_path / "cache", **overrides):
        builder, config = dataset_config("video2shop", synthetic_dir, cache_dir, **overrides)
        builder.configure(config, None)
        return builder.worker_cpu_share()

    assert share() == CACHED_WORKER_CPU_SHARE < 0.5
    assert share(use_cache=False) == 1.0  # every item decoded from its video
    assert share(cache_dir="") == 1.0
    assert share(task="detection") == 1.0  # full images, read per item
    assert BaseDatasetBuilder().worker_cpu_share() == 1.0  # a dataset that does not say: a CPU per worker
    plan = thread_plan(None, 2, 1, CpuBudget(2, None), environ={}, worker_cpu_share=share())
    assert plan.intra_op == 2  # the default run's 2 workers on 2 CPUs
