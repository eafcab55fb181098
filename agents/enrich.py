"""enrich: events -> enriched; opens the request through the rendezvous.

External state is injected here, once, so every model of the tenant consumes the same bytes.
"""

from __future__ import annotations

import time

from learning.enrichment import EntityState, RollingWindow, context_snapshot, injected_state
from learning.policy import open_request
from schemas import Enriched, Event, encode
from tables.serving import Open
from tables.writes import entity_key, request_key

from . import join_label, rendezvous
from .deployments import UnknownTenant
from .intake import intake

AGGREGATE_BUCKETS = 10


class ReplayRefused(ValueError):
    """A replayed event reached a worker that does not accept replays (production)."""


async def resend_open_request(rt, key: bytes, opened: Open) -> None:
    """Send an open request's enriched record (and inline label) again, as first enriched.

    The worker that opened it may have died after its pending-table write reached the
    changelog but before these did: without them the request would be answered by default
    and its label never learnt. Both are idempotent downstream: pools score a request once
    and learn a request id once, and scores after the answer are only counted as late.
    """
    await rt.topics.enriched.send(key=key, value=opened.enriched)
    if opened.label is not None:
        await join_label.send_inline_training(rt, opened.enriched, opened.label, time.time())
    rt.stats.count("requests_resent", opened.slot.tenant)



def attach(rt) -> None:
    app, topics, tables, settings = rt.app, rt.topics, rt.tables, rt.settings
    rolling = RollingWindow(settings.aggregate_window_s, AGGREGATE_BUCKETS)

    def servable(ev: Event) -> None:
        if ev.replay is not None and not settings.accept_replayed:
            raise ReplayRefused("replayed events are enriched only where "
                                "RENDEZVOUS_ACCEPT_REPLAYED=true (staging)")
        rt.deployments.resolve(ev.tenant)

    def external_state(ev: Event) -> dict:
        if ev.replay is not None:  # exactly what production's models saw
            r = ev.replay
            return dict(state=r.state, state_version=r.state_version, aggregates=r.aggregates,
                        context=r.context, context_version=r.context_version)
        ekey = entity_key(ev.tenant, ev.entity)
        stored = tables.entity_state.get(ekey)
        window, aggregates = rolling.step(tables.aggregates.get(ekey), ev.ts, ev.features)
        tables.aggregates[ekey] = window
        return injected_state(EntityState.from_dict(stored) if stored else None, aggregates,
                              context_snapshot(tables.context.items()))

    @app.agent(topics.events, name="enrich_event")
    async def enrich_event(stream):
        async for message, ev in intake(rt, stream, Event, stage="enrich", check=servable,
                                        rejects=(UnknownTenant, ReplayRefused)):
            rkey = request_key(ev.tenant, ev.request_id)
            opened = tables.pending.get(rkey)
            if opened is not None:
                # Redelivered after a crash, or a producer retry: the request is being
                # answered already, and a second slot would answer it twice.
                rt.stats.count("requests_redelivered", ev.tenant)
                if isinstance(opened, Open):
                    await resend_open_request(rt, message.key, opened)
                continue
            now, deployment = time.time(), rt.deployments.resolve(ev.tenant)
            enriched = Enriched(tenant=ev.tenant, request_id=ev.request_id, entity=ev.entity,
                                ts=ev.ts, features=ev.features, **external_state(ev),
                                deployment=deployment.to_dict(), enriched_at=now)
            body = encode(enriched)
            slot = open_request(ev.tenant, ev.request_id, ev.entity, ev.ts, deployment)
            rendezvous.open_request(rt, rkey, message.partition, slot, ev.label, body, now)
            early = join_label.expect_label(rt, rkey, message.partition, body, ev.label, now)
            rt.metrics.requests.inc()
            rt.stats.count("requests", ev.tenant)
            await topics.enriched.send(key=message.key, value=body)
            await join_label.on_enriched(rt, rkey, enriched, ev.label, early, now)
