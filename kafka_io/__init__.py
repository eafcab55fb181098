"""The one Kafka I/O layer outside Faust's own consumers and producers: plain aiokafka
clients with no consumer group and nothing committed.

Agents (recovery, checkpoints, the rendezvous' look-up of answered requests), the CLI,
the harness, the demo and the benches read and write Kafka through these functions only.
Only public aiokafka APIs are used, so an aiokafka upgrade breaks here or nowhere.

This package is the bottom layer: it imports nothing of the project.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator, Callable, Iterable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError

__all__ = [
    "OffsetsNotReady",
    "STALL_S",
    "bootstrap_of",
    "committed_in",
    "committed_offset",
    "create_missing_topics",
    "from_beginning",
    "offset_for_time",
    "open_producer",
    "produce",
    "read_all",
    "read_partition",
    "read_range",
    "read_topic",
    "send_one",
    "topic_partitions",
]

STALL_S = 30.0  # no record for this long while behind `end`: the read is stuck, start over


def bootstrap_of(broker_url: str) -> str:
    """host:port list for plain aiokafka clients, from a Faust broker URL.

    >>> bootstrap_of("kafka://127.0.0.1:19092;kafka://127.0.0.1:19093")
    '127.0.0.1:19092,127.0.0.1:19093'
    """
    return ",".join(url.split("://", 1)[-1] for url in broker_url.split(";"))


@contextlib.asynccontextmanager
async def _admin(bootstrap: str):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def _consumer(bootstrap: str, **options):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, **options)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


# --- topics ----------------------------------------------------------------------------------


async def topic_partitions(bootstrap: str, topic: str, timeout: float = 30.0) -> list[int]:
    """The topic's partition numbers, waiting (bounded) for the topic to appear."""
    deadline = time.monotonic() + timeout
    async with _admin(bootstrap) as admin:
        while True:
            for found in await admin.describe_topics([topic]):
                if found["topic"] == topic and found["error_code"] == 0 and found["partitions"]:
                    return sorted(p["partition"] for p in found["partitions"])
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} does not exist")
            await asyncio.sleep(0.2)


async def create_missing_topics(bootstrap: str,
                                topics: dict[str, tuple[int, dict[str, str]]]) -> list[str]:
    """Create those of ``topics`` (name -> (partitions, configs)) that do not exist; return
    their names. Idempotent."""
    async with _admin(bootstrap) as admin:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, 1, topic_configs=configs)
                   for name, (partitions, configs) in topics.items() if name not in existing]
        if missing:
            await admin.create_topics(missing)
    return [t.name for t in missing]


# --- offsets ---------------------------------------------------------------------------------


class OffsetsNotReady(KafkaError):
    """The group coordinator gave no offset for the partition: it is loading its offsets
    (after a broker restart or a long pause). Retriable: the caller waits for it."""

    retriable = True


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    """The group's committed offset for a partition (where its consumer resumes), or None."""
    tp = TopicPartition(topic, partition)
    async with _admin(bootstrap) as admin:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    return committed_in(offsets, tp)


def committed_in(offsets: dict, tp: TopicPartition) -> int | None:
    """The committed offset of ``tp`` in an offset-fetch answer; None if the group has none.

    Kafka answers a partition the group never committed with offset -1, and a group-level
    error (its coordinator still loading) with no partitions at all, which aiokafka hands
    back as an empty answer: that is not "nothing committed", and taking it for that would
    replay nothing where records were never learnt.

    >>> from aiokafka.structs import OffsetAndMetadata
    >>> tp = TopicPartition("training", 1)
    >>> committed_in({tp: OffsetAndMetadata(1367, "")}, tp)
    1367
    >>> committed_in({tp: OffsetAndMetadata(-1, "")}, tp) is None
    True
    >>> committed_in({}, tp)
    Traceback (most recent call last):
    ...
    kafka_io.OffsetsNotReady: OffsetsNotReady: no committed offset given for training/1: the group coordinator is not ready

    """
    found = offsets.get(tp)
    if found is None:
        raise OffsetsNotReady(f"no committed offset given for {tp.topic}/{tp.partition}: "
                              "the group coordinator is not ready")
    return found.offset if found.offset >= 0 else None


async def offset_for_time(bootstrap: str, topic: str, partition: int,
                          since: float) -> int | None:
    """The first offset of `topic`[partition] written at or after `since` (epoch seconds);
    None when nothing was written since."""
    tp = TopicPartition(topic, partition)
    async with _consumer(bootstrap) as consumer:
        found = (await consumer.offsets_for_times({tp: int(since * 1000)})).get(tp)
    return None if found is None else found.offset


# --- reading ---------------------------------------------------------------------------------


async def read_partition(bootstrap: str, topic: str, partition: int, start: int | None,
                         end: int | None = None, stall_s: float = STALL_S):
    """The records of one partition from `start` (None: the beginning) up to `end` (None: the
    end offset now).

    Raises `KafkaTimeoutError` when no record arrives for `stall_s` while the position is
    short of `end`: a read that hangs (seen after a worker restart) is retried by the caller
    instead of blocking it forever.
    """
    async with _consumer(bootstrap, auto_offset_reset="earliest") as consumer:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        if end is None:
            end = (await consumer.end_offsets([tp]))[tp]
        if start is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
        last_progress = time.monotonic()
        while (position := await consumer.position(tp)) < end:
            batch = await consumer.getmany(tp, timeout_ms=500)
            messages = batch.get(tp, ())
            if messages:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_s:
                raise KafkaTimeoutError(f"{topic}[{partition}]: no record for {stall_s:.0f}s at "
                                        f"offset {position}, reading up to {end}")
            for message in messages:
                if message.offset >= end:
                    return
                yield message


async def read_range(bootstrap: str, topic: str, since_offset: int | None = None,
                     since_time: float | None = None, until_offset: int | None = None,
                     until_time: float | None = None,
                     on_total: Callable[[int], None] | None = None) -> AsyncIterator:
    """Every record of every partition of `topic` between the bounds, as they stand now.

    `since_time`/`until_time` are epoch seconds (record timestamps); `on_total` is told how
    many records the range holds before the first is yielded (for a progress bar).
    """
    numbers = await topic_partitions(bootstrap, topic, timeout=0.0)
    partitions = [TopicPartition(topic, p) for p in numbers]
    async with _consumer(bootstrap) as consumer:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        if since_time is not None:
            found = await consumer.offsets_for_times(
                {tp: int(since_time * 1000) for tp in partitions})
            starts = {tp: (found[tp].offset if found[tp] else ends[tp]) for tp in partitions}
        elif since_offset is not None:
            starts = {tp: max(starts[tp], since_offset) for tp in partitions}
        if until_offset is not None:
            ends = {tp: min(ends[tp], until_offset) for tp in partitions}
        remaining = {tp for tp in partitions if starts[tp] < ends[tp]}
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        if on_total is not None:
            on_total(sum(max(0, ends[tp] - starts[tp]) for tp in partitions))
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        remaining.discard(tp)
                        break
                    if until_time is not None and message.timestamp > until_time * 1000:
                        continue
                    yield message
                if messages and messages[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)


@contextlib.asynccontextmanager
async def from_beginning(bootstrap: str, topic: str, timeout: float = 30.0,
                         at_end: bool = False, **options):
    """A consumer assigned every partition of `topic`, at its beginning (or its end)."""
    numbers = await topic_partitions(bootstrap, topic, timeout)
    partitions = [TopicPartition(topic, p) for p in numbers]
    async with _consumer(bootstrap, auto_offset_reset="earliest", **options) as consumer:
        consumer.assign(partitions)
        if at_end:
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)  # resolve now: only what is written from here on
        else:
            await consumer.seek_to_beginning(*partitions)
        yield consumer


async def read_topic(bootstrap: str, topic: str, until: Callable[[list], bool],
                     timeout: float = 60.0, decode: Callable | None = orjson.loads) -> list:
    """Read a topic from the beginning until ``until(records)`` or timeout."""
    out: list = []
    async with from_beginning(bootstrap, topic, timeout) as consumer:
        deadline = time.monotonic() + timeout
        while not until(out) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                out.extend(decode(m.value) if decode else m for m in messages)
    return out


async def read_all(bootstrap: str, topic: str, quiet_s: float = 2.0,
                   decode: Callable | None = orjson.loads, timeout: float = 60.0) -> list:
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


# --- writing ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def open_producer(bootstrap: str, linger_ms: int = 5, acks="all", **options):
    """A started producer, flushed and stopped on exit (for callers that produce as they
    read)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms, acks=acks,
                                **options)
    await producer.start()
    try:
        yield producer
        await producer.flush()
    finally:
        await producer.stop()


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]],
                  linger_ms: int = 5, acks="all") -> int:
    """Send `records` ((key, value) pairs) and wait until Kafka has them all; return how many."""
    n = 0
    async with open_producer(bootstrap, linger_ms, acks) as producer:
        futures = []
        for key, value in records:
            futures.append(await producer.send(topic, value=value, key=key))
            n += 1
        await producer.flush()
        for f in futures:
            await f
    return n


async def send_one(bootstrap: str, topic: str, key: bytes | None, value: bytes) -> None:
    """Send one record and wait until Kafka has it (a control command, a probe)."""
    await produce(bootstrap, topic, [(key, value)], linger_ms=0)
