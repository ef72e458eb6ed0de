"""Unreadable videos: skipped in training, a counted miss in evaluation, reported once per file.

DataLoader workers find them, so the report travels in the samples to the builder in the main
process; the last test runs mmf_run itself with workers, lenient and strict.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from mmf_ext.common.sample import SampleList
from tests.helpers import SQUARE, dataset_config, run_config, write_folder
from video2shop.datasets.manifest import ManifestError
from video2shop.modules.retrieval_metrics import TopKRetrievalAccuracy
from video2shop.retrieval.predictions import retrieval_prediction_rows


def product(name: str, videos: list[str], category: str = "Dress") -> dict:
    return {
        "img_path": f"imgs/{name}.png",
        "video_paths": [f"videos/{v}.mp4" for v in videos],
        "source": 1,
        "category": category,
        "tracklets": [SQUARE] * len(videos),
    }


@pytest.fixture
def broken_folder(tmp_path) -> Path:
    """Train: p1's video is garbage. Test: q2 (product s2) is a truncated file."""
    train = {"p0": product("p0", ["t0"]), "p1": product("p1", ["bad_train"]), "p2": product("p2", ["t2"], "Top")}
    test = {"s1": product("s1", ["q1"]), "s2": product("s2", ["q2"]), "s3": product("s3", ["q3"], "Top")}
    root = write_folder(tmp_path / "data", {"train": train, "test": test})
    (root / "videos" / "bad_train.mp4").write_bytes(b"not a video" * 40)
    q2 = root / "videos" / "q2.mp4"
    q2.write_bytes(q2.read_bytes()[: q2.stat().st_size // 2])  # its index is at the end: nothing decodes
    return root


@pytest.fixture
def project_log(caplog):
    """caplog on the project's logger (a run may have stopped it propagating to the root)."""
    project_logger = logging.getLogger("mmf_ext")
    attach = not project_logger.propagate  # else caplog's root handler already sees every record
    if attach:
        project_logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="mmf_ext")
    yield caplog
    if attach:
        project_logger.removeHandler(caplog.handler)


def test_an_unreadable_query_is_a_counted_miss_and_named_never_scored(broken_folder, tmp_path):
    builder, config = dataset_config("video2shop", broken_folder, tmp_path / "cache")
    dataset = builder.load(config, "test")
    samples = [dataset[i] for i in range(len(dataset))]
    assert [s.valid for s in samples] == [True, False, True, True, True, True]
    assert samples[1].skipped_videos == [
        ("test", str(broken_folder / "videos" / "q2.mp4"), samples[1].skipped_videos[0][2])
    ]
    assert "q2.mp4" in samples[1].skipped_videos[0][2]
    batch = SampleList([{**s, "sample_index": i} for i, s in enumerate(samples)])

    # every query's own answer scores highest, the placeholder of q2 included: q2 must still miss
    output = {
        "scores": torch.eye(3) + 0.01,
        "query_positions": torch.tensor([0, 1, 2]),
        "gallery_positions": torch.tensor([3, 4, 5]),
    }
    metric = TopKRetrievalAccuracy(k=[1, 3])
    values, report = metric.calculate_with_report(batch, output)
    assert values["top1_accuracy"].item() == pytest.approx(2 / 3)  # still in the denominator
    assert values["top3_accuracy"].item() == pytest.approx(2 / 3)  # a miss at every k
    assert values["median_rank"].item() == 1.0
    assert report["unreadable_queries"] == ["q2"]
    text = metric.write_report(report, "test", "video2shop", tmp_path / "reports")
    assert "1 unreadable query video(s) counted as misses: q2" in text
    assert "counted as misses: q2" in (tmp_path / "reports" / "test_retrieval.md").read_text()

    rows = retrieval_prediction_rows(batch, output, topk=2)
    assert rows[1] == {"query_id": "q2", "target_ids": ["s2"], "topk": [], "unreadable_video": True}
    assert rows[0]["topk"][0]["gallery_id"] == "s1"


def test_median_rank_stays_defined_when_most_queries_miss():
    batch = SampleList(
        [{"is_query": True, "query_id": f"q{i}", "target_ids": ["a"], "valid": i == 0} for i in range(3)]
        + [{"is_query": False, "gallery_id": "a", "valid": True}]
    )
    output = {
        "scores": torch.ones(3, 1),
        "query_positions": torch.tensor([0, 1, 2]),
        "gallery_positions": torch.tensor([3]),
    }
    assert TopKRetrievalAccuracy(k=[1]).calculate(batch, output)["median_rank"].item() == float("inf")


def test_a_training_item_moves_on_to_the_next_readable_video_and_says_so(broken_folder, tmp_path):
    builder, config = dataset_config("video2shop", broken_folder, tmp_path / "cache")
    train = builder.load(config, "train")
    assert [p for p, _, _ in train.items] == ["p0", "p1", "p2"]
    item = train[1]
    assert item.product_id == "p2" and item.skipped_videos[0][:2] == (
        "train",
        str(broken_folder / "videos" / "bad_train.mp4"),
    )
    assert "skipped_videos" not in train[0]

    (broken_folder / "videos" / "t0.mp4").write_bytes(b"")
    (broken_folder / "videos" / "t2.mp4").write_bytes(b"")
    with pytest.raises(ManifestError, match=r"dataset video2shop train: none of its 3 videos can be decoded \(.*: "):
        builder.load(config, "train")[0]


def test_workers_report_each_unreadable_file_once_and_the_builder_sums_them_up(broken_folder, tmp_path, project_log):
    builder, config = dataset_config("video2shop", broken_folder, tmp_path / "cache")
    builder.configure(config, run_config(workers=2))
    for _ in range(2):  # two evaluation epochs: fresh workers each time, still one warning per file
        for batch in builder.test_dataloader():
            batch = builder.on_before_batch_transfer(batch, 0)
            assert "skipped_videos" not in batch and "valid" in batch
    for batch in builder.train_dataloader():
        builder.on_before_batch_transfer(batch, 0)
    warnings = [r.getMessage() for r in project_log.records if "skipping unreadable video" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert any("video2shop test:" in w and "q2.mp4" in w for w in warnings)
    assert any("video2shop train:" in w and "bad_train.mp4" in w for w in warnings)
    project_log.clear()
    builder.teardown("test")
    (summary,) = [r.getMessage() for r in project_log.records]
    assert "video2shop: 2 unreadable video(s) skipped in this run (test: 1, train: 1)" in summary


def test_prepare_still_names_each_unreadable_file(broken_folder, tmp_path, project_log):
    from video2shop.datasets.validation import prepare_cache

    summary = prepare_cache(broken_folder, "video2shop", tmp_path / "cache", ["num_frames=4", "image_size=32"])
    assert "2 unreadable videos skipped" in summary
    assert sum("skipping unreadable video" in r.getMessage() for r in project_log.records) == 2


def run_options(root: Path, save_dir: Path, *extra: str) -> list[str]:
    from tests.helpers import REPO_ROOT

    return [
        f"config={REPO_ROOT / 'projects/video2shop/configs/asymnet.yaml'}",
        "model=asymnet",
        "dataset=video2shop",
        f"env.save_dir={save_dir}",
        f"dataset_config.video2shop.data_dir={root}",
        f"env.cache_dir={save_dir / 'cache'}",
        "dataset_config.video2shop.num_frames=4",
        "dataset_config.video2shop.image_size=32",
        "dataset_config.video2shop.positives_per_trajectory=2",
        "training.max_updates=2",
        "training.batch_size=2",
        "training.num_workers=2",
        "training.progress_bar=false",
        "training.evaluation_interval=2",
        "training.checkpoint_interval=2",
        *extra,
    ]


def test_a_run_with_workers_reports_skipped_videos_and_strict_names_the_file(broken_folder, tmp_path, capsys):
    from mmf_cli.run import main, run

    save_dir = tmp_path / "run"
    results = run(run_options(broken_folder, save_dir, "run_type=train_val_test"))
    log = (save_dir / "train.log").read_text()
    assert log.count("skipping unreadable video") == 2, log  # once per file, across epochs and workers
    assert "2 unreadable video(s) skipped in this run" in log
    assert "unreadable query video(s) counted as misses: q2" in log
    # gallery of 3: every readable query hits at 20; q2 is the one miss
    assert results["test"]["test/video2shop/top20_accuracy"] == pytest.approx(2 / 3)

    code = main(
        run_options(broken_folder, tmp_path / "strict", "run_type=train", "dataset_config.video2shop.strict=true")
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1, error
    assert error.startswith("mmf_run: error: ") and "bad_train.mp4" in error and "strict: true" in error
