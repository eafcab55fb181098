"""join_label: labels -> training, joined by request id to the exact features the models saw."""

from __future__ import annotations

import time

from schemas import Enriched, InvalidRecord, LabelRecord, Training, decode, encode
from tables.writes import delete, request_key

from .keys import KeyMismatch, check_key

LABEL_EXPIRY_TICK_S = 1.0


class UnmatchedLabel(LookupError):
    """No features await this label: unknown request, labelled twice, or the TTL expired."""


def attach(rt) -> None:
    app, tables = rt.app, rt.tables
    events_topic = rt.topics.events.get_topic_name()

    @app.agent(rt.topics.labels, name="join_label")
    async def join_label(stream):
        async for event in stream.events():
            try:
                label = decode(LabelRecord, event.message.value, rt.limits)
                check_key(event.message.key, label.tenant)
                rkey = request_key(label.tenant, label.request_id)
                awaiting = tables.awaiting_label.get(rkey)
                if awaiting is None or awaiting.get("enriched") is None:
                    raise UnmatchedLabel(
                        f"no features await request {label.request_id!r} of tenant "
                        f"{label.tenant!r}: unknown, already labelled, or older than the TTL")
                enriched = decode(Enriched, awaiting["enriched"].encode(), rt.limits)
            except (InvalidRecord, KeyMismatch, UnmatchedLabel) as exc:
                await rt.dead_letter(event.message, exc, stage="label-join")
                continue
            now = time.time()
            training = Training(tenant=label.tenant, request_id=label.request_id,
                                label=label.label, source="delayed", enriched=enriched,
                                labelled_at=now)
            await rt.topics.training.send(key=label.tenant.encode(), value=encode(training))
            rt.metrics.training.labels("delayed").inc()
            rt.stats.count("labels_joined", label.tenant)
            rt.stats.count("training", label.tenant)
            served = awaiting.get("served")
            if served is not None:
                rt.stats.served[label.tenant].record(served["model"],
                                                     served["output"] == label.label)
                del tables.awaiting_label[rkey]
            else:  # labelled before its result: keep the label for served accuracy
                tables.awaiting_label[rkey] = {**awaiting, "enriched": None, "label": label.label}

    @app.timer(interval=LABEL_EXPIRY_TICK_S, name="expire_awaiting_labels")
    async def expire_awaiting_labels():
        now = time.time()
        owned = {tp.partition for tp in app.assignor.assigned_actives()
                 if tp.topic == events_topic}
        for rkey, entry in list(tables.awaiting_label.data.items()):
            if entry and entry["expires_at"] < now and entry["partition"] in owned:
                delete(tables.awaiting_label, entry["partition"], rkey)
                rt.metrics.label_expiries.inc()
                rt.stats.count("label_expiries")
