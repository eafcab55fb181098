"""A pool writes signed checkpoints every N records, and a rollback carried by the deployment
restores a version once, records it as a new checkpoint, and learning goes on from it."""

from __future__ import annotations

from unittest import mock

import orjson
import pytest

from learning.checkpoint import StoreIndex, open_sealed, parse_key
from learning.deployment import Deployment, default_deployment, with_rollback
from learning.enrichment import model_input
from learning.progress import ModelProgress
from learning.tenant_models import TenantModels
from schemas import CheckpointMeta, Training, decode, encode, to_plain

from .conftest import LIMITS, TENANT, enriched_record


def training_bytes(i: int, deployment: dict | None = None) -> bytes:
    enriched = enriched_record(f"r{i}", features={"a": float(i % 3), "b": float(i % 5) - 2.0},
                               deployment=deployment)
    return encode(Training(tenant=TENANT, request_id=f"r{i}", label=bool(i % 2),
                           source="inline", enriched=enriched, labelled_at=1001.0))


def store_of(wire) -> StoreIndex:
    index = StoreIndex()
    for sent in wire.of("checkpoints"):
        kind = parse_key(sent.key)[0]
        value = sent.value
        if kind == "meta":
            value = to_plain(decode(CheckpointMeta, value, LIMITS))
        elif kind == "replay-from":
            value = orjson.loads(value)["offset"]
        index.add(sent.key, value)
    return index


def reference(records: list[int], deployment=None) -> tuple[TenantModels, dict]:
    """The fast pool's models taught `records` directly, and their prediction digests."""
    d = Deployment.from_dict(deployment or default_deployment().to_dict())
    models = TenantModels(d, "fast")
    progress = {name: ModelProgress() for name in models.slots}
    for offset, i in enumerate(records):
        e = enriched_record(f"r{i}", features={"a": float(i % 3), "b": float(i % 5) - 2.0})
        for name, slot in models.slots.items():
            slot.learn(model_input(e.features, e.state, e.aggregates, e.context), bool(i % 2))
            progress[name].advance(offset, f"r{i}", slot.last_prediction)
    return models, progress


@pytest.fixture
async def pool(make_harness):
    h = await make_harness(role="fast", checkpoint_every_n=5)
    yield h
    await h.aclose()


async def test_checkpoints_every_n_are_signed_for_their_tenant_model_and_version(pool):
    for i in range(10):
        await pool.put("learn", training_bytes(i))
    index = store_of(pool.wire)
    assert index.models() == [(TENANT, "baseline"), (TENANT, "logreg")]
    for model in ("logreg", "baseline"):
        assert index.versions(TENANT, model) == [1, 2]
        metas = [index.meta(TENANT, model, v) for v in (1, 2)]
        assert [(m["training_offset"], m["parent_version"], m["reason"], m["role"])
                for m in metas] == [(4, None, "every-n", metas[0]["role"]),
                                    (9, 1, "every-n", metas[0]["role"])]
        state = open_sealed(index.payload(TENANT, model, 2), metas[1]["signature"],
                            key=pool.rt.settings.signing_key, tenant=TENANT, model=model,
                            version=2)
        _, expected = reference(list(range(10)))
        assert state["progress"]["digest"] == expected[model].digest
        assert state["progress"]["predictions"] == 10
    assert index.watermarks == {("fast", 0): 9}  # everything learnt is in a checkpoint
    # The gauges show the last checkpoint written (baseline v2: it learns after logreg).
    sample = pool.rt.metrics.registry.get_sample_value
    assert sample("rendezvous_checkpoint_size_bytes") == index.meta(TENANT, "baseline", 2)[
        "size_bytes"]
    assert 0.0 <= sample("rendezvous_checkpoint_age_seconds") < 60.0


async def test_rollback_restores_the_version_once_and_learning_goes_on_from_it(pool):
    for i in range(10):
        await pool.put("learn", training_bytes(i))
    rolled = with_rollback(default_deployment(), "logreg", 1).to_dict()
    with mock.patch.object(pool.rt.pool.store, "scan",
                           side_effect=lambda p: store_of(pool.wire)):
        for i in (10, 11):  # the second carries the same rollback: applied once only
            await pool.put("learn", training_bytes(i, rolled))

    slot, progress = pool.rt.pool.learners[TENANT].progress["logreg"]
    # logreg = the state of v1 (records 0..4) then records 10 and 11.
    expected_models, expected = reference([0, 1, 2, 3, 4, 10, 11])
    assert progress.digest == expected["logreg"].digest
    assert (progress.offset, progress.restore) == (11, [1, 2])
    x = {"a": 1.0, "b": 0.5}
    assert slot.model.predict_proba_one(x) == expected_models.slots["logreg"].model.predict_proba_one(x)
    # baseline was not rolled back: it learnt all twelve.
    _, unrolled = reference(list(range(12)))
    assert pool.rt.pool.learners[TENANT].progress["baseline"][1].digest == unrolled["baseline"].digest
    # The rollback is recorded as checkpoint v3 whose parent is the restored v1.
    meta = store_of(pool.wire).meta(TENANT, "logreg", 3)
    assert (meta["parent_version"], meta["reason"], meta["training_offset"]) == (1, "rollback", 9)
    assert pool.rt.stats.counts["checkpoints.rollback"] == 1
