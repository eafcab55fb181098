"""A model a drift response rebuilt with ``retrain_from`` is retrained on its tenant's
training records from there (read back from Kafka), then learns on: exactly the state of a
fresh model taught the post-drift window."""

from __future__ import annotations

from unittest import mock

from learning.deployment import default_deployment
from schemas import Training, decode

from .conftest import LIMITS, TENANT
from .test_checkpoint_pool import reference, training_bytes


def rebuilt_deployment(retrain_from: int) -> dict:
    d = default_deployment().to_dict()
    d["version"] = 2
    for m in d["models"]:
        if m["name"] == "logreg":
            m.update(version=2, retrain_from=retrain_from)
    return d


async def test_a_rebuilt_model_retrains_on_the_post_drift_window(fast_pool):
    state = fast_pool.rt.pool
    sent = [training_bytes(i) for i in range(6)]
    for value in sent:
        await fast_pool.put("learn", value)
    reads = []

    async def read_training(rt, partition, start, end):
        reads.append((partition, start, end))
        for offset in range(start, end):
            yield offset, decode(Training, sent[offset], LIMITS)

    with mock.patch("agents.recovery.read_training", new=read_training):
        await fast_pool.put("learn", training_bytes(6, rebuilt_deployment(3)))
        await fast_pool.put("learn", training_bytes(7, rebuilt_deployment(3)))

    assert reads == [(0, 3, 6)]  # once, when the rebuild reached the pool
    progress = {name: p for name, (_, p) in state.learners[TENANT].progress.items()}
    _, retrained = reference([3, 4, 5, 6, 7])
    _, untouched = reference(list(range(8)))
    assert (progress["logreg"].offset, progress["logreg"].predictions,
            progress["logreg"].digest) == (7, 5, retrained["logreg"].digest)
    assert progress["baseline"].digest == untouched["baseline"].digest
    assert state.learners[TENANT].models.slots["logreg"].version == 2
    assert fast_pool.rt.stats.counts["drift_retrains"] == 1
