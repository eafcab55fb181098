"""drift under test_context: a tenant's policy applied to its deployment once, a
response event for each detection, invalid input dead-lettered."""

from __future__ import annotations

import orjson
import pytest

from agents import drift
from learning.drift_response import ResponsePolicy
from schemas import Training, encode

from .conftest import KEY, TENANT, enriched_record, score_bytes


def drift_bytes(model="logreg", signal="error", offset=5000, before=0.1, after=0.4,
                tenant=TENANT) -> bytes:
    return orjson.dumps({"tenant": tenant, "model": model, "signal": signal,
                         "training_offset": offset, "n_before": 900, "n_after": 100,
                         "mean_before": before, "mean_after": after, "detected_at": 1.0})


def training_bytes(request_id: str, label) -> bytes:
    enriched = enriched_record(request_id)
    return encode(Training(tenant=TENANT, request_id=request_id, label=label, source="inline",
                           enriched=enriched, labelled_at=1001.0))


@pytest.fixture
async def responding(make_harness, request):
    h = await make_harness()
    drift.attach(h.rt, {TENANT: request.param, "*": ResponsePolicy("alert")})
    yield h
    await h.aclose()


def responses(h) -> list[dict]:
    return [orjson.loads(s.value) for s in h.wire.of("drift-responses")]


@pytest.mark.parametrize("responding", [ResponsePolicy("reset")], indirect=True)
async def test_reset_applies_once_and_says_why(responding):
    h = responding
    await h.put("respond_to_drift", drift_bytes())
    d = h.rt.tables.deployments[TENANT]
    assert d["version"] == 2
    assert [(m["name"], m["role"], m["version"]) for m in d["models"]] == [
        ("logreg", "champion", 2), ("hoeffding", "challenger", 1), ("baseline", "canary", 1)]
    [r] = responses(h)
    assert (r["action"], r["key"], r["deployment_version_before"],
            r["deployment_version_after"]) == ("reset", "acme|logreg|error|5000|detected", 1, 2)
    assert r["changes"] == {"reset": {"logreg": [1, 2]}}
    assert all(s.key == KEY for s in h.wire.of("drift-responses"))

    await h.put("respond_to_drift", drift_bytes())  # redelivered: nothing changes
    assert h.rt.tables.deployments[TENANT]["version"] == 2
    assert len(responses(h)) == 1
    assert h.wire.of("dead-letter") == []
    assert [e["kind"] for e in h.rt.stats.events[TENANT]] == ["drift-reset"]


@pytest.mark.parametrize("responding", [ResponsePolicy("reset")], indirect=True)
async def test_data_drift_and_other_tenants_only_alert(responding):
    h = responding
    await h.put("respond_to_drift", drift_bytes("baseline", "feature:a", 10, 0.5, 0.9))
    await h.put("respond_to_drift", drift_bytes(tenant="other"), key=b"other")
    assert [(r["tenant"], r["action"]) for r in responses(h)] == [(TENANT, "alert"),
                                                                 ("other", "alert")]
    assert h.rt.tables.deployments.get(TENANT) is None
    assert h.rt.tables.deployments.get("other") is None


@pytest.mark.parametrize("responding", [ResponsePolicy("alert")], indirect=True)
@pytest.mark.parametrize("value, key", [
    (b"{not json", KEY),
    (drift_bytes(signal="weather"), KEY),
    (drift_bytes(), b"other"),
])
async def test_invalid_drift_records_are_dead_lettered(responding, value, key):
    h = responding
    await h.put("respond_to_drift", value, key=key)
    [dl] = h.wire.dead_letters()
    assert dl.stage == "drift-response"
    assert responses(h) == []


@pytest.mark.parametrize("responding", [ResponsePolicy("promote", window=2, margin=0.2)],
                         indirect=True)
async def test_promote_after_an_evaluation_over_scores_and_labels(responding):
    h = responding
    await h.put("respond_to_drift", drift_bytes())
    assert [r["action"] for r in responses(h)] == ["evaluate"]
    for rid in ("r1", "r2"):
        # An inline label's training record comes before the scores.
        await h.put("drift_evaluation_training", training_bytes(rid, True))
        await h.put("drift_evaluation_scores", score_bytes(rid, "logreg", output=False))
        await h.put("drift_evaluation_scores", score_bytes(rid, "hoeffding", role="challenger",
                                                           output=True, pool="heavy"))
    actions = [r["action"] for r in responses(h)]
    assert actions == ["evaluate", "promote"]
    promoted = responses(h)[1]
    assert promoted["evidence"]["scores"] == {"logreg": 0.0, "hoeffding": 1.0}
    d = h.rt.tables.deployments[TENANT]
    assert {m["name"]: m["role"] for m in d["models"]}["hoeffding"] == "champion"
    # Records of tenants without an open evaluation are skipped without decoding.
    await h.put("drift_evaluation_scores", b"{garbage", key=b"other")
    assert h.wire.of("dead-letter") == []
