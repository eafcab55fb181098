"""rendezvous: scores and deadlines -> one result per request. The champion closes its request; nothing else does before the
deadline; a score for a closed or unknown request is counted late and never re-emitted."""

from __future__ import annotations

import orjson
import pytest

from schemas import Result
from tables.serving import Closed, Open
from tables.writes import request_key

from .conftest import KEY, TENANT, deployment_dict, event_bytes, score_bytes

RKEY = request_key(TENANT, "r1")

ROLE = {"logreg": "champion", "hoeffding": "challenger", "baseline": "canary",
        "shadowy": "shadow"}


@pytest.fixture
async def long_deadline(make_harness):
    """Serving app whose default deployment has a 60 s deadline and a shadow model."""
    h = await make_harness(default_deployment=orjson.dumps(deployment_dict(shadow=True)).decode())
    yield h
    await h.aclose()


async def open_request(h, request_id="r1", **event):
    await h.put("enrich_event", event_bytes(request_id, **event))
    h.wire.clear()


async def send_score(h, model, output=True, error=None, request_id="r1"):
    await h.put("collect_score", score_bytes(request_id, model, role=ROLE[model],
                                             output=output, error=error))


async def test_champion_score_closes_the_request_with_reason_champion(long_deadline):
    h = long_deadline
    await open_request(h)
    await send_score(h, "logreg", output=True)

    assert h.wire.topics() == ["results"]
    [sent] = h.wire.of("results")
    assert sent.key == KEY
    [result] = h.wire.records("results", Result)
    assert (result.tenant, result.request_id, result.entity) == (TENANT, "r1", "u1")
    assert (result.reason, result.model, result.version, result.role, result.output) == (
        "champion", "logreg", 1, "champion", True)
    assert result.latency_ms >= 0
    tables = h.rt.tables
    assert isinstance(tables.pending[RKEY], Closed)  # answered, remembered
    # The served answer waits (in memory) for the delayed label.
    assert h.rt.served_answers.pop(RKEY) == ("logreg", True)
    assert h.rt.stats.counts["results.champion"] == 1


# scores in arrival order -> (reason, model, output) of the one result, or None: still open
SEQUENCES = [
    ("shadow-alone", [("shadowy", False, None)], None),
    ("challenger-alone", [("hoeffding", False, None)], None),
    ("canary-alone", [("baseline", False, None)], None),
    ("all-but-champion", [("shadowy", 1, None), ("hoeffding", 2, None), ("baseline", 3, None)],
     None),
    ("shadow-then-champion", [("shadowy", False, None), ("logreg", True, None)],
     ("champion", "logreg", True)),
    ("champion-error-then-canary", [("logreg", None, "RuntimeError: boom"),
                                    ("baseline", False, None)],
     ("fallback-error", "baseline", False)),
    ("canary-then-champion-error", [("baseline", False, None),
                                    ("logreg", None, "RuntimeError: boom")],
     ("fallback-error", "baseline", False)),
    ("champion-error-shadow-only", [("logreg", None, "RuntimeError: boom"),
                                    ("shadowy", True, None)], None),
    ("challenger-preferred-over-canary", [("baseline", False, None), ("hoeffding", True, None),
                                          ("logreg", None, "RuntimeError: boom")],
     ("fallback-error", "hoeffding", True)),
]


@pytest.mark.parametrize("scores, expected", [s[1:] for s in SEQUENCES],
                         ids=[s[0] for s in SEQUENCES])
async def test_only_the_champion_or_a_fallback_after_its_error_closes_before_the_deadline(
        long_deadline, scores, expected):
    h = long_deadline
    await open_request(h)
    for model, output, error in scores:
        await send_score(h, model, output, error)

    results = h.wire.records("results", Result)
    if expected is None:
        assert results == [] and h.wire.log == []
        slot = h.rt.slots[RKEY].to_dict()  # scores are collected in memory, not per score in the table
        assert [s["model"] for s in slot["scores"]] == [m for m, _, _ in scores]
    else:
        [result] = results
        assert (result.reason, result.model, result.output) == expected
        assert isinstance(h.rt.tables.pending[RKEY], Closed)
    assert h.rt.stats.counts["late_scores"] == 0


async def test_shadow_score_never_closes_even_when_it_is_the_only_answer(long_deadline):
    h = long_deadline
    await open_request(h)
    await send_score(h, "shadowy", output=True)
    await send_score(h, "shadowy", output=False)  # a redelivered score changes nothing

    assert h.wire.log == []
    slot = h.rt.slots[RKEY].to_dict()
    assert slot["scores"] == [{"model": "shadowy", "version": 1, "role": "shadow",
                               "output": True, "error": None}]


async def test_a_score_after_the_deadline_closes_with_the_best_available(serving):
    # Default deployment: 50 ms deadline from the event time, long past here.
    await open_request(serving, ts=1000.0)
    await send_score(serving, "baseline", output=False)

    [result] = serving.wire.records("results", Result)
    assert (result.reason, result.model, result.output) == ("fallback-deadline", "baseline",
                                                            False)
    assert isinstance(serving.rt.tables.pending[RKEY], Closed)


@pytest.mark.parametrize("model", ["logreg", "hoeffding", "baseline", "shadowy"])
async def test_scores_after_the_result_are_counted_late_and_never_reemitted(long_deadline,
                                                                             model):
    h = long_deadline
    await open_request(h)
    await send_score(h, "logreg", output=True)
    await send_score(h, model, output=False)

    assert h.wire.topics() == ["results"]
    assert h.rt.stats.counts["late_scores"] == 1
    assert h.rt.stats.tenants[TENANT]["late_scores"] == 1


async def test_score_for_an_unknown_request_counts_a_late_score(serving):
    await send_score(serving, "logreg", request_id="never-opened")

    assert serving.wire.log == []
    assert serving.rt.stats.counts["late_scores"] == 1
    assert serving.rt.metrics.registry.get_sample_value("rendezvous_late_scores_total") == 1.0
    assert not serving.rt.tables.pending.data


async def test_invalid_score_is_dead_lettered_at_rendezvous(long_deadline):
    h = long_deadline
    await open_request(h)
    await h.put("collect_score", score_bytes("r1", "logreg", role="king"))

    assert h.wire.topics() == ["dead-letter"]
    [dl] = h.wire.dead_letters()
    assert (dl.stage, dl.origin_topic) == ("rendezvous", "prod.scores")
    assert RKEY in h.rt.tables.pending  # still open


async def test_a_score_whose_key_is_not_its_tenant_is_dead_lettered_and_never_answers(
        long_deadline):
    h = long_deadline
    await open_request(h)
    value = score_bytes("r1", "logreg", output=True)
    event = await h.put("collect_score", value, key=b"globex", partition=1)

    assert h.wire.topics() == ["dead-letter"]
    [sent] = h.wire.of("dead-letter")
    assert sent.key == b"globex"
    [dl] = h.wire.dead_letters()
    assert (dl.stage, dl.origin_topic, dl.partition, dl.offset) == (
        "rendezvous", "prod.scores", 1, event.message.offset)
    assert (dl.key, dl.value.encode()) == ("globex", value)
    assert dl.error_class == "agents.intake.KeyMismatch"
    assert dl.error == "key b'globex' is not tenant 'acme'"
    assert isinstance(h.rt.tables.pending[RKEY], Open)  # still open, for its own scores
    assert h.rt.stats.scored.get(TENANT) is None  # never counted as the tenant's score


async def test_an_answered_request_redelivered_after_a_crash_is_not_answered_again(serving):
    await open_request(serving)
    await send_score(serving, "logreg", output=True)
    serving.wire.clear()

    await serving.put("enrich_event", event_bytes("r1"))

    assert serving.wire.topics() == []
    assert serving.rt.stats.counts["requests_redelivered"] == 1
