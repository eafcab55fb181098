"""Plain aiokafka producers and readers used by the demo, tests and benches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import orjson


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]],
                  linger_ms: int = 5) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms, acks="all")
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value in records:
            futures.append(await producer.send(topic, value=value, key=key))
            n += 1
        await producer.flush()
        for f in futures:
            await f
    finally:
        await producer.stop()
    return n


@contextlib.asynccontextmanager
async def from_beginning(bootstrap: str, topic: str, timeout: float):
    """A group-less consumer assigned every partition of `topic`, at its beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic, timeout)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield consumer
    finally:
        await consumer.stop()


async def read_topic(bootstrap: str, topic: str, until: Callable[[list], bool],
                     timeout: float = 60.0, decode: Callable = orjson.loads) -> list:
    """Read a topic from the beginning (no group) until ``until(records)`` or timeout."""
    out: list = []
    async with from_beginning(bootstrap, topic, timeout) as consumer:
        deadline = time.monotonic() + timeout
        while not until(out) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                out.extend(decode(m.value) if decode else m for m in messages)
    return out


async def read_all(bootstrap: str, topic: str, quiet_s: float = 2.0,
                   decode: Callable = orjson.loads, timeout: float = 60.0) -> list:
    """Everything in the topic now, plus whatever arrives until it has been quiet for quiet_s."""
    out: list = []
    async with from_beginning(bootstrap, topic, timeout) as consumer:
        last = time.monotonic()
        deadline = last + timeout
        while time.monotonic() - last < quiet_s and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                if messages:
                    last = time.monotonic()
                out.extend(decode(m.value) if decode else m for m in messages)
    return out


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str, timeout: float = 30.0):
    """The topic's partitions, waiting (bounded) for them to appear in the metadata."""
    deadline = time.monotonic() + timeout
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} does not exist")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.2)
