"""enrich_event: events -> enriched (+ training for inline labels); opens the rendezvous slot.

External state is injected here, once, so every model of the tenant consumes the same bytes.
"""

from __future__ import annotations

import time

from learning.enrichment import EntityState, RollingWindow
from learning.policy import open_request
from schemas import Enriched, Event, InvalidRecord, Training, decode, encode
from tables.writes import entity_key, request_key

from .deployments import UnknownTenant
from .join_label import emit_training, label_joined
from .intake import KeyMismatch, check_key


class ReplayRefused(ValueError):
    """A replayed event reached a worker that does not accept replays (production)."""

AGGREGATE_BUCKETS = 10


def attach(rt) -> None:
    app, topics, tables, settings = rt.app, rt.topics, rt.tables, rt.settings

    rolling = RollingWindow(settings.aggregate_window_s, AGGREGATE_BUCKETS)

    def context_snapshot() -> tuple[dict, int]:
        values, version = {}, -1
        for name, stored in sorted(tables.context.items()):
            state = EntityState.from_dict(stored)
            values.update({f"{name}.{k}": v for k, v in state.values.items()})
            version = max(version, state.version)
        return values, version

    @app.agent(topics.events, name="enrich_event")
    async def enrich_event(stream):
        async for event in stream.events():
            message = event.message
            try:
                ev = decode(Event, message.value, rt.limits)
                check_key(message.key, ev.tenant)
                if ev.replay is not None and not settings.accept_replayed:
                    raise ReplayRefused("replayed events are enriched only where "
                                        "RENDEZVOUS_ACCEPT_REPLAYED=true (staging)")
                deployment = rt.deployments.resolve(ev.tenant)
            except (InvalidRecord, KeyMismatch, UnknownTenant, ReplayRefused) as exc:
                await rt.dead_letter(message, exc, stage="enrich")
                continue
            rkey = request_key(ev.tenant, ev.request_id)
            opened = tables.pending.get(rkey)
            if opened is not None:
                # Redelivered after a crash, or a producer retry: the request is being
                # answered already, and a second slot would answer it twice.
                rt.stats.count("requests_redelivered", ev.tenant)
                if "closed_at" not in opened and "enriched" in opened:
                    await resend_open_request(rt, message.key, opened)
                continue
            now = time.time()
            if ev.replay is None:
                ekey = entity_key(ev.tenant, ev.entity)
                stored_state = tables.entity_state.get(ekey)
                state = EntityState.from_dict(stored_state) if stored_state else None
                window, aggregates = rolling.step(tables.aggregates.get(ekey), ev.ts, ev.features)
                tables.aggregates[ekey] = window
                context, context_version = context_snapshot()
                injected = dict(state=state.values if state else {},
                                state_version=state.version if state else -1,
                                aggregates=aggregates, context=context,
                                context_version=context_version)
            else:  # a replay: exactly what production's models saw
                r = ev.replay
                injected = dict(state=r.state, state_version=r.state_version,
                                aggregates=r.aggregates, context=r.context,
                                context_version=r.context_version)
            enriched = Enriched(
                tenant=ev.tenant, request_id=ev.request_id, entity=ev.entity, ts=ev.ts,
                features=ev.features, **injected,
                deployment=deployment.to_dict(), enriched_at=now,
            )
            body = encode(enriched)
            slot = open_request(ev.tenant, ev.request_id, ev.entity, ev.ts, deployment)
            tables.pending[rkey] = {"slot": slot.to_dict(), "partition": message.partition,
                                   "label": ev.label, "enriched": body.decode(),
                                   "opened_by": opened_by(rt)}
            rt.slots[rkey] = slot
            rt.deadlines.push(slot.deadline_at, rkey, message.partition)
            early = tables.awaiting_label.get(rkey) if ev.label is None else None
            if ev.label is None:
                tables.awaiting_label[rkey] = {
                    "enriched": body.decode(), "partition": message.partition,
                    "expires_at": now + settings.label_ttl_s,
                }
            rt.metrics.requests.inc()
            rt.stats.count("requests", ev.tenant)
            await topics.enriched.send(key=message.key, value=body)
            if early is not None and early.get("early") is not None:
                await emit_training(rt, enriched, early["early"]["label"], now)
                tables.awaiting_label[rkey] = label_joined(
                    rt, rkey, tables.awaiting_label[rkey], early["early"]["label"])
            if ev.label is not None:
                await send_inline_training(rt, message.key, enriched, ev.label, now)


def opened_by(rt) -> str:
    """This process and its consumer generation: a request opened under another, or before a
    rebalance reloaded the table from its changelog, is looked up on `results` before its
    deadline answers it (agents.expire_deadlines)."""
    return f"{rt.incarnation}/{rt.app.consumer_generation_id}"


async def send_inline_training(rt, key: bytes, enriched: Enriched, label, now: float) -> None:
    training = Training(tenant=enriched.tenant, request_id=enriched.request_id, label=label,
                        source="inline", enriched=enriched, labelled_at=now)
    await rt.topics.training.send(key=key, value=encode(training))
    rt.metrics.training.labels("inline").inc()
    rt.stats.count("training", enriched.tenant)


async def resend_open_request(rt, key: bytes, opened: dict) -> None:
    """Send an open request's enriched record (and inline label) again, as first enriched.

    The worker that opened it may have died after its pending-table write reached the
    changelog but before these did: without them the request would be answered by default
    and its label never learnt. Both are idempotent downstream: pools score a request once
    and learn a request id once, and scores after the answer are only counted as late.
    """
    body = opened["enriched"].encode()
    await rt.topics.enriched.send(key=key, value=body)
    if opened.get("label") is not None:
        await send_inline_training(rt, key, decode(Enriched, body, rt.limits), opened["label"],
                                   time.time())
    rt.stats.count("requests_resent", opened["slot"]["tenant"])
