"""enrich: events -> one enriched record (+ inline training), a pending slot, or a dead letter."""

from __future__ import annotations

import time

import orjson
import pytest

from learning.deployment import default_deployment
from schemas import Enriched, Training, decode
from tables.serving import AwaitingLabel, Closed, Open
from tables.writes import put, request_key

from .conftest import KEY, LIMITS, TENANT, event_bytes, state_update_bytes

RKEY = request_key(TENANT, "r1")


async def test_valid_event_yields_one_enriched_record_and_a_pending_slot(serving):
    raw = event_bytes("r1", ts=1000.0, features={"a": 1.5, "b": -2.0})
    await serving.put("enrich_event", raw)

    assert serving.wire.topics() == ["enriched"]
    [sent] = serving.wire.of("enriched")
    assert sent.key == KEY
    enriched = decode(Enriched, sent.value, LIMITS)
    assert (enriched.tenant, enriched.request_id, enriched.entity, enriched.ts) == (
        TENANT, "r1", "u1", 1000.0)
    assert enriched.features == {"a": 1.5, "b": -2.0}
    assert (enriched.state, enriched.state_version) == ({}, -1)
    assert (enriched.context, enriched.context_version) == ({}, -1)
    assert enriched.aggregates == {"count": 0, "mean.a": 0.0, "mean.b": 0.0}
    assert enriched.deployment == default_deployment().to_dict()

    tables = serving.rt.tables
    entry = tables.pending[RKEY]
    assert isinstance(entry, Open)
    assert entry.partition == 0 and entry.label is None and entry.enriched == sent.value
    slot = entry.slot
    assert (slot.tenant, slot.request_id, slot.entity) == (TENANT, "r1", "u1")
    assert (slot.primary, slot.primary_reason) == ("logreg", "champion")
    assert slot.fallback == ("logreg", "hoeffding", "baseline")
    assert slot.opened_at == 1000.0
    assert slot.deadline_at == pytest.approx(1000.05)
    assert slot.scores == ()
    # Without an inline label the exact enriched text waits for a delayed one.
    awaiting = tables.awaiting_label[RKEY]
    assert isinstance(awaiting, AwaitingLabel)
    assert awaiting.enriched == sent.value and awaiting.partition == 0
    assert serving.rt.stats.counts["requests"] == 1
    assert len(serving.rt.deadlines) == 1


async def test_entity_state_and_global_context_from_state_updates_are_injected(serving):
    await serving.put("apply_state_update",
                      state_update_bytes("u1", version=3, ts=50.0, values={"balance": 42.0}))
    # Another tenant's state for the same entity name must not be injected.
    await serving.put("apply_state_update",
                      state_update_bytes("u1", tenant="globex", version=9, values={"balance": -1.0}),
                      key=b"globex")
    await serving.put("apply_state_update",
                      state_update_bytes("fx", tenant="*", scope="global", version=7,
                                         values={"usd": 1.1}), key=b"*")
    serving.wire.clear()

    await serving.put("enrich_event", event_bytes("r1"))

    [enriched] = serving.wire.records("enriched", Enriched)
    assert (enriched.state, enriched.state_version) == ({"balance": 42.0}, 3)
    assert (enriched.context, enriched.context_version) == ({"fx.usd": 1.1}, 7)


async def test_aggregates_count_the_entitys_earlier_events_not_itself(serving):
    await serving.put("enrich_event", event_bytes("r1", ts=1000.0, features={"a": 2.0}))
    await serving.put("enrich_event", event_bytes("r2", ts=1001.0, features={"a": 4.0}))
    await serving.put("enrich_event", event_bytes("r3", ts=1002.0, features={"a": 0.0}))
    await serving.put("enrich_event", event_bytes("r4", entity="u2", ts=1002.0,
                                                  features={"a": 9.0}))

    aggregates = [e.aggregates for e in serving.wire.records("enriched", Enriched)]
    assert aggregates == [
        {"count": 0, "mean.a": 0.0},
        {"count": 1, "mean.a": 2.0},
        {"count": 2, "mean.a": 3.0},
        {"count": 0, "mean.a": 0.0},  # u2 has its own window
    ]


@pytest.mark.parametrize("label", [True, 0, 2.5, "spam"])
async def test_inline_label_yields_an_inline_training_record_after_the_enriched_one(
        serving, label):
    await serving.put("enrich_event", event_bytes("r1", ts=1000.0, label=label))

    assert serving.wire.topics() == ["enriched", "training"]
    [enriched_sent] = serving.wire.of("enriched")
    [training_sent] = serving.wire.of("training")
    assert training_sent.key == KEY
    training = decode(Training, training_sent.value, LIMITS)
    assert (training.tenant, training.request_id, training.source) == (TENANT, "r1", "inline")
    assert training.label == label and type(training.label) is type(label)
    # The training record carries exactly the enriched record the models see.
    assert orjson.loads(training_sent.value)["enriched"] == orjson.loads(enriched_sent.value)
    tables = serving.rt.tables
    assert tables.pending[RKEY].label == label
    assert RKEY not in tables.awaiting_label  # the label is already known
    assert serving.rt.stats.counts["training"] == 1


INVALID = [
    # id, key, raw value, error class, words in the error message
    ("bad-json", KEY, b'{"tenant": "acme", ', "schemas.errors.InvalidRecord", "invalid JSON"),
    ("not-utf8", KEY, b'\xff\xfe{}', "schemas.errors.InvalidRecord", "UTF-8"),
    ("nan-feature", KEY,
     b'{"tenant":"acme","request_id":"r1","entity":"u1","ts":1000.0,"features":{"a":1e400}}',
     "schemas.errors.InvalidRecord", "infinity"),
    ("nan-label", KEY,
     b'{"tenant":"acme","request_id":"r1","entity":"u1","ts":1000.0,"features":{},'
     b'"label":1e400}', "schemas.errors.InvalidRecord", "infinity"),
    ("string-feature", KEY, event_bytes("r1", features={"a": "1.0"}),
     "schemas.errors.InvalidRecord", "features"),
    ("unknown-field", KEY, event_bytes("r1", colour="red"),
     "schemas.errors.InvalidRecord", "unknown field: colour"),
    ("missing-field", KEY, b'{"tenant":"acme","request_id":"r1","ts":1.0,"features":{}}',
     "schemas.errors.InvalidRecord", "missing field: entity"),
    ("key-not-tenant", b"globex", event_bytes("r1"), "agents.intake.KeyMismatch",
     "is not tenant"),
    ("no-key", None, event_bytes("r1"), "agents.intake.KeyMismatch", "is not tenant"),
    ("tombstone", KEY, None, "schemas.errors.InvalidRecord", "expected bytes"),
    ("oversize", KEY, event_bytes("r1", features={f"f{i}": 1.0 for i in range(300)}),
     "schemas.errors.InvalidRecord", "features"),
]


@pytest.mark.parametrize("key, raw, error_class, words",
                         [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
async def test_invalid_event_is_dead_lettered_at_enrich_and_never_enriched(
        serving, key, raw, error_class, words):
    await serving.put("enrich_event", raw, key=key, partition=2)

    assert serving.wire.topics() == ["dead-letter"]
    [sent] = serving.wire.of("dead-letter")
    [dl] = serving.wire.dead_letters()
    assert sent.key == key
    assert dl.stage == "enrich"
    assert dl.origin_topic == "prod.events"
    assert dl.partition == 2
    assert dl.error_class == error_class
    assert words in dl.error
    assert dl.value == ("" if raw is None else raw.decode("utf-8", "backslashreplace"))
    assert dict(sent.headers)["__connect.errors.stage"] == b"enrich"
    tables = serving.rt.tables
    assert not tables.pending.data and not tables.awaiting_label.data
    assert not tables.aggregates.data
    assert serving.rt.stats.counts["dead_letters.enrich"] == 1
    assert serving.rt.stats.counts["requests"] == 0


@pytest.mark.parametrize("label, topics", [(None, ["enriched"]),
                                           (True, ["enriched", "training"])])
async def test_request_redelivered_while_open_resends_its_first_outputs_not_a_new_slot(
        serving, label, topics):
    """The worker that opened it may have died before its outputs reached Kafka."""
    await serving.put("enrich_event", event_bytes("r1", features={"a": 1.0}, label=label))
    first = list(serving.wire.log)
    slot = serving.rt.tables.pending[RKEY].slot
    serving.wire.clear()
    await serving.put("enrich_event", event_bytes("r1", features={"a": 2.0}, label=label))

    assert [s.topic for s in first] == serving.wire.topics() == topics
    assert serving.wire.of("enriched")[0].value == first[0].value  # the first event's input
    if label is not None:
        [again] = serving.wire.records("training", Training)
        [before] = [decode(Training, s.value, LIMITS) for s in first if s.topic == "training"]
        assert (again.request_id, again.label, again.enriched) == (
            before.request_id, before.label, before.enriched)
    assert serving.rt.tables.pending[RKEY].slot == slot
    assert serving.rt.stats.counts["requests_redelivered"] == 1


async def test_request_redelivered_after_its_answer_is_skipped(serving):
    await serving.put("enrich_event", event_bytes("r1", label=True))
    put(serving.rt.tables.pending, 0, RKEY, Closed(closed_at=time.time(), partition=0))
    serving.wire.clear()
    await serving.put("enrich_event", event_bytes("r1", label=True))
    assert serving.wire.topics() == []
    assert serving.rt.stats.counts["requests_redelivered"] == 1


async def test_same_request_id_of_another_tenant_is_a_separate_request(serving):
    await serving.put("enrich_event", event_bytes("r1"))
    await serving.put("enrich_event", event_bytes("r1", tenant="globex"), key=b"globex")

    assert serving.wire.topics() == ["enriched", "enriched"]
    assert [s.key for s in serving.wire.of("enriched")] == [KEY, b"globex"]
    assert set(serving.rt.tables.pending.data) == {RKEY, request_key("globex", "r1")}


async def test_unknown_tenant_is_dead_lettered_when_settings_say_so(make_harness):
    h = await make_harness(unknown_tenants="dead-letter")
    try:
        await h.put("enrich_event", event_bytes("r1"))
        [dl] = h.wire.dead_letters()
        assert (dl.stage, dl.error_class) == ("enrich", "agents.deployments.UnknownTenant")
        assert h.wire.topics() == ["dead-letter"]
        assert not h.rt.tables.pending.data
    finally:
        await h.aclose()


async def test_control_deployment_is_the_one_enriched_and_opened(serving):
    deployment = default_deployment().to_dict()
    deployment["policy"]["deadline_ms"] = 250.0
    command = orjson.dumps({"tenant": TENANT, "command": "deploy",
                            "args": {"deployment": deployment}, "command_id": "c1",
                            "issued_at": 1.0})
    await serving.put("apply_control", command)
    await serving.put("enrich_event", event_bytes("r1", ts=1000.0))

    [enriched] = serving.wire.records("enriched", Enriched)
    # Versions only grow: the first deploy over the default is version 2.
    assert enriched.deployment == {**deployment, "version": 2}
    assert serving.rt.tables.pending[RKEY].deadline_at == pytest.approx(1000.25)
