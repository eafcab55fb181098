"""join_label: labels -> training, joined by request id to the exact features the models saw.

A label may overtake its event (the label join and enrich read different topics): it then
waits in the awaiting-label table, up to RENDEZVOUS_LABEL_WAIT_S, for enrich to join it.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from schemas import Enriched, InvalidRecord, LabelRecord, Training, decode, encode
from tables.writes import delete, request_key

from .intake import KeyMismatch, check_key

LABEL_EXPIRY_TICK_S = 1.0


class UnmatchedLabel(LookupError):
    """No request took this label: unknown request id, or its event never came in time."""


class DuplicateLabel(ValueError):
    """The request was labelled already; learning it twice would bias the models."""


async def emit_training(rt, enriched: Enriched, label, now: float) -> None:
    training = Training(tenant=enriched.tenant, request_id=enriched.request_id, label=label,
                        source="delayed", enriched=enriched, labelled_at=now)
    await rt.topics.training.send(key=enriched.tenant.encode(), value=encode(training))
    rt.metrics.training.labels("delayed").inc()
    rt.stats.count("labels_joined", enriched.tenant)
    rt.stats.count("training", enriched.tenant)


def label_joined(rt, rkey: str, awaiting: dict, label) -> dict | None:
    """The awaiting entry after its label is known: None once served accuracy is recorded."""
    served = rt.served_answers.pop(rkey, None)
    if served is not None:
        rt.stats.served[rkey.split("\x1f", 1)[0]].record(served["model"],
                                                          served["output"] == label)
        return None
    # Labelled before its result: keep the label for served accuracy.
    return {**awaiting, "enriched": None, "label": label}


def attach(rt) -> None:
    app, tables, settings = rt.app, rt.tables, rt.settings
    events_topic = rt.topics.events.get_topic_name()

    @app.agent(rt.topics.labels, name="join_label")
    async def join_label(stream):
        async for event in stream.events():
            message = event.message
            try:
                label = decode(LabelRecord, message.value, rt.limits)
                check_key(message.key, label.tenant)
                rkey = request_key(label.tenant, label.request_id)
                awaiting = tables.awaiting_label.get(rkey)
                if awaiting is not None and awaiting.get("enriched") is None:
                    raise DuplicateLabel(f"request {label.request_id!r} of tenant "
                                         f"{label.tenant!r} is labelled already")
            except (InvalidRecord, KeyMismatch, DuplicateLabel) as exc:
                await rt.dead_letter(message, exc, stage="label-join")
                continue
            now = time.time()
            if awaiting is None:
                tables.awaiting_label[rkey] = {
                    "enriched": None, "partition": message.partition,
                    "expires_at": now + settings.label_wait_s,
                    "early": {"label": label.label, "topic": message.topic,
                              "offset": message.offset, "value": message.value.decode()},
                }
                rt.stats.count("labels_early", label.tenant)
                continue
            enriched = decode(Enriched, awaiting["enriched"].encode(), rt.limits)
            await emit_training(rt, enriched, label.label, now)
            updated = label_joined(rt, rkey, awaiting, label.label)
            if updated is None:
                del tables.awaiting_label[rkey]
            else:
                tables.awaiting_label[rkey] = updated

    @app.timer(interval=LABEL_EXPIRY_TICK_S, name="expire_awaiting_labels")
    async def expire_awaiting_labels():
        now = time.time()
        owned = {tp.partition for tp in app.assignor.assigned_actives()
                 if tp.topic == events_topic}
        for rkey, entry in list(tables.awaiting_label.data.items()):
            if not entry or entry["expires_at"] >= now or entry["partition"] not in owned:
                continue
            delete(tables.awaiting_label, entry["partition"], rkey)
            rt.served_answers.pop(rkey, None)
            early = entry.get("early")
            if early is None:
                rt.metrics.label_expiries.inc()
                rt.stats.count("label_expiries")
                continue
            origin = SimpleNamespace(topic=early["topic"], partition=entry["partition"],
                                     offset=early["offset"], key=rkey.split("\x1f", 1)[0].encode(),
                                     value=early["value"].encode())
            await rt.dead_letter(origin, UnmatchedLabel(
                f"no event with request id {rkey.split(chr(31), 1)[1]!r} came within "
                f"{settings.label_wait_s:g}s of its label"), stage="label-join")
