"""MMF's distributed names: single-process no-ops, and the collectives across two gloo processes."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmf_ext.utils import distributed as d
from tests.helpers import free_port


def test_without_a_process_group_the_collectives_return_their_input():
    tensor = torch.arange(3.0)
    assert d.is_main() and d.is_master() and not d.is_xla()
    for collective in (
        d.broadcast_tensor,
        d.reduce_tensor,
        d.gather_tensor,
        d.gather_tensor_along_batch,
        d.gather_tensor_along_batch_with_backward,
    ):
        assert collective(tensor) is tensor
    assert d.broadcast_scalar(4) == 4 and d.reduce_dict({"a": tensor})["a"] is tensor
    d.synchronize()


def test_objects_round_trip_through_byte_tensors():
    tensor = d.object_to_byte_tensor({"answer": [1, "two"]}, max_size=128)
    assert tensor.dtype == torch.uint8 and tensor.numel() == 128
    assert d.byte_tensor_to_object(tensor) == {"answer": [1, "two"]}


def test_open_if_main_opens_on_the_main_process(tmp_path):
    with d.open_if_main(tmp_path / "x.txt", "w") as handle:
        handle.write("hi")
    assert (tmp_path / "x.txt").read_text() == "hi"


def _worker(rank: int, port: int, results) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        mine = torch.tensor([float(rank + 1)] * 2)
        gathered = d.gather_tensor(mine)
        along = d.gather_tensor_along_batch(mine[None])
        broadcast = d.broadcast_tensor(mine.clone(), src=1)
        scalar = d.broadcast_scalar(rank + 10, src=0)
        reduced = d.reduce_dict({"loss": mine.clone()})
        weights = mine.clone().requires_grad_(True)
        d.gather_tensor_along_batch_with_backward(weights[None] * 1.0).sum().backward()
        results[rank] = (
            gathered.tolist(),
            along.tolist(),
            broadcast.tolist(),
            scalar,
            reduced["loss"].tolist(),
            weights.grad.tolist(),
            d.is_main(),
        )
    finally:
        dist.destroy_process_group()


def test_the_collectives_across_two_processes():
    results = mp.Manager().dict()
    mp.spawn(_worker, args=(free_port(), results), nprocs=2, join=True)
    for rank in (0, 1):
        gathered, along, broadcast, scalar, _, grad, main = results[rank]
        assert gathered == [[1.0, 1.0], [2.0, 2.0]] and along == [[1.0, 1.0], [2.0, 2.0]]
        assert broadcast == [2.0, 2.0] and scalar == 10 and main == (rank == 0)
        assert grad == [2.0, 2.0]  # each rank's slice gets the gradient summed over both ranks' losses
    assert results[0][4] == [1.5, 1.5]  # the mean over ranks, on rank 0
