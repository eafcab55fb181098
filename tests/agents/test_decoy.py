"""decoy: every enriched record, byte for byte, with the model versions active then."""

from __future__ import annotations

import orjson
import pytest

from schemas import DecoyEntry, encode

from .conftest import KEY, TENANT, enriched_record


async def test_decoy_logs_the_enriched_bytes_verbatim_with_model_versions(serving):
    raw = encode(enriched_record("r1", features={"a": 0.1, "z": 1e-300}))
    await serving.put("log_decoy", raw)

    assert serving.wire.topics() == ["decoy-log"]
    [sent] = serving.wire.of("decoy-log")
    assert sent.key == KEY
    [entry] = serving.wire.records("decoy-log", DecoyEntry)
    assert (entry.tenant, entry.request_id) == (TENANT, "r1")
    assert entry.enriched.encode() == raw
    assert entry.model_versions == {"logreg": 1, "hoeffding": 1, "baseline": 1}


async def test_decoy_logs_what_enrich_sent(serving):
    await serving.put("enrich_event", orjson.dumps({
        "tenant": TENANT, "request_id": "r1", "entity": "u1", "ts": 1000.0,
        "features": {"a": 1.0}}))
    [enriched] = serving.wire.of("enriched")
    await serving.put("log_decoy", enriched.value)
    [entry] = serving.wire.records("decoy-log", DecoyEntry)
    assert entry.enriched.encode() == enriched.value


async def test_enriched_whose_key_is_not_its_tenant_is_dead_lettered_at_decoy(serving):
    value = encode(enriched_record("r1"))
    event = await serving.put("log_decoy", value, key=b"globex", partition=3)

    assert serving.wire.topics() == ["dead-letter"]
    [sent] = serving.wire.of("dead-letter")
    assert sent.key == b"globex"
    [dl] = serving.wire.dead_letters()
    assert (dl.stage, dl.origin_topic, dl.partition, dl.offset) == (
        "decoy", "prod.enriched", 3, event.message.offset)
    assert (dl.key, dl.value.encode()) == ("globex", value)
    assert dl.error_class == "agents.intake.KeyMismatch"
    assert dl.error == "key b'globex' is not tenant 'acme'"


async def test_invalid_enriched_is_dead_lettered_at_decoy(serving):
    await serving.put("log_decoy", b"{")
    assert serving.wire.topics() == ["dead-letter"]
    assert serving.wire.dead_letters()[0].stage == "decoy"


@pytest.mark.parametrize("deployment", [{}, {"models": [{"name": "m"}]}, {"models": "x"}],
                         ids=["no-models", "model-without-version", "models-not-a-list"])
async def test_enriched_with_a_malformed_deployment_is_dead_lettered_at_decoy(serving,
                                                                             deployment):
    obj = orjson.loads(encode(enriched_record("r1")))
    obj["deployment"] = deployment
    await serving.put("log_decoy", orjson.dumps(obj))

    assert serving.wire.topics() == ["dead-letter"]
    assert serving.wire.dead_letters()[0].stage == "decoy"
