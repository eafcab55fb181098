"""The ``checkpoints`` topic as a store: one pool's checkpoints, scanned per partition into an
index (`learning.checkpoint.StoreIndex`), written chunks first and meta last, pruned with
tombstones, and the pool's replay watermark per partition. The topic is compacted and keyed per
(tenant, model, version, chunk), so that what a scan finds is every version still kept.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import orjson
from kafka_io import read_partition
from learning.checkpoint import (Sealed, StoreIndex, chunk_key, meta_key, open_checkpoint,
                                 parse_key, split, watermark_key)
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

    def opener(self, tenant: str, model: str):
        """``opener(payload, meta)``: a verified checkpoint's state of `tenant`'s `model`."""
        return partial(open_checkpoint, key=self.rt.settings.signing_key, tenant=tenant,
                       model=model)
