"""join_label: a delayed label + the exact enriched record the models saw -> training."""

from __future__ import annotations

import orjson
import pytest

from schemas import Training, decode
from tables.serving import AwaitingLabel, EarlyLabel, Labelled
from tables.writes import request_key

from .conftest import (KEY, LIMITS, TENANT, deployment_dict, event_bytes, label_bytes,
                       score_bytes)

RKEY = request_key(TENANT, "r1")


async def enrich(h, request_id="r1", **event) -> bytes:
    await h.put("enrich_event", event_bytes(request_id, **event))
    [sent] = h.wire.of("enriched")
    h.wire.clear()
    return sent.value


@pytest.mark.parametrize("label", [True, False, 3, 0.25, "spam"])
async def test_delayed_label_yields_delayed_training_with_the_exact_enriched_fields(serving,
                                                                                   label):
    enriched_bytes = await enrich(serving, features={"a": 0.1, "b": 7.0})
    await serving.put("join_label", label_bytes("r1", label))

    assert serving.wire.topics() == ["training"]
    [sent] = serving.wire.of("training")
    assert sent.key == KEY
    training = decode(Training, sent.value, LIMITS)
    assert (training.tenant, training.request_id, training.source) == (TENANT, "r1", "delayed")
    assert training.label == label and type(training.label) is type(label)
    assert orjson.loads(sent.value)["enriched"] == orjson.loads(enriched_bytes)
    # Labelled before its result: the label is kept for served accuracy, the features dropped.
    awaiting = serving.rt.tables.awaiting_label[RKEY]
    assert isinstance(awaiting, Labelled) and awaiting.label == label
    assert serving.rt.stats.counts["labels_joined"] == 1


async def test_label_after_the_result_records_served_accuracy_and_forgets_the_request(
        make_harness):
    h = await make_harness(default_deployment=orjson.dumps(deployment_dict()).decode())
    try:
        await enrich(h)
        await h.put("collect_score", score_bytes("r1", "logreg", output=True))
        await h.put("join_label", label_bytes("r1", False))

        assert h.wire.topics() == ["results", "training"]
        assert RKEY not in h.rt.tables.awaiting_label
        served = h.rt.stats.served[TENANT].snapshot()
        assert (served["n"], served["correct"]) == (1, 0)
        assert served["by_model"] == {"logreg": {"n": 1, "correct": 0}}
    finally:
        await h.aclose()


async def test_label_before_the_result_is_scored_when_the_result_comes(make_harness):
    h = await make_harness(default_deployment=orjson.dumps(deployment_dict()).decode())
    try:
        await enrich(h)
        await h.put("join_label", label_bytes("r1", True))
        await h.put("collect_score", score_bytes("r1", "logreg", output=True))

        assert h.wire.topics() == ["training", "results"]
        assert RKEY not in h.rt.tables.awaiting_label
        assert h.rt.stats.served[TENANT].snapshot()["by_model"] == {
            "logreg": {"n": 1, "correct": 1}}
    finally:
        await h.aclose()


EARLY = [
    ("unknown-request", [], "r404"),
    ("other-tenants-request", [("enrich", {"tenant": "globex"})], "r1"),
    ("inline-labelled", [("enrich", {"label": True})], "r1"),
]


@pytest.mark.parametrize("setup, request_id", [u[1:] for u in EARLY], ids=[u[0] for u in EARLY])
async def test_label_without_awaiting_features_waits_for_its_event(serving, setup, request_id):
    for step, kw in setup:
        tenant = kw.get("tenant", TENANT)
        await serving.put("enrich_event", event_bytes("r1", **kw), key=tenant.encode())
    serving.wire.clear()

    await serving.put("join_label", label_bytes(request_id, False))

    assert serving.wire.topics() == []
    entry = serving.rt.tables.awaiting_label[f"{TENANT}\x1f{request_id}"]
    assert isinstance(entry, EarlyLabel)
    assert (entry.label, entry.topic) == (False, "prod.labels")


async def test_label_that_overtook_its_event_is_joined_when_the_event_is_enriched(serving):
    await serving.put("join_label", label_bytes("r1", True))
    await serving.put("enrich_event", event_bytes("r1"))

    assert serving.wire.topics() == ["enriched", "training"]
    [training] = serving.wire.records("training", Training)
    assert (training.source, training.label, training.request_id) == ("delayed", True, "r1")
    assert serving.rt.tables.awaiting_label[RKEY].label is True


async def test_second_label_of_a_request_is_dead_lettered_as_duplicate(serving):
    await enrich(serving)
    await serving.put("join_label", label_bytes("r1", True))
    serving.wire.clear()

    await serving.put("join_label", label_bytes("r1", False))

    assert serving.wire.topics() == ["dead-letter"]
    [dl] = serving.wire.dead_letters()
    assert (dl.stage, dl.origin_topic) == ("label-join", "prod.labels")
    assert dl.error_class == "agents.join_label.DuplicateLabel"
    assert "'r1'" in dl.error


@pytest.mark.parametrize("raw", [b"{", label_bytes(label=float("nan")).replace(b"null", b"1e400"),
                                 orjson.dumps({"tenant": TENANT, "request_id": "r1", "ts": 1.0})],
                         ids=["bad-json", "infinite-label", "missing-label"])
async def test_invalid_label_is_dead_lettered_at_label_join(serving, raw):
    await enrich(serving)
    await serving.put("join_label", raw)

    assert serving.wire.topics() == ["dead-letter"]
    assert serving.wire.dead_letters()[0].stage == "label-join"
    assert isinstance(serving.rt.tables.awaiting_label[RKEY], AwaitingLabel)  # still awaiting


async def test_label_whose_key_is_not_its_tenant_is_dead_lettered(serving):
    await enrich(serving)
    await serving.put("join_label", label_bytes("r1", True), key=b"globex")

    assert serving.wire.topics() == ["dead-letter"]
    assert serving.wire.dead_letters()[0].stage == "label-join"
