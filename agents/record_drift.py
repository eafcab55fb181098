"""record_drift: drift -> the serving worker's recent drift events (ops page, API, metrics).

Pools detect drift and publish it keyed by tenant; the serving worker that owns the tenant
keeps the last events for the ops page's drift marks and counts them for Prometheus.
"""

from __future__ import annotations

from schemas import DriftEvent, InvalidRecord, decode, to_plain

from .keys import KeyMismatch, check_key


def attach(rt) -> None:
    @rt.app.agent(rt.topics.drift, name="record_drift")
    async def record_drift(stream):
        async for event in stream.events():
            try:
                drift = decode(DriftEvent, event.message.value, rt.limits)
                check_key(event.message.key, drift.tenant)
            except (InvalidRecord, KeyMismatch) as exc:
                await rt.dead_letter(event.message, exc, stage="drift")
                continue
            rt.stats.drift_event(drift.tenant, to_plain(drift))
            rt.stats.count("drift_events", drift.tenant)
            rt.metrics.drift_events.labels(drift.signal.split(":", 1)[0]).inc()
