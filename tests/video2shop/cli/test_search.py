"""`video2shop index` and `video2shop search` as a user runs them: files written, errors, the HTML report."""

import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tests.helpers import people_video, save_small_run, write_shop_folder, write_torchvision_file
from tests.video2shop.pipeline.test_video_search import SquareDetector, square_video
from video2shop.cli.main import main
from video2shop.datasets.synthetic import write_mp4


@pytest.fixture(autouse=True)
def empty_torch_cache(tmp_path, monkeypatch):
    """No torchvision file in the torch cache, whatever this machine holds (the default detector is then HOG)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


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

    monkeypatch.setattr(command, "_detector", lambda *args, **kwargs: SquareDetector())
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


def png_at(html, attribute):
    """The PNG image of the <img> carrying `attribute` in a report, as an RGB array."""
    from PIL import Image

    data = re.search(attribute + r".*?src='data:image/png;base64,([^']+)'", html).group(1)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def test_the_report_shows_each_trajectory_on_its_middle_frame_and_its_crops_in_their_shape(
    indexed, monkeypatch, tmp_path
):
    root, checkpoint = indexed
    import video2shop.cli.search as command

    frames = []
    for i in range(30):  # a tall red item (40 x 80) walking right over a 480x272 frame
        frame = np.random.default_rng(i).integers(0, 60, (272, 480, 3), dtype=np.uint8)
        frame[100:180, 40 + 4 * i : 80 + 4 * i] = (210, 40, 40)
        frames.append(frame)
    write_mp4(tmp_path / "wide.mp4", frames, fps=25.0)
    monkeypatch.setattr(command, "_detector", lambda *args, **kwargs: SquareDetector())
    args = ["search", str(tmp_path / "wide.mp4"), "--gallery", str(root / "gallery"), "--checkpoint", str(checkpoint)]
    out = ["--out", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html")]
    assert main([*args, *out, "--detector", "save/det.ckpt", "--topk", "2"]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    (trajectory,) = result["trajectories"]
    assert result["detector"] == "save/det.ckpt" and result["fps"] == pytest.approx(25.0)
    assert trajectory["time_span_s"] == [0.0, 1.16] and trajectory["duration_s"] == 1.2
    html = (tmp_path / "r.html").read_text()
    assert "<span data-span>frames 0-29, 0.00-1.16 s</span>" in html and "detector: save/det.ckpt" in html
    assert html.count("data-full-frame=") == 1 and "data-frame='14'" in html
    whole = png_at(html, "data-full-frame='0'")
    assert whole.shape == (204, 360, 3) and "width='360' height='204'" in html  # downscaled, aspect kept
    green = (whole[..., 1] > 180) & (whole[..., 0] < 120) & (whole[..., 2] < 120)
    ys, xs = np.nonzero(green)  # the box drawn round the item on frame 14: x 96-136, y 100-180, at 0.75
    assert abs(xs.min() - 72) <= 3 and abs(xs.max() - 102) <= 3 and abs(ys.min() - 75) <= 3 and abs(ys.max() - 135) <= 3
    crops = [png_at(html, f"data-crop-frame='{f}'") for f in re.findall(r"data-crop-frame='(\d+)'", html)]
    # 44 x 88 with the margin: the item's shape, not a square (never upscaled: the browser fits it in its tile)
    assert len(crops) == 4 and all(abs(c.shape[1] / c.shape[0] - 0.5) < 0.05 and c.shape[0] <= 112 for c in crops)
    assert all(c[40:70, 20:35, 0].mean() > 150 for c in crops)  # the red item, from the original frames
    assert html.count("data-product=") == 2 and len(html) < 300_000
    assert main([*args, *out, "--detector", "none"]) == 0  # no detector: the shot's whole frame, said so
    html = (tmp_path / "r.html").read_text()
    result = json.loads((tmp_path / "r.json").read_text())
    assert "detector: none: each shot&#x27;s whole frame is one trajectory" in html
    assert result["detector"] is None and result["detector_kind"] == "none"
    assert result["trajectories"][0]["kind"] == "shot"
    assert png_at(html, "data-full-frame='0'").shape == (204, 360, 3)


def test_no_clothing_found_is_an_empty_result_with_a_message_and_exit_0(indexed, monkeypatch, tmp_path, capsys):
    root, checkpoint = indexed
    import video2shop.cli.search as command

    class Blind:
        def detect(self, frames):
            return [[] for _ in frames]

    monkeypatch.setattr(command, "_detector", lambda *args, **kwargs: Blind())
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


def test_a_gallery_of_another_checkpoint_names_both_and_how_to_index_again(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    other = tmp_path / "other" / "current.ckpt"
    other.parent.mkdir()
    shutil.copy(checkpoint.parent / "config.yaml", other.parent / "config.yaml")
    other.write_bytes(checkpoint.read_bytes() + b"\0")
    assert search(root, other) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--gallery {root / 'gallery'}: made by another checkpoint" in err
    assert f"indexed with {checkpoint.resolve()}" in err and f"not with --checkpoint {other}" in err
    assert f"video2shop index --images {(root / 'shop').resolve()} --checkpoint {other} --out {root / 'gallery'}" in err
    assert f"or search with --checkpoint {checkpoint.resolve()}" in err
    # retrained in place: the same path with other weights
    shutil.copytree(root / "gallery", tmp_path / "g")
    shutil.copy(other, checkpoint.parent / "retrained.ckpt")
    meta = json.loads((tmp_path / "g" / "gallery.json").read_text())
    meta["checkpoint"] = str((checkpoint.parent / "retrained.ckpt").resolve())
    (tmp_path / "g" / "gallery.json").write_text(json.dumps(meta))
    code = main(
        ["search", str(root / "clip.mp4"), "--gallery", str(tmp_path / "g"), "--checkpoint", meta["checkpoint"]]
    )
    assert code == 2 and "which has changed since" in capsys.readouterr().err
    del meta["checkpoint"]  # a gallery that recorded only the fingerprint
    (tmp_path / "g" / "gallery.json").write_text(json.dumps(meta))
    code = main(["search", str(root / "clip.mp4"), "--gallery", str(tmp_path / "g"), "--checkpoint", str(other)])
    err = capsys.readouterr().err
    assert code == 2 and f"a checkpoint of fingerprint {meta['fingerprint'][:12]}" in err
    assert "search with the checkpoint it was indexed with" in err


def fake_detector_checkpoint(path, steps=5):
    """A file that says it holds a clothing_detector (no weights: the kind is refused before they are read)."""
    from mmf_ext.utils.configuration import build_config

    config = build_config(
        [
            "config=projects/video2shop/configs/detector.yaml",
            "model=clothing_detector",
            "dataset=synthetic_video2shop",
            f"env.save_dir={path.parent}",
        ]
    )
    state = {"state_dict": {}, "global_step": steps, "config": OmegaConf.to_container(config, resolve=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def test_a_checkpoint_of_the_wrong_kind_of_model_is_one_line_naming_it(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    detector = fake_detector_checkpoint(tmp_path / "detector" / "best.ckpt")
    assert search(root, detector) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--checkpoint {detector}: holds model clothing_detector" in err
    assert "not a retrieval model video2shop search can run (asymnet)" in err and "goes to --detector" in err
    index = ["index", "--images", str(root / "shop"), "--out", str(tmp_path / "g")]
    assert main([*index, "--checkpoint", str(detector)]) == 2
    assert "holds model clothing_detector" in capsys.readouterr().err
    assert main([*index, "--checkpoint", str(checkpoint), "--detector", str(checkpoint)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--detector {checkpoint}: holds model asymnet" in err
    assert "not a clothing_detector" in err and "goes to --checkpoint" in err
    assert search(root, checkpoint, "--detector", str(checkpoint)) == 2
    assert "holds model asymnet" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_weights_that_do_not_fit_their_run_config_are_one_line_naming_the_flag(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    broken = tmp_path / "save" / "current.ckpt"
    broken.parent.mkdir()
    shutil.copy(checkpoint.parent / "config.yaml", broken.parent / "config.yaml")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["state_dict"].pop(next(iter(state["state_dict"])))
    torch.save(state, broken)
    index = ["index", "--images", str(root / "shop"), "--checkpoint", str(broken), "--out", str(tmp_path / "g")]
    assert main(index) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--checkpoint {broken}: does not fit model AsymNet" in err


def test_search_uses_the_pipeline_detector_settings(indexed, monkeypatch, tmp_path):
    root, checkpoint = indexed
    import video2shop.cli.search as command

    built = []
    monkeypatch.setattr(
        command, "ClothingDetector", lambda path, **options: built.append((path, options)) or SquareDetector()
    )
    detector = fake_detector_checkpoint(tmp_path / "detector" / "best.ckpt")
    settings = ["pipeline.detector.score_threshold=0.3", "pipeline.detector.frame_short_side=96"]
    out = ["--out", str(tmp_path / "r.json")]
    assert search(root, checkpoint, "--detector", str(detector), "pipeline.detector.batch_size=2", *settings, *out) == 0
    ((path, options),) = built
    assert path.path == detector and path.label == f"--detector {detector}"
    assert options["batch_size"] == 2 and options["score_threshold"] == 0.3 and options["frame_short_side"] == 96
    assert search(root, checkpoint, f"pipeline.detector.checkpoint={detector}", *out) == 0  # no --detector
    assert len(built) == 2 and json.loads((tmp_path / "r.json").read_text())["detector"] == str(detector)


def test_untrained_checkpoints_are_refused_unless_allowed_then_warned_once(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    untrained = tmp_path / "save" / "current.ckpt"
    untrained.parent.mkdir()
    shutil.copy(checkpoint.parent / "config.yaml", untrained.parent / "config.yaml")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    del state["global_step"]  # as a checkpoint written before training records it
    torch.save(state, untrained)
    index = ["index", "--images", str(root / "shop"), "--checkpoint", str(untrained), "--out", str(tmp_path / "g")]
    assert main(index) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1 and f"--checkpoint {untrained}: records no training update (no global_step)" in err
    )
    assert "--allow-untrained" in err and not (tmp_path / "g").exists()
    assert main([*index, "--allow-untrained"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and f"--checkpoint {untrained}: records no training update" in err
    detector = fake_detector_checkpoint(tmp_path / "detector" / "current.ckpt", steps=0)
    assert search(root, checkpoint, "--detector", str(detector)) == 2
    assert f"--detector {detector}: records no training update (global_step 0)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["index", "--images", "{tmp}/none", "--checkpoint", "{ckpt}", "--out", "{tmp}/g"], "--images {tmp}/none: no "),
        (
            ["index", "--images", "{root}/shop", "--checkpoint", "{tmp}/a.ckpt", "--out", "{tmp}/g"],
            "--checkpoint {tmp}/a.ckpt: no such file; train one with mmf_run "
            "config=projects/video2shop/configs/asymnet.yaml",
        ),
        (["search", "{tmp}/v.mp4", "--gallery", "{root}/gallery", "--checkpoint", "{ckpt}"], "VIDEO {tmp}/v.mp4: no "),
        (["search", "{root}/clip.mp4", "--gallery", "{tmp}/g", "--checkpoint", "{ckpt}"], "--gallery {tmp}/g: no "),
        (
            ["search", "{root}/clip.mp4", "--gallery", "{root}/gallery", "--checkpoint", "{ckpt}", "--detector", "d"],
            "--detector d: no such file; train one with mmf_run config=projects/video2shop/configs/detector.yaml "
            "model=clothing_detector",
        ),
    ],
)
def test_a_missing_file_names_the_argument_it_was_given_as(indexed, tmp_path, capsys, args, message):
    root, checkpoint = indexed
    values = {"tmp": tmp_path, "root": root, "ckpt": checkpoint}
    assert main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message.format(**values) in err
    assert "checkpoint.resume_file" not in err  # the framework's hint for mmf_run, not for these commands
    if "--detector d" in message:
        assert err.endswith("or leave --detector out")


def test_counts_are_singular_or_plural(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    write_shop_folder(tmp_path / "one", 1)
    assert (
        main(
            ["index", "--images", str(tmp_path / "one"), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "g")]
        )
        == 0
    )
    assert "indexed 1 shop image into" in capsys.readouterr().out
    report = tmp_path / "r.html"
    code = main(
        [
            "search",
            str(root / "clip.mp4"),
            "--gallery",
            str(tmp_path / "g"),
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(tmp_path / "r.json"),
            "--report",
            str(report),
        ]
    )
    assert code == 0 and "1 clothing trajectory;" in capsys.readouterr().out
    assert "1 clothing trajectory;" in report.read_text() and "(1 image)" in report.read_text()
    assert (
        json.loads((tmp_path / "r.json").read_text())["trajectories"][0]["topk"][0]["item_id"] == "dresses/item000.png"
    )


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


def test_index_and_search_apply_the_frameworks_thread_policy(indexed, tmp_path, monkeypatch, framework_log, capsys):
    root, checkpoint = indexed
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    index = ["index", "--images", str(root / "shop"), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "g")]
    assert main(index) == 0
    assert "CPU threads: 1 intra-op (OMP_NUM_THREADS=1 set in the environment: it wins)" in framework_log.text
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    assert search(root, checkpoint, "--out", str(tmp_path / "r.json")) == 2  # read before anything is loaded
    assert not (tmp_path / "r.json").exists()
    assert "video2shop search: error: OMP_NUM_THREADS='many': give a whole number" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed (CI installs it)")
def test_the_report_renders_in_headless_chromium(indexed, monkeypatch, tmp_path):
    root, checkpoint = indexed
    import video2shop.cli.search as command

    monkeypatch.setattr(command, "_detector", lambda *args, **kwargs: SquareDetector())
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


def street_photo(path, seed=0):
    """A red item (x 40-70, y 20-50) on a 120x90 photo of dark noise."""
    from video2shop.video.image_io import write_rgb

    image = np.random.default_rng(seed).integers(0, 60, (90, 120, 3), dtype=np.uint8)
    image[20:50, 40:70] = (210, 40, 40)
    write_rgb(path, image)
    return path


def test_a_photo_is_searched_with_the_same_json_and_report_as_a_video(indexed, monkeypatch, tmp_path, capsys):
    root, checkpoint = indexed
    import video2shop.cli.search as command

    photo = street_photo(tmp_path / "look.jpg")
    args = ["search", str(photo), "--gallery", str(root / "gallery"), "--checkpoint", str(checkpoint), "--topk", "3"]
    out = ["--out", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html")]
    assert main([*args, *out]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["media"] == "photo" and result["fps"] is None and result["decoders"] == "image"
    assert (result["width"], result["height"], result["frames_decoded"], result["detector"]) == (120, 90, 1, None)
    (whole,) = result["trajectories"]
    assert whole["frame_span"] == [0, 0] and whole["time_span_s"] is None and whole["boxes"] == [[0, 0, 0, 120, 90]]
    assert [hit["rank"] for hit in whole["topk"]] == [1, 2, 3] and result["decode_warning"] is None
    html = (tmp_path / "r.html").read_text()
    assert "detector: none: the whole photo is one trajectory" in html and "photo 120x90" in html
    assert "the whole photo" in html and html.count("data-product=") == 3
    assert png_at(html, "data-full-frame='0'").shape == (90, 120, 3)  # the photo, not a stand-in
    assert (whole["kind"], whole["shot"], result["detector_kind"]) == ("shot", None, "none")
    assert "trajectory 0 (whole frame, the whole photo)" in capsys.readouterr().out

    monkeypatch.setattr(command, "_detector", lambda *a, **k: SquareDetector())
    assert main([*args, *out, "--detector", "det.ckpt"]) == 0
    (item,) = json.loads((tmp_path / "r.json").read_text())["trajectories"]
    assert item["category"] == "Dress" and np.abs(np.subtract(item["boxes"][0][1:], [40, 20, 70, 50])).max() <= 2
    html = (tmp_path / "r.html").read_text()
    (crop_frame,) = re.findall(r"data-crop-frame='(\d+)'", html)
    crop = png_at(html, f"data-crop-frame='{crop_frame}'")
    assert crop[crop.shape[0] // 2, crop.shape[1] // 2, 0] > 150  # the item's crop, from the photo
    assert "trajectory 0 (Dress, box " in capsys.readouterr().out

    monkeypatch.setattr(command, "build_person_detector", lambda *a, **k: SquareDetector())  # its box: a person
    assert main([*args, *out, "--detector", "hog"]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    regions = [(t["kind"], t["person"], t["region"]) for t in result["trajectories"]]
    assert regions == [("person", 0, r) for r in ("upper_body", "lower_body", "full_figure")]
    assert result["detector_kind"] == "hog" and "person 0, lower body" in (tmp_path / "r.html").read_text()
    upper = result["trajectories"][0]["boxes"][0][1:]
    assert upper[1] > 20 and upper[3] < 50  # a part of the person's box, not the whole photo


def test_a_folder_of_photos_and_videos_searches_each_and_names_any_that_fail(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    folder = tmp_path / "queries"
    street_photo(folder / "a.png")
    folder.joinpath("street").mkdir()
    street_photo(folder / "street" / "b.webp", seed=1)
    street_photo(folder / "street" / "b.jpg", seed=2)
    shutil.copy(root / "clip.mp4", folder / "clip.mp4")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not a query")
    out, report = tmp_path / "results", tmp_path / "reports"
    args = ["search", str(folder), "--gallery", str(root / "gallery"), "--checkpoint", str(checkpoint), "--topk", "2"]
    assert main([*args, "--out", str(out), "--report", str(report)]) == 2  # one file failed
    captured = capsys.readouterr()
    note, error = captured.err.strip().splitlines()  # the detector chosen is said once for the folder
    assert note.startswith("video2shop search: detector: none: ")
    assert error.startswith("video2shop search: error: ") and "broken.jpg: not a readable image" in error
    assert "searched 4 files of 5" in captured.out
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert written == [
        "a.png.results.json",
        "clip.mp4.results.json",
        "street/b.jpg.results.json",
        "street/b.webp.results.json",
    ]
    media = {name: json.loads((out / name).read_text())["media"] for name in written}
    assert media["clip.mp4.results.json"] == "video" and media["street/b.webp.results.json"] == "photo"
    assert json.loads((out / "clip.mp4.results.json").read_text())["frames_decoded"] == 30
    assert sorted(p.relative_to(report).as_posix() for p in report.rglob("*.html")) == [
        "a.png.html",
        "clip.mp4.html",
        "street/b.jpg.html",
        "street/b.webp.html",
    ]
    (folder / "broken.jpg").unlink()
    assert main([*args, "--out", str(out), "--detector", "none"]) == 0 and capsys.readouterr().err == ""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*args[:1], str(empty), *args[2:]]) == 2
    assert "no videos or photos in this folder" in capsys.readouterr().err


def test_a_file_decord_refuses_is_searched_and_reported_through_opencv(indexed, monkeypatch, tmp_path):
    import decord

    root, checkpoint = indexed

    def refuse(*args, **kwargs):
        raise decord.DECORDError("cannot open")

    monkeypatch.setattr(decord, "VideoReader", refuse)
    assert search(root, checkpoint, "--out", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html")) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["decoders"] == "opencv" and result["frames_decoded"] == 30 and result["decode_warning"] is None
    assert png_at((tmp_path / "r.html").read_text(), "data-full-frame='0'").shape == (96, 96, 3)


def test_broken_videos_give_one_clean_line_and_no_decoder_log_lines(indexed, tmp_path):
    """In a real process, stderr is fd 2: what ffmpeg and decord print there must not show (unless --debug)."""
    from tests.helpers import run_cli
    from tests.video2shop.video.test_stream import avi_claiming_twice_its_frames, truncated_mp4

    root, checkpoint = indexed
    folder = tmp_path / "broken"
    folder.mkdir()
    truncated_mp4(folder / "cut.mp4")  # decord cannot open it; OpenCV reads its first frames
    whole = folder / "gone.mp4"  # its index (at the end) is cut off: neither decoder reads it
    whole.write_bytes((root / "clip.mp4").read_bytes()[:-200])
    avi_claiming_twice_its_frames(folder / "fields.avi")
    args = ["search", str(folder), "--gallery", str(root / "gallery"), "--checkpoint", str(checkpoint)]
    args += ["--out", str(tmp_path / "out"), "--report", str(tmp_path / "reports"), "--detector", "none"]
    done = run_cli("video2shop.cli.main", args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3, done.stderr  # one per file: no decoder log lines among them
    cut, fields, gone = lines
    assert cut.startswith(f"video2shop search: warning: {folder / 'cut.mp4'}: the header claims 30 frames, only ")
    assert "is the last good one" in cut and "decord: cannot open it" in cut
    assert fields.startswith(f"video2shop search: warning: {folder / 'fields.avi'}: the header claims 40 frames")
    assert gone.startswith(f"video2shop search: error: {folder / 'gone.mp4'}: cannot decode video (decord: ")
    result = json.loads((tmp_path / "out" / "cut.mp4.results.json").read_text())
    assert result["decoders"] == "opencv" and 0 < result["frames_decoded"] < 30
    assert result["decode_warning"] == cut.removeprefix("video2shop search: warning: ")
    assert "data-decode-warning" in (tmp_path / "reports" / "cut.mp4.html").read_text()
    debug = run_cli("video2shop.cli.main", [*args, "--debug"])
    assert debug.returncode == 2 and len(debug.stderr.strip().splitlines()) > 3  # the lines exist, and are shown


def test_with_no_detector_and_no_weights_each_shot_is_a_trajectory_and_it_says_so(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    people_video(tmp_path / "people.mp4", first=30, empty=6, second=24)
    args = ["search", str(tmp_path / "people.mp4"), "--gallery", str(root / "gallery"), "--checkpoint", str(checkpoint)]
    assert main([*args, "--out", str(tmp_path / "r.json"), "--topk", "2"]) == 0
    captured = capsys.readouterr()
    (note,) = captured.err.strip().splitlines()
    assert note.startswith(
        "video2shop search: detector: none: each shot's whole frame is one trajectory (no --detector"
    )
    assert "--detector hog" in note
    result = json.loads((tmp_path / "r.json").read_text())
    assert (
        result["detector"] is None and result["detector_kind"] == "none" and "no --detector" in result["detector_note"]
    )
    assert [(t["kind"], t["shot"]) for t in result["trajectories"]] == [("shot", 0), ("shot", 1)]
    assert result["trajectories"][-1]["frame_span"][0] >= 36  # the second shot, after the black stretch


def test_with_hog_search_follows_each_persons_clothing_regions(indexed, tmp_path, capsys):
    root, checkpoint = indexed
    people_video(tmp_path / "people.mp4", first=30, empty=6, second=24)
    args = ["search", str(tmp_path / "people.mp4"), "--gallery", str(root / "gallery"), "--checkpoint", str(checkpoint)]
    out = ["--out", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html"), "--topk", "2"]
    assert main([*args, "--detector", "hog", *out]) == 0
    captured = capsys.readouterr()
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["detector"] == "hog" and result["detector_kind"] == "hog"
    found = [(t["shot"], t["person"], t["region"]) for t in result["trajectories"]]
    regions = ["upper_body", "lower_body", "full_figure"]
    assert found == [(shot, person, r) for shot, person in [(0, 0), (0, 1), (1, 2)] for r in regions]
    assert all(t["kind"] == "person" and t["category"] is None for t in result["trajectories"])
    assert result["trajectories"][-1]["frame_span"][0] >= 36  # the second shot's person, after the black stretch
    assert "trajectory 0 (person 0, upper body, frames 0-" in captured.out
    html = (tmp_path / "r.html").read_text()
    assert "detector: hog (OpenCV&#x27;s HOG people detector)" in html
    assert html.count("data-region='upper_body'") == 3 and "Trajectory 4: person 1, lower body" in html
    assert html.count("data-crop-frame=") == 9 * trained_frames(checkpoint)


def trained_frames(checkpoint):
    from video2shop.pipeline.trained_model import load_trained_model

    return load_trained_model(checkpoint).num_frames


def test_detector_coco_uses_torchvisions_file_from_the_cache_and_the_results_name_it(indexed, tmp_path, monkeypatch):
    from torchvision.models.detection import SSDLite320_MobileNet_V3_Large_Weights, ssdlite320_mobilenet_v3_large

    root, checkpoint = indexed
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = SSDLite320_MobileNet_V3_Large_Weights.COCO_V1
    path = write_torchvision_file(tmp_path / "torch", weights, ssdlite320_mobilenet_v3_large)
    out = ["--out", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html")]
    assert search(root, checkpoint, "--detector", "coco", *out) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["detector"] == str(path) and result["detector_kind"] == "coco" and result["detector_note"] is None
    assert result["trajectories"]  # people, or (random weights may find none) the shot searched whole
    assert f"detector: coco person detector {path}" in (tmp_path / "r.html").read_text()
    assert search(root, checkpoint, "--detector", "coco:retinanet", *out) == 2  # named, but not in the cache


def test_person_settings_are_checked_whatever_the_detector(indexed, capsys):
    root, checkpoint = indexed
    assert search(root, checkpoint, "--detector", "none", "pipeline.persons.regions.upper_body=[0,1]") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pipeline.persons.regions.upper_body=[0, 1]: give [left, top" in err
    assert search(root, checkpoint, "--detector", "coco:yolo") == 2
    assert "--detector coco:yolo: 'yolo' is no torchvision COCO detector" in capsys.readouterr().err
