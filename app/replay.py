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

from kafka_io import open_producer, read_range

from schemas import DecoyEntry, Enriched, Event, InvalidRecord, Limits, Replayed, decode, encode

from .settings import Settings
from .topics import declare_topics

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
    async with open_producer(settings.bootstrap) as producer:
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
    bar = None

    def on_total(total: int) -> None:
        nonlocal bar
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=f"replay {topic}", unit="rec")

    try:
        async for message in read_range(
                settings.bootstrap, topic,
                since_offset=since.offset if since is not None else None,
                since_time=since.time if since is not None else None,
                until_offset=until.offset if until is not None else None,
                until_time=until.time if until is not None else None, on_total=on_total):
            if bar is not None:
                bar.update(1)
            yield message, bar
    finally:
        if bar is not None:
            bar.close()
