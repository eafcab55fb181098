"""The pools' partition reader gives up on a read that makes no progress, so that a stuck
recovery is retried instead of stalling the pool forever."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError

from kafka_io import read_partition
from app.settings import Settings
from app.topics import declare_topics
from kafka_io import produce

from .conftest import fresh_env


async def read(kafka, topic, start, end, stall_s=1.0):
    return [m.value async for m in read_partition(kafka, topic, 0, start, end, stall_s=stall_s)]


def test_a_read_short_of_its_end_raises_instead_of_waiting_forever(kafka):
    env = fresh_env()
    asyncio.run(declare_topics(Settings(broker=f"kafka://{kafka}", env=env, partitions=1)))
    topic = f"{env}.training"
    asyncio.run(produce(kafka, topic, [(b"t", b"%d" % i) for i in range(3)]))
    assert asyncio.run(read(kafka, topic, 1, 3)) == [b"1", b"2"]
    assert asyncio.run(read(kafka, topic, 0, None)) == [b"0", b"1", b"2"]
    with pytest.raises(KafkaTimeoutError, match=r"training\[0\]: no record for 1s at offset 3"):
        asyncio.run(read(kafka, topic, 0, 5))
