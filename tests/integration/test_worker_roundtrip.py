"""A real faust worker consumes an event from the real broker and produces derived records."""

import asyncio

import orjson

from kafka_io import produce, read_topic

from .conftest import fresh_env


def test_serving_worker_enriches_an_event_and_answers_it(kafka, start_workers):
    env = fresh_env()
    start_workers(env, [("serving", {})])
    event = {"tenant": "acme", "request_id": "r-1", "entity": "u-7", "ts": 1_700_000_000.0,
             "features": {"amount": 12.5, "items": 3}}
    asyncio.run(produce(kafka, f"{env}.events", [(b"acme", orjson.dumps(event))]))

    enriched = asyncio.run(read_topic(kafka, f"{env}.enriched", lambda r: len(r) >= 1))
    results = asyncio.run(read_topic(kafka, f"{env}.results", lambda r: len(r) >= 1))

    assert len(enriched) == 1
    assert enriched[0]["request_id"] == "r-1"
    assert enriched[0]["features"] == {"amount": 12.5, "items": 3.0}
    assert enriched[0]["aggregates"]["count"] == 0
    assert enriched[0]["state_version"] == -1
    # No model pool runs: the deadline passes with no score, so the defined default answers.
    assert [(r["request_id"], r["reason"], r["model"]) for r in results] == [("r-1", "default", None)]
