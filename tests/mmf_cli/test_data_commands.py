"""`video2shop make-synthetic`, `validate`, `prepare` through the command line."""

import json

from tests.conftest import run_cli


def test_make_synthetic_validate_and_prepare(tmp_path):
    out = tmp_path / "syn"
    made = run_cli("mmf_cli.video2shop", ["make-synthetic", str(out), "--products", "6", "--seed", "2", "--frames", "6"])
    assert made.returncode == 0, made.stderr
    assert "wrote 6 products" in made.stdout and (out / "test.json").is_file()

    again = run_cli("mmf_cli.video2shop", ["make-synthetic", str(out), "--products", "6"])
    assert again.returncode == 2 and "already exists" in again.stderr

    valid = run_cli("mmf_cli.video2shop", ["validate", str(out)])
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "0 problem(s)" in valid.stdout

    prepared = run_cli("mmf_cli.video2shop", ["prepare", str(out), "--cache-dir", str(tmp_path / "cache"), "num_frames=4", "image_size=32"])
    assert prepared.returncode == 0, prepared.stderr
    assert "0 unreadable" in prepared.stdout and list((tmp_path / "cache").rglob("*.npy"))


def test_validate_reports_hostile_paths_bad_boxes_and_missing_files(tmp_path, movingfashion_dir):
    manifest = json.loads((movingfashion_dir / "test.json").read_text())
    manifest["s1"]["tracklets"] = [{"0": [0, 0, 500, 30]}]
    manifest["s2"]["video_paths"] = []
    manifest["s2"]["tracklets"] = []
    (movingfashion_dir / "test.json").write_text(json.dumps(manifest))
    (movingfashion_dir / "imgs" / "t1.jpg").unlink()
    done = run_cli("mmf_cli.video2shop", ["validate", str(movingfashion_dir)])
    assert done.returncode == 1
    assert "lies outside the 48x48 frame" in done.stdout
    assert "s2: has no videos" in done.stdout
    assert "missing shop image" in done.stdout

    (movingfashion_dir / "train.json").write_text(json.dumps({"x": {"img_path": "../secret.jpg", "video_paths": []}}))
    escaped = run_cli("mmf_cli.video2shop", ["validate", str(movingfashion_dir)])
    assert "escapes the data directory" in escaped.stdout


def test_validate_a_missing_folder_is_a_one_line_error(tmp_path):
    done = run_cli("mmf_cli.video2shop", ["validate", str(tmp_path / "nothing")])
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_prepare_without_a_dataset_is_a_one_line_error(tmp_path):
    done = run_cli("mmf_cli.video2shop", ["prepare", str(tmp_path / "missing")])
    assert done.returncode == 2 and "no train.json" in done.stderr and len(done.stderr.strip().splitlines()) == 1
