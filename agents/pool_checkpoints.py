"""The checkpoint store of a model pool: the compacted ``checkpoints`` topic (see
`learning.checkpoint`), and the timer and shutdown hook that write checkpoints.

Checkpoints are written every ``checkpoint_every_n`` records a model learnt (by
learn_from_training), every ``checkpoint_every_s`` seconds for a model with unsaved learning
(the timer here: oldest first, a bounded number per tick, see `PoolState.checkpoint_due`),
and on graceful shutdown; a sweep moves each partition's replay watermark once, at its end.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time

import orjson
from kafka_io import read_partition
from learning.checkpoint import (Sealed, StoreIndex, chunk_key, meta_key, parse_key, split,
                                 watermark_key)
from schemas import CheckpointMeta, InvalidRecord, decode, encode, to_plain

log = logging.getLogger(__name__)


class CheckpointStore:
    """Reads and writes one pool's checkpoints; `index` knows what every partition holds."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.topic = rt.topics.checkpoints
        self.topic_name = rt.settings.topic("checkpoints")
        self.pool = rt.settings.role
        self.index = StoreIndex()

    async def scan(self, partition: int) -> StoreIndex:
        """Everything the store holds for `partition`, chunk bytes included."""
        index = StoreIndex()
        async for m in read_partition(self.rt.settings.bootstrap, self.topic_name,
                                      partition, None):
            index.add(m.key, self._value(m.key, m.value))
        return index

    def _value(self, key: bytes, value: bytes | None):
        if value is None:
            return None
        kind = (parse_key(key) or ("?",))[0]
        try:
            if kind == "meta":
                return to_plain(decode(CheckpointMeta, value, self.rt.limits))
            if kind == "replay-from":
                return int(orjson.loads(value)["offset"])
        except (InvalidRecord, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            log.warning("checkpoint store: unreadable record %r", key)
            return None  # as if deleted: such a version is never restored
        return value

    def merge(self, partition_index: StoreIndex) -> None:
        """Adopt a scanned partition's index (without its chunk bytes)."""
        partition_index.drop_bytes()
        self.index.metas.update(partition_index.metas)
        self.index.chunks.update(partition_index.chunks)
        self.index.watermarks.update(partition_index.watermarks)

    async def write(self, partition: int, sealed: Sealed, meta: CheckpointMeta) -> None:
        """Chunks first, then the meta that makes them a checkpoint."""
        chunks = split(sealed.payload)
        sent = [await self.topic.send(key=chunk_key(meta.tenant, meta.model, meta.version, i),
                                      value=c, partition=partition)
                for i, c in enumerate(chunks)]
        await asyncio.gather(*(f for f in sent if asyncio.isfuture(f)))
        await self.topic.send(key=meta_key(meta.tenant, meta.model, meta.version),
                              value=encode(meta), partition=partition)
        self.index.mark_written(meta.tenant, meta.model, meta.version, len(chunks),
                                to_plain(meta))

    async def prune(self, partition: int, tenant: str, model: str, keep: int) -> list[int]:
        """Tombstone every version beyond the newest `keep`; returns the versions dropped."""
        dropped = []
        for version, indices in self.index.expired(tenant, model, keep):
            producer = self.rt.app.producer
            await producer.send(self.topic_name, meta_key(tenant, model, version), None,
                                partition, None, None)
            for i in indices:
                await producer.send(self.topic_name, chunk_key(tenant, model, version, i), None,
                                    partition, None, None)
            self.index.forget(tenant, model, version)
            dropped.append(version)
        return dropped

    def watermark(self, index: StoreIndex, partition: int) -> int | None:
        """This pool's replay watermark for `partition` in `index`, if it wrote one."""
        return index.watermarks.get((self.pool, partition))

    async def write_watermark(self, partition: int, offset: int) -> None:
        if self.watermark(self.index, partition) == offset:
            return
        await self.topic.send(key=watermark_key(self.pool, partition),
                              value=orjson.dumps({"offset": offset}), partition=partition)
        self.index.watermarks[(self.pool, partition)] = offset


def pickled(state) -> bytes:
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def attach(rt) -> None:
    """The timer (checkpoint_every_s) and the graceful-shutdown checkpoint."""
    pool = rt.pool
    every_s = rt.settings.checkpoint_every_s

    interval = min(every_s, 5.0)

    @rt.app.timer(interval=interval, name="checkpoint_timer")
    async def checkpoint_timer():
        # Oldest first, a bounded number per tick; the watermark moves once per tick.
        await pool.checkpoint_due(time.monotonic(), every_s, interval)

    @rt.app.on_before_shutdown.connect
    async def checkpoint_on_shutdown(app, **kwargs):
        # Agents are idle by now (Faust waited for their streams) and the producer is flushed
        # after this hook: the last state of every model with unsaved learning is written
        # (models unchanged since their last checkpoint are skipped; a failing model does
        # not keep the others from being saved; the watermark moves once, at the end).
        began = time.monotonic()
        written = await pool.checkpoint_all("shutdown")
        log.info("shutdown: wrote %d checkpoints in %.1fs", written, time.monotonic() - began)

    @rt.app.on_partitions_revoked.connect
    async def on_revoked(app, revoked, **kwargs):
        pool.revoked({tp.partition for tp in revoked if tp.topic == pool.training_topic})

    @rt.app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs):
        pool.assigned({tp.partition for tp in assigned if tp.topic == pool.training_topic})
