"""DDP on CPU (gloo): torchrun with two processes, and two "nodes" on localhost.

The same global batch must give the same parameters as one process, and a metric over splits
whose sizes are not divisible by the world size must equal the single-process value exactly.
"""

import subprocess
import sys

import pytest

from mmf_cli.run import run
from tests.helpers import REPO_ROOT, cli_env, free_port, load_state, max_param_diff, plugin_opts

OPTS = [
    "training.max_updates=20",
    "training.batch_size=8",
    "dataset_config.always_one.val_size=21",
    "dataset_config.always_one.test_size=23",
]


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("single")
    results = run(plugin_opts(save_dir, *OPTS))
    return save_dir, results


def _metrics(save_dir):
    lines = (save_dir / "train.log").read_text().splitlines()
    return [line.split("| mmf_ext | ")[1] for line in lines if "/always_one/accuracy:" in line]


def _torchrun(args, save_dir, *extra):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *args,
        "-m",
        "mmf_cli.run",
        *plugin_opts(save_dir, *OPTS, *extra),
    ]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_torchrun_two_processes_matches_one_process(tmp_path, single_process):
    single_dir, _ = single_process
    process = _torchrun(["--nproc_per_node=2", f"--master_port={free_port()}"], tmp_path)
    output, _ = process.communicate(timeout=240)
    assert process.returncode == 0, output[-3000:]
    assert max_param_diff(load_state(single_dir / "current.ckpt"), load_state(tmp_path / "current.ckpt")) < 1e-5
    assert _metrics(tmp_path) == _metrics(single_dir)


def test_two_nodes_on_localhost_match_one_process(tmp_path, single_process):
    single_dir, _ = single_process
    port = free_port()
    common = ["--nnodes=2", "--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}"]
    nodes = [_torchrun([*common, f"--node_rank={rank}"], tmp_path) for rank in (0, 1)]
    outputs = [node.communicate(timeout=240)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert max_param_diff(load_state(single_dir / "current.ckpt"), load_state(tmp_path / "current.ckpt")) < 1e-5
    assert _metrics(tmp_path) == _metrics(single_dir)


def test_legacy_launcher_passes_local_rank_argument(tmp_path, single_process):
    single_dir, _ = single_process
    command = [
        sys.executable,
        "-m",
        "torch.distributed.launch",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "-m",
        "mmf_cli.run",
        *plugin_opts(tmp_path, *OPTS),
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _metrics(tmp_path) == _metrics(single_dir)


def test_find_unused_parameters_lets_a_model_with_an_unused_parameter_train(tmp_path):
    unused = ["model_config.always_one_model.unused_parameter=true", "run_type=train"]
    failing = _torchrun(["--nproc_per_node=2", f"--master_port={free_port()}"], tmp_path / "off", *unused)
    output, _ = failing.communicate(timeout=240)
    assert failing.returncode != 0 and "find_unused_parameters" in output  # DDP's own complaint: the key matters
    honoured = _torchrun(
        ["--nproc_per_node=2", f"--master_port={free_port()}"],
        tmp_path / "on",
        *unused,
        "training.find_unused_parameters=true",
    )
    output, _ = honoured.communicate(timeout=240)
    assert honoured.returncode == 0, output[-3000:]
    assert (tmp_path / "on" / "models" / "model_20.ckpt").is_file()
