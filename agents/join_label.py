"""join_label: labels -> training, joined by request id to the exact features the models saw.

Inline labels become training at once (enrich calls `on_enriched`); delayed ones are joined
here through the awaiting-label table. A label may overtake its event (the label join and
enrich read different topics): it then waits, up to RENDEZVOUS_LABEL_WAIT_S, for enrich to
join it. Answers served before their label are kept for served accuracy.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from learning.policy import Decision
from schemas import Enriched, LabelRecord, Training, decode, encode
from tables.serving import AwaitingLabel, EarlyLabel, Labelled
from tables.writes import delete, request_key, tenant_of

from .intake import intake

LABEL_EXPIRY_TICK_S = 1.0


class UnmatchedLabel(LookupError):
    """No request took this label: unknown request id, or its event never came in time."""


class DuplicateLabel(ValueError):
    """The request was labelled already; learning it twice would bias the models."""


async def send_training(rt, enriched: Enriched, label, source: str, now: float) -> None:
    training = Training(tenant=enriched.tenant, request_id=enriched.request_id, label=label,
                        source=source, enriched=enriched, labelled_at=now)
    await rt.topics.training.send(key=enriched.tenant.encode(), value=encode(training))
    rt.metrics.training.labels(source).inc()
    if source == "delayed":
        rt.stats.count("labels_joined", enriched.tenant)
    rt.stats.count("training", enriched.tenant)


async def send_inline_training(rt, body: bytes, label, now: float) -> None:
    await send_training(rt, decode(Enriched, body, rt.limits), label, "inline", now)


def expect_label(rt, rkey: str, partition: int, body: bytes, label, now: float):
    """Before the enriched record goes out: keep it for its delayed label; the early label
    that came before it, if any."""
    if label is not None:
        return None
    table = rt.tables.awaiting_label
    early = table.get(rkey)
    table[rkey] = AwaitingLabel(enriched=body, partition=partition,
                                expires_at=now + rt.settings.label_ttl_s)
    return early if isinstance(early, EarlyLabel) else None


async def on_enriched(rt, rkey: str, enriched: Enriched, label, early: EarlyLabel | None,
                      now: float) -> None:
    """After the enriched record went out: its training record, inline or joined early."""
    if early is not None:
        await send_training(rt, enriched, early.label, "delayed", now)
        joined(rt, rkey, rt.tables.awaiting_label[rkey], early.label)
    if label is not None:
        await send_training(rt, enriched, label, "inline", now)


def joined(rt, rkey: str, awaiting: AwaitingLabel, label) -> None:
    """The label is known: record served accuracy if answered, else keep it for the answer."""
    served = rt.served_answers.pop(rkey)
    if served is None:
        rt.tables.awaiting_label[rkey] = Labelled(label=label, partition=awaiting.partition,
                                                  expires_at=awaiting.expires_at)
        return
    model, output = served
    rt.stats.served[tenant_of(rkey)].record(model, output == label)
    del rt.tables.awaiting_label[rkey]


def on_result(rt, rkey: str, tenant: str, inline_label, decision: Decision) -> None:
    """A request was answered: served accuracy now if its label is known, else at the label."""
    if inline_label is not None:
        rt.stats.served[tenant].record(decision.model, decision.output == inline_label)
        return
    awaiting = rt.tables.awaiting_label.get(rkey)
    if isinstance(awaiting, Labelled):
        rt.stats.served[tenant].record(decision.model, decision.output == awaiting.label)
        delete(rt.tables.awaiting_label, awaiting.partition, rkey)
    elif isinstance(awaiting, AwaitingLabel):
        rt.served_answers.remember(rkey, decision.model, decision.output)


def attach(rt) -> None:
    app, table, settings = rt.app, rt.tables.awaiting_label, rt.settings
    events_topic = rt.topics.events.get_topic_name()

    def not_labelled_yet(label: LabelRecord) -> None:
        awaiting = table.get(request_key(label.tenant, label.request_id))
        if awaiting is not None and not isinstance(awaiting, AwaitingLabel):
            raise DuplicateLabel(f"request {label.request_id!r} of tenant "
                                 f"{label.tenant!r} is labelled already")

    @app.agent(rt.topics.labels, name="join_label")
    async def join_label(stream):
        async for message, label in intake(rt, stream, LabelRecord, stage="label-join",
                                           check=not_labelled_yet, rejects=(DuplicateLabel,)):
            now, rkey = time.time(), request_key(label.tenant, label.request_id)
            awaiting = table.get(rkey)
            if awaiting is None:
                table[rkey] = EarlyLabel(label=label.label, partition=message.partition,
                                         expires_at=now + settings.label_wait_s,
                                         topic=message.topic, offset=message.offset,
                                         value=message.value)
                rt.stats.count("labels_early", label.tenant)
                continue
            enriched = decode(Enriched, awaiting.enriched, rt.limits)
            await send_training(rt, enriched, label.label, "delayed", now)
            joined(rt, rkey, awaiting, label.label)

    @app.timer(interval=LABEL_EXPIRY_TICK_S, name="expire_awaiting_labels")
    async def expire_awaiting_labels():
        now = time.time()
        owned = {tp.partition for tp in app.assignor.assigned_actives()
                 if tp.topic == events_topic}
        for rkey, entry in list(table.data.items()):
            if not entry or entry.expires_at >= now or entry.partition not in owned:
                continue
            delete(table, entry.partition, rkey)
            rt.served_answers.pop(rkey)
            if not isinstance(entry, EarlyLabel):
                rt.metrics.label_expiries.inc()
                rt.stats.count("label_expiries")
                continue
            origin = SimpleNamespace(topic=entry.topic, partition=entry.partition,
                                     offset=entry.offset, key=tenant_of(rkey).encode(),
                                     value=entry.value)
            await rt.dead_letter(origin, UnmatchedLabel(
                f"no event with request id {rkey.split(chr(31), 1)[1]!r} came within "
                f"{settings.label_wait_s:g}s of its label"), stage="label-join")
