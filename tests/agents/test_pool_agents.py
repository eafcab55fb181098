"""score and learn in a model pool: one score per model of the pool, every example scored
before it is learnt, never scored twice, and nothing taken whose key is not its tenant."""

from __future__ import annotations

from unittest import mock

import orjson
import pytest

from learning.deployment import Deployment
from learning.enrichment import model_input
from learning.tenant_models import TenantModels
from schemas import Score, Training, decode, encode

from .conftest import KEY, LIMITS, TENANT, Sent, enriched_record

# pool -> {model: role} of the default deployment in that pool
POOLS = [
    ("fast", {"logreg": "champion", "baseline": "canary"}),
    ("heavy", {"hoeffding": "challenger"}),
    ("gpu", {}),
]


def training_bytes(request_id="r1", label=True, **kw) -> bytes:
    enriched = enriched_record(request_id, **kw)
    return encode(Training(tenant=enriched.tenant, request_id=request_id, label=label,
                           source="inline", enriched=enriched, labelled_at=1001.0))


def spy_learning(wire):
    """Record each learn_all call in the wire's log, so its order against sends is visible."""
    original = TenantModels.learn_all

    def learn_all(self, x, y):
        wire.log.append(Sent("<learn>", None, orjson.dumps({"y": y, "models": list(self.slots)})))
        return original(self, x, y)

    return mock.patch.object(TenantModels, "learn_all", learn_all)


def untrained_scores(pool: str, enriched) -> dict:
    models = TenantModels(Deployment.from_dict(enriched.deployment), pool)
    x = model_input(enriched.features, enriched.state, enriched.aggregates, enriched.context)
    return {slot.name: (s.output, s.proba, s.error) for slot, s in models.score_all(x)}


def was_scored(h, request_id: str) -> bool:
    learner = h.rt.pool.learners.get(TENANT)
    return learner is not None and request_id in learner.scored


@pytest.fixture
async def pool(make_harness, request):
    h = await make_harness(role=request.param)
    yield h
    await h.aclose()


@pytest.mark.parametrize("pool, models", POOLS, indirect=["pool"], ids=[p[0] for p in POOLS])
async def test_enriched_record_is_scored_once_by_each_model_of_the_pool(pool, models):
    enriched = enriched_record("r1")
    await pool.put("score", encode(enriched))

    assert set(pool.wire.topics()) <= {"scores"}
    assert all(s.key == KEY for s in pool.wire.of("scores"))
    scores = pool.wire.records("scores", Score)
    assert {s.model: s.role for s in scores} == models
    assert len(scores) == len(models)
    expected = untrained_scores(pool.rt.settings.role, enriched)
    for s in scores:
        assert (s.tenant, s.request_id, s.version, s.pool) == (TENANT, "r1", 1,
                                                             pool.rt.settings.role)
        assert (s.output, s.proba, s.error) == expected[s.model]
    assert was_scored(pool, "r1") == bool(models)

    # Redelivered: never scored twice.
    await pool.put("score", encode(enriched))
    assert len(pool.wire.of("scores")) == len(models)


ORDERS = [("enriched-first", ["score", "learn"]),
          ("training-first", ["learn", "score"])]


@pytest.mark.parametrize("agents", [o[1] for o in ORDERS], ids=[o[0] for o in ORDERS])
async def test_each_example_is_scored_once_before_it_is_learnt_in_either_order(fast_pool,
                                                                               agents):
    enriched = enriched_record("r1")
    payload = {"score": encode(enriched), "learn": training_bytes("r1")}
    with spy_learning(fast_pool.wire):
        for agent in agents:
            await fast_pool.put(agent, payload[agent])

    log = fast_pool.wire.log
    assert sorted((s.topic, s.topic == "scores" and orjson.loads(s.value)["model"])
                  for s in log) == [("<learn>", False), ("scores", "baseline"),
                                    ("scores", "logreg")]
    [learnt] = [s for s in log if s.topic == "<learn>"]
    assert orjson.loads(learnt.value) == {"y": True, "models": ["logreg", "baseline"]}
    # No label leaked: the scores are those of the untrained models.
    expected = untrained_scores("fast", enriched)
    for s in fast_pool.wire.records("scores", Score):
        assert (s.output, s.proba, s.error) == expected[s.model]
    assert fast_pool.rt.stats.counts["scores"] == 2
    assert fast_pool.rt.stats.counts["learned"] == 1


async def test_models_learn_from_training_in_order(fast_pool):
    """After learning, a later request sees the learnt model (so the ordering test above
    would catch a score taken after learning)."""
    features = {"a": 3.0, "b": 1.0}
    for i in range(20):
        await fast_pool.put("learn",
                            training_bytes(f"t{i}", label=True, features=features))
    fast_pool.wire.clear()
    await fast_pool.put("score", encode(enriched_record("fresh", features=features)))
    scores = {s.model: s for s in fast_pool.wire.records("scores", Score)}
    assert scores["logreg"].output is True
    assert scores["baseline"].output is True
    stats = fast_pool.rt.stats.models[TENANT]
    assert set(stats) == {"logreg", "baseline"}


async def test_training_of_a_tenant_without_models_in_the_pool_is_skipped(make_harness):
    h = await make_harness(role="gpu")
    try:
        with spy_learning(h.wire):
            await h.put("learn", training_bytes("r1"))
        assert h.wire.log == []
        assert h.rt.stats.counts["learned"] == 0
    finally:
        await h.aclose()


def _mismatched_training() -> bytes:
    obj = orjson.loads(training_bytes("r1"))
    obj["enriched"]["tenant"] = "globex"
    return orjson.dumps(obj)


def _bad_deployment(d) -> bytes:
    obj = orjson.loads(encode(enriched_record("r1")))
    obj["deployment"] = d
    return orjson.dumps(obj)


INVALID = [
    ("score", "bad-json", b"{", "score"),
    ("score", "nan-feature",
     encode(enriched_record("r1")).replace(b'"a":1.0', b'"a":1e400'), "score"),
    ("score", "bad-deployment", _bad_deployment({"task": "classification"}), "score"),
    ("score", "two-champions", _bad_deployment({
        **enriched_record().deployment,
        "models": [{**m, "role": "champion"} for m in enriched_record().deployment["models"]]}),
     "score"),
    ("learn", "bad-json", b"{", "learn"),
    ("learn", "enriched-of-another-tenant", _mismatched_training(), "learn"),
    ("learn", "bad-source",
     training_bytes("r1").replace(b'"inline"', b'"guessed"'), "learn"),
]


@pytest.mark.parametrize("agent, raw, stage", [(c[0], c[2], c[3]) for c in INVALID],
                         ids=[f"{c[0]}-{c[1]}" for c in INVALID])
async def test_invalid_input_is_dead_lettered_and_never_scored_or_learnt(fast_pool, agent, raw,
                                                                         stage):
    with spy_learning(fast_pool.wire):
        await fast_pool.put(agent, raw)

    assert fast_pool.wire.topics() == ["dead-letter"]
    [dl] = fast_pool.wire.dead_letters()
    assert dl.stage == stage
    topic = "enriched" if agent == "score" else "training"
    assert dl.origin_topic == f"prod.{topic}"
    assert not was_scored(fast_pool, "r1")


async def test_serving_enriched_bytes_are_what_the_pool_scores(serving, fast_pool):
    """End to end without a broker: enrich's bytes, fed to a pool, give one score per model."""
    await serving.put("enrich_event", orjson.dumps({
        "tenant": TENANT, "request_id": "r1", "entity": "u1", "ts": 1000.0,
        "features": {"a": 1.0}, "label": True}))
    [enriched_sent] = serving.wire.of("enriched")
    [training_sent] = serving.wire.of("training")

    with spy_learning(fast_pool.wire):
        await fast_pool.put("learn", training_sent.value)
        await fast_pool.put("score", enriched_sent.value)
    # Scored by the training record, before learning (the scores go out after it).
    assert [s.topic for s in fast_pool.wire.log] == ["<learn>", "scores", "scores"]
    expected = untrained_scores("fast", decode(Training, training_sent.value, LIMITS).enriched)
    for s in fast_pool.wire.records("scores", Score):
        assert (s.output, s.proba, s.error) == expected[s.model]


async def test_a_label_sent_twice_is_learnt_once(fast_pool):
    """A serving worker that dies after sending a training record, before its pending-table
    write reaches the changelog, sends it again when the event is redelivered."""
    sent = [training_bytes("r1", True, features={"a": 1.0}),
            training_bytes("r2", False, features={"a": -1.0})]
    for value in (sent[0], sent[1], sent[0]):
        await fast_pool.put("learn", value)
    progress = {name: p for name, (_, p) in fast_pool.rt.pool.learners[TENANT].progress.items()}
    assert {name: (p.offset, p.predictions) for name, p in progress.items()} == {
        "logreg": (1, 2), "baseline": (1, 2)}
    assert fast_pool.rt.stats.counts["training_duplicates"] == 1
    assert fast_pool.rt.stats.counts["learned"] == 2


KEYED = [("score", lambda: encode(enriched_record("r1")), "score"),
         ("learn", lambda: training_bytes("r1"), "learn")]


@pytest.mark.parametrize("key", [b"globex", None], ids=["other-tenant", "no-key"])
@pytest.mark.parametrize("agent, value, stage", KEYED, ids=[k[0] for k in KEYED])
async def test_a_record_whose_key_is_not_its_tenant_is_dead_lettered(fast_pool, agent, value,
                                                                    stage, key):
    """Its scores or checkpoints would land on the key's partition: another tenant's."""
    with spy_learning(fast_pool.wire):
        await fast_pool.put(agent, value(), key=key)
    assert fast_pool.wire.topics() == ["dead-letter"]
    [dl] = fast_pool.wire.dead_letters()
    assert (dl.stage, dl.error_class) == (stage, "agents.intake.KeyMismatch")
    assert "is not tenant 'acme'" in dl.error
    assert fast_pool.rt.pool.learners == {}
    # The same record under its tenant's key goes through.
    await fast_pool.put(agent, value())
    assert fast_pool.wire.topics().count("scores") == 2


@pytest.mark.parametrize("agent, stage", [("score", "score"), ("learn", "learn")])
@pytest.mark.parametrize("spec", ["sleepy", "failing"])
async def test_a_production_pool_refuses_a_drill_model(make_harness, monkeypatch, agent, stage,
                                                       spec):
    """The drills are registered by tests only: without them, a deployment naming one is
    dead-lettered like any unknown spec."""
    from learning import zoo

    for task in zoo.SPECS:
        monkeypatch.delitem(zoo.SPECS[task], spec)
    h = await make_harness(role="fast")
    try:
        d = enriched_record().deployment
        d = {**d, "models": [*d["models"], {"name": "drill", "spec": spec, "params": {},
                                            "role": "challenger", "pool": "fast", "version": 1}]}
        value = (encode(enriched_record("r1", deployment=d)) if agent == "score"
                 else training_bytes("r1", deployment=d))
        await h.put(agent, value)
        assert h.wire.topics() == ["dead-letter"]
        [dl] = h.wire.dead_letters()
        assert dl.stage == stage
        assert f"unknown spec '{spec}'" in dl.error
    finally:
        await h.aclose()
