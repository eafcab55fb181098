"""record_drift: drift -> the serving worker's recent drift events (ops page, API, metrics).

Pools detect drift and publish it keyed by tenant; the serving worker that owns the tenant
keeps the last events for the ops page's drift marks and counts them for Prometheus.
"""

from __future__ import annotations

from schemas import DriftEvent, to_plain

from .intake import intake


def attach(rt) -> None:
    @rt.app.agent(rt.topics.drift, name="record_drift")
    async def record_drift(stream):
        async for _, drift in intake(rt, stream, DriftEvent, stage="drift"):
            rt.stats.drift_event(drift.tenant, to_plain(drift))
            rt.stats.count("drift_events", drift.tenant)
            rt.metrics.drift_events.labels(drift.signal.split(":", 1)[0]).inc()
