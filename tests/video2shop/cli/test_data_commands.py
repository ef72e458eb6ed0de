"""`video2shop make-synthetic`, `validate`, `prepare` through the command line."""

import json
import re

import numpy as np

from tests.helpers import run_cli


def test_make_synthetic_validate_and_prepare(tmp_path, capsys):
    from video2shop.cli.main import main  # in this process: the sub-commands' exits and lines (prepare below runs
    # as its own process, as every command does in the other CLI tests)

    out = tmp_path / "syn"
    assert main(["make-synthetic", str(out), "--products", "6", "--seed", "2", "--frames", "6"]) == 0
    assert "wrote 6 products" in capsys.readouterr().out and (out / "test.json").is_file()
    assert json.loads((out / "generator.json").read_text())["params"] == {
        "products": 6, "seed": 2, "frames": 6, "video_size": 112, "image_size": 96,
        "test_share": 0.25, "val_share": 0.1, "videos_per_train_product": 2,
    }  # fmt: skip

    assert main(["make-synthetic", str(out), "--products", "6"]) == 2
    assert "already exists" in capsys.readouterr().err

    assert main(["validate", str(out)]) == 0
    assert "0 problems found" in capsys.readouterr().out

    prepared = run_cli(
        "video2shop.cli.main",
        ["prepare", str(out), "--cache-dir", str(tmp_path / "cache"), "num_frames=4", "image_size=32"],
    )
    assert prepared.returncode == 0, prepared.stderr
    assert "0 unreadable videos skipped" in prepared.stdout and list((tmp_path / "cache").rglob("*.npy"))


def test_validate_reports_hostile_paths_bad_boxes_and_missing_files(tmp_path, movingfashion_dir):
    manifest = json.loads((movingfashion_dir / "test.json").read_text())
    manifest["s1"]["tracklets"] = [{"0": [0, 0, 500, 30]}]
    manifest["s2"]["video_paths"] = []
    manifest["s2"]["tracklets"] = []
    (movingfashion_dir / "test.json").write_text(json.dumps(manifest))
    (movingfashion_dir / "imgs" / "t1.jpg").unlink()
    done = run_cli("video2shop.cli.main", ["validate", str(movingfashion_dir)])
    assert done.returncode == 1
    assert "lies outside the 48x48 frame" in done.stdout
    assert "s2: has no videos" in done.stdout
    assert "missing shop image" in done.stdout

    (movingfashion_dir / "train.json").write_text(json.dumps({"x": {"img_path": "../secret.jpg", "video_paths": []}}))
    escaped = run_cli("video2shop.cli.main", ["validate", str(movingfashion_dir)])
    assert "escapes the data directory" in escaped.stdout


def test_validate_a_missing_folder_is_a_one_line_error(tmp_path):
    done = run_cli("video2shop.cli.main", ["validate", str(tmp_path / "nothing")])
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_prepare_without_a_dataset_is_a_one_line_error(tmp_path):
    done = run_cli("video2shop.cli.main", ["prepare", str(tmp_path / "missing")])
    assert done.returncode == 2 and "no train.json" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_validate_names_every_kind_of_problem_with_file_and_place(tmp_path, capsys):
    """In-process: missing files, escaping paths, bad JSON with line and column, boxes outside the
    frame or image, products without videos, unreadable media and distractor problems."""
    from tests.helpers import SQUARE, write_folder
    from video2shop.cli.data import validate_main
    from video2shop.video.image_io import write_rgb

    def product(name, videos, **extra):
        return {
            "img_path": f"imgs/{name}.png",
            "video_paths": [f"videos/{v}.mp4" for v in videos],
            "source": 1,
            **extra,
        }

    test = {
        "ok": product("ok", ["ok"], tracklets=[SQUARE]),
        "gone": product("gone", ["gone"]),
        "lonely": product("lonely", []),
        "wide": product("wide", ["wide"], tracklets=[{"3": [0, 0, 30, 90]}]),
        "boxed": product("boxed", ["boxed"], shop_boxes=[[0, 0, 60, 20]]),
        "broken": product("broken", ["broken"]),
    }
    distractors = [
        {"id": "d1", "img_path": "imgs/d1.png"},
        {"id": "ok", "img_path": "imgs/d2.png"},
        {"id": "d3", "img_path": "imgs/d3.png"},
    ]
    root = write_folder(tmp_path / "data", {"test": test}, distractors)
    (root / "videos" / "gone.mp4").unlink()
    (root / "videos" / "broken.mp4").write_bytes(b"\x00" * 500)
    (root / "imgs" / "d3.png").unlink()
    write_rgb(root / "imgs" / "boxed.png", np.zeros((30, 40, 3), np.uint8))
    (root / "train.json").write_text('{\n  "a": {"img_path": "imgs/ok.png"\n  "video_paths": []}\n}')
    (root / "val.json").write_text('{"v": {"img_path": "/etc/hostname", "video_paths": []}}')

    assert validate_main([str(root)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    expected = [
        r"train.json: malformed JSON at line 3 column 3 \(Expecting ',' delimiter\)",
        r"val.json: product 'v' img_path: absolute path '/etc/hostname' is not allowed",
        r"test: product gone: missing video .*gone.mp4",
        r"test: product lonely: has no videos",
        r"test: product wide: box \[0.0, 0.0, 30.0, 90.0\] at frame 3 lies outside the 48x48 frame of wide.mp4",
        r"test: product boxed: shop box \[0.0, 0.0, 60.0, 20.0\] lies outside the 40x30 image boxed.png",
        r"test: product broken: unreadable video .*broken.mp4",
        r"distractor d3: missing image .*d3.png",
        r"distractors.json: distractor id 'ok' is also a product id",
    ]
    for pattern in expected:
        assert any(re.search(pattern, line) for line in problems), (pattern, problems)
    assert len(problems) == len(expected), problems
    assert f"{len(expected)} problems found" in out
    assert not any("product ok:" in line for line in problems)  # the sound product is not flagged
