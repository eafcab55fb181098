"""Replay production topics into another environment (staging): same keys, same request ids.

A decoy-log replay is exact: each request is re-sent as an event carrying the state,
aggregates and context production's models saw, with its label from production's training
topic inline, so that staging's models are fed and taught as production's were. An events
replay re-sends the raw events, and staging enriches them against its own state.
Deadlines restart at replay time (``ts``); the original request time is kept in the replay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import DecoyEntry, Enriched, Event, InvalidRecord, Limits, Replayed, decode, encode

from .settings import Settings
from .topics import bootstrap_servers, declare_topics

SOURCES = ("decoy-log", "events")


@dataclass(frozen=True)
class Bound:
    """A replay bound: a Kafka offset (per partition) or a time (epoch seconds)."""

    offset: int | None = None
    time: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> "Bound | None":
        """``1500`` is an offset; ``1763900000.0`` epoch seconds; ``2026-11-23T10:00:00`` UTC.

        >>> Bound.parse("1500"), Bound.parse("1763900000.5")
        (Bound(offset=1500, time=None), Bound(offset=None, time=1763900000.5))
        >>> Bound.parse("2026-11-23T10:00:00")
        Bound(offset=None, time=1795428000.0)
        """
        if text is None:
            return None
        if text.isdigit():
            return cls(offset=int(text))
        try:
            return cls(time=float(text))
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an offset, epoch seconds or ISO-8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return cls(time=moment.timestamp())


def event_from_decoy(entry: DecoyEntry, label, now: float, limits: Limits) -> Event:
    """The request a decoy entry logged, as an event carrying production's exact inputs."""
    enriched = decode(Enriched, entry.enriched.encode(), limits)
    return Event(
        tenant=enriched.tenant, request_id=enriched.request_id, entity=enriched.entity,
        ts=now, features=enriched.features, label=label,
        replay=Replayed(state=enriched.state, state_version=enriched.state_version,
                        aggregates=enriched.aggregates, context=enriched.context,
                        context_version=enriched.context_version, original_ts=enriched.ts),
    )


@dataclass
class ReplayReport:
    copied: int = 0
    skipped: int = 0
    per_tenant: dict = field(default_factory=dict)


async def replay(settings: Settings, source: str, target_env: str, since: Bound | None = None,
                 until: Bound | None = None, tenants: tuple[str, ...] = (),
                 progress: bool = True) -> ReplayReport:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    if target_env == settings.env:
        raise ValueError("the target environment must differ from the source environment")
    limits = Limits(settings.max_payload_bytes, settings.max_features, settings.max_string_len)
    target = settings.with_(env=target_env).topic("events")
    await declare_topics(settings.with_(env=target_env))  # staging may not have run yet
    labels = await _labels(settings) if source == "decoy-log" else {}
    report = ReplayReport()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(settings), linger_ms=5)
    await producer.start()
    try:
        async for message, bar in _read(settings, settings.topic(source), since, until, progress):
            tenant = (message.key or b"").decode(errors="replace")
            if tenants and tenant not in tenants:
                report.skipped += 1
                continue
            try:
                if source == "decoy-log":
                    entry = decode(DecoyEntry, message.value, limits)
                    value = encode(event_from_decoy(entry, labels.get((tenant, entry.request_id)),
                                                    time.time(), limits))
                else:
                    value = encode(_restamp(decode(Event, message.value, limits)))
            except InvalidRecord:
                report.skipped += 1  # production dead-lettered it already
                continue
            await producer.send(target, value=value, key=message.key)
            report.copied += 1
            report.per_tenant[tenant] = report.per_tenant.get(tenant, 0) + 1
            if bar is not None:
                bar.set_postfix(copied=report.copied)
        await producer.flush()
    finally:
        await producer.stop()
    return report


def _restamp(event: Event) -> Event:
    return Event(tenant=event.tenant, request_id=event.request_id, entity=event.entity,
                 ts=time.time(), features=event.features, label=event.label)


async def _labels(settings: Settings) -> dict:
    """(tenant, request_id) -> label, from production's training topic (inline and delayed)."""
    labels = {}
    async for message, _ in _read(settings, settings.topic("training"), None, None, False):
        try:
            record = orjson.loads(message.value)
            labels[(record["tenant"], record["request_id"])] = record["label"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
    return labels


async def _read(settings: Settings, topic: str, since: Bound | None, until: Bound | None,
                progress: bool):
    """Every record of every partition between the bounds, as they stand now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(settings),
                                enable_auto_commit=False)
    await consumer.start()
    bar = None
    try:
        metadata = await consumer._client.fetch_all_metadata()
        partitions = [TopicPartition(topic, p)
                      for p in sorted(metadata.partitions_for_topic(topic) or ())]
        if not partitions:
            raise LookupError(f"topic {topic} does not exist")
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        if since is not None and since.time is not None:
            found = await consumer.offsets_for_times({tp: int(since.time * 1000) for tp in partitions})
            starts = {tp: (found[tp].offset if found[tp] else ends[tp]) for tp in partitions}
        elif since is not None:
            starts = {tp: max(starts[tp], since.offset) for tp in partitions}
        if until is not None and until.offset is not None:
            ends = {tp: min(ends[tp], until.offset) for tp in partitions}
        remaining = {tp for tp in partitions if starts[tp] < ends[tp]}
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=sum(max(0, ends[tp] - starts[tp]) for tp in partitions),
                       desc=f"replay {topic}", unit="rec")
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        remaining.discard(tp)
                        break
                    if bar is not None:
                        bar.update(1)
                    if until is not None and until.time is not None and \
                            message.timestamp > until.time * 1000:
                        continue
                    yield message, bar
                if messages and messages[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)
    finally:
        if bar is not None:
            bar.close()
        await consumer.stop()
