"""Benchmarks run at tiny sizes and print their JSON last line (no timing is asserted)."""

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, cli_env


def benchmark_process(*args):
    """The finished `scripts/benchmark.py ARGS` process; it must exit 0."""
    done = subprocess.run(
        [sys.executable, "scripts/benchmark.py", *args],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def run_benchmark(*args):
    """The JSON of the benchmark's last line."""
    return json.loads(benchmark_process(*args).stdout.strip().splitlines()[-1])


def test_scoring_benchmark_reports_speedup_and_exactness():
    result = run_benchmark(
        "scoring", "--gallery", "300", "--states", "8", "--dim", "32", "--queries", "2", "--naive-pairs", "200"
    )
    assert result["max_abs_diff"] < 1e-5 and result["speedup"] > 0


def test_contended_scoring_prints_idle_and_loaded_side_by_side_and_ends_with_both_in_json():
    done = benchmark_process(
        "scoring", "--gallery", "300", "--states", "8", "--dim", "32", "--queries", "2", "--naive-pairs", "200",
        "--contended",
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert lines[0].startswith("CPU threads: 1 intra-op (OMP_NUM_THREADS=1")
    assert result["contended"] and result["idle"]["benchmark"] == result["loaded"]["benchmark"] == "scoring"
    for key in ("exact_pairs_per_s", "naive_pairs_per_s"):
        ratio = result["loaded"][key] / result["idle"][key]
        assert result["ratio"].get(key, 1.0) == round(ratio, 3)  # a figure equal in both runs has no ratio
    assert "gallery" not in result["ratio"] and any(line.startswith("exact_pairs_per_s ") for line in lines)


def test_contended_is_only_for_speed_benchmarks():
    done = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "search_accuracy", "--contended"],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "--contended is for loading" in done.stderr


def test_approx_training_benchmark_reports_both_paths_with_equal_losses():
    result = run_benchmark("approx_training", "--positives", "2", "--frames", "8", "--image-size", "32")
    assert result["approximate_s_per_step"] > 0 and result["per_pair_s_per_step"] > 0
    assert abs(result["loss_approximate"] - result["loss_per_pair"]) < 1e-4
    assert result["follows_load"] is True  # the steps get the threads mmf_run's training steps get


def test_ifn_step_benchmark_times_both_layouts_with_the_same_features():
    result = run_benchmark("ifn_step", "--images", "4", "--image-size", "32", "--repeats", "1", "--fixed-threads")
    assert result["nhwc_s_per_step"] > 0 and result["nchw_s_per_step"] > 0
    assert result["max_feature_difference"] < 1e-4
    assert result["follows_load"] is False and result["fewest_step_threads"] == result["torch_threads"]


def test_ifn_step_benchmark_refuses_an_unknown_backbone_in_one_line():
    done = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "ifn_step", "--backbone", "nope", "--images", "2"],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "ifn.backbone='nope' is unknown" in done.stderr.strip().splitlines()[-1]


def test_loading_benchmark_reports_raw_and_cache_rates():
    result = run_benchmark("loading", "--products", "6", "--num-frames", "4", "--image-size", "32")
    assert result["raw_trajectories_per_s"] > 0 and result["cache_trajectories_per_s"] > 0


def test_unknown_benchmark_is_a_usage_error():
    done = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "nope"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and "usage" in done.stderr


def test_shortlist_benchmark_reports_latency_and_kept_share():
    result = run_benchmark("shortlist", "--sizes", "300", "--queries", "3", "--index", "flat", "--shortlist", "300")
    (row,) = result["results"]
    assert row["top20_kept"] == 1.0 and row["p50_ms"] > 0  # a full flat shortlist keeps everything


def test_shortlist_benchmark_with_mixup_distractors_and_pooled_embeddings():
    result = run_benchmark(
        "shortlist",
        "--sizes",
        "300",
        "--queries",
        "2",
        "--index",
        "flat",
        "--shortlist",
        "300",
        "--distractors",
        "mixup",
        "--embedding",
        "pooled",
    )
    assert result["results"][0]["top20_kept"] == 1.0 and result["distractors"] == "mixup"


def test_pipeline_benchmark_reports_every_stage_and_the_memory_of_each_length():
    small = ["--width", "160", "--height", "96", "--fps", "10", "--gallery", "50"]
    memory = ["--memory-seconds", "1", "3", "--memory-size", "160x96", "--memory-fps", "5"]
    result = run_benchmark("pipeline", "--seconds", "1", *small, *memory)
    assert result["frames"] == 10 and result["decode_fps"] > 0 and result["detect_fps"] > 0 and result["track_fps"] > 0
    assert result["seconds_per_video_minute"] > 0 and result["weights"] == "untrained"
    assert isinstance(result["tracks"], int)  # scripts/reproduce.yaml's pipeline row shows it
    figures = result["memory"]
    assert figures["video"] == "160x96 at 5 fps" and [figures[k]["frames"] for k in ("1s", "3s")] == [5, 15]
    for length in ("1s", "3s"):  # measured in a child: at least the loaded models, and a peak above the RSS
        one = figures[length]
        assert 100 < one["loaded_rss_mb"] <= one["search_peak_rss_mb"] <= one["peak_rss_mb"]


def test_the_pipeline_memory_column_is_left_out_without_lengths(tmp_path, monkeypatch):
    """`--memory-seconds` with no lengths: no child, no video, no memory key (the run above measures two)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "scripts"))
    from benchmarks import pipeline

    monkeypatch.setattr(pipeline, "search_memory", lambda *a: pytest.fail("a memory child was started"))
    assert pipeline.memory(tmp_path, [], 160, 96, 5.0, (tmp_path / "c.ckpt", tmp_path / "d.ckpt", False), 50) == {}
    assert not list(tmp_path.iterdir())


def test_search_accuracy_benchmark_searches_every_video_of_the_split(tmp_path, synthetic_dir):
    from tests.helpers import save_small_run

    checkpoint = save_small_run(tmp_path / "save", tmp_path / "data")
    result = run_benchmark(
        "search_accuracy", "--data", str(synthetic_dir), "--checkpoint", str(checkpoint), "--videos", "3"
    )
    whole = result["whole_frame"]
    assert result["videos"] == 3 and result["products"] >= 1
    assert (
        whole["trajectories_per_video"] == 1.0 and whole["no_trajectory_share"] == 0.0
    )  # the whole frame is one trajectory
    assert 0 <= whole["top1"] <= whole["top5"] <= whole["top10"] <= whole["top20"] <= 100
    within = whole["within_category"]  # ranked among fewer products: never worse than the whole gallery
    assert all(whole[f"top{k}"] <= within[f"top{k}"] <= 100 for k in (1, 5, 10, 20))
    assert within["median_rank"] <= whole["median_rank"]
    assert (
        whole["top20"] == 100.0 or result["products"] > 20
    )  # a gallery of at most 20 products always holds the answer


def test_a_missing_dataset_folder_is_one_error_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "scripts/benchmark.py",
            "search_accuracy",
            "--data",
            str(tmp_path / "nope"),
            "--checkpoint",
            str(tmp_path / "x.ckpt"),
        ],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "nope" in done.stderr
