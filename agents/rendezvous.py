"""rendezvous: scores and deadlines -> results, exactly one per request.

Opened by enrich (`open_request`), answered by the first score the policy accepts or at the
deadline, then closed: the closing marker reaches the pending table's changelog only once
Kafka acknowledged the result, so a crash in between leaves the request open there, never
closed without a result; whoever recovers it looks it up on `results` before answering it.
One task sleeps until the earliest deadline rather than a timer ticking whether or not
anything is due.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from kafka_io import offset_for_time, read_partition
from learning.policy import Decision, Pending, ScoreView, on_deadline, on_score
from learning.rendezvous import DeadlineQueue, Recovery
from schemas import Result, Score, encode
from tables.serving import Closed, Open
from tables.writes import delete, put, request_key, tenant_of

from . import join_label
from .intake import intake

RESCAN_S = 1.0
LOOKUP_S = 30.0  # longest a recovery's look-up on `results` may hold up the deadlines

log = logging.getLogger(__name__)


def opened_by(rt) -> str:
    """This process and its consumer generation: a request opened under another, or before a
    rebalance reloaded the table from its changelog, is looked up on `results` first."""
    return f"{rt.incarnation}/{rt.app.consumer_generation_id}"


def open_request(rt, rkey: str, partition: int, slot: Pending, label, body: bytes,
                 now: float) -> None:
    rt.tables.pending[rkey] = Open(slot=slot, partition=partition, label=label, enriched=body,
                                   enriched_at=now, opened_by=opened_by(rt))
    rt.slots[rkey] = slot
    rt.deadlines.push(slot.deadline_at, rkey, partition)


async def close_request(rt, rkey: str, entry: Open, slot: Pending, decision: Decision,
                        now: float) -> None:
    partition, latency_s = entry.partition, max(0.0, now - slot.opened_at)
    result = Result(tenant=slot.tenant, request_id=slot.request_id, entity=slot.entity,
                    model=decision.model, version=decision.version, role=decision.role,
                    reason=decision.reason, output=decision.output,
                    latency_ms=latency_s * 1000.0, decided_at=now)
    # Closed in memory before the first await: a score or a deadline running while the send
    # is in flight must find the request answered, or it would be answered twice.
    closed = Closed(closed_at=now, partition=partition)
    rt.tables.pending.data[rkey] = closed
    rt.slots.pop(rkey, None)
    await rt.topics.results.send(
        key=slot.tenant.encode(), value=encode(result),
        callback=lambda _: rt.tables.pending.send_changelog(partition, rkey, closed))
    rt.metrics.results.labels(decision.reason).inc()
    rt.metrics.result_latency.observe(latency_s)
    rt.stats.count("results", slot.tenant)
    rt.stats.count(f"results.{decision.reason}", slot.tenant)
    rt.stats.decision(slot.tenant, {
        "tenant": slot.tenant, "request_id": slot.request_id, "model": decision.model,
        "version": decision.version, "role": decision.role, "reason": decision.reason,
        "output": decision.output, "latency_ms": result.latency_ms, "decided_at": now})
    join_label.on_result(rt, rkey, slot.tenant, entry.label, decision)


async def answered_since(bootstrap: str, topic: str, partition: int, since: float) -> set[str]:
    """Request keys with a result in `topic`[partition] written at or after `since` (epoch s)."""
    start = await offset_for_time(bootstrap, topic, partition, since)
    if start is None:  # nothing written since
        return set()
    answered = set()
    async for message in read_partition(bootstrap, topic, partition, start):
        result = orjson.loads(message.value)
        answered.add(request_key(result["tenant"], result["request_id"]))
    return answered


def attach(rt) -> None:
    app, pending = rt.app, rt.tables.pending
    rt.deadlines = DeadlineQueue()
    recovery = Recovery(rt.settings.dedupe_window_s)
    events_topic = rt.topics.events.get_topic_name()
    results_topic = rt.topics.results.get_topic_name()

    @app.agent(rt.topics.scores, name="collect_score")
    async def collect_score(stream):
        async for _, score in intake(rt, stream, Score, stage="rendezvous"):
            await rt.control.on_score(score)  # ops tallies and the probation of new models
            rkey = request_key(score.tenant, score.request_id)
            entry = pending.get(rkey)
            if not isinstance(entry, Open):
                rt.metrics.late_scores.inc()
                rt.stats.count("late_scores", score.tenant)
                continue
            now = time.time()
            view = ScoreView(model=score.model, version=score.version, role=score.role,
                             output=score.output, error=score.error)
            slot, decision = on_score(rt.slots.get(rkey) or entry.slot, view, now)
            if decision is not None:
                await close_request(rt, rkey, entry, slot, decision, now)
            else:
                rt.slots[rkey] = slot

    async def close_answered_elsewhere(owned: set[int], now: float) -> None:
        plan = recovery.lookups(pending.data.items(), owned, opened_by(rt), now)
        for partition, (since, rkeys) in plan.items():
            try:
                answered = await asyncio.wait_for(answered_since(
                    rt.settings.bootstrap, results_topic, partition, since), LOOKUP_S)
            except Exception as exc:  # answer them at their deadline: a duplicate, not a loss
                log.warning("could not look up %d recovered requests of partition %d on %s: "
                            "%r", len(rkeys), partition, results_topic, exc)
                continue
            for rkey in answered.intersection(rkeys):
                put(pending, partition, rkey, Closed(closed_at=now, partition=partition))
                rt.stats.count("requests_answered_before_recovery", tenant_of(rkey))

    async def rescan(now: float) -> None:
        owned = {tp.partition for tp in app.assignor.assigned_actives()
                 if tp.topic == events_topic}
        await close_answered_elsewhere(owned, now)
        sweep = recovery.sweep(list(pending.data.items()), owned, now)
        for deadline_at, rkey, partition in sweep.queue:
            rt.deadlines.push(deadline_at, rkey, partition)
        for rkey, partition in sweep.forget:
            delete(pending, partition, rkey)
        rt.metrics.pending.set(sweep.open)

    @app.task
    async def expire_deadlines():
        last_scan = 0.0
        while True:
            now = time.time()
            if now - last_scan >= RESCAN_S:
                last_scan = now
                await rescan(now)
            for rkey in rt.deadlines.due(now):
                entry = pending.data.get(rkey)
                if not isinstance(entry, Open):  # answered before its deadline
                    continue
                slot, decision = on_deadline(rt.slots.get(rkey) or entry.slot, now)
                if decision is not None:
                    await close_request(rt, rkey, entry, slot, decision, now)
            next_at = rt.deadlines.next_at()
            wait = RESCAN_S if next_at is None else min(RESCAN_S, max(0.0, next_at - time.time()))
            rt.deadlines.earlier.clear()
            try:
                await asyncio.wait_for(rt.deadlines.earlier.wait(), wait)
            except asyncio.TimeoutError:
                pass
