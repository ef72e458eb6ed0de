from mmf_ext.datasets.samplers import StepBatchSampler, UnpaddedShardSampler


def _global_batches(world: int, block: int = 0, total: int = 12, per_block: int = 4):
    ranks = [StepBatchSampler(10, 4, total, per_block, rank=r, world_size=world, seed=3) for r in range(world)]
    for sampler in ranks:
        sampler.set_epoch(block)
    per_rank = [list(sampler) for sampler in ranks]
    return [sum((per_rank[r][i] for r in range(world)), []) for i in range(len(per_rank[0]))]


def test_the_global_batch_is_the_same_for_one_or_two_ranks():
    for block in range(3):
        assert _global_batches(1, block) == _global_batches(2, block)


def test_a_data_epoch_visits_distinct_items_and_blocks_cover_the_run():
    batches = [b for block in range(3) for b in _global_batches(1, block)]
    assert len(batches) == 12
    first_epoch = batches[0] + batches[1]  # 10 items // 4 = 2 full batches per data epoch
    assert len(set(first_epoch)) == 8


def test_iteration_starts_at_the_current_step_when_given():
    full = StepBatchSampler(10, 2, 6, 3, seed=1)
    full.set_epoch(1)
    resumed = StepBatchSampler(10, 2, 6, 3, seed=1, current_step=lambda: 4)
    assert list(resumed) == list(full)[1:]


def test_unpadded_shards_cover_every_index_once():
    shards = [list(UnpaddedShardSampler(7, rank=r, world_size=3)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(7))
    assert [len(s) for s in shards] == [3, 2, 2]
