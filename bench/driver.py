"""Drive a system under test: produce events (as fast as possible or at a fixed rate) and read
its results topic at the same time; time from the first event produced to the last result read.

One asyncio loop does both, so every system is driven and observed by exactly the same code.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from kafka_io import topic_partitions

# aiokafka logs every refused connection while a broker starts; the bench prints its own progress.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@dataclass
class Run:
    """What one drive measured."""

    sent: int
    received: int
    t_first_sent: float
    t_last_sent: float
    t_last_result: float
    decision_ms: list[float] = field(default_factory=list)  # the result's own latency_ms
    e2e_ms: list[float] = field(default_factory=list)  # read time - the producer's ts
    reasons: Counter = field(default_factory=Counter)
    duplicates: int = 0

    @property
    def seconds(self) -> float:
        return max(1e-9, self.t_last_result - self.t_first_sent)

    @property
    def eps(self) -> float:
        return self.received / self.seconds

    @property
    def missing(self) -> int:
        return self.sent - self.received


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, q in [0, 100]; None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered) / 100.0 - 1e-9))  # 99.9% of 1000 is 999, not 1000
    return ordered[min(rank, len(ordered)) - 1]


async def _end_positions(consumer: AIOKafkaConsumer, bootstrap: str, topic: str) -> None:
    tps = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic, 60.0)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)  # resolve now: only results produced from here on count


async def drive(bootstrap: str, in_topic: str, out_topic: str, events: list[dict],
                rate: float | None = None, stall_s: float = 60.0, progress=None,
                linger_ms: int = 2) -> Run:
    """Send ``events`` (their ``ts`` set at send time) and read ``out_topic`` until every
    request has a result, or no new result came for ``stall_s`` seconds."""
    from confluent_kafka import Producer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="latest", fetch_max_wait_ms=20)
    # librdkafka's producer: a few microseconds per record, so that the driver's own CPU
    # (on the same cores as the system under test) stays small and fast systems aren't capped.
    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1,
                         "linger.ms": 0 if rate else linger_ms,
                         "queue.buffering.max.messages": 1_000_000})
    await consumer.start()
    sent_ts: dict[str, float] = {}
    run = Run(sent=len(events), received=0, t_first_sent=0.0, t_last_sent=0.0, t_last_result=0.0)
    try:
        await _end_positions(consumer, bootstrap, out_topic)
        wanted = {e["request_id"] for e in events}
        seen: set[str] = set()
        failed: list = []

        def delivered(err, _msg) -> None:
            if err is not None:
                failed.append(err)

        async def send_all() -> None:
            t0 = time.time()
            run.t_first_sent = t0
            dumps, produce = orjson.dumps, producer.produce
            for i, ev in enumerate(events):
                if rate:
                    due = t0 + i / rate
                    wait = due - time.time()
                    if wait > 0.002:
                        producer.poll(0)
                        await asyncio.sleep(wait)
                elif i % 500 == 0:
                    producer.poll(0)
                    await asyncio.sleep(0)  # let the reader run
                ts = time.time()
                ev["ts"] = ts
                sent_ts[ev["request_id"]] = ts
                while True:
                    try:
                        produce(in_topic, dumps(ev), ev["tenant"].encode(), on_delivery=delivered)
                        break
                    except BufferError:
                        producer.poll(0.01)
            while producer.flush(0) > 0:
                await asyncio.sleep(0.005)
            run.t_last_sent = time.time()
            if failed:
                raise RuntimeError(f"{len(failed)} events were not delivered: {failed[0]}")

        sender = asyncio.create_task(send_all())
        last_progress = time.time()
        while len(seen) < len(wanted):
            batch = await consumer.getmany(timeout_ms=50, max_records=5000)
            now = time.time()
            for messages in batch.values():
                for m in messages:
                    try:
                        r = orjson.loads(m.value)
                    except orjson.JSONDecodeError:
                        continue
                    rid = r.get("request_id") if isinstance(r, dict) else None
                    if rid not in wanted:
                        continue
                    if rid in seen:
                        run.duplicates += 1
                        continue
                    seen.add(rid)
                    run.t_last_result = now
                    last_progress = now
                    if isinstance(r.get("latency_ms"), (int, float)):
                        run.decision_ms.append(float(r["latency_ms"]))
                    if rid in sent_ts:
                        run.e2e_ms.append((now - sent_ts[rid]) * 1000.0)
                    run.reasons[r.get("reason", "-")] += 1
                    if progress is not None:
                        progress.update(1)
            if sender.done() and sender.exception() is not None:
                raise sender.exception()
            if sender.done() and time.time() - max(last_progress, run.t_last_sent) > stall_s:
                break
        await sender
        run.received = len(seen)
        if not run.t_last_result:
            run.t_last_result = time.time()
    finally:
        producer.flush(10)
        await consumer.stop()
    return run
