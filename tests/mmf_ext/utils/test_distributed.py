import torch.distributed as dist

from mmf_ext.utils.distributed import detect_launch, is_dist_initialized, shutdown_process_group
from tests.helpers import free_port


def test_torchrun_environment_is_detected_with_nodes_and_local_rank():
    info = detect_launch(
        {
            "WORLD_SIZE": "8",
            "RANK": "5",
            "LOCAL_RANK": "1",
            "LOCAL_WORLD_SIZE": "4",
            "MASTER_ADDR": "h0",
            "MASTER_PORT": "1",
        }
    )
    assert (info.launcher, info.world_size, info.rank, info.local_rank) == ("torchrun", 8, 5, 1)
    assert (info.devices_per_node, info.num_nodes) == (4, 2)


def test_slurm_environment_is_detected():
    info = detect_launch(
        {
            "SLURM_NTASKS": "4",
            "SLURM_PROCID": "3",
            "SLURM_LOCALID": "1",
            "SLURM_NNODES": "2",
            "SLURM_NTASKS_PER_NODE": "2(x2)",
            "SLURM_JOB_NAME": "train",
        }
    )
    assert (info.launcher, info.world_size, info.rank, info.local_rank, info.devices_per_node, info.num_nodes) == (
        "slurm",
        4,
        3,
        1,
        2,
        2,
    )


def test_no_launcher_means_one_process():
    info = detect_launch({})
    assert (info.launcher, info.world_size, info.rank) == ("none", 1, 0)


def test_shutdown_destroys_the_group_and_is_a_no_op_without_one():
    shutdown_process_group()  # nothing initialised: must not raise
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    assert is_dist_initialized()
    shutdown_process_group()
    assert not is_dist_initialized()
