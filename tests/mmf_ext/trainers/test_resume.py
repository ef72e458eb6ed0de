"""Kill-and-resume: a run killed mid-way and resumed ends where an uninterrupted run ends."""

import signal
import subprocess
import sys
import time

import torch

from mmf_ext.utils.checkpoint import save_checkpoint_file
from tests.helpers import REPO_ROOT, cli_env, max_param_diff, plugin_opts, run_cli

STEPS = 400
OPTS = [
    "run_type=train",
    f"training.max_updates={STEPS}",
    "training.checkpoint_interval=20",
    "training.log_interval=1000",
    "optimizer.type=Adam",
    "optimizer.params.lr=0.01",
    "dataset_config.always_one.train_size=200",
]


def test_killed_run_resumes_to_the_same_parameters_and_optimizer_state(tmp_path):
    reference_log = tmp_path / "reference.log"  # a file, not a pipe: nothing blocks on a full pipe
    with reference_log.open("w") as handle:  # the child keeps its own copy of the descriptor
        reference = subprocess.Popen(  # runs beside the interrupted run (2 cores: half the wall time)
            [sys.executable, "-m", "mmf_cli.run", *plugin_opts(tmp_path / "reference", *OPTS)],
            cwd=REPO_ROOT,
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", "mmf_cli.run", *plugin_opts(interrupted, *OPTS)],
        cwd=REPO_ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while time.time() < deadline and not (interrupted / "models" / "model_60.ckpt").exists():
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    checkpoint = torch.load(interrupted / "current.ckpt", weights_only=True)
    assert 0 < checkpoint["global_step"] < STEPS, "the run was not interrupted mid-way"

    resumed = run_cli("mmf_cli.run", plugin_opts(interrupted, *OPTS, "checkpoint.resume=true"))
    assert reference.wait(timeout=240) == 0, reference_log.read_text()[-2000:]
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in (interrupted / "train.log").read_text()

    a = torch.load(tmp_path / "reference" / "current.ckpt", weights_only=True)
    b = torch.load(interrupted / "current.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == STEPS
    assert max_param_diff(a["state_dict"], b["state_dict"]) == 0.0
    state_a, state_b = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    assert all(torch.equal(state_a[k]["exp_avg"], state_b[k]["exp_avg"]) for k in state_a)


def test_a_truncated_checkpoint_is_a_clear_error_and_saves_never_leave_partial_files(tmp_path):
    path = tmp_path / "current.ckpt"
    save_checkpoint_file({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    done = run_cli("mmf_cli.run", plugin_opts(tmp_path, "run_type=test", f"checkpoint.resume_file={path}"), timeout=120)
    assert done.returncode == 2 and "not a loadable weights-only checkpoint" in done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".current")] == []


def test_a_checkpoint_holding_arbitrary_objects_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": object()}, path)
    done = run_cli("mmf_cli.run", plugin_opts(tmp_path, "run_type=test", f"checkpoint.resume_file={path}"), timeout=120)
    assert done.returncode == 2 and "weights-only" in done.stderr
