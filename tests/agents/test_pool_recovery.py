"""Recovery of a training partition: the last verified checkpoints, then a replay of the
records after the pool's own watermark, give every model the state of a run that never
stopped, whatever the other pools sharing the checkpoint store have saved."""

from __future__ import annotations

from unittest import mock

import pytest

from learning.checkpoint import watermark_key
from schemas import Training, decode

from .test_checkpoint_pool import store_of
from .test_checkpoint_sweep import training_bytes

SAVED, UNSAVED = "acme", "quiet"  # one tenant checkpointed, one with nothing saved yet
ORDER = [UNSAVED] + [SAVED] * 5 + [UNSAVED, SAVED]  # partition 0, offsets 0..7


async def learn_all(h) -> list[bytes]:
    sent = []
    for i, tenant in enumerate(ORDER):
        value = training_bytes(tenant, i)
        event = await h.put("learn", value, key=tenant.encode(), partition=0)
        assert event.message.offset == i
        sent.append(value)
    return sent


def digests(h) -> dict:
    return {(t, name): (p.offset, p.predictions, p.digest)
            for t, learner in h.rt.pool.learners.items()
            for name, (_, p) in learner.progress.items()}


@pytest.mark.parametrize("other_pool_watermark", [None, len(ORDER) - 1])
async def test_recovery_replays_from_its_own_pools_watermark(make_harness, other_pool_watermark):
    before = await make_harness(role="fast", checkpoint_every_n=5)
    try:
        sent = await learn_all(before)
        expected = digests(before)
        store = store_of(before.wire)
    finally:
        await before.aclose()
    # acme's models were saved at offset 5; quiet's first record (offset 0) never was.
    assert store.watermarks == {("fast", 0): -1}
    if other_pool_watermark is not None:  # the heavy pool has saved all of its models
        store.add(watermark_key("heavy", 0), other_pool_watermark)

    after = await make_harness(role="fast", checkpoint_every_n=5)
    state = after.rt.pool
    replayed = []

    async def read_training(rt, partition, start, end):
        for offset in range(start, end):
            replayed.append(offset)
            yield offset, decode(Training, sent[offset], after.rt.limits)

    try:
        with mock.patch.object(state.store, "scan", side_effect=lambda p: store), \
                mock.patch("agents.recovery.read_training", new=read_training), \
                mock.patch("agents.pool.committed_offset", return_value=len(ORDER)):
            state.assigned({0})
            await state.ready(0)
        assert replayed == list(range(len(ORDER)))
        assert digests(after) == expected
        report = state.recoveries[-1]
        assert (report["replay_from"], report["resume_at"], report["restored"]) == (0, 8, 2)
    finally:
        await after.aclose()
