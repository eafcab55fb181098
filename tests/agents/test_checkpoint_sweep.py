"""Checkpoint sweeps (the timer, graceful shutdown) cost O(models): each partition's replay
watermark is computed and written once per sweep, from an index kept as models learn and
are saved, never by scanning the partition's models per checkpoint; a timer tick writes a
bounded number of checkpoints, oldest first; shutdown writes only what changed. The watermark
is always what a scan of the models gives."""

from __future__ import annotations

import math
from unittest import mock

import pytest

from agents import checkpoints
from learning.progress import replay_from
from schemas import Training, encode

from .conftest import enriched_record
from .test_checkpoint_pool import store_of

PARTITIONS = (0, 1)
TENANTS = [f"t{i:03d}" for i in range(120)]  # x 2 fast models = 240 models


def training_bytes(tenant: str, i: int) -> bytes:
    enriched = enriched_record(f"{tenant}-r{i}", tenant=tenant,
                               features={"a": float(i % 3), "b": float(i % 5) - 2.0})
    return encode(Training(tenant=tenant, request_id=f"{tenant}-r{i}", label=bool(i % 2),
                           source="inline", enriched=enriched, labelled_at=1001.0))


def partition_of(tenant: str) -> int:
    return PARTITIONS[TENANTS.index(tenant) % len(PARTITIONS)]


def scanned(pool, partition: int) -> int:
    """The watermark as a scan of every model of the partition gives it."""
    held = pool.partitions[partition]
    return replay_from([p for t in held.tenants if t in pool.learners
                        for _, p in pool.learners[t].progress.values()],
                       held.next_offset - 1)


async def learn(h, tenants, i: int) -> None:
    for tenant in tenants:
        await h.put("learn", training_bytes(tenant, i), key=tenant.encode(),
                    partition=partition_of(tenant))


def watermark_records(h) -> list[bytes]:
    return [s.key for s in h.wire.of("checkpoints") if b"replay-from" in s.key]


@pytest.fixture
async def pool(make_harness):
    h = await make_harness(role="fast", checkpoint_every_n=1000, checkpoint_every_s=60.0)
    yield h
    await h.aclose()


async def test_a_sweep_over_many_models_computes_each_watermark_once(pool):
    state = pool.rt.pool
    await learn(pool, TENANTS, 0)
    await learn(pool, TENANTS[:10], 1)
    models = state.checkpoints.unsaved()
    assert len(models) == 2 * len(TENANTS)
    pool.wire.clear()
    with mock.patch.object(state, "watermark", wraps=state.watermark) as watermark, \
            mock.patch.object(state, "is_tracked", wraps=state.is_tracked) as checks:
        assert await state.checkpoints.all("shutdown") == len(models)
    # Once per partition for the whole sweep, not once per checkpoint (O(models^2) scans).
    assert sorted(c.args[0] for c in watermark.call_args_list) == list(PARTITIONS)
    assert checks.call_count <= 2 * len(models)  # each model's index entry: O(1) each
    assert len(watermark_records(pool)) == len(PARTITIONS)
    index = store_of(pool.wire)
    assert index.watermarks == {("fast", p): state.partitions[p].next_offset - 1
                                for p in PARTITIONS}
    assert len(index.metas) == len(models)
    assert state.checkpoints.unsaved() == []


async def test_shutdown_writes_only_the_models_that_learnt_since_their_checkpoint(pool):
    state = pool.rt.pool
    await learn(pool, TENANTS, 0)
    await state.checkpoints.all("shutdown")
    pool.wire.clear()
    assert await state.checkpoints.all("shutdown") == 0  # nothing changed: nothing written
    assert pool.wire.of("checkpoints") == []
    await learn(pool, TENANTS[:3], 1)
    pool.wire.clear()
    assert await state.checkpoints.all("shutdown") == 6
    assert sorted(store_of(pool.wire).metas) == sorted(
        (t, m) for t in TENANTS[:3] for m in ("baseline", "logreg"))


async def test_a_failing_model_does_not_keep_shutdown_from_saving_the_others(pool):
    state = pool.rt.pool
    await learn(pool, TENANTS[:4], 0)
    real = state.checkpoints.write

    async def flaky(tenant, name, **kwargs):
        if (tenant, name) == (TENANTS[1], "logreg"):
            raise RuntimeError("boom")
        return await real(tenant, name, **kwargs)

    with mock.patch.object(state.checkpoints, "write", side_effect=flaky):
        assert await state.checkpoints.all("shutdown") == 7
    assert state.checkpoints.unsaved() == [(TENANTS[1], "logreg")]
    # The unsaved model holds the watermark back: its record is replayed on recovery.
    for p in PARTITIONS:
        assert store_of(pool.wire).watermarks[("fast", p)] == scanned(state, p)
    assert store_of(pool.wire).watermarks[("fast", partition_of(TENANTS[1]))] < (
        state.partitions[partition_of(TENANTS[1])].next_offset - 1)


async def test_timer_ticks_write_a_bounded_number_oldest_first(pool, monkeypatch):
    monkeypatch.setattr(checkpoints, "MIN_PER_TICK", 10)
    state = pool.rt.pool
    await learn(pool, TENANTS, 0)
    # All due, saved at different times: the oldest go first.
    order = list(reversed(state.checkpoints.unsaved()))
    for age, key in enumerate(order):
        state.learners[key[0]].saved_at[key[1]] = 1000.0 - age
    every_s, interval = 60.0, 5.0
    written: list[tuple[str, str]] = []
    while unsaved := state.checkpoints.unsaved():
        pool.wire.clear()
        limit = max(10, math.ceil(2 * len(unsaved) * interval / every_s))  # 2 x a tick's share
        with mock.patch.object(state, "watermark", wraps=state.watermark) as watermark:
            n = await state.checkpoints.due(2000.0, every_s, interval)
        assert n == min(limit, len(unsaved))
        assert watermark.call_count <= len(PARTITIONS)
        assert len(watermark_records(pool)) <= len(PARTITIONS)
        tick = sorted(store_of(pool.wire).metas, key=order.index, reverse=True)
        assert len(tick) == n
        written += tick
    assert written == order[::-1]  # oldest first
    # Nothing is due before every_s has passed since a model's last checkpoint.
    await learn(pool, TENANTS[:5], 1)
    assert await state.checkpoints.due(state.learners[TENANTS[0]].saved_at["logreg"] + 59.0,
                                      every_s, interval) == 0
    assert await state.checkpoints.due(state.learners[TENANTS[0]].saved_at["logreg"] + 61.0,
                                      every_s, interval) == 10


async def test_the_watermark_is_always_the_scan_of_the_models(make_harness):
    """Every-n checkpoints, timer sweeps and shutdown interleaved with learning."""
    h = await make_harness(role="fast", checkpoint_every_n=3)
    try:
        state = h.rt.pool
        for i in range(6):
            await learn(h, TENANTS[: 20 + 7 * i], i)
            for p in PARTITIONS:
                assert state.watermark(p) == scanned(state, p)
            if i % 2:
                await state.checkpoints.many(state.checkpoints.unsaved()[::3], "every-s")
                for p in PARTITIONS:
                    assert state.watermark(p) == scanned(state, p)
                    assert store_of(h.wire).watermarks[("fast", p)] == scanned(state, p)
        assert state.rt.stats.counts["checkpoints.every-n"] > 0
        await state.checkpoints.all("shutdown")
        assert store_of(h.wire).watermarks == {("fast", p): state.partitions[p].next_offset - 1
                                               for p in PARTITIONS}
    finally:
        await h.aclose()


async def test_learning_while_a_checkpoint_is_written_keeps_the_watermark_back(pool):
    h = pool
    state = h.rt.pool
    tenant = TENANTS[0]
    await learn(h, [tenant], 0)
    real_write = state.store.write
    learnt = []

    async def write_while_learning(partition, sealed, meta):
        await real_write(partition, sealed, meta)
        if not learnt:  # the model learns the next record before the write returns
            learnt.append(True)
            await learn(h, [tenant], 1)

    with mock.patch.object(state.store, "write", side_effect=write_while_learning):
        await state.checkpoints.write(tenant, "logreg", reason="every-s")
    _, progress = state.learners[tenant].progress["logreg"]
    assert progress.unsaved == 1 and progress.first_unsaved is not None
    p = partition_of(tenant)
    assert state.watermark(p) == scanned(state, p) < state.partitions[p].next_offset - 1
