"""`video2shop index` and `video2shop search` as a user runs them: files written, errors, the HTML report."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from tests.helpers import save_small_run, write_shop_folder
from tests.video2shop.pipeline.test_video_search import SquareDetector, square_video
from video2shop.cli.main import main


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    checkpoint = save_small_run(root / "save", root / "data")
    write_shop_folder(root / "shop", 6)
    assert (
        main(["index", "--images", str(root / "shop"), "--checkpoint", str(checkpoint), "--out", str(root / "gallery")])
        == 0
    )
    square_video(root / "clip.mp4")
    return root, checkpoint


def search(root, checkpoint, *extra):
    return main(
        ["search", str(root / "clip.mp4"), "--gallery", str(root / "gallery"), "--checkpoint", str(checkpoint), *extra]
    )


def test_search_writes_results_and_a_report_for_every_trajectory(indexed, monkeypatch, capsys):
    root, checkpoint = indexed
    import video2shop.cli.search as command

    monkeypatch.setattr(command, "_detector", lambda path, device: SquareDetector())
    code = search(
        root,
        checkpoint,
        "--detector",
        str(checkpoint),
        "--topk",
        "4",
        "--out",
        str(root / "r.json"),
        "--report",
        str(root / "r.html"),
        "pipeline.tracker.redetect_interval=3",
    )
    assert code == 0
    result = json.loads((root / "r.json").read_text())
    assert result["frames_decoded"] == 30 and result["gallery_items"] == 6 and result["message"] is None
    (trajectory,) = result["trajectories"]
    assert trajectory["category"] == "Dress" and trajectory["frame_span"][0] == 0
    assert len(trajectory["topk"]) == 4 and [h["rank"] for h in trajectory["topk"]] == [1, 2, 3, 4]
    assert all(len(b) == 5 for b in trajectory["boxes"])
    html = (root / "r.html").read_text()
    assert html.count("data-product=") == 4 and "data-trajectory='0'" in html and "src='http" not in html
    assert "trajectory 0 (Dress" in capsys.readouterr().out


def test_no_clothing_found_is_an_empty_result_with_a_message_and_exit_0(indexed, monkeypatch, tmp_path, capsys):
    root, checkpoint = indexed
    import video2shop.cli.search as command

    class Blind:
        def detect(self, frames):
            return [[] for _ in frames]

    monkeypatch.setattr(command, "_detector", lambda path, device: Blind())
    assert (
        search(
            root, checkpoint, "--detector", "x", "--out", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html")
        )
        == 0
    )
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["trajectories"] == [] and "no clothing found" in result["message"]
    assert "data-empty" in (tmp_path / "r.html").read_text() and "no clothing found" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("anim.gif", b"GIF89a" + bytes(64), "a GIF image, not a video"),
        ("empty.mp4", b"", "empty file"),
        ("junk.mp4", b"garbage" * 50, "cannot decode video"),
    ],
)
def test_unusable_videos_are_one_error_line_and_exit_2(indexed, tmp_path, capsys, name, content, message):
    root, checkpoint = indexed
    (tmp_path / name).write_bytes(content)
    code = main(
        [
            "search",
            str(tmp_path / name),
            "--gallery",
            str(root / "gallery"),
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(tmp_path / "r.json"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1 and not (tmp_path / "r.json").exists()


def test_bad_settings_and_stale_galleries_are_one_error_line(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    assert search(root, checkpoint, "pipeline.tracker.match_iuo=0.2") == 2
    assert "match_iou" in capsys.readouterr().err  # the closest key is named
    retrained = tmp_path / "save" / "current.ckpt"
    retrained.parent.mkdir()
    shutil.copy(checkpoint.parent / "config.yaml", retrained.parent / "config.yaml")
    retrained.write_bytes(checkpoint.read_bytes())
    with retrained.open("ab") as handle:
        handle.write(b"\0")  # other bytes, other fingerprint
    assert search(root, retrained) == 2
    assert "made by another checkpoint" in capsys.readouterr().err


def test_index_and_search_need_only_a_checkpoint_that_carries_its_run_config(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    from mmf_ext.utils.configuration import load_yaml
    from tests.video2shop.models.test_build_model import with_config

    lone = with_config(checkpoint, tmp_path / "alone" / "model.ckpt", load_yaml(checkpoint.parent / "config.yaml"))
    assert not (lone.parent / "config.yaml").exists() and not (lone.parent.parent / "config.yaml").exists()
    index = ["index", "--images", str(root / "shop"), "--checkpoint", str(lone), "--out"]
    assert main([*index, str(tmp_path / "g")]) == 0
    assert (
        main(
            [
                "search",
                str(root / "clip.mp4"),
                "--gallery",
                str(tmp_path / "g"),
                "--checkpoint",
                str(lone),
                "--topk",
                "3",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "r.json").read_text())
    assert len(result["trajectories"]) == 1 and len(result["trajectories"][0]["topk"]) == 3
    shutil.copy(checkpoint, lone)  # the same weights without their config: nothing says how to build them
    capsys.readouterr()
    assert main([*index, str(tmp_path / "h")]) == 2
    assert "no config.yaml beside it" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed (CI installs it)")
def test_the_report_renders_in_headless_chromium(indexed, monkeypatch, tmp_path):
    root, checkpoint = indexed
    import video2shop.cli.search as command

    monkeypatch.setattr(command, "_detector", lambda path, device: SquareDetector())
    assert (
        search(
            root,
            checkpoint,
            "--detector",
            "x",
            "--topk",
            "3",
            "--out",
            str(tmp_path / "r.json"),
            "--report",
            str(tmp_path / "r.html"),
        )
        == 0
    )
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run(
        ["chromium", *flags, "--dump-dom", (tmp_path / "r.html").as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count("data-product=") == 3 and "Trajectory 0" in dom
    subprocess.run(
        [
            "chromium",
            *flags,
            f"--screenshot={tmp_path / 'shot.png'}",
            "--window-size=900,600",
            (tmp_path / "r.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    shot = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB")).astype(int)
    reds = ((shot[..., 0] > 150) & (shot[..., 1] < 90) & (shot[..., 2] < 90)).sum()
    assert reds > 200  # the trajectory crops (a red square) are drawn, not broken images
