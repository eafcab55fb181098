"""Closing a request: the one result, its accounting, and the served answer kept for its label."""

from __future__ import annotations

from learning.policy import Decision, Pending
from schemas import Result, encode
from tables.writes import delete

SERVED_MEMORY = 1_000_000  # answers awaiting their delayed label, for served accuracy


async def close_request(rt, rkey: str, entry: dict, slot: Pending, decision: Decision,
                        now: float) -> None:
    tables = rt.tables
    partition = entry["partition"]
    latency_s = max(0.0, now - slot.opened_at)
    result = Result(tenant=slot.tenant, request_id=slot.request_id, entity=slot.entity,
                    model=decision.model, version=decision.version, role=decision.role,
                    reason=decision.reason, output=decision.output,
                    latency_ms=latency_s * 1000.0, decided_at=now)
    # Close the slot in memory before the first await: a score or the deadline timer running
    # while the send is in flight must find the request answered, or it would be answered
    # twice. The changelog learns of it only once Kafka has the result, so a crash in between
    # leaves the request open there, never closed without a result; whoever recovers it looks
    # it up on `results` before answering it (expire_deadlines).
    closed = {"closed_at": now, "partition": partition}
    tables.pending.data[rkey] = closed
    rt.slots.pop(rkey, None)
    await rt.topics.results.send(
        key=slot.tenant.encode(), value=encode(result),
        callback=lambda _: tables.pending.send_changelog(partition, rkey, closed))
    rt.metrics.results.labels(decision.reason).inc()
    rt.metrics.result_latency.observe(latency_s)
    rt.stats.count("results", slot.tenant)
    rt.stats.count(f"results.{decision.reason}", slot.tenant)
    rt.stats.decision(slot.tenant, {  # the ops page's "last decisions" (issue 6)
        "tenant": slot.tenant, "request_id": slot.request_id, "model": decision.model,
        "version": decision.version, "role": decision.role, "reason": decision.reason,
        "output": decision.output, "latency_ms": result.latency_ms, "decided_at": now})
    served = {"model": decision.model, "output": decision.output}
    if entry.get("label") is not None:
        rt.stats.served[slot.tenant].record(decision.model, decision.output == entry["label"])
        return
    awaiting = tables.awaiting_label.get(rkey)
    if awaiting is None:
        return
    if awaiting.get("label") is not None:  # the delayed label came first
        rt.stats.served[slot.tenant].record(decision.model, decision.output == awaiting["label"])
        delete(tables.awaiting_label, partition, rkey)
    elif awaiting.get("enriched") is not None:
        rt.served_answers[rkey] = served
        if len(rt.served_answers) > SERVED_MEMORY:
            rt.served_answers.popitem(last=False)
